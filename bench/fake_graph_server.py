#!/usr/bin/env python3
"""A local stand-in for Meta's WhatsApp Cloud API (Graph API), for benchmarks and demos.

It speaks just enough Graph API for ``tools/cloud_api.py``:

* ``POST /{version}/{phone_number_id}/messages``: a send (text, interactive,
  template, ...) is answered ``200`` with a fresh ``wamid.<counter>``; a
  mark-as-read (``"status": "read"``) is answered ``{"success": true}``;
* ``GET /{version}/{phone_number_id}``: the number's profile (display number,
  verified name, quality ``GREEN``, status ``CONNECTED``), as *Test Connection*
  asks for it;
* ``GET /{version}/{waba_id}/message_templates``: the three OFITEC templates,
  ``APPROVED``.

Errors use Graph's envelope (``{"error": {"code": ..., "message": ..., ...}}``):
``--token`` makes a missing or wrong ``Authorization: Bearer`` answer ``401`` with
code 190; ``--fail-every N`` answers every N-th send with the temporary error
131000 (HTTP 500); an unknown path answers code 100.

* ``POST /{version}/{waba_id}/message_templates``: a submission is stored as
  ``PENDING`` and answered ``{"id", "status", "category"}``; the same name and
  language twice is refused (code 100, subcode 2388023), as Meta does.

Extra routes that Meta does not have, for scripts and walkthroughs: ``GET /__stats``
(the counters as JSON), ``POST /__reset`` (counters back to zero),
``POST /__templates`` (``{"status": "APPROVED", "name": optional, "category":
optional, "rejected_reason": optional}``: what Meta's review decided, for one
template or all) and ``POST /__token`` (``{"valid": false}``: from now on every
call is refused with error 190, as when a token expires; ``{"valid": true}``
restores it). ``--templates none`` starts with no template, as a new WABA does. Message ids are
``wamid.<counter>``; the counter starts at the current time in microseconds
(``--wamid-start`` to choose), so ids stay unique across restarts, as Meta's do.

Only the standard library is used; any Python 3.8+ runs it. It listens on
127.0.0.1 unless told otherwise, answers HTTP/1.1 with keep-alive, and prints a
summary of what it received when stopped (Ctrl-C or SIGTERM).

Trying the addon by hand::

    python3 bench/fake_graph_server.py --port 18650 --token secret-token

then, on a WhatsApp configuration in Odoo: *API Base URL* ``http://127.0.0.1:18650``,
*Access Token* ``secret-token``, any *Phone Number ID* (digits), test mode off;
*Test Connection* shows the fake number, and queued messages go to ``sent``.
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

_VERSION = r"v\d+(?:\.\d+)?"
_NODE = r"[A-Za-z0-9_]+"
MESSAGES_PATH = re.compile(rf"^/({_VERSION})/({_NODE})/messages/?$")
TEMPLATE_EXISTS_SUBCODE = 2388023
TEMPLATES_PATH = re.compile(rf"^/({_VERSION})/({_NODE})/message_templates/?$")
NODE_PATH = re.compile(rf"^/({_VERSION})/({_NODE})/?$")
MAX_BODY = 8 * 1024 * 1024

TEMPLATES = [
    {
        "name": "ofitec_urgent_action",
        "language": "es",
        "status": "APPROVED",
        "category": "UTILITY",
        "id": "900000000000001",
    },
    {
        "name": "ofitec_action_completed",
        "language": "es",
        "status": "APPROVED",
        "category": "UTILITY",
        "id": "900000000000002",
    },
    {
        "name": "ofitec_welcome",
        "language": "es",
        "status": "APPROVED",
        "category": "UTILITY",
        "id": "900000000000003",
    },
]


class Stats:
    """Thread-safe counters of what the server received and answered."""

    KEYS = (
        "requests",
        "sends",
        "sends_ok",
        "text",
        "interactive",
        "template",
        "other_type",
        "mark_read",
        "phone_info",
        "templates",
        "templates_submitted",
        "auth_failures",
        "injected_failures",
        "bad_requests",
        "not_found",
    )

    def __init__(self, wamid_start=None):
        self.lock = threading.Lock()
        # wamids are unique for ever at Meta, and the addon stores them with a unique
        # key: a restarted server must not hand out wamid.1 again, so by default the
        # counter starts at the current time in microseconds.
        self.wamid_counter = (
            int(time.time() * 1_000_000) if wamid_start is None else wamid_start - 1
        )
        self.reset()

    def reset(self):
        """Counters back to zero (the wamid counter goes on: ids are never reused)."""
        with self.lock:
            self.counts = dict.fromkeys(self.KEYS, 0)
            self.started = time.time()
            self.first_send = None
            self.last_send = None

    def add(self, key, amount=1):
        with self.lock:
            self.counts[key] = self.counts.get(key, 0) + amount

    def next_send(self):
        """Count one send attempt; return its 1-based number among sends."""
        with self.lock:
            self.counts["sends"] += 1
            now = time.time()
            self.first_send = self.first_send or now
            self.last_send = now
            return self.counts["sends"]

    def next_wamid(self):
        with self.lock:
            self.wamid_counter += 1
            return f"wamid.{self.wamid_counter}"

    def snapshot(self):
        with self.lock:
            data = dict(self.counts)
            data["uptime_s"] = round(time.time() - self.started, 3)
            if self.first_send and self.last_send:
                span = self.last_send - self.first_send
                data["send_span_s"] = round(span, 3)
                data["sends_per_s"] = (
                    round((self.counts["sends"] - 1) / span, 1) if span > 0 else None
                )
            return data


def graph_error(
    code,
    message,
    http_status,
    error_type="OAuthException",
    details=None,
    subcode=None,
    transient=None,
):
    error = {"message": message, "type": error_type, "code": code}
    if subcode is not None:
        error["error_subcode"] = subcode
    if details:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details}
    if transient is not None:
        error["is_transient"] = transient
    error["fbtrace_id"] = "FakeGraph" + format(int(time.time() * 1000) % 10**9, "09d")
    return http_status, {"error": error}


class GraphHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: every answer has a Content-Length
    # Headers and body leave in one write (handle_one_request flushes after each
    # request), with Nagle off: otherwise the body waits for the client's delayed ACK
    # of the headers, about 40 ms per answer on Linux, which a benchmark would measure.
    wbufsize = 64 * 1024
    disable_nagle_algorithm = True
    server_version = "FakeGraph/1.0"
    sys_version = ""

    # -- plumbing -------------------------------------------------------------

    def parse_request(self):
        # When the request arrived, for the request log (the numbers bench counts
        # sends per second from it): read as soon as its request line is, before its
        # headers and body are parsed and answered. Taken later, the server's own work
        # for the requests before it (and its threads' wait for the GIL) would bunch
        # arrivals together in the log that were apart on the wire.
        self.arrived = time.time()
        return super().parse_request()

    @property
    def options(self):
        return self.server.options

    @property
    def stats(self):
        return self.server.stats

    def log_message(self, format, *args):  # noqa: A002 (signature of the base class)
        if self.options.verbose:
            sys.stderr.write(f"{self.address_string()} - {format % args}\n")

    def _read_body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            size = 0
            while True:
                line = self.rfile.readline(1024)
                length = int(line.split(b";")[0].strip() or b"0", 16)
                if length == 0:
                    self.rfile.readline(1024)
                    break
                size += length
                if size > MAX_BODY:
                    raise ValueError("body too large")
                chunks.append(self.rfile.read(length))
                self.rfile.readline(1024)
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise ValueError("body too large")
        return self.rfile.read(length) if length > 0 else b""

    def _send_json(self, status, data):
        body = json.dumps(data, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        return status

    def _log(self, method, path, status, payload):
        log = self.server.log_file
        if log is None:
            return
        line = json.dumps(
            {
                "ts": round(getattr(self, "arrived", None) or time.time(), 6),
                "method": method,
                "path": path,
                "status": status,
                "payload": payload,
            },
            ensure_ascii=False,
        )
        with self.server.log_lock:
            log.write(line + "\n")
            log.flush()

    def _auth_ok(self):
        if self.server.token_expired:
            return False
        token = self.options.token
        if not token:
            return True
        header = self.headers.get("Authorization") or ""
        return header == f"Bearer {token}"

    def _known_number(self, node):
        wanted = self.options.phone_number_id
        return not wanted or node == wanted

    def _delay(self):
        if self.options.latency_ms > 0:
            time.sleep(self.options.latency_ms / 1000.0)

    # -- routes ---------------------------------------------------------------

    def do_GET(self):  # noqa: N802 (http.server naming)
        self.stats.add("requests")
        url = urlsplit(self.path)
        if url.path == "/__stats":
            return self._send_json(200, self.stats.snapshot())
        self._delay()
        if not self._auth_ok():
            self.stats.add("auth_failures")
            status, data = self._auth_error()
            self._log("GET", url.path, status, None)
            return self._send_json(status, data)
        match = TEMPLATES_PATH.match(url.path)
        if match:
            self.stats.add("templates")
            self._log("GET", url.path, 200, None)
            with self.server.templates_lock:
                data = [dict(template) for template in self.server.templates]
            return self._send_json(200, {"data": data, "paging": {"cursors": {}}})
        match = NODE_PATH.match(url.path)
        if match and self._known_number(match.group(2)):
            self.stats.add("phone_info")
            info = {
                "id": match.group(2),
                "display_phone_number": self.options.display_phone_number,
                "verified_name": self.options.verified_name,
                "quality_rating": "GREEN",
                "status": "CONNECTED",
                "code_verification_status": "VERIFIED",
                "name_status": "APPROVED",
                "platform_type": "CLOUD_API",
                "throughput": {"level": "STANDARD"},
                "whatsapp_business_manager_messaging_limit": "TIER_1K",
            }
            fields = parse_qs(url.query).get("fields")
            if fields:
                wanted = set(fields[0].split(","))
                info = {key: value for key, value in info.items() if key in wanted or key == "id"}
            self._log("GET", url.path, 200, None)
            return self._send_json(200, info)
        return self._not_found("GET", url.path)

    def do_POST(self):  # noqa: N802
        self.stats.add("requests")
        url = urlsplit(self.path)
        try:
            raw = self._read_body()
        except ValueError:
            self.close_connection = True
            self.stats.add("bad_requests")
            return self._send_json(*graph_error(100, "Request body too large", 413))
        if url.path == "/__reset":
            self.stats.reset()
            return self._send_json(200, {"success": True})
        if url.path == "/__templates":
            return self._send_json(200, self._review_templates(_decode(raw) or {}))
        if url.path == "/__token":
            self.server.token_expired = not (_decode(raw) or {}).get("valid", True)
            return self._send_json(200, {"valid": not self.server.token_expired})
        self._delay()
        if not self._auth_ok():
            self.stats.add("auth_failures")
            status, data = self._auth_error()
            self._log("POST", url.path, status, _decode(raw))
            return self._send_json(status, data)
        match = TEMPLATES_PATH.match(url.path)
        if match:
            status, data = self._submit_template(_decode(raw))
            self._log("POST", url.path, status, _decode(raw))
            return self._send_json(status, data)
        match = MESSAGES_PATH.match(url.path)
        if not match or not self._known_number(match.group(2)):
            return self._not_found("POST", url.path, _decode(raw))
        payload = _decode(raw)
        if not isinstance(payload, dict):
            self.stats.add("bad_requests")
            status, data = graph_error(
                100, "(#100) The parameter messaging_product is required.", 400
            )
            self._log("POST", url.path, status, payload)
            return self._send_json(status, data)
        if payload.get("status") == "read" and payload.get("message_id"):
            self.stats.add("mark_read")
            self._log("POST", url.path, 200, payload)
            return self._send_json(200, {"success": True})
        status, data = self._answer_send(payload)
        self._log("POST", url.path, status, payload)
        return self._send_json(status, data)

    def _answer_send(self, payload):
        number = self.stats.next_send()
        recipient = payload.get("to") or payload.get("recipient")
        if payload.get("messaging_product") != "whatsapp":
            self.stats.add("bad_requests")
            return graph_error(100, "(#100) The parameter messaging_product is required.", 400)
        if not recipient:
            self.stats.add("bad_requests")
            return graph_error(100, "(#100) The parameter to is required.", 400)
        kind = payload.get("type") or "text"
        if kind not in payload:
            self.stats.add("bad_requests")
            return graph_error(
                100, f"(#100) The parameter {kind} is required.", 400, details=f"{kind} missing"
            )
        every = self.options.fail_every
        if every and number % every == 0:
            self.stats.add("injected_failures")
            return graph_error(
                131000,
                "(#131000) Something went wrong",
                500,
                details="Fake Graph server: injected failure (--fail-every)",
                transient=True,
            )
        self.stats.add(kind if kind in ("text", "interactive", "template") else "other_type")
        self.stats.add("sends_ok")
        recipient = str(recipient)
        if payload.get("to"):
            digits = re.sub(r"\D", "", recipient)
            contact = {"input": recipient, "wa_id": digits}
        else:
            contact = {"input": recipient, "user_id": recipient}
        message = {"id": self.stats.next_wamid()}
        return 200, {"messaging_product": "whatsapp", "contacts": [contact], "messages": [message]}

    def _submit_template(self, payload):
        """A template submission: stored as PENDING until ``POST /__templates``."""
        if not isinstance(payload, dict) or not payload.get("name"):
            self.stats.add("bad_requests")
            return graph_error(100, "(#100) The parameter name is required.", 400)
        name, language = payload["name"], payload.get("language") or "es"
        with self.server.templates_lock:
            if any(t["name"] == name and t["language"] == language for t in self.server.templates):
                return graph_error(
                    100,
                    "Invalid parameter",
                    400,
                    subcode=TEMPLATE_EXISTS_SUBCODE,
                    details=f"Content in this language already exists for {name}.",
                )
            template = {
                "name": name,
                "language": language,
                "status": "PENDING",
                "category": payload.get("category") or "UTILITY",
                "id": str(900000000000100 + len(self.server.templates)),
                "components": payload.get("components") or [],
            }
            self.server.templates.append(template)
        self.stats.add("templates_submitted")
        return 200, {k: template[k] for k in ("id", "status", "category")}

    def _review_templates(self, decision):
        """``POST /__templates``: Meta's review of one template (``name``) or all."""
        changed = []
        with self.server.templates_lock:
            for template in self.server.templates:
                if decision.get("name") and template["name"] != decision["name"]:
                    continue
                for key in ("status", "category", "rejected_reason", "quality_score"):
                    if key in decision:
                        template[key] = decision[key]
                changed.append(template["name"])
        return {"changed": changed}

    def _auth_error(self):
        return graph_error(
            190,
            "Invalid OAuth access token - Cannot parse access token",
            401,
        )

    def _not_found(self, method, path, payload=None):
        self.stats.add("not_found")
        node = path.strip("/").split("/")
        node_id = node[1] if len(node) > 1 else ""
        status, data = graph_error(
            100,
            f"Unsupported {method.lower()} request. Object with ID '{node_id}' "
            "does not exist, cannot be loaded due to missing permissions, or does not support "
            "this operation.",
            400,
            error_type="GraphMethodException",
            subcode=33,
        )
        self._log(method, path, status, payload)
        return self._send_json(status, data)


def _decode(raw):
    if not raw:
        return None
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return raw.decode("utf-8", errors="replace")


class FakeGraphServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, options):
        super().__init__((options.host, options.port), GraphHandler)
        self.options = options
        self.stats = Stats(options.wamid_start)
        self.templates_lock = threading.Lock()
        self.templates = (
            [dict(template) for template in TEMPLATES] if options.templates == "approved" else []
        )
        self.token_expired = False
        self.log_lock = threading.Lock()
        self.log_file = open(options.log_file, "a", encoding="utf-8") if options.log_file else None

    def server_close(self):
        super().server_close()
        if self.log_file is not None:
            self.log_file.close()
            self.log_file = None


def format_summary(data):
    lines = [
        "Fake Graph API summary:",
        f"  requests {data['requests']}, uptime {data['uptime_s']:.1f} s",
        f"  sends {data['sends']} (ok {data['sends_ok']}: text {data['text']}, interactive "
        f"{data['interactive']}, template {data['template']}, other {data['other_type']}), "
        f"injected 131000 failures {data['injected_failures']}",
    ]
    if data.get("sends_per_s"):
        lines.append(
            f"  sends from first to last: {data['send_span_s']:.1f} s, "
            f"{data['sends_per_s']:.1f} sends/s"
        )
    lines.append(
        f"  mark-as-read {data['mark_read']}, phone number GETs {data['phone_info']}, "
        f"template lists {data['templates']}"
    )
    lines.append(
        f"  refused: auth (190) {data['auth_failures']}, bad requests {data['bad_requests']}, "
        f"unknown paths {data['not_found']}"
    )
    return "\n".join(lines)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Local stand-in for Meta's WhatsApp Cloud API (Graph API): answers "
        "sends with fresh wamids, Test Connection with a fake number, and can inject "
        "latency, auth errors (190) and temporary errors (131000).",
        epilog="Example: %(prog)s --port 18650 --token secret-token   then set the "
        "configuration's API Base URL to http://127.0.0.1:18650. Stop with Ctrl-C: a "
        "summary of what was received is printed.",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    parser.add_argument("--port", type=int, default=18650, help="port (default 18650)")
    parser.add_argument(
        "--token",
        default="",
        help="require 'Authorization: Bearer TOKEN'; otherwise 401 with "
        "Graph error 190 (default: any token is accepted)",
    )
    parser.add_argument(
        "--phone-number-id",
        default="",
        help="only accept this phone number id (others get error 100); default: any",
    )
    parser.add_argument(
        "--latency-ms",
        type=float,
        default=0.0,
        help="wait this long before each answer (default 0)",
    )
    parser.add_argument(
        "--fail-every",
        type=int,
        default=0,
        metavar="N",
        help="answer every N-th send with error 131000 (HTTP 500, temporary); 0 = never (default)",
    )
    parser.add_argument(
        "--log-file",
        default="",
        help="append each received request as a JSON line {ts, method, path, status, payload}",
    )
    parser.add_argument(
        "--wamid-start",
        type=int,
        default=None,
        metavar="N",
        help="first wamid number (wamid.N, wamid.N+1, ...); default: the "
        "current time in microseconds, so a restarted server never repeats "
        "an id",
    )
    parser.add_argument(
        "--templates",
        choices=("approved", "none"),
        default="approved",
        help="the WABA's templates at start: the three OFITEC ones approved (default), "
        "or none (a new account: submit them from Odoo, approve with POST /__templates)",
    )
    parser.add_argument(
        "--display-phone-number", default="+56 2 2345 6789", help="number shown by Test Connection"
    )
    parser.add_argument(
        "--verified-name",
        default="OFITEC (fake Graph API)",
        help="verified name shown by Test Connection",
    )
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=0.0,
        help="stop by itself after this many seconds (0 = run until "
        "Ctrl-C/SIGTERM; scripts set it so a crash never leaves it behind)",
    )
    parser.add_argument("--quiet", action="store_true", help="no banner and no summary")
    parser.add_argument(
        "--summary-json",
        action="store_true",
        help="print the final summary as one JSON line on stdout",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log every request")
    options = parser.parse_args(argv)
    if options.fail_every < 0:
        parser.error("--fail-every must be 0 or positive")
    if options.latency_ms < 0:
        parser.error("--latency-ms must be 0 or positive")
    return options


def main(argv=None):
    options = parse_args(argv)
    try:
        server = FakeGraphServer(options)
    except OSError as error:
        print(
            f"fake_graph_server: cannot listen on {options.host}:{options.port}: {error}",
            file=sys.stderr,
        )
        return 2
    stop = threading.Event()

    def _on_signal(signum, _frame):
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True
    )
    thread.start()
    if not options.quiet:
        host, port = server.server_address[:2]
        print(
            f"Fake Graph API listening on http://{host}:{port}"
            f" (token {'required' if options.token else 'not checked'}"
            f", latency {options.latency_ms:g} ms"
            f", fail every {options.fail_every or 'never'})\n"
            f"Set the WhatsApp configuration's API Base URL to http://{host}:{port}"
            " and turn test mode off. Ctrl-C stops it.",
            flush=True,
        )
    deadline = time.monotonic() + options.max_seconds if options.max_seconds > 0 else None
    while not stop.is_set():
        timeout = 1.0
        if deadline is not None:
            timeout = min(timeout, deadline - time.monotonic())
            if timeout <= 0:
                break
        stop.wait(timeout)
    server.shutdown()
    thread.join(5)
    server.server_close()
    data = server.stats.snapshot()
    if options.summary_json:
        print(json.dumps(data), flush=True)
    elif not options.quiet:
        print(format_summary(data), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
