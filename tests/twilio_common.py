"""Twilio in the Odoo tests: the real TwilioClient over a fake transport.

``mock_twilio()`` replaces only ``requests``' transport adapter for Twilio's host:
the SDK's Client, its TwilioHttpClient and the requests Session all run, and every
request is recorded with the form that would go on the wire. Twilio's webhooks are
built by ``tools.inbound_payloads`` (as test mode's Simulate reply builds them) and
signed here independently of the addon and of the SDK (spec B4.1).
"""

import base64
import hashlib
import hmac
import itertools
import json
from contextlib import contextmanager
from unittest.mock import patch
from urllib.parse import parse_qsl, urlencode, urlsplit

import requests
from requests.structures import CaseInsensitiveDict

from ..tools import inbound_payloads
from .common import WhatsAppMixin

TWILIO_ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
TWILIO_AUTH_TOKEN = "twilio-test-auth-token"
TWILIO_FROM = "whatsapp:+14155238886"
TWILIO_HOST = "api.twilio.com"
CONTENT_HOST = "content.twilio.com"
CONTENT_SID = "HX" + "b5b62575e6e4ff61" * 2
QUICK_REPLY_SID = "HX" + "0a0b0c0d0e0f0102" * 2
_sid_counter = itertools.count(1)


def twilio_error(status, code, message="Error"):
    return status, {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


def twilio_signature(auth_token, url, pairs):
    """X-Twilio-Signature of a form POST (spec B4.1, with B9's de-duplication)."""
    values = {}
    for key, value in pairs:
        values.setdefault(key, set()).add(value)
    text = url + "".join(k + v for k in sorted(values) for v in sorted(values[k]))
    digest = hmac.new(auth_token.encode(), text.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def twilio_status_form(sid, status, error_code=None, to="whatsapp:+56922222222"):
    pairs = [
        ("MessageSid", sid),
        ("SmsSid", sid),
        ("MessageStatus", status),
        ("SmsStatus", status),
        ("AccountSid", TWILIO_ACCOUNT_SID),
        ("From", TWILIO_FROM),
        ("To", to),
        ("ApiVersion", "2010-04-01"),
        ("ChannelPrefix", "whatsapp"),
    ]
    if error_code:
        pairs.append(("ErrorCode", str(error_code)))
    return pairs


def twilio_inbound_form(sid, sender, body, button_payload=None, replied_sid=None, name="Ana"):
    """An inbound WhatsApp message from ``sender`` (``+E164``) to the test sender,
    as Twilio posts it (see tools.inbound_payloads)."""
    return inbound_payloads.twilio_inbound_form(
        sid,
        sender,
        body,
        TWILIO_ACCOUNT_SID,
        TWILIO_FROM,
        button_payload=button_payload,
        replied_sid=replied_sid,
        name=name,
    )


class TwilioTransport:
    """What Twilio's REST API answers, and what it was asked."""

    def __init__(self):
        self.requests = []  # every request: method, url, path, form, headers, timeout
        self.answers = []  # queued (status, body) answers for sends, consumed in order
        self.errors = {}  # 'whatsapp:+E164' -> queued (status, body) answers
        self.account_status = "active"
        # Content SID -> its WhatsApp approval status, or (status, rejection reason)
        self.approvals = {}
        self.approval_errors = []  # queued (status, body) answers to approval fetches
        self.contents = {}  # Content SID -> what was created (POST /v1/Content)
        self.content_errors = []  # queued (status, body) answers to Content creations/submissions

    def fail(self, number, *answers):
        self.errors.setdefault(f"whatsapp:{number}", []).extend(answers)

    @property
    def sends(self):
        return [r for r in self.requests if r["path"].endswith("/Messages.json")]

    def sent_to(self, number):
        return [r["form"] for r in self.sends if r["form"].get("To") == f"whatsapp:{number}"]

    def answer(self, request, timeout):
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode()
        is_json = "json" in (request.headers.get("Content-Type") or "")
        form = {} if is_json else dict(parse_qsl(body.decode(), keep_blank_values=True))
        path = urlsplit(request.url).path
        self.requests.append(
            {
                "method": request.method,
                "url": request.url,
                "path": path,
                "form": form,
                "json": json.loads(body) if is_json else None,
                "headers": dict(request.headers),
                "timeout": timeout,
            }
        )
        if path.endswith("/Messages.json"):
            queue = self.errors.get(form.get("To")) or self.answers
            if queue:
                return queue.pop(0)
            sid = f"SM{next(_sid_counter):032x}"
            self.requests[-1]["sid"] = sid
            return 201, {"sid": sid, "status": "queued", "to": form.get("To")}
        if path == f"/2010-04-01/Accounts/{TWILIO_ACCOUNT_SID}.json":
            if self.answers:
                return self.answers.pop(0)
            return 200, {
                "sid": TWILIO_ACCOUNT_SID,
                "friendly_name": "OFITEC",
                "status": self.account_status,
                "type": "Full",
            }
        if path.startswith("/v1/Content/") and path.endswith("/ApprovalRequests"):
            return self._approval(path.split("/")[3])
        if self.content_errors and path.startswith("/v1/Content"):
            return self.content_errors.pop(0)
        if request.method == "POST" and path == "/v1/Content":
            sid = f"HX{next(_sid_counter):032x}"
            self.contents[sid] = self.requests[-1]["json"]
            return 201, {"sid": sid, "account_sid": TWILIO_ACCOUNT_SID, **self.contents[sid]}
        if path.startswith("/v1/Content/") and path.endswith("/ApprovalRequests/whatsapp"):
            sid = path.split("/")[3]
            self.approvals[sid] = "received"
            submitted = self.requests[-1]["json"]
            return 201, {
                "name": submitted["name"],
                "category": submitted["category"],
                "content_type": "twilio/quick-reply",
                "status": "received",
                "rejection_reason": "",
                "allow_category_change": True,
            }
        return twilio_error(404, 20404, "The requested resource was not found")

    def _approval(self, content_sid):
        """GET /v1/Content/{HX}/ApprovalRequests, as Twilio answers it (spec B9)."""
        if self.approval_errors:
            return self.approval_errors.pop(0)
        approval = self.approvals.get(content_sid)
        if approval is None:
            return 200, {"sid": content_sid, "account_sid": TWILIO_ACCOUNT_SID, "whatsapp": {}}
        status, reason = approval if isinstance(approval, tuple) else (approval, "")
        whatsapp = {
            "name": "ofitec_template",
            "category": "UTILITY",
            "content_type": "twilio/text",
            "status": status,
            "rejection_reason": reason,
            "allow_category_change": True,
            "type": "whatsapp",
            "flows": None,
        }
        url = f"https://{CONTENT_HOST}/v1/Content/{content_sid}/ApprovalRequests"
        return 200, {
            "sid": content_sid,
            "account_sid": TWILIO_ACCOUNT_SID,
            "url": url,
            "whatsapp": whatsapp,
        }


class TwilioMixin(WhatsAppMixin):
    """A Twilio number beside the Meta one of WhatsAppMixin."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.twilio_config = cls.env["ofitec.whatsapp.config"].create(
            {
                "name": "Twilio number",
                "provider": "twilio",
                "twilio_account_sid": TWILIO_ACCOUNT_SID,
                "twilio_auth_token": TWILIO_AUTH_TOKEN,
                "twilio_from": TWILIO_FROM,
                "company_id": cls.company.id,
                "sequence": 1,
            }
        )
        # The Meta number of the mixin steps aside: actions go through Twilio.
        cls.config.active = False
        cls.urgent_template = cls.env.ref("ofitec_whatsapp.ofitec_whatsapp_template_urgent_action")
        cls.urgent_template.twilio_content_sid = CONTENT_SID
        # Only an approved Content is sent: these tests start from an approved one.
        cls.urgent_template.twilio_approval_status = "approved"

    @contextmanager
    def mock_twilio(self):
        """The real client over a fake transport for Twilio's host."""
        transport = TwilioTransport()
        guarded_send = requests.adapters.HTTPAdapter.send  # the kill switch, patched

        def send(adapter, request, *args, **kwargs):
            if urlsplit(request.url).hostname not in (TWILIO_HOST, CONTENT_HOST):
                return guarded_send(adapter, request, *args, **kwargs)
            status, payload = transport.answer(request, kwargs.get("timeout"))
            response = requests.Response()
            response.status_code = status
            response.headers = CaseInsensitiveDict({"Content-Type": "application/json"})
            response._content = (
                payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            )
            response.encoding = "utf-8"
            response.url = request.url
            response.request = request
            return response

        with patch.object(requests.adapters.HTTPAdapter, "send", send):
            yield transport

    def _twilio_deliver(self, pairs, config=None):
        """Store a Twilio form body as the route does after the signature check."""
        body = urlencode(pairs).encode()
        Event = self.env["ofitec.whatsapp.webhook.event"].sudo()
        return Event._store(config or self.twilio_config, body)

    def _twilio_receive(self, pairs, config=None):
        event = self._twilio_deliver(pairs, config)
        self._process_webhooks()
        return event
