"""Minimal client for the WhatsApp Business Cloud API (Graph API), spec A1-A3.

* One injected :class:`requests.Session`; every call passes ``timeout``.
* Every failure raises a :mod:`.errors` class chosen by Meta's error *code*:

  - connection refused / DNS / connect timeout (the request never reached
    Meta): :class:`~.errors.RetryableError` ``(code=None, 'Connection error')``;
  - read timeout, or the connection dropped after the request was sent, on a
    POST: :class:`~.errors.UncertainDeliveryError` (Meta may have accepted the
    message; a blind resend could duplicate it). On a GET the same events are a
    plain :class:`~.errors.RetryableError`;
  - non-2xx answers: :func:`~.errors.error_from_response`;
  - a 2xx answer without JSON or without ``messages[0].id``:
    :class:`~.errors.InvalidResponseError` (permanent: do not resend blindly).

* The access token is only ever placed in the ``Authorization`` header. It is
  never logged, never part of ``repr(client)`` and scrubbed from error texts.

The payload builders (:func:`build_text_payload`, :func:`build_buttons_payload`,
:func:`build_template_payload`) are pure functions that apply Meta's length
limits (spec A2, A11).
"""

from __future__ import annotations

import json
import logging
import re
from urllib.parse import urlsplit

import requests
from urllib3.exceptions import ProtocolError

from . import network, transport
from .errors import (
    InvalidResponseError,
    PermanentError,
    RetryableError,
    UncertainDeliveryError,
    error_from_response,
)
from .errors import classify_error as classify_meta_error
from .phone import is_bsuid
from .provider import Provider, SendResult
from .render import sanitize_template_param, to_text, truncate

_logger = logging.getLogger(__name__)

__all__ = [
    "BUTTON_ID_MAX",
    "BUTTON_TITLE_MAX",
    "CALLBACK_DATA_MAX",
    "DEFAULT_API_VERSION",
    "DEFAULT_BASE_URL",
    "DEFAULT_TIMEOUT",
    "FOOTER_MAX",
    "HEADER_MAX",
    "INTERACTIVE_BODY_MAX",
    "MAX_BUTTONS",
    "PHONE_NUMBER_FIELDS",
    "TEMPLATE_FIELDS",
    "TEMPLATE_HEADER_PARAM_MAX",
    "TEMPLATE_PAYLOAD_MAX",
    "TEXT_BODY_MAX",
    "CloudApiClient",
    "SendResult",
    "build_buttons_payload",
    "build_template_payload",
    "build_text_payload",
    "network_error",
    "normalize_api_version",
    "parse_send_response",
    "recipient_fields",
]

DEFAULT_API_VERSION = "v23.0"
DEFAULT_BASE_URL = "https://graph.facebook.com"
#: (connect, read) seconds. A generous read timeout lowers the risk of an
#: "uncertain" send (Meta accepted, we never heard back).
DEFAULT_TIMEOUT = (5, 30)

TEXT_BODY_MAX = 4096
INTERACTIVE_BODY_MAX = 1024
HEADER_MAX = 60
FOOTER_MAX = 60
MAX_BUTTONS = 3
BUTTON_TITLE_MAX = 20
BUTTON_ID_MAX = 256
CALLBACK_DATA_MAX = 512
TEMPLATE_PAYLOAD_MAX = 256
TEMPLATE_HEADER_PARAM_MAX = 60

#: Fields read by :meth:`CloudApiClient.get_phone_number` (spec A3.1).
PHONE_NUMBER_FIELDS = (
    "id",
    "display_phone_number",
    "verified_name",
    "quality_rating",
    "status",
    "code_verification_status",
    "name_status",
    "platform_type",
    "throughput",
    "whatsapp_business_manager_messaging_limit",
)
#: Fields read by :meth:`CloudApiClient.list_templates` (spec A3.2).
TEMPLATE_FIELDS = (
    "id",
    "name",
    "language",
    "status",
    "category",
    "parameter_format",
    "components",
)

_API_VERSION = re.compile(r"v(\d+)(?:\.(\d+))?")
_NODE_ID = re.compile(r"[A-Za-z0-9_]+")
_PHONE_CHARS = re.compile(r"[\s().\-]")
_MAX_PAGES = 50


# --------------------------------------------------------------------------
# Pure helpers
# --------------------------------------------------------------------------


def normalize_api_version(api_version):
    """``'23.0'``, ``'v23.0'``, ``'V23'`` -> ``'v23.0'``; ``ValueError`` otherwise."""
    text = str(api_version or "").strip().lower()
    if text and not text.startswith("v"):
        text = "v" + text
    match = _API_VERSION.fullmatch(text)
    if not match:
        raise ValueError(f"invalid Graph API version {api_version!r}, expected e.g. 'v23.0'")
    return f"v{int(match.group(1))}.{int(match.group(2) or 0)}"


def recipient_fields(to):
    """``{'to': '+56912345678'}`` for a phone number, ``{'recipient': bsuid}``
    for a business-scoped user id (spec A10.4).

    Digits-only numbers (a wa_id) get a ``+``: without it Meta would prepend
    the business number's own country code (spec A10.1).
    """
    text = to_text(to).strip()
    if text.lower().startswith("whatsapp:"):
        text = text[len("whatsapp:") :].strip()
    if not text:
        raise ValueError("a recipient ('to') is required")
    if is_bsuid(text):
        return {"recipient": text}
    compact = _PHONE_CHARS.sub("", text)
    digits = compact[1:] if compact.startswith("+") else compact
    if digits.isdigit():
        return {"to": "+" + digits}
    return {"to": text}


def _callback_data(callback_data):
    if callback_data is None or callback_data == "" or callback_data is False:
        return None
    text = str(callback_data)
    if len(text) > CALLBACK_DATA_MAX:
        # Truncating would corrupt our own reconciliation key: refuse instead.
        raise ValueError(f"biz_opaque_callback_data longer than {CALLBACK_DATA_MAX} characters")
    return text


def _envelope(to, message_type, content, context_message_id=None, callback_data=None):
    payload = {"messaging_product": "whatsapp", "recipient_type": "individual"}
    payload.update(recipient_fields(to))
    if context_message_id:
        payload["context"] = {"message_id": str(context_message_id)}
    payload["type"] = message_type
    payload[message_type] = content
    callback = _callback_data(callback_data)
    if callback is not None:
        payload["biz_opaque_callback_data"] = callback
    return payload


def build_text_payload(to, body, preview_url=False, context_message_id=None, callback_data=None):
    """Payload of a free-form text message (spec A2.2). ``body`` is cut to
    4096 characters; an empty body raises ``ValueError``."""
    text = truncate(to_text(body), TEXT_BODY_MAX)
    if not text.strip():
        raise ValueError("a text message needs a non-empty body")
    content = {"preview_url": bool(preview_url), "body": text}
    return _envelope(to, "text", content, context_message_id, callback_data)


def _button(button):
    if isinstance(button, dict):
        button_id, title = button.get("id"), button.get("title")
    else:
        try:
            button_id, title = button
        except (TypeError, ValueError):
            raise ValueError(f"a button must be an (id, title) pair, got {button!r}") from None
    button_id = to_text(button_id).strip()
    if not button_id:
        raise ValueError("a button id must not be empty")
    if len(button_id) > BUTTON_ID_MAX:
        # Ids are machine payloads: truncating one would make it unparseable.
        raise ValueError(f"button id longer than {BUTTON_ID_MAX} characters: {button_id[:40]!r}…")
    title = truncate(" ".join(to_text(title).split()), BUTTON_TITLE_MAX)
    if not title:
        raise ValueError(f"button {button_id!r} needs a title")
    return button_id, title


def build_buttons_payload(
    to,
    body,
    buttons,
    header=None,
    footer=None,
    callback_data=None,
    context_message_id=None,
):
    """Payload of an interactive reply-buttons message (spec A2.4).

    ``buttons`` is a list of ``(id, title)`` (1 to 3; ids <= 256 characters and
    unique, titles cut to 20 characters and unique). Body is cut to 1024
    characters, header and footer to 60; empty header / footer are left out.
    """
    buttons = list(buttons or ())
    if not 1 <= len(buttons) <= MAX_BUTTONS:
        raise ValueError(f"reply buttons: 1 to {MAX_BUTTONS} buttons, got {len(buttons)}")
    rendered = [_button(button) for button in buttons]
    if len({button_id for button_id, _title in rendered}) != len(rendered):
        raise ValueError("reply button ids must be unique")
    if len({title for _id, title in rendered}) != len(rendered):
        raise ValueError("reply button titles must be unique (after truncation to 20)")
    text = truncate(to_text(body), INTERACTIVE_BODY_MAX)
    if not text.strip():
        raise ValueError("an interactive message needs a non-empty body")
    interactive = {
        "type": "button",
        "body": {"text": text},
        "action": {
            "buttons": [
                {"type": "reply", "reply": {"id": button_id, "title": title}}
                for button_id, title in rendered
            ]
        },
    }
    header_text = truncate(" ".join(to_text(header).split()), HEADER_MAX)
    if header_text:
        interactive["header"] = {"type": "text", "text": header_text}
    footer_text = truncate(to_text(footer).strip(), FOOTER_MAX)
    if footer_text:
        interactive["footer"] = {"text": footer_text}
    return _envelope(to, "interactive", interactive, context_message_id, callback_data)


def _template_parameters(params, max_len=None):
    if isinstance(params, dict):
        return [
            {
                "type": "text",
                "parameter_name": str(name),
                "text": sanitize_template_param(value)
                if max_len is None
                else sanitize_template_param(value, max_len=max_len),
            }
            for name, value in params.items()
        ]
    result = []
    for value in params:
        text = (
            sanitize_template_param(value)
            if max_len is None
            else sanitize_template_param(value, max_len=max_len)
        )
        result.append({"type": "text", "text": text})
    return result


def _quick_reply_components(button_payloads):
    """The template's quick-reply button components: one per payload, at its button's
    index (``None`` or ``''`` skips a button); a payload over TEMPLATE_PAYLOAD_MAX
    characters raises ``ValueError``."""
    components = []
    for index, payload in enumerate(button_payloads or ()):
        if payload is None or payload == "":
            continue
        payload = str(payload)
        if len(payload) > TEMPLATE_PAYLOAD_MAX:
            raise ValueError(f"quick-reply payload longer than {TEMPLATE_PAYLOAD_MAX} characters")
        components.append(
            {
                "type": "button",
                "sub_type": "quick_reply",
                "index": str(index),
                "parameters": [{"type": "payload", "payload": payload}],
            }
        )
    return components


def build_template_payload(
    to,
    name,
    language,
    body_params,
    button_payloads=None,
    callback_data=None,
    header_params=None,
):
    """Payload of a template message (spec A2.3).

    ``body_params``: a list (positional ``{{1}}``, ``{{2}}`` … in order) or a
    dict (named parameters). Values go through
    :func:`~.render.sanitize_template_param`. ``button_payloads``: one payload
    per quick-reply button, in button order (``None`` or ``''`` skips a
    button); each at most 256 characters. ``header_params``: optional text
    parameters of the header (cut to 60 characters).
    """
    name = to_text(name).strip()
    language = to_text(language).strip()
    if not name:
        raise ValueError("a template name is required")
    if not language:
        raise ValueError("a template language code is required")
    components = []
    if header_params:
        components.append(
            {
                "type": "header",
                "parameters": _template_parameters(header_params, TEMPLATE_HEADER_PARAM_MAX),
            }
        )
    if body_params:
        components.append({"type": "body", "parameters": _template_parameters(body_params)})
    components.extend(_quick_reply_components(button_payloads))
    template = {"name": name, "language": {"code": language}}
    if components:
        template["components"] = components
    return _envelope(to, "template", template, None, callback_data)


def parse_send_response(data):
    """The :class:`~.provider.SendResult` of Meta's answer to a send (spec A2.7).

    ``wamid`` is ``messages[0].id``; ``wa_id`` / ``input`` / ``user_id`` come from
    ``contacts[0]`` (``wa_id`` may differ from the number sent and is absent when
    sending to a BSUID); ``message_status`` is set for paced templates (e.g.
    ``'accepted'``). :class:`~.errors.InvalidResponseError` when there is no
    ``messages[0].id``.
    """
    if not isinstance(data, dict):
        raise InvalidResponseError(details="the answer is not a JSON object")
    messages = data.get("messages")
    first = messages[0] if isinstance(messages, list) and messages else None
    wamid = first.get("id") if isinstance(first, dict) else None
    if not isinstance(wamid, str) or not wamid:
        raise InvalidResponseError(details="no message id (messages[0].id) in the answer")
    contacts = data.get("contacts")
    contact = contacts[0] if isinstance(contacts, list) and contacts else None
    contact = contact if isinstance(contact, dict) else {}
    return SendResult(
        wamid=wamid,
        wa_id=_opt_str(contact.get("wa_id")),
        input=_opt_str(contact.get("input")),
        user_id=_opt_str(contact.get("user_id")),
        message_status=_opt_str(first.get("message_status")),
        raw=data,
    )


def _opt_str(value):
    if value is None or value == "" or isinstance(value, bool):
        return None
    return str(value)


def check_node_id(value, what):
    text = to_text(value).strip()
    if not _NODE_ID.fullmatch(text):
        raise ValueError(f"invalid {what} {value!r}")
    return text


# --------------------------------------------------------------------------
# Client
# --------------------------------------------------------------------------


class CloudApiClient(Provider):
    """Cloud API client for one business phone number: Meta's :class:`~.provider.Provider`.

    ``session`` (a :class:`requests.Session` or anything with ``get`` /
    ``post``) is injected for tests; ``timeout`` is passed to every call.
    ``waba_id`` is only needed by :meth:`list_templates`.
    """

    name = "meta"

    def __init__(
        self,
        access_token,
        phone_number_id,
        api_version=DEFAULT_API_VERSION,
        base_url=DEFAULT_BASE_URL,
        session=None,
        timeout=DEFAULT_TIMEOUT,
        waba_id=None,
    ):
        token = to_text(access_token).strip()
        if not token:
            raise ValueError("an access token is required")
        self._access_token = token
        self.phone_number_id = check_node_id(phone_number_id, "phone number id")
        self.api_version = normalize_api_version(api_version)
        self.base_url = to_text(base_url).strip().rstrip("/") or DEFAULT_BASE_URL
        self.session = session if session is not None else transport.session()
        if timeout is None:
            raise ValueError("a timeout is required")
        self.timeout = timeout
        self.waba_id = check_node_id(waba_id, "WABA id") if waba_id else None

    def __repr__(self):
        return (
            f"CloudApiClient(phone_number_id={self.phone_number_id!r}, "
            f"api_version={self.api_version!r}, base_url={self.base_url!r}, "
            "access_token=***)"
        )

    # -- plumbing -----------------------------------------------------------

    def url(self, node):
        """``{base_url}/{api_version}/{node}``."""
        return f"{self.base_url}/{self.api_version}/{node.lstrip('/')}"

    def _headers(self):
        return {"Authorization": f"Bearer {self._access_token}"}

    def _network_error(self, exc, method, url=None):
        """Map a requests exception to our hierarchy (see the module doc); the error
        names the host that could not be reached and why."""
        host = urlsplit(url or self.base_url).hostname or self.base_url
        return network_error(exc, sent=method == "POST", host=host).scrub(self._access_token)

    def _call(self, method, url, params=None, payload=None):
        try:
            if method == "POST":
                response = self.session.post(
                    url, json=payload, headers=self._headers(), timeout=self.timeout
                )
            else:
                response = self.session.get(
                    url, params=params, headers=self._headers(), timeout=self.timeout
                )
        except requests.exceptions.RequestException as exc:
            error = self._network_error(exc, method, url)
            _logger.info(
                "WhatsApp %s %s failed: %s (%s)",
                method,
                urlsplit(url).path,
                error,
                type(exc).__name__,
            )
            raise error from None
        status = response.status_code
        body = response.content
        _logger.debug("WhatsApp %s %s -> HTTP %s", method, urlsplit(url).path, status)
        if not 200 <= status < 300:
            raise error_from_response(status, body).scrub(self._access_token)
        try:
            data = json.loads(body) if body else None
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise InvalidResponseError(
                details=f"HTTP {status} answer is not a JSON object", http_status=status
            )
        return data

    # -- sending --------------------------------------------------------------

    def send(self, payload):
        """POST a prepared message payload; return a :class:`SendResult`."""
        if not isinstance(payload, dict):
            raise TypeError("payload must be a dict")
        body = dict(payload)
        body.setdefault("messaging_product", "whatsapp")
        data = self._call("POST", self.url(f"{self.phone_number_id}/messages"), payload=body)
        try:
            return parse_send_response(data)
        except InvalidResponseError as error:
            error.http_status = 200
            raise

    def send_text(self, to, body, preview_url=False, context_message_id=None, callback_data=None):
        return self.send(
            build_text_payload(
                to,
                body,
                preview_url=preview_url,
                context_message_id=context_message_id,
                callback_data=callback_data,
            )
        )

    def send_buttons(self, to, body, buttons, header=None, footer=None, callback_data=None):
        return self.send(
            build_buttons_payload(
                to, body, buttons, header=header, footer=footer, callback_data=callback_data
            )
        )

    def send_template(
        self,
        to,
        template,
        params,
        button_payloads=None,
        callback_data=None,
        header_params=None,
    ):
        """Send the approved template ``template`` (a :class:`~.provider.TemplateRef`:
        Meta reads its ``name`` and ``language``) with the body ``params``."""
        return self.send(
            build_template_payload(
                to,
                template.name,
                template.language,
                params,
                button_payloads=button_payloads,
                callback_data=callback_data,
                header_params=header_params,
            )
        )

    @classmethod
    def accepts_template(cls, template):
        """Meta sends a template by its approved name (the language defaults to 'es')."""
        return bool(template and template.name)

    @classmethod
    def classify_error(cls, code, http_status=None):
        return classify_meta_error(code, http_status)

    # -- account --------------------------------------------------------------

    def get_phone_number(self, fields=PHONE_NUMBER_FIELDS):
        """``GET /{phone-number-id}`` with the spec A3.1 fields (a dict)."""
        return self._call(
            "GET", self.url(self.phone_number_id), params={"fields": ",".join(fields)}
        )

    def list_templates(self, waba_id=None, fields=TEMPLATE_FIELDS, limit=100, status=None):
        """All message templates of the WABA (follows ``paging.next``).

        ``waba_id`` defaults to the one given to the constructor.
        """
        waba = check_node_id(waba_id, "WABA id") if waba_id else self.waba_id
        if not waba:
            raise ValueError("list_templates needs the WhatsApp Business Account id")
        url = self.url(f"{waba}/message_templates")
        params = {"fields": ",".join(fields), "limit": int(limit)}
        if status:
            params["status"] = status
        templates = []
        for _page in range(_MAX_PAGES):
            data = self._call("GET", url, params=params)
            items = data.get("data")
            if isinstance(items, list):
                templates.extend(item for item in items if isinstance(item, dict))
            paging = data.get("paging")
            next_url = paging.get("next") if isinstance(paging, dict) else None
            if not next_url:
                break
            if not self._same_origin(next_url):
                # Never send the token to another host.
                raise InvalidResponseError(details="paging.next points to another host")
            url, params = next_url, None
        return templates

    def create_template(self, payload, waba_id=None):
        """``POST /{waba_id}/message_templates`` (see ``tools.templates``); Meta answers
        ``{"id", "status", "category"}``."""
        waba = check_node_id(waba_id, "WABA id") if waba_id else self.waba_id
        if not waba:
            raise ValueError("create_template needs the WhatsApp Business Account id")
        return self._call("POST", self.url(f"{waba}/message_templates"), payload=payload)

    def _same_origin(self, url):
        ours, theirs = urlsplit(self.base_url), urlsplit(url)
        return (ours.scheme, ours.netloc) == (theirs.scheme, theirs.netloc)


def network_error(exc, sent, host=None):
    """The :mod:`.errors` instance for a ``requests`` exception (see the module doc).

    ``sent``: the call was a POST (a send), so a read timeout or a connection lost
    after sending may hide an accepted message. Shared by every provider client.
    The error says in words which host could not be reached and why (``error.host``,
    ``error.network_cause``, a :data:`.network.CAUSES` code); ``host`` defaults to
    the one of the failed request.
    """
    error = _network_error_class(exc, sent)
    error.host = host or _request_host(exc)
    error.network_cause = network.network_cause(exc)
    cause = network.CAUSES[error.network_cause]
    error.details = f"could not reach {error.host}: {cause}" if error.host else cause
    return error


def _request_host(exc):
    request = getattr(exc, "request", None)
    url = getattr(request, "url", None)
    try:
        return urlsplit(url).hostname if url else None
    except ValueError:
        return None


def _network_error_class(exc, sent):
    exceptions = requests.exceptions
    details = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, exceptions.ConnectTimeout):
        return RetryableError("Connection error", details=details)
    if isinstance(exc, exceptions.Timeout):  # ReadTimeout and other timeouts
        cls = UncertainDeliveryError if sent else RetryableError
        return cls("Read timeout", details=details)
    if isinstance(exc, exceptions.ConnectionError):
        # requests wraps "could not connect" in a MaxRetryError; a bare
        # ProtocolError / socket error means the connection broke while the
        # request was being sent or answered: the provider may have it.
        reason = exc.args[0] if exc.args else None
        if sent and _broke_after_sending(reason):
            return UncertainDeliveryError("Connection lost", details=details)
        return RetryableError("Connection error", details=details)
    if isinstance(
        exc,
        (
            exceptions.InvalidURL,
            exceptions.MissingSchema,
            exceptions.InvalidSchema,
            exceptions.InvalidHeader,
            exceptions.URLRequired,
        ),
    ):
        return PermanentError("Invalid request", details=type(exc).__name__)
    # ChunkedEncodingError, ContentDecodingError, ...
    cls = UncertainDeliveryError if sent else RetryableError
    return cls("Connection error", details=details)


def _broke_after_sending(reason):
    """True when a requests ``ConnectionError`` wraps a urllib3 ``ProtocolError``
    or a socket error ("Connection aborted", reset while waiting for the answer):
    the request may have reached Meta. Connect failures arrive wrapped in a
    ``MaxRetryError`` and give False, as does anything unrecognised."""
    return isinstance(reason, (ProtocolError, OSError))
