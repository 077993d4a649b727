"""Twilio webhooks: ``X-Twilio-Signature`` (spec B4) and form bodies (spec B2, B3).

* :func:`verify_twilio_signature` uses the SDK's own ``RequestValidator`` over the
  public URL Twilio called (the config's Webhook URL plus the query string) and
  every form parameter, repeated ones included. Never raises.
* :func:`parse_twilio_form` turns one form-encoded POST (an inbound message or a
  status callback) into the :class:`~.webhook.ParsedWebhook` Meta's parser returns,
  so everything above the provider handles both the same way.

Twilio's statuses map onto Meta's: ``accepted``, ``queued``, ``sending``, ``sent``
-> ``sent``; ``delivered``; ``read``; ``failed`` and ``undelivered`` -> ``failed``
with ``ErrorCode``. Any other value (``scheduled``, ``canceled``, a new one) is kept
as it came, lower-cased: the status machine ignores what it does not know.
"""

from __future__ import annotations

import re
import time
from urllib.parse import parse_qsl

from twilio.request_validator import RequestValidator

from .i18n import _lt
from .pgtext import storable_text
from .provider import WebhookAnswer, WebhookHandler
from .webhook import ErrorInfo, InboundMessage, ParsedWebhook, StatusUpdate, WebhookPayloadError

try:  # twilio >= 9.13: HMAC-SHA256 "SharedKey" signatures (spec B9)
    from twilio.request_validator import get_signature_algorithm
except ImportError:  # pragma: no cover - older SDKs sign with HMAC-SHA1 only
    get_signature_algorithm = None

__all__ = [
    "EMPTY_TWIML",
    "ERROR_TITLES",
    "SIGNATURE_HEADER",
    "SIGNATURE_SETTINGS_HEADER",
    "STATUS_MAP",
    "FormParams",
    "TwilioWebhookHandler",
    "parse_twilio_form",
    "verify_twilio_signature",
]

SIGNATURE_HEADER = "X-Twilio-Signature"
SIGNATURE_SETTINGS_HEADER = "X-Twilio-Webhooks-Signature-Settings"

STATUS_MAP = {
    "accepted": "sent",
    "queued": "sent",
    "sending": "sent",
    "sent": "sent",
    "delivered": "delivered",
    "read": "read",
    "failed": "failed",
    "undelivered": "failed",
}
_INBOUND_STATUSES = frozenset({"received", "receiving"})
#: What the codes a status callback may carry mean (spec B5, B9): ``ErrorMessage`` is
#: often absent, and a bare number helps nobody. In English, marked for translation
#: (see .i18n): the Odoo layer shows them in the reader's language.
ERROR_TITLES = {
    21211: _lt("Invalid 'To' number"),
    21408: _lt("Blocked by Geo Permissions"),
    21656: _lt("ContentVariables refused (not JSON or null values)"),
    30036: _lt("Validity period expired"),
    63003: _lt("Channel could not find the 'To' address"),
    63007: _lt("No WhatsApp sender for the 'From' address"),
    63016: _lt("Outside the 24-hour window: a Content template is needed"),
    63018: _lt("Rate limit exceeded for the channel"),
    63024: _lt("Invalid recipient (not on WhatsApp or terms not accepted)"),
    63027: _lt("Template does not exist"),
    63028: _lt("Template parameter count mismatch"),
    63032: _lt("Recipient is part of a Meta experiment"),
    63049: _lt("Meta chose not to deliver this marketing message"),
}
_CHANNEL = "whatsapp:"


class FormParams:
    """Form parameters that keep repeated names, with the ``getlist`` /
    ``getall`` interface the SDK's validator understands (like werkzeug's
    ``MultiDict``). Built from raw bytes / text, a list of pairs or a mapping."""

    def __init__(self, data):
        if isinstance(data, FormParams):
            pairs = list(data.pairs)
        elif isinstance(data, (bytes, bytearray, memoryview)):
            text = bytes(data).decode("utf-8", errors="replace")
            pairs = parse_qsl(text, keep_blank_values=True)
        elif isinstance(data, str):
            pairs = parse_qsl(data, keep_blank_values=True)
        elif hasattr(data, "getlist"):
            pairs = [(key, value) for key in data for value in data.getlist(key)]
        elif isinstance(data, dict):
            pairs = list(data.items())
        else:
            pairs = list(data or ())
        self.pairs = [(str(key), str(value)) for key, value in pairs]

    def __iter__(self):
        seen = []
        for key, _value in self.pairs:
            if key not in seen:
                seen.append(key)
        return iter(seen)

    def __contains__(self, key):
        return any(name == key for name, _value in self.pairs)

    def __getitem__(self, key):
        for name, value in self.pairs:
            if name == key:
                return value
        raise KeyError(key)

    def get(self, key, default=None):
        try:
            return self[key]
        except KeyError:
            return default

    def getlist(self, key):
        return [value for name, value in self.pairs if name == key]

    getall = getlist


# --------------------------------------------------------------------------
# Signature
# --------------------------------------------------------------------------


def verify_twilio_signature(auth_token, url, params, signature, settings_header=None):
    """True when ``signature`` (the ``X-Twilio-Signature`` header) signs ``url``
    (the full public URL Twilio called, query string included) and every form
    parameter in ``params`` (raw body, pairs, mapping or ``MultiDict``).

    The SDK's validator accepts the URL with or without the default port. A request
    asking for another algorithm (``X-Twilio-Webhooks-Signature-Settings``) is
    checked with that algorithm and the Auth Token: a SharedKey secret is not
    supported, so such a request fails. Never raises: a missing token, header or
    URL gives False.
    """
    if not auth_token or not signature or not url:
        return False
    algorithm = None
    if settings_header:
        if get_signature_algorithm is None:
            return False
        algorithm = get_signature_algorithm(settings_header)
    try:
        validator = RequestValidator(str(auth_token))
        form = FormParams(params)
        if algorithm is None:
            return bool(validator.validate(str(url), form, str(signature)))
        return bool(validator.validate(str(url), form, str(signature), algorithm))
    except (TypeError, ValueError, UnicodeError):
        return False


# --------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------


def _value(form, *names):
    """The first non-empty value among ``names`` (legacy aliases), stripped."""
    for name in names:
        value = form.get(name)
        if value is not None and value.strip():
            return value.strip()
    return None


def _address(value):
    """``'whatsapp:+14155550123'`` -> ``'14155550123'`` (digits, as a wa_id)."""
    if not value:
        return None
    text = value.strip()
    if text.lower().startswith(_CHANNEL):
        text = text[len(_CHANNEL) :]
    text = text.strip().lstrip("+")
    return text or None


def _float(value):
    try:
        return float(value) if value not in (None, "") else None
    except ValueError:
        return None


def _int(value):
    text = (value or "").strip()
    return int(text) if text.isdigit() else None


# A Twilio SID: two letters and 32 hexadecimal digits (SM…, MM…); checked loosely (a
# new prefix or length must not refuse real webhooks), tightly enough that no value
# too long for the database's indexes gets in.
_SID = re.compile(r"[A-Za-z]{2}[0-9A-Za-z]{1,62}")


def parse_twilio_form(data, received_at):
    """Parse one Twilio webhook (form-encoded) into a :class:`ParsedWebhook`.

    ``received_at`` (Unix seconds) is the timestamp: Twilio's webhooks carry none.
    A body without ``MessageSid`` (nor its legacy aliases) raises
    :class:`~.webhook.WebhookPayloadError`.
    """
    form = data if isinstance(data, FormParams) else FormParams(data)
    sid = _value(form, "MessageSid", "SmsMessageSid", "SmsSid")
    if not sid:
        raise WebhookPayloadError("MessageSid is missing: not a Twilio message webhook")
    if not _SID.fullmatch(sid):
        raise WebhookPayloadError("MessageSid is not a Twilio SID (letters and digits)")
    status = (_value(form, "MessageStatus", "SmsStatus") or "").lower()
    result = ParsedWebhook(object="twilio")
    if not status or status in _INBOUND_STATUSES:
        result.messages.append(_inbound(form, sid, int(received_at)))
    else:
        result.statuses.append(_status(form, sid, status, int(received_at)))
    return result


def _status(form, sid, status, received_at):
    errors = []
    code = _value(form, "ErrorCode")
    if code:
        number = _int(code)
        errors.append(
            ErrorInfo(
                code=number,
                title=_value(form, "ErrorMessage") or ERROR_TITLES.get(number),
                message=None if number is not None else code,
            )
        )
    return StatusUpdate(
        phone_number_id=None,
        waba_id=None,
        wamid=sid,
        status=STATUS_MAP.get(status, status),
        timestamp=received_at,
        recipient_id=_address(_value(form, "To")),
        errors=errors,
        raw=dict(form.pairs),
    )


def _message_type(form):
    declared = (_value(form, "MessageType") or "").lower()
    if _value(form, "ButtonPayload", "ButtonText"):
        return "button"
    if (_int(_value(form, "NumMedia")) or 0) > 0:
        mime = (_value(form, "MediaContentType0") or "").lower()
        kind = mime.split("/", 1)[0]
        if kind in ("image", "audio", "video"):
            return kind
        return "document" if mime else (declared or "document")
    if _value(form, "Latitude") and _value(form, "Longitude"):
        return "location"
    return declared or "text"


def _inbound(form, sid, received_at):
    wa_id = _value(form, "WaId") or _address(_value(form, "From"))
    bsuid = _address(_value(form, "ExternalUserId"))
    if not wa_id and not bsuid:
        raise WebhookPayloadError("the message has no sender (From / WaId)")
    msg_type = _message_type(form)
    message = InboundMessage(
        phone_number_id=None,
        display_phone_number=_address(_value(form, "To")),
        waba_id=None,
        wamid=sid,
        timestamp=received_at,
        type=msg_type,
        from_wa_id=wa_id,
        from_user_id=bsuid if bsuid and not bsuid.isdigit() else None,
        profile_name=_value(form, "ProfileName"),
        text=form.get("Body") or None,
        payload=_value(form, "ButtonPayload"),
        context_id=_value(form, "OriginalRepliedMessageSid"),
        context_from=_address(_value(form, "OriginalRepliedMessageSender")),
        forwarded=(_value(form, "Forwarded", "FrequentlyForwarded") or "").lower() == "true",
        raw=dict(form.pairs),
    )
    if msg_type == "button":
        message.text = _value(form, "ButtonText") or message.text
    elif msg_type == "location":
        message.latitude = _float(_value(form, "Latitude"))
        message.longitude = _float(_value(form, "Longitude"))
        message.location_address = _value(form, "Address")
        message.text = _value(form, "Label") or message.text
    elif msg_type in ("image", "audio", "video", "document"):
        message.media_url = _value(form, "MediaUrl0")
        message.media_mime_type = _value(form, "MediaContentType0")
    return message


# --------------------------------------------------------------------------
# Handler (the webhook side of the provider seam)
# --------------------------------------------------------------------------

#: Empty TwiML: "stored, nothing to answer" (spec B3).
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


class TwilioWebhookHandler(WebhookHandler):
    """Twilio's :class:`~.provider.WebhookHandler`: checks and parses the webhooks of
    one config.

    ``webhook_url`` is the public URL Twilio calls (the config's Webhook URL, built
    from ``web.base.url``, so a reverse proxy does not break the signature).
    """

    name = "twilio"
    signature_header = SIGNATURE_HEADER

    def __init__(self, auth_token, webhook_url):
        self._auth_token = auth_token or ""
        self.webhook_url = webhook_url or ""

    def __repr__(self):
        return f"TwilioWebhookHandler(webhook_url={self.webhook_url!r}, auth_token=***)"

    def signed_url(self, query_string=""):
        """The URL Twilio signed: the public URL plus the query string as received."""
        query = query_string.decode("latin-1") if isinstance(query_string, bytes) else query_string
        if not query:
            return self.webhook_url
        separator = "&" if "?" in self.webhook_url else "?"
        return f"{self.webhook_url}{separator}{query}"

    def verify(self, request):
        """True when ``X-Twilio-Signature`` signs the public URL (with the query string
        as received) and every parameter of the form body."""
        return verify_twilio_signature(
            self._auth_token,
            self.signed_url(getattr(request, "query_string", "") or ""),
            request.raw_body,
            request.header(SIGNATURE_HEADER),
            request.header(SIGNATURE_SETTINGS_HEADER),
        )

    def parse(self, raw_body, received_at=None):
        """:func:`parse_twilio_form` of the raw body; a JSON body is refused.
        ``received_at`` (Unix seconds, default now): Twilio's webhooks carry no time."""
        body = bytes(raw_body or b"")
        if body.lstrip()[:1] in (b"{", b"["):
            raise WebhookPayloadError("JSON body: Twilio webhooks are form-encoded")
        # Texts may hold characters PostgreSQL cannot store (NUL as %00, lone
        # surrogates): drop them before anything reaches the database, as for Meta. The
        # signature was checked on the form as received.
        form = FormParams(
            [(storable_text(key), storable_text(value)) for key, value in FormParams(body).pairs]
        )
        return parse_twilio_form(form, time.time() if received_at is None else received_at)

    def acknowledge(self):
        """An empty TwiML document: stored, nothing to answer (spec B3)."""
        return WebhookAnswer(200, EMPTY_TWIML, "text/xml")
