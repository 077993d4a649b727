#!/usr/bin/env python3
"""A local stand-in for Twilio's REST API (WhatsApp), that also calls back like Twilio.

It speaks just enough of Twilio for ``tools/twilio_client.py`` (spec Part B):

* ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` (form-encoded, HTTP Basic
  ``AccountSid:AuthToken``): answered ``201`` with a Message resource, ``sid``
  ``SM<32 hex>``, status ``queued`` (``accepted`` with a ``MessagingServiceSid``).
  A ``Body`` and a ``ContentSid`` are both accepted; ``--window-closed`` answers
  every ``Body`` send with error 63016, as Twilio does outside the 24 h window.
* ``GET /2010-04-01/Accounts/{AccountSid}.json``: the account, status ``active``.
* The Content API (spec B9; served on this host, as the client sends Content calls
  to a custom base URL): ``POST /v1/Content`` (JSON) creates a Content ``HX<32 hex>``,
  ``POST /v1/Content/{HX}/ApprovalRequests/whatsapp`` submits it (status
  ``received``), ``GET /v1/Content/{HX}/ApprovalRequests`` reads its approval.
* Wrong credentials: ``401`` with code 20003, Twilio's error body.

Then, like Twilio, it POSTs signed status callbacks (``sent``, ``delivered``,
``read``; ``X-Twilio-Signature`` = HMAC-SHA1 of the URL and the sorted form
parameters, computed here independently of the SDK) to each message's
``StatusCallback``.

Routes Twilio does not have, for scripts:

* ``GET /__messages``: every message received, with its form, as JSON;
* ``GET /__content``: every Content created, with its approval;
* ``POST /__content`` (JSON ``{"status": "approved", "sid", "rejection_reason"}``): plays
  WhatsApp's review: every submitted Content (or the one ``sid``) gets that status;
* ``POST /__inbound`` (JSON ``{"url", "from", "body", "button_payload",
  "button_text", "replied_sid", "profile_name"}``): sends a signed inbound
  WhatsApp message to ``url`` as Twilio would, and returns Odoo's answer
  (status, content type, body).

Only the standard library is used. Example::

    python3 bench/fake_twilio_server.py --port 18651 \\
        --account-sid AC0123456789abcdef0123456789abcdef --auth-token secret
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import hmac
import json
import re
import secrets
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.error import HTTPError
from urllib.parse import parse_qsl, urlencode
from urllib.request import Request, urlopen

ACCOUNT_PATH = re.compile(r"^/2010-04-01/Accounts/(AC[0-9a-fA-F]{32})\.json$")
MESSAGES_PATH = re.compile(r"^/2010-04-01/Accounts/(AC[0-9a-fA-F]{32})/Messages\.json$")
APPROVAL_PATH = re.compile(r"^/v1/Content/(HX[0-9a-fA-F]{32})/ApprovalRequests(/whatsapp)?$")


def twilio_signature(auth_token, url, pairs):
    """Spec B4.1: URL + sorted names, each with its sorted distinct values."""
    values = {}
    for key, value in pairs:
        values.setdefault(key, set()).add(value)
    text = url + "".join(name + value for name in sorted(values) for value in sorted(values[name]))
    digest = hmac.new(auth_token.encode(), text.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def post_signed(auth_token, url, pairs):
    """POST ``pairs`` form-encoded to ``url``, signed; return (status, type, body)."""
    data = urlencode(pairs).encode()
    request = Request(url, data=data, method="POST")
    request.add_header("Content-Type", "application/x-www-form-urlencoded")
    request.add_header("X-Twilio-Signature", twilio_signature(auth_token, url, pairs))
    request.add_header("User-Agent", "TwilioProxy/1.1")
    try:
        with urlopen(request, timeout=15) as answer:  # noqa: S310 (local URLs only)
            return answer.status, answer.headers.get("Content-Type"), answer.read().decode()
    except HTTPError as error:
        return error.code, error.headers.get("Content-Type"), error.read().decode()


class TwilioHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeTwilio/1.0"
    sys_version = ""

    def log_message(self, format, *args):  # noqa: A002
        sys.stderr.write(f"fake-twilio: {format % args}\n")

    def _answer(self, status, payload):
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status, code, message):
        self._answer(
            status,
            {
                "code": code,
                "message": message,
                "more_info": f"https://www.twilio.com/docs/errors/{code}",
                "status": status,
            },
        )

    def _authorized(self, account_sid):
        options = self.server.options
        expected = (
            "Basic "
            + base64.b64encode(f"{options.account_sid}:{options.auth_token}".encode()).decode()
        )
        given = self.headers.get("Authorization", "")
        return account_sid == options.account_sid and hmac.compare_digest(given, expected)

    def _body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def do_GET(self):  # noqa: N802
        if self.path == "/__messages":
            with self.server.lock:
                return self._answer(200, list(self.server.messages))
        if self.path == "/__content":
            with self.server.lock:
                return self._answer(200, dict(self.server.contents))
        if self.path.startswith("/v1/Content"):
            return self._content(self.path, None)
        match = ACCOUNT_PATH.match(self.path)
        if not match:
            return self._error(404, 20404, "The requested resource was not found")
        if not self._authorized(match.group(1)):
            return self._error(401, 20003, "Authenticate")
        return self._answer(
            200,
            {
                "sid": match.group(1),
                "friendly_name": "OFITEC (fake Twilio)",
                "status": "active",
                "type": "Full",
            },
        )

    def do_POST(self):  # noqa: N802
        body = self._body()
        if self.path == "/__inbound":
            return self._inbound(json.loads(body or b"{}"))
        if self.path == "/__content":
            return self._review(json.loads(body or b"{}"))
        if self.path.startswith("/v1/Content"):
            return self._content(self.path, json.loads(body or b"{}"))
        match = MESSAGES_PATH.match(self.path)
        if not match:
            return self._error(404, 20404, "The requested resource was not found")
        if not self._authorized(match.group(1)):
            return self._error(401, 20003, "Authenticate")
        form = parse_qsl(body.decode(), keep_blank_values=True)
        params = dict(form)
        if not params.get("To", "").startswith("whatsapp:+"):
            return self._error(400, 21211, f"The 'To' number {params.get('To')} is not valid.")
        if "Body" in params and self.server.options.window_closed:
            return self._error(
                400, 63016, "Failed to send freeform message because you are outside the window"
            )
        sid = "SM" + secrets.token_hex(16)
        status = "accepted" if params.get("MessagingServiceSid") else "queued"
        with self.server.lock:
            self.server.messages.append({"sid": sid, "form": params, "at": time.time()})
        self.log_message("message %s %s", sid, json.dumps(params, ensure_ascii=False))
        self._answer(
            201,
            {
                "sid": sid,
                "account_sid": match.group(1),
                "to": params.get("To"),
                "from": params.get("From"),
                "body": params.get("Body"),
                "status": status,
                "direction": "outbound-api",
                "error_code": None,
                "error_message": None,
            },
        )
        callback = params.get("StatusCallback")
        if callback and self.server.options.callbacks:
            threading.Thread(
                target=self._status_callbacks, args=(callback, sid, params), daemon=True
            ).start()

    def _content(self, path, request):
        """The Content API: create (``request`` given, path ``/v1/Content``), submit
        for WhatsApp approval, or read the approval (``request`` None)."""
        if not self._authorized(self.server.options.account_sid):
            return self._error(401, 20003, "Authenticate")
        contents = self.server.contents
        if path == "/v1/Content" and request is not None:
            missing = [k for k in ("friendly_name", "language", "types") if not request.get(k)]
            if missing:
                return self._error(400, 20001, f"Missing required parameter {missing[0]}")
            sid = "HX" + secrets.token_hex(16)
            with self.server.lock:
                contents[sid] = {**request, "approval": {}}
            self.log_message("content %s %s", sid, request["friendly_name"])
            return self._answer(
                201, {"sid": sid, "account_sid": self.server.options.account_sid, **request}
            )
        match = APPROVAL_PATH.match(path)
        if not match or match.group(1) not in contents:
            return self._error(404, 20404, "The requested resource was not found")
        sid = match.group(1)
        if request is None:
            return self._answer(
                200,
                {
                    "sid": sid,
                    "account_sid": self.server.options.account_sid,
                    "whatsapp": contents[sid]["approval"],
                },
            )
        approval = {
            "name": request.get("name"),
            "category": request.get("category"),
            "status": "received",
            "rejection_reason": "",
        }
        with self.server.lock:
            contents[sid]["approval"] = approval
        return self._answer(201, approval)

    def _review(self, spec):
        """WhatsApp's review of the submitted Content (a route Twilio does not have)."""
        reviewed = []
        with self.server.lock:
            for sid, content in self.server.contents.items():
                if content["approval"] and spec.get("sid") in (None, sid):
                    content["approval"]["status"] = spec.get("status", "approved")
                    content["approval"]["rejection_reason"] = spec.get("rejection_reason", "")
                    reviewed.append(sid)
        return self._answer(200, {"reviewed": reviewed})

    def _status_callbacks(self, url, sid, params):
        options = self.server.options
        for status in ("sent", "delivered", "read"):
            time.sleep(options.callback_delay)
            pairs = [
                ("MessageSid", sid),
                ("SmsSid", sid),
                ("MessageStatus", status),
                ("SmsStatus", status),
                ("AccountSid", options.account_sid),
                ("From", params.get("From") or "whatsapp:+14155238886"),
                ("To", params.get("To", "")),
                ("ApiVersion", "2010-04-01"),
                ("ChannelPrefix", "whatsapp"),
            ]
            answer = post_signed(options.auth_token, url, pairs)
            self.log_message("status callback %s %s -> %s", sid, status, answer[:2])

    def _inbound(self, spec):
        options = self.server.options
        sid = "SM" + secrets.token_hex(16)
        sender = spec.get("from", "+56912345678")
        pairs = [
            ("SmsMessageSid", sid),
            ("MessageSid", sid),
            ("SmsSid", sid),
            ("AccountSid", options.account_sid),
            ("From", f"whatsapp:{sender}"),
            ("To", spec.get("to", "whatsapp:+14155238886")),
            ("Body", spec.get("body", "")),
            ("NumMedia", "0"),
            ("NumSegments", "1"),
            ("SmsStatus", "received"),
            ("ProfileName", spec.get("profile_name", "Ana")),
            ("WaId", sender.lstrip("+")),
            ("ApiVersion", "2010-04-01"),
        ]
        if spec.get("button_payload"):
            pairs += [
                ("MessageType", "button"),
                ("ButtonPayload", spec["button_payload"]),
                ("ButtonText", spec.get("button_text") or spec.get("body", "")),
            ]
        else:
            pairs.append(("MessageType", "text"))
        if spec.get("replied_sid"):
            pairs += [
                ("OriginalRepliedMessageSid", spec["replied_sid"]),
                ("OriginalRepliedMessageSender", spec.get("to", "whatsapp:+14155238886")),
            ]
        status, content_type, body = post_signed(options.auth_token, spec["url"], pairs)
        self._answer(
            200, {"sid": sid, "status": status, "content_type": content_type, "body": body}
        )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=18651)
    parser.add_argument("--account-sid", required=True)
    parser.add_argument("--auth-token", required=True)
    parser.add_argument("--no-callbacks", dest="callbacks", action="store_false")
    parser.add_argument("--callback-delay", type=float, default=0.5)
    parser.add_argument("--window-closed", action="store_true")
    options = parser.parse_args(argv)
    server = ThreadingHTTPServer((options.host, options.port), TwilioHandler)
    server.options = options
    server.lock = threading.Lock()
    server.messages = []
    server.contents = {}  # Content SID -> what was created, with its "approval"
    sys.stderr.write(f"fake-twilio: listening on http://{options.host}:{options.port}\n")
    try:
        with contextlib.suppress(KeyboardInterrupt):
            server.serve_forever()
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
