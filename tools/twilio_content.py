"""Twilio's Content API: creating a Content template, submitting it for WhatsApp
approval, and reading that approval (spec B9).

Creating is ``POST https://content.twilio.com/v1/Content`` with ``friendly_name``,
``language``, ``variables`` (a sample for each, required) and ``types``; submitting is
``POST /v1/Content/{HX…}/ApprovalRequests/whatsapp`` with ``name`` and ``category``.
The text WhatsApp reviews is the one submitted to Meta (``tools.templates``: the same
positional parameters, the same rules), so both providers send the same approved text.

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

from . import templates
from .commands import make_button_payload
from .render import to_text

APPROVED = "approved"
QUICK_REPLY_TYPE = "twilio/quick-reply"
TEXT_TYPE = "twilio/text"
SAMPLE_ACTION_ID = 42  # the action id of the sample quick-reply payloads


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


def build_content_request(name, language, body, param_keys, samples, quick_replies=()):
    """The body of ``POST /v1/Content`` for one of our templates.

    ``body`` has our ``{{key}}`` placeholders, numbered ``{{1}}…{{n}}`` in the order of
    ``param_keys`` (as for Meta); ``samples``: key -> sample value. With
    ``quick_replies`` (commands) the Content is a ``twilio/quick-reply`` whose action
    ids are the variables after the parameters: ``TwilioClient.send_template`` puts
    the buttons' payloads there, so a tap names its action. Raises
    :class:`.templates.TemplateSubmissionError` for a text WhatsApp would refuse.
    """
    name = templates.template_name(name)
    keys = templates.param_key_list(param_keys)
    text = templates.reviewed_text(body, keys)
    values = templates.sample_values(keys, samples)
    variables = {str(index): value for index, value in enumerate(values, start=1)}
    if not quick_replies:
        types = {TEXT_TYPE: {"body": text}}
    else:
        templates.check_quick_replies(quick_replies)
        actions = []
        for index, command in enumerate(quick_replies, start=len(keys) + 1):
            variables[str(index)] = make_button_payload(SAMPLE_ACTION_ID, command)
            title = templates.QUICK_REPLY_TITLES[command]
            actions.append({"type": "QUICK_REPLY", "title": title, "id": f"{{{{{index}}}}}"})
        types = {QUICK_REPLY_TYPE: {"body": text, "actions": actions}}
    return {
        "friendly_name": name,
        "language": templates.template_language(language),
        "variables": variables,
        "types": types,
    }


def build_approval_request(name, category="UTILITY"):
    """The body of ``POST /v1/Content/{HX…}/ApprovalRequests/whatsapp``."""
    return {"name": templates.template_name(name), "category": to_text(category).upper()}
