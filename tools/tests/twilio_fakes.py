"""A fake Twilio REST API at the lowest seam: a ``requests`` transport adapter.

The real :class:`requests.Session`, the SDK's ``TwilioHttpClient`` and ``Client``
all run; only the socket is replaced. Every request is recorded with its decoded
form, so tests assert on what would go on the wire.
"""

import json
from urllib.parse import parse_qsl, urlsplit

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "twilio-auth-token-0123456789secret"
MESSAGE_SID = "SM" + "fedcba9876543210" * 2
CONTENT_SID = "HX" + "b5b62575e6e4ff61" * 2
SERVICE_SID = "MG" + "0011223344556677" * 2
FROM = "whatsapp:+14155238886"


def twilio_message(sid=MESSAGE_SID, status="queued", **extra):
    body = {
        "sid": sid,
        "account_sid": ACCOUNT_SID,
        "status": status,
        "direction": "outbound-api",
        "error_code": None,
        "error_message": None,
    }
    body.update(extra)
    return 201, body


def twilio_error(status, code, message="Error"):
    return status, {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


def twilio_account(status="active"):
    return 200, {
        "sid": ACCOUNT_SID,
        "friendly_name": "OFITEC",
        "status": status,
        "type": "Full",
    }


def _json_body(request, body):
    """The decoded body of a JSON request (the Content API's), else None."""
    if "json" not in (request.headers.get("Content-Type") or ""):
        return None
    return json.loads(body.decode("utf-8"))


class FakeTwilioAdapter(BaseAdapter):
    """Answers from a queue of ``(status, json-able body)``, raw ``bytes`` bodies as
    ``(status, b'...')``, or exceptions (raised as the transport would)."""

    def __init__(self, *answers):
        super().__init__()
        self.answers = list(answers)
        self.requests = []

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        self.requests.append(
            {
                "method": request.method,
                "url": request.url,
                "path": urlsplit(request.url).path,
                "headers": dict(request.headers),
                "form": parse_qsl(body.decode("utf-8"), keep_blank_values=True),
                "json": _json_body(request, body),
                "timeout": timeout,
            }
        )
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        status, payload = answer
        response = requests.Response()
        response.status_code = status
        response.headers = CaseInsensitiveDict({"Content-Type": "application/json"})
        response._content = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        response.encoding = "utf-8"
        response.url = request.url
        response.request = request
        return response

    def close(self):
        pass

    @property
    def last_form(self):
        return dict(self.requests[-1]["form"])


def fake_session(*answers):
    session = requests.Session()
    adapter = FakeTwilioAdapter(*answers)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session, adapter
