"""Twilio's Content API: the WhatsApp approval of a Content template (spec B9).

Outside the 24-hour window Twilio sends only a Content template that WhatsApp
approved (spec B6). Its approval is read with the SDK's approval fetch,
``GET https://content.twilio.com/v1/Content/{HX…}/ApprovalRequests``
(``client.content.v1.contents(sid).approval_fetch().fetch()``), whose answer is
``{"sid", "account_sid", "url", "whatsapp": {…}}``. The spec gives the endpoint only;
the fields read from the ``whatsapp`` object (``status``, ``category``,
``rejection_reason``, ``name``) are those of the SDK's approval request
(``ApprovalCreateInstance``, twilio 9.13.0), as Twilio's changelog of 12 Aug 2024
shows them in this answer. Statuses are kept as Twilio writes them, lowercase
(``approved``, ``pending``, ``rejected``, … and any other value, as text): only
``approved`` may be sent.
"""

from __future__ import annotations

from dataclasses import dataclass

from .render import to_text

APPROVED = "approved"


@dataclass(frozen=True)
class ContentApproval:
    """What Twilio says of one Content template's WhatsApp approval. ``status`` is
    None when the Content was never submitted for WhatsApp approval."""

    content_sid: str
    status: str | None
    category: str | None = None
    rejection_reason: str | None = None
    name: str | None = None

    @property
    def approved(self):
        return self.status == APPROVED


def _text(value):
    return to_text(value).strip() or None


def parse_approval(content_sid, whatsapp):
    """The :class:`ContentApproval` of the answer's ``whatsapp`` object (anything
    else, e.g. None for a Content never submitted, gives no status)."""
    data = whatsapp if isinstance(whatsapp, dict) else {}
    status = _text(data.get("status"))
    category = _text(data.get("category"))
    return ContentApproval(
        content_sid=content_sid,
        status=status.lower() if status else None,
        category=category.upper() if category else None,
        rejection_reason=_text(data.get("rejection_reason")),
        name=_text(data.get("name")),
    )
