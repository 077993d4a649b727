"""Exception hierarchy for the WhatsApp Cloud API, classified by Meta error *code*.

Meta asks integrators to build retry logic on ``error.code`` and not on the HTTP
status (sources disagree on the status used for throttling codes, see spec A8).
The HTTP status is only a fallback when no code can be read (non-JSON body from a
proxy or an outage).

Hierarchy::

    WhatsAppError
    +-- RetryableError            try again later (backoff)
    |   +-- RateLimitedError      throttled; ``pair_limited`` for 131056 (one recipient)
    |   +-- UncertainDeliveryError  read timeout: Meta may have accepted the message
    +-- WindowClosedError         131047, 24 h window closed: send a template instead
    +-- AuthError                 token / permission problem: stop the queue, fix config
    +-- PermanentError            anything else: retrying will not help
        +-- InvalidResponseError  2xx answer we cannot understand (no wamid, not JSON)

The default titles are English, marked for translation (see :mod:`.i18n`). Every
error renders as a one-line message such as
``(#190) Invalid OAuth access token: details``.  No error ever holds the access
token: the client scrubs it from anything Meta echoes back (see
:meth:`WhatsAppError.scrub`).
"""

from __future__ import annotations

import json
from http import HTTPStatus

from .i18n import _lt

__all__ = [
    "AUTH_CODES",
    "RATE_LIMIT_CODES",
    "RETRYABLE_CODES",
    "WINDOW_CLOSED_CODE",
    "PAIR_RATE_LIMIT_CODE",
    "WhatsAppError",
    "RetryableError",
    "RateLimitedError",
    "UncertainDeliveryError",
    "WindowClosedError",
    "AuthError",
    "PermanentError",
    "InvalidResponseError",
    "classify_error",
    "error_from_response",
    "make_error",
    "to_int",
]

#: Transient server-side problems (A8 retry policy).
RETRYABLE_CODES = frozenset({1, 2, 131000, 131016, 131057, 133004})
#: Throttling: app rate limit, WABA rate limit, throughput, pair rate limit.
RATE_LIMIT_CODES = frozenset({4, 80007, 130429, 131056})
#: (Business, consumer) pair rate limit: only this recipient is throttled.
PAIR_RATE_LIMIT_CODE = 131056
#: Re-engagement message: the 24 h customer service window is closed.
WINDOW_CLOSED_CODE = 131047
#: Token / permission problems. 200-299 (API permission range) are added by
#: :func:`is_auth_code`.
AUTH_CODES = frozenset({0, 3, 10, 190, 131005})

_MAX_SNIPPET = 200


def is_auth_code(code):
    """True for Meta codes meaning "bad token or missing permission"."""
    return code in AUTH_CODES or (isinstance(code, int) and 200 <= code <= 299)


def _one_line(value):
    if value is None:
        return None
    text = " ".join(str(value).split())
    return text or None


class WhatsAppError(Exception):
    """Base class of every error raised by the pure layer's Cloud API client.

    Attributes: ``code`` (Meta error code, ``None`` when unknown), ``title``
    (``error_user_title`` or ``message`` as sent by Meta), ``details``
    (``error_data.details``, the text to show to users), ``http_status``,
    ``fbtrace_id`` (give it to Meta support), ``is_transient`` (Meta's hint),
    ``error_subcode`` (deprecated by Meta, kept for logs).
    """

    #: True when the queue may send again later.
    retryable = False
    #: Network failures only: the host that could not be reached and why (a
    #: :data:`.network.CAUSES` code).
    host = None
    network_cause = None

    def __init__(
        self,
        title=None,
        *,
        code=None,
        details=None,
        http_status=None,
        fbtrace_id=None,
        is_transient=False,
        error_subcode=None,
    ):
        self.code = code
        self.title = _one_line(title) or self._default_title()
        self.details = _one_line(details)
        self.http_status = http_status
        self.fbtrace_id = fbtrace_id
        self.is_transient = bool(is_transient)
        self.error_subcode = error_subcode
        super().__init__(self.title)

    def _default_title(self):
        return _lt("WhatsApp error")

    def __str__(self):
        return self.text()

    def text(self, title=None):
        """The one-line message, with ``title`` (e.g. this error's title translated by
        the Odoo layer) in place of the error's own title when given."""
        prefix = ""
        if self.code is not None:
            prefix = f"(#{self.code})"
        elif self.http_status is not None:
            prefix = f"(HTTP {self.http_status})"
        title = title or self.title
        # Meta's ``message`` already embeds "(#131030) ..."; do not repeat it.
        if prefix and not title.startswith(prefix):
            text = f"{prefix} {title}"
        else:
            text = title
        if self.details and self.details != self.title:
            text = f"{text}: {self.details}"
        return text

    def __repr__(self):
        return (
            f"{type(self).__name__}(code={self.code!r}, title={self.title!r}, "
            f"http_status={self.http_status!r})"
        )

    def __reduce__(self):
        # Keep keyword-only attributes when pickled (multiprocessing, logging).
        return (_rebuild_error, (type(self), self.__dict__.copy()))

    def scrub(self, secret):
        """Replace ``secret`` (e.g. the access token) wherever Meta echoed it."""
        if not secret:
            return self
        for attr in ("title", "details"):
            value = getattr(self, attr)
            if value and secret in value:
                setattr(self, attr, value.replace(secret, "***"))
        self.args = (self.title,)
        return self


def _rebuild_error(cls, state):
    error = cls.__new__(cls)
    Exception.__init__(error, state.get("title"))
    error.__dict__.update(state)
    return error


class RetryableError(WhatsAppError):
    """Temporary problem (Meta outage, network error): retry with backoff."""

    retryable = True


class RateLimitedError(RetryableError):
    """Throttled by Meta. ``pair_limited`` is True for 131056 (only this recipient
    is throttled: wait 4**n seconds for that recipient, others are unaffected)."""

    def __init__(self, title=None, *, pair_limited=None, **kwargs):
        super().__init__(title, **kwargs)
        if pair_limited is None:
            pair_limited = self.code == PAIR_RATE_LIMIT_CODE
        self.pair_limited = bool(pair_limited)

    def _default_title(self):
        return _lt("Rate limit hit")


class UncertainDeliveryError(RetryableError):
    """The request left but no answer came back (read timeout, connection dropped
    after sending). Meta may have accepted the message: a blind resend can
    duplicate it. Reconcile with the status webhook (``biz_opaque_callback_data``)
    before resending."""

    def _default_title(self):
        return _lt("No answer from WhatsApp (message may have been sent)")


class WindowClosedError(WhatsAppError):
    """131047: more than 24 h since the user last wrote; send a template instead."""

    def _default_title(self):
        return _lt("Re-engagement message")


class AuthError(WhatsAppError):
    """Invalid or expired token, or missing permission on the WABA / number."""

    def _default_title(self):
        return _lt("Authentication error")


class PermanentError(WhatsAppError):
    """Retrying the same request will not help (bad data, template, recipient...)."""


class InvalidResponseError(PermanentError):
    """Meta answered 2xx with a body we cannot use (not JSON, no message id).

    Classified as permanent on purpose: the message *may* have been accepted, and
    a resend could duplicate it. The status webhook carries our
    ``biz_opaque_callback_data`` and can still reconcile the record.
    """

    def _default_title(self):
        return _lt("Unexpected response from WhatsApp")


def classify_error(code, http_status=None, is_transient=False):
    """Return the :class:`WhatsAppError` subclass for a Meta error.

    Decided by ``code`` first (spec A8):

    * rate limited: 4, 80007, 130429, 131056
    * window closed: 131047
    * auth: 0, 3, 10, 190, 200-299, 131005
    * retryable: 1, 2, 131000, 131016, 131057, 133004, and any other code when
      ``is_transient`` is true (auth and window-closed keep their class: they need
      a human, whatever the hint says)
    * any other code: permanent.

    Without a code (non-JSON body, network error), the HTTP status decides:
    none (no answer) or 5xx -> retryable, 401/403 -> auth, 429 -> rate limited,
    other statuses -> permanent.
    """
    if isinstance(code, bool):  # bool is an int: never a Meta code
        code = None
    if code is not None:
        if code in RATE_LIMIT_CODES:
            return RateLimitedError
        if code == WINDOW_CLOSED_CODE:
            return WindowClosedError
        if is_auth_code(code):
            return AuthError
        if code in RETRYABLE_CODES or is_transient:
            return RetryableError
        return PermanentError
    if is_transient:
        return RetryableError
    return classify_http_status(http_status)


def classify_http_status(http_status):
    """The class when no known provider code decides: by the HTTP status alone.

    None (no answer) or 5xx: retryable; 401/403: auth; 429: rate limited; others:
    permanent. Shared by every provider's classifier.
    """
    if http_status is None or http_status >= 500:
        return RetryableError
    if http_status in (401, 403):
        return AuthError
    if http_status == 429:
        return RateLimitedError
    return PermanentError


def make_error(
    code=None,
    title=None,
    details=None,
    http_status=None,
    fbtrace_id=None,
    is_transient=False,
    error_subcode=None,
):
    """Build the right :class:`WhatsAppError` subclass instance for these facts
    (e.g. for an error reported by a ``failed`` status webhook)."""
    code = to_int(code)
    cls = classify_error(code, http_status=http_status, is_transient=is_transient)
    return cls(
        title,
        code=code,
        details=details,
        http_status=http_status,
        fbtrace_id=fbtrace_id,
        is_transient=is_transient,
        error_subcode=error_subcode,
    )


def to_int(value):
    """An error code or HTTP status as the provider sent it (an int, or digits in a
    string) as an int; None for anything else."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


def _status_phrase(status_code):
    try:
        return HTTPStatus(status_code).phrase
    except (ValueError, TypeError):
        return "HTTP error"


def _decode_body(body):
    """Return the decoded JSON object, or ``(None, text snippet)``."""
    if isinstance(body, dict):
        return body, None
    if body is None:
        return None, None
    if isinstance(body, (bytes, bytearray, memoryview)):
        text = bytes(body).decode("utf-8", errors="replace")
    else:
        text = str(body)
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict):
        return data, None
    snippet = _one_line(text)
    if snippet and len(snippet) > _MAX_SNIPPET:
        snippet = snippet[: _MAX_SNIPPET - 1] + "…"
    return None, snippet


def error_from_response(status_code, body):
    """Build the error for a non-2xx Graph API answer.

    ``body`` is the raw body (bytes or str) or the decoded JSON dict. The Graph
    error envelope (spec A1.4) gives ``code``, the title (``error_user_title`` or
    else ``message``, kept verbatim), the details (``error_data.details``, else
    ``error_user_msg``), ``fbtrace_id``, ``is_transient``. A body that is not a
    Graph error envelope is classified by ``status_code`` alone.
    """
    data, snippet = _decode_body(body)
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict):
        title = _status_phrase(status_code)
        if data is not None and snippet is None:
            snippet = _one_line(json.dumps(data, ensure_ascii=False))[:_MAX_SNIPPET]
        return make_error(title=title, details=snippet, http_status=status_code)

    error_data = error.get("error_data")
    details = None
    if isinstance(error_data, dict):
        details = error_data.get("details")
    elif isinstance(error_data, str):
        # Some Graph endpoints send error_data as a JSON string.
        try:
            decoded = json.loads(error_data)
        except ValueError:
            decoded = None
        if isinstance(decoded, dict):
            details = decoded.get("details")
    if not details:
        details = error.get("error_user_msg")
    title = error.get("error_user_title") or error.get("message")
    is_transient = error.get("is_transient") is True
    return make_error(
        code=error.get("code"),
        title=title if title is None else str(title),
        details=details if details is None else str(details),
        http_status=status_code,
        fbtrace_id=error.get("fbtrace_id"),
        is_transient=is_transient,
        error_subcode=to_int(error.get("error_subcode")),
    )
