"""The provider seam: what the ORM asks of a WhatsApp provider (Meta, Twilio).

Above this seam nothing knows which provider carries a message: the queue, the
forward-only status machine, reply routing, the 24-hour window, opt-out and the
statistics only use the names below. A provider is two small pure classes:

:class:`Provider` — outbound, one instance per number (built with its secrets):

* ``send_text(to, body, callback_data=None)``
* ``send_buttons(to, body, buttons, callback_data=None)`` — ``buttons`` is a list
  of ``(payload, title)``; the payload comes back on the tap (``InboundMessage.payload``).
* ``send_template(to, template, params, button_payloads=None, callback_data=None)``
  — ``template`` is a :class:`TemplateRef`; ``params`` the values in the approved
  template's order; ``button_payloads`` one per quick reply, in order.

  Each send returns a :class:`SendResult` (``wamid`` is the provider's message id:
  Meta's wamid or Twilio's message SID) or raises a :mod:`.errors` class:
  :class:`~.errors.RetryableError` (backoff), :class:`~.errors.WindowClosedError`
  (24-hour window closed: the queue falls back to the template),
  :class:`~.errors.AuthError`, :class:`~.errors.PermanentError` (failed at once).
  ``callback_data`` is our reconciliation key (:func:`make_callback_data`); a
  provider that cannot carry it may drop it.
* ``accepts_template(template)`` (class method) — True when ``template`` names an
  approved template this provider can send (Meta: a name; Twilio: a Content SID).
  The queue asks it before choosing the template path.
* ``classify_error(code, http_status=None)`` (class method) — the :mod:`.errors`
  class of one of the provider's error codes, also for codes that arrive later in a
  failed status (``StatusUpdate.errors``).

:class:`WebhookHandler` — inbound, one instance per number (built with the webhook
secret and the public webhook URL), used by the route and the webhook cron:

* ``verify(request)`` — True when the :class:`WebhookRequest` is signed by the
  provider (constant-time comparisons). False → the route answers 403.
* ``parse(raw_body, received_at=None)`` — the :class:`~.webhook.ParsedWebhook` of the
  raw bytes (the shared ``InboundMessage`` / ``StatusUpdate`` dataclasses);
  ``received_at`` (Unix seconds) dates items whose provider sends no time (Twilio); raises
  :class:`~.webhook.WebhookPayloadError` (→ 400) when the body is not one of this
  provider's webhooks. The cron parses the stored body again with the same method.
* ``acknowledge()`` — the :class:`WebhookAnswer` sent once the event is stored
  (Meta: 200 ``OK``; Twilio: an empty TwiML ``<Response/>``).
* ``handshake(args)`` — the answer to a GET (Meta's subscription check), or None
  when the provider has no handshake (the route then answers 405).

Adding a provider: implement both classes in ``tools/`` (pure Python), then in
``models/ofitec_whatsapp_config.py`` add the ``provider`` selection value, its class
to ``PROVIDER_CLASSES`` and the two builders ``_build_<provider>_client`` and
``_build_<provider>_webhook_handler``. Nothing else in the models changes.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any

from .errors import WhatsAppError

__all__ = [
    "CALLBACK_PREFIX",
    "Provider",
    "SendResult",
    "TemplateRef",
    "WebhookAnswer",
    "WebhookHandler",
    "WebhookRequest",
    "make_callback_data",
    "parse_callback_data",
]

#: Outbound messages carry ``ofitec:<message id>`` as callback data.
CALLBACK_PREFIX = "ofitec:"


def make_callback_data(message_id):
    """``'ofitec:<id>'`` for our message ``message_id`` (a positive int)."""
    if isinstance(message_id, bool) or not isinstance(message_id, int) or message_id <= 0:
        raise ValueError(f"a message id is a positive integer, got {message_id!r}")
    return f"{CALLBACK_PREFIX}{message_id}"


def parse_callback_data(value):
    """The message id in ``'ofitec:<id>'``, or None for anything else."""
    if not isinstance(value, str) or not value.startswith(CALLBACK_PREFIX):
        return None
    digits = value[len(CALLBACK_PREFIX) :]
    if not digits.isascii() or not digits.isdigit() or len(digits) > 18:
        return None
    number = int(digits)
    return number or None


@dataclass(frozen=True)
class SendResult:
    """What the provider answered to an accepted send.

    ``wamid`` is the provider's message id (Meta's wamid, Twilio's message SID);
    ``wa_id`` / ``input`` / ``user_id``: the recipient as the provider saw it, when
    it says (Meta's ``contacts[0]``); ``message_status`` the provider's first status
    when it gives one (Meta's paced templates: ``'accepted'``).
    """

    wamid: str
    wa_id: str | None = None
    input: str | None = None
    user_id: str | None = None
    message_status: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class TemplateRef:
    """An approved template, as each provider names it.

    ``name`` / ``language``: Meta's template name and language code; ``content_sid``:
    Twilio's Content SID (``HX…``). A provider reads only its own fields.
    """

    name: str | None = None
    language: str | None = None
    content_sid: str | None = None


@dataclass(frozen=True)
class WebhookRequest:
    """What the route received: ``headers`` (case-insensitive mapping), the raw body
    bytes, the query arguments, and the query string exactly as received (Twilio
    signs the URL with it)."""

    headers: Any
    raw_body: bytes
    args: dict[str, str] = field(default_factory=dict)
    query_string: str = ""

    def header(self, name, default=None):
        return self.headers.get(name, default)


@dataclass(frozen=True)
class WebhookAnswer:
    """The HTTP answer of the webhook route."""

    status: int
    body: str
    content_type: str = "text/plain; charset=utf-8"


class Provider(abc.ABC):
    """Outbound interface of a provider (see the module docstring)."""

    #: the value of ``ofitec.whatsapp.config.provider``
    name = None

    @abc.abstractmethod
    def send_text(self, to, body, callback_data=None) -> SendResult: ...

    @abc.abstractmethod
    def send_buttons(self, to, body, buttons, callback_data=None) -> SendResult: ...

    @abc.abstractmethod
    def send_template(
        self, to, template, params, button_payloads=None, callback_data=None
    ) -> SendResult: ...

    @classmethod
    @abc.abstractmethod
    def accepts_template(cls, template) -> bool: ...

    @classmethod
    @abc.abstractmethod
    def classify_error(cls, code, http_status=None) -> type[WhatsAppError]: ...


class WebhookHandler(abc.ABC):
    """Inbound interface of a provider (see the module docstring)."""

    name = None
    #: the header carrying the signature (only used to log "missing" vs "wrong")
    signature_header = None
    #: what a valid body looks like, told to senders of a body of the wrong shape
    expected_shape = None

    @abc.abstractmethod
    def verify(self, request) -> bool: ...

    @abc.abstractmethod
    def parse(self, raw_body, received_at=None): ...

    def acknowledge(self):
        return WebhookAnswer(200, "OK")

    def handshake(self, args):
        return None
