"""Twilio Programmable Messaging for WhatsApp, through the official ``twilio`` SDK (spec B1, B5).

* One :class:`twilio.rest.Client` per client, with the SDK's own
  :class:`~twilio.http.http_client.TwilioHttpClient` given a timeout (its default has
  none, spec B9). Tests inject a :class:`requests.Session` whose transport adapter is
  fake: everything above the socket (the SDK, its form encoding, its error parsing)
  runs for real.
* ``base_url`` replaces ``https://api.twilio.com`` (other editions and regions use
  other hosts; tests use a local fake). ``TWILIO_EDGE`` / ``TWILIO_REGION`` from the
  environment are ignored: the configured URL is the only one.
* Every failure raises a :mod:`.errors` class chosen by Twilio's error *code*
  (:func:`classify_twilio_error`); network failures are mapped as for Meta
  (:func:`.cloud_api.network_error`).
* The Auth Token only goes into the SDK's Basic authentication. It is never logged,
  never part of ``repr(client)`` and scrubbed from error texts.

The parameter builders (:func:`build_text_params`, :func:`build_content_params`) are
pure functions returning the keyword arguments of ``client.messages.create``.
"""

from __future__ import annotations

import json
import logging
import re

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from . import transport
from .cloud_api import network_error
from .errors import (
    AuthError,
    InvalidResponseError,
    PermanentError,
    RateLimitedError,
    RetryableError,
    WindowClosedError,
    classify_http_status,
    to_int,
)
from .phone import is_bsuid
from .provider import Provider, SendResult
from .render import sanitize_template_param, to_text, truncate
from .twilio_content import parse_approval

_logger = logging.getLogger(__name__)
# The SDK logs every request (URL, headers but the Authorization) at INFO: keep that
# out of Odoo's log unless someone asks for it.
_sdk_logger = logging.getLogger(__name__ + ".sdk")
_sdk_logger.setLevel(logging.WARNING)

__all__ = [
    "AUTH_CODES",
    "CONTENT_VARIABLE_MAX",
    "DEFAULT_BASE_URL",
    "DEFAULT_CONTENT_BASE_URL",
    "DEFAULT_TIMEOUT",
    "PERMANENT_CODES",
    "RATE_LIMIT_CODES",
    "TEMPLATE_CODES",
    "TEXT_BODY_MAX",
    "WINDOW_CLOSED_CODE",
    "TwilioClient",
    "build_content_params",
    "build_content_variables",
    "build_text_params",
    "channel_address",
    "classify_twilio_error",
    "is_content_sid",
    "make_twilio_error",
    "sender_params",
    "template_content_sid",
]

DEFAULT_BASE_URL = "https://api.twilio.com"
#: The Content API's host (spec B9). A custom ``base_url`` (a local fake, a proxy)
#: serves the Content API too.
DEFAULT_CONTENT_BASE_URL = "https://content.twilio.com"
#: Seconds, for connecting and for reading (TwilioHttpClient takes one number).
DEFAULT_TIMEOUT = 30.0
#: ``Body`` limit of the Messages API (spec B1.1).
TEXT_BODY_MAX = 1600
#: Largest value of one Content variable (spec B9).
CONTENT_VARIABLE_MAX = 1600

#: Free-form message outside the 24 h window (or a template sent as ``Body``).
WINDOW_CLOSED_CODE = 63016
#: 63018: channel rate limit (sender, portfolio or pair); 20429: REST API concurrency.
RATE_LIMIT_CODES = frozenset({63018, 20429})
#: Wrong credentials or a suspended account.
AUTH_CODES = frozenset({20003})
#: ``ContentVariables`` refused (21656), template missing (63027), parameter count
#: mismatch (63028): the message names the template.
TEMPLATE_CODES = frozenset({21656, 63027, 63028})
#: Invalid ``To`` (21211), blocked by Geo Permissions (21408), recipient not on
#: WhatsApp (63024), Meta experiment (63032): failed at once.
PERMANENT_CODES = frozenset({21211, 21408, 63024, 63032})
INVALID_TO_CODE = 21211

_SID = re.compile(r"(AC|MG|HX)[0-9a-fA-F]{32}")
_PHONE_CHARS = re.compile(r"[\s().\-]")
_CHANNEL = "whatsapp:"


# --------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------


def classify_twilio_error(code, http_status=None):
    """The :mod:`.errors` class for a Twilio error code (spec B5, B9).

    Decided by ``code`` first; without a known code the HTTP status decides as for
    Meta (none or 5xx: retryable, 401/403: auth, 429: rate limited, others: permanent).
    """
    if code == WINDOW_CLOSED_CODE:
        return WindowClosedError
    if code in RATE_LIMIT_CODES:
        return RateLimitedError
    if code in AUTH_CODES:
        return AuthError
    if code in PERMANENT_CODES or code in TEMPLATE_CODES:
        return PermanentError
    return classify_http_status(http_status)


def make_twilio_error(code=None, message=None, http_status=None, template=None):
    """The error instance for these facts (an API answer or a status callback).

    ``template`` (a Content SID or a template name) is named in the message of the
    template codes (21656, 63027, 63028), so a manager knows which one to fix.
    """
    code = to_int(code)
    cls = classify_twilio_error(code, http_status)
    title = to_text(message).strip() or None
    if code in TEMPLATE_CODES and template:
        title = f"Template {template}: {title or 'rejected by Twilio'}"
    return cls(title, code=code, http_status=http_status)


def _error_from_sdk(exc, template=None):
    """Map a ``TwilioRestException`` (or the RFC 9457 ``TwilioServiceException`` of
    recent SDKs) to our hierarchy, with Twilio's own message kept verbatim."""
    status = to_int(getattr(exc, "status", None))
    code = to_int(getattr(exc, "code", None))
    if code == status:  # the SDK puts the HTTP status there when the body had no code
        code = None
    message = getattr(exc, "msg", None) or getattr(exc, "detail", None)
    message = message or getattr(exc, "title", None)
    message = to_text(message)
    # The SDK prefixes "Unable to create record: " to Twilio's message.
    for prefix in ("Unable to create record: ", "Unable to fetch record: "):
        if message.startswith(prefix):
            message = message[len(prefix) :]
    return make_twilio_error(code, message or None, status, template=template)


# --------------------------------------------------------------------------
# Pure helpers: addresses and parameters
# --------------------------------------------------------------------------


def channel_address(number):
    """``'whatsapp:+56912345678'`` from an E.164 number, a wa_id (digits) or an
    address that already has the ``whatsapp:`` prefix. ``ValueError`` for anything
    else, including a BSUID (Twilio addresses WhatsApp users by number)."""
    text = to_text(number).strip()
    if text.lower().startswith(_CHANNEL):
        text = text[len(_CHANNEL) :].strip()
    if not text:
        raise ValueError("a recipient is required")
    if is_bsuid(text):
        raise ValueError("Twilio cannot send to a business-scoped user id (no phone number)")
    compact = _PHONE_CHARS.sub("", text)
    digits = compact[1:] if compact.startswith("+") else compact
    if not digits.isdigit() or not 7 <= len(digits) <= 15:
        raise ValueError(f"not a phone number: {text!r}")
    return f"{_CHANNEL}+{digits}"


def sender_params(twilio_from):
    """``{'messaging_service_sid': 'MG…'}`` for a Messaging Service, else
    ``{'from_': 'whatsapp:+E164'}``; ``ValueError`` when it is neither."""
    text = to_text(twilio_from).strip()
    if text[:2].upper() == "MG":
        if not _SID.fullmatch(text) or not text.startswith("MG"):
            raise ValueError(f"invalid Messaging Service SID {text!r}")
        return {"messaging_service_sid": text}
    if not text.lower().startswith(_CHANNEL):
        raise ValueError(f"the sender must be 'whatsapp:+<number>' or 'MG…', got {text!r}")
    return {"from_": channel_address(text)}


def build_content_variables(values, first_key=1, sanitize=True):
    """``{"1": …, "2": …}`` from a list (keys numbered from ``first_key``) or a dict
    (keys kept). Values are text, never empty, cut to 1,600 characters (spec B9:
    never refused); with ``sanitize`` (template parameters), whitespace runs become
    one space, as WhatsApp requires of template parameters."""
    if isinstance(values, dict):
        items = [(str(key), value) for key, value in values.items()]
    else:
        items = [(str(first_key + index), value) for index, value in enumerate(values or ())]
    result = {}
    for key, value in items:
        if sanitize:
            text = sanitize_template_param(value, max_len=CONTENT_VARIABLE_MAX)
        else:
            text = truncate(to_text(value), CONTENT_VARIABLE_MAX) or "-"
        result[key] = text
    return result


def _common(to, twilio_from, status_callback):
    try:
        recipient = channel_address(to)
    except ValueError as error:
        # A recipient Twilio cannot address (a BSUID, no number): sending again would
        # fail the same way. Twilio's own code for it.
        raise PermanentError(str(error), code=INVALID_TO_CODE) from None
    params = {"to": recipient}
    params.update(sender_params(twilio_from))
    if status_callback:
        params["status_callback"] = str(status_callback)
    return params


def build_text_params(to, twilio_from, body, status_callback=None):
    """Keyword arguments of ``messages.create`` for a free-form text (window open).
    ``body`` is cut to 1,600 characters; an empty body raises ``ValueError``."""
    text = truncate(to_text(body), TEXT_BODY_MAX)
    if not text.strip():
        raise ValueError("a text message needs a non-empty body")
    params = _common(to, twilio_from, status_callback)
    params["body"] = text
    return params


def is_content_sid(value):
    """True for a Content SID: ``HX`` and 32 hexadecimal digits."""
    text = to_text(value).strip()
    return bool(_SID.fullmatch(text)) and text.startswith("HX")


def template_content_sid(template):
    """The Content SID of ``template``: a string, or an object with ``content_sid``."""
    if template is None or isinstance(template, str):
        return to_text(template).strip()
    return to_text(getattr(template, "content_sid", None)).strip()


def build_content_params(to, twilio_from, content_sid, variables, status_callback=None):
    """Keyword arguments of ``messages.create`` for a Content template: ``ContentSid``
    and ``ContentVariables`` (a JSON string, spec B1.1)."""
    sid = to_text(content_sid).strip()
    if not is_content_sid(sid):
        raise ValueError(f"invalid Content SID {sid!r} (expected HX followed by 32 hex digits)")
    params = _common(to, twilio_from, status_callback)
    params["content_sid"] = sid
    if variables:
        params["content_variables"] = json.dumps(variables, ensure_ascii=False)
    return params


# --------------------------------------------------------------------------
# Client
# --------------------------------------------------------------------------


class TwilioClient(Provider):
    """Twilio client for one account and one sender (``whatsapp:+E164`` or ``MG…``):
    Twilio's :class:`~.provider.Provider`.

    ``status_callback`` (the config's Webhook URL) goes with every message.
    ``session`` (a :class:`requests.Session`) is injected for tests.
    """

    name = "twilio"

    def __init__(
        self,
        account_sid,
        auth_token,
        twilio_from,
        base_url=DEFAULT_BASE_URL,
        status_callback=None,
        session=None,
        timeout=DEFAULT_TIMEOUT,
        quick_reply_content_sid=None,
    ):
        sid = to_text(account_sid).strip()
        if not (_SID.fullmatch(sid) and sid.startswith("AC")):
            raise ValueError(f"invalid Account SID {sid!r} (expected AC followed by 32 hex digits)")
        token = to_text(auth_token).strip()
        if not token:
            raise ValueError("an Auth Token is required")
        if timeout is None or timeout <= 0:
            raise ValueError("a positive timeout is required")
        self.account_sid = sid
        self._auth_token = token
        self.sender = sender_params(twilio_from)
        self.twilio_from = to_text(twilio_from).strip()
        self.base_url = to_text(base_url).strip().rstrip("/") or DEFAULT_BASE_URL
        self.status_callback = to_text(status_callback).strip() or None
        self.timeout = float(timeout)
        self.quick_reply_content_sid = to_text(quick_reply_content_sid).strip() or None
        http_client = TwilioHttpClient(timeout=self.timeout, logger=_sdk_logger)
        if session is not None:
            http_client.session = session
        elif http_client.session is not None:
            transport.mount(http_client.session)
        self.http_client = http_client
        self._client = Client(sid, token, http_client=http_client)
        # The configured URL is the only one: no edge / region rewriting of it.
        self._client.edge = None
        self._client.region = None
        self._client.api.base_url = self.base_url
        custom = self.base_url != DEFAULT_BASE_URL
        self._client.content.base_url = self.base_url if custom else DEFAULT_CONTENT_BASE_URL

    def __repr__(self):
        return (
            f"TwilioClient(account_sid={self.account_sid!r}, twilio_from={self.twilio_from!r}, "
            f"base_url={self.base_url!r}, auth_token=***)"
        )

    # -- plumbing -----------------------------------------------------------

    def _scrub(self, error):
        return error.scrub(self._auth_token)

    def _create(self, params, template=None):
        try:
            message = self._client.messages.create(**params)
        except TwilioException as exc:
            if isinstance(exc, TwilioRestException) or hasattr(exc, "code"):
                error = _error_from_sdk(exc, template=template)
            else:
                error = RetryableError("Twilio error", details=type(exc).__name__)
            raise self._scrub(error) from None
        except requests.exceptions.RequestException as exc:
            error = network_error(exc, sent=True)
            _logger.info("Twilio send failed: %s", error)
            raise self._scrub(error) from None
        except ValueError:  # a 2xx answer that is not JSON
            raise InvalidResponseError(
                details="the answer is not a JSON object", http_status=201
            ) from None
        sid = to_text(getattr(message, "sid", None)).strip()
        if not sid:
            raise InvalidResponseError(details="no message SID in the answer", http_status=201)
        return SendResult(
            wamid=sid,
            wa_id=None,
            input=params["to"],
            user_id=None,
            message_status=to_text(getattr(message, "status", None)) or None,
            raw={"sid": sid, "status": getattr(message, "status", None)},
        )

    # -- sending --------------------------------------------------------------

    def send_text(self, to, body, callback_data=None):
        """Free-form text (inside the 24 h window).

        ``callback_data`` is accepted for the shared provider interface; Twilio has no
        opaque field to carry it, so it is not sent.
        """
        del callback_data
        return self._create(build_text_params(to, self.twilio_from, body, self.status_callback))

    def send_buttons(self, to, body, buttons, callback_data=None):
        """Text with quick replies (inside the 24 h window); ``buttons`` is a list of
        ``(payload, title)``.

        Twilio has no inline buttons: quick replies live in a Content template. With
        the client's ``quick_reply_content_sid`` (a ``twilio/quick-reply`` content
        whose body is ``{{1}}`` and whose action ids are ``{{2}}``, ``{{3}}``, …) the
        body and the payloads go as its variables; without one the body goes as plain
        text and the user types the command.
        """
        del callback_data
        content_sid = self.quick_reply_content_sid
        if not content_sid:
            return self.send_text(to, body)
        variables = {"1": truncate(to_text(body), CONTENT_VARIABLE_MAX)}
        for index, button in enumerate(buttons or (), start=2):
            payload = button.get("id") if isinstance(button, dict) else button[0]
            variables[str(index)] = to_text(payload)
        params = build_content_params(
            to, self.twilio_from, content_sid, variables, self.status_callback
        )
        return self._create(params, template=content_sid)

    def send_template(self, to, template, params, button_payloads=None, callback_data=None):
        """An approved Content template (any time): ``ContentSid`` + ``ContentVariables``.

        ``template`` is the Content SID (``HX…``) or anything with a ``content_sid``
        attribute (the provider seam's template reference). ``params`` (a list, or a
        dict with the template's own keys) are the variables ``{"1": …}`` in order;
        ``button_payloads`` (our quick-reply payloads) follow them, numbered after
        the last parameter, for a template whose action ids are variables. Values
        over 1,600 characters are cut.
        """
        del callback_data
        content_sid = template_content_sid(template)
        variables = build_content_variables(params)
        if button_payloads:
            next_key = len(variables) + 1
            for offset, payload in enumerate(button_payloads):
                if payload:
                    variables[str(next_key + offset)] = truncate(
                        to_text(payload), CONTENT_VARIABLE_MAX
                    )
        built = build_content_params(
            to, self.twilio_from, content_sid, variables, self.status_callback
        )
        return self._create(built, template=getattr(template, "name", None) or content_sid)

    @classmethod
    def accepts_template(cls, template):
        """True when ``template`` names a Content SID this client can send."""
        return is_content_sid(template_content_sid(template))

    @classmethod
    def classify_error(cls, code, http_status=None):
        """The :mod:`.errors` class of a Twilio error code (also for status callbacks)."""
        return classify_twilio_error(to_int(code), http_status)

    # -- account --------------------------------------------------------------

    def _fetch(self, fetch):
        """Run one SDK fetch; its failures raised as our classes, the token scrubbed."""
        try:
            return fetch()
        except TwilioException as exc:
            if isinstance(exc, TwilioRestException) or hasattr(exc, "code"):
                raise self._scrub(_error_from_sdk(exc)) from None
            raise self._scrub(RetryableError("Twilio error", details=type(exc).__name__)) from None
        except requests.exceptions.RequestException as exc:
            raise self._scrub(network_error(exc, sent=False)) from None
        except ValueError:
            raise InvalidResponseError(
                details="the answer is not a JSON object", http_status=200
            ) from None

    def fetch_content_approval(self, content_sid):
        """The WhatsApp approval of a Content template (a
        :class:`.twilio_content.ContentApproval`), through the SDK's approval fetch
        ``GET /v1/Content/{HX…}/ApprovalRequests`` (spec B9). ``ValueError`` for a
        value that is not a Content SID (nothing is sent)."""
        sid = to_text(content_sid).strip()
        if not is_content_sid(sid):
            raise ValueError(f"invalid Content SID {sid!r} (expected HX followed by 32 hex digits)")
        answer = self._fetch(self._client.content.v1.contents(sid).approval_fetch().fetch)
        return parse_approval(sid, answer.whatsapp)

    def create_content(self, request):
        """``POST /v1/Content`` (``request`` from
        :func:`.twilio_content.build_content_request`): the new Content's SID."""
        contents = self._client.content.v1.contents
        if not hasattr(contents, "create"):
            raise ValueError("this twilio library cannot create Content (twilio 9.x can)")
        answer = self._fetch(lambda: contents.create(type(contents).ContentCreateRequest(request)))
        sid = to_text(getattr(answer, "sid", None)).strip()
        if not is_content_sid(sid):
            raise InvalidResponseError(details="no Content SID in the answer", http_status=201)
        return sid

    def submit_content_approval(self, content_sid, request):
        """``POST /v1/Content/{HX…}/ApprovalRequests/whatsapp`` (``request`` from
        :func:`.twilio_content.build_approval_request`): the approval as Twilio
        answers it (a :class:`.twilio_content.ContentApproval`, usually ``received``)."""
        sid = to_text(content_sid).strip()
        if not is_content_sid(sid):
            raise ValueError(f"invalid Content SID {sid!r} (expected HX followed by 32 hex digits)")
        approvals = self._client.content.v1.contents(sid).approval_create
        answer = self._fetch(
            lambda: approvals.create(type(approvals).ContentApprovalRequest(request))
        )
        fields = ("status", "category", "rejection_reason", "name")
        return parse_approval(sid, {key: getattr(answer, key, None) for key in fields})

    def fetch_account(self):
        """``GET /2010-04-01/Accounts/{sid}.json``: ``{'sid', 'friendly_name', 'status',
        'type'}``; Twilio's exact error (e.g. 20003) raised as our classes otherwise."""
        account = self._fetch(self._client.api.v2010.accounts(self.account_sid).fetch)
        return {
            "sid": account.sid,
            "friendly_name": account.friendly_name,
            "status": to_text(account.status) or None,
            "type": to_text(account.type) or None,
        }
