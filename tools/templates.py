"""Message templates at Meta: the submission payload and the reading of Meta's list.

Pure functions, no network: :meth:`.cloud_api.CloudApiClient.create_template` and
:meth:`~.cloud_api.CloudApiClient.list_templates` make the calls.

Our templates hold named placeholders (``{{recipient_name}}``); an approved Meta
template has positional ones (``{{1}}``). The order is the template's parameter keys:
the i-th key becomes ``{{i}}``, so the parameters the queue sends line up with the text
Meta approved.
"""

import re
from dataclasses import dataclass, field
from typing import Any

from .commands import BUTTON_COMMANDS, COMMAND_WORDS
from .render import sanitize_template_param, to_text

__all__ = [
    "QUICK_REPLY_TITLES",
    "TemplateInfo",
    "TemplateSubmissionError",
    "build_template_submission",
    "check_quick_replies",
    "param_key_list",
    "reviewed_text",
    "sample_values",
    "template_language",
    "template_name",
    "parse_template_list",
    "to_positional",
]

#: Titles of the quick-reply buttons, by reply command (what users tap).
QUICK_REPLY_TITLES = {command: COMMAND_WORDS[command] for command in BUTTON_COMMANDS}

#: Meta's template names: lowercase letters, digits and underscores, 512 at most.
_NAME = re.compile(r"[a-z0-9_]{1,512}")
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_BODY_MAX = 1024
_ADJACENT = re.compile(r"\}\}\s*\{\{")  # two parameters with nothing between them


class TemplateSubmissionError(ValueError):
    """Our template cannot be submitted as it is (the message says why)."""


@dataclass
class TemplateInfo:
    """What Meta says of one template (``name``, ``language``): unknown values are
    kept as Meta wrote them."""

    name: str
    language: str
    id: str | None = None
    status: str | None = None
    category: str | None = None
    quality: str | None = None
    rejected_reason: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


def to_positional(text, keys):
    """``text`` with ``{{key}}`` turned into ``{{i}}`` (``keys[i - 1]``).

    Raises :class:`TemplateSubmissionError` when the text uses a key that is not a
    parameter, or when a parameter does not appear in the text.
    """
    keys = list(keys)
    if len(set(keys)) != len(keys):
        raise TemplateSubmissionError("a parameter key is listed twice")
    used = set()

    def replace(match):
        key = match.group(1)
        if key not in keys:
            raise TemplateSubmissionError(f"{{{{{key}}}}} is not one of the template's parameters")
        used.add(key)
        return f"{{{{{keys.index(key) + 1}}}}}"

    result = _PLACEHOLDER.sub(replace, to_text(text))
    missing = [key for key in keys if key not in used]
    if missing:
        raise TemplateSubmissionError(f"the text does not use {', '.join(missing)}")
    return result


def template_name(name):
    """The name WhatsApp reviews a template under (Meta's rule, also Twilio's approval
    request): lowercase letters, digits and underscores."""
    name = to_text(name).strip()
    if not _NAME.fullmatch(name):
        raise TemplateSubmissionError(
            "the template name may hold only lowercase letters, digits and underscores"
        )
    return name


def template_language(language):
    language = to_text(language).strip()
    if not language:
        raise TemplateSubmissionError("a template language is required")
    return language


def param_key_list(param_keys):
    return [to_text(key).strip() for key in param_keys if to_text(key).strip()]


def reviewed_text(body, keys):
    """The text WhatsApp reviews, whichever provider submits it: ``body`` with
    positional parameters, within WhatsApp's rules (at most 1,024 characters, no
    parameter at either end, never two parameters side by side)."""
    text = to_positional(body, keys).strip()
    if not text:
        raise TemplateSubmissionError("the template text is empty")
    if len(text) > _BODY_MAX:
        raise TemplateSubmissionError(f"the template text exceeds {_BODY_MAX} characters")
    if text.startswith("{{") or text.endswith("}}"):
        raise TemplateSubmissionError(
            "WhatsApp refuses a text that starts or ends with a parameter"
        )
    if _ADJACENT.search(text):
        raise TemplateSubmissionError("WhatsApp refuses two parameters side by side")
    return text


def sample_values(keys, samples):
    """The sample value of each parameter, as sent (WhatsApp reviews the text with them)."""
    return [sanitize_template_param(samples.get(key)) for key in keys]


def check_quick_replies(commands):
    unknown = [c for c in commands if c not in QUICK_REPLY_TITLES]
    if unknown:
        raise TemplateSubmissionError(f"unknown quick reply commands: {', '.join(unknown)}")


def build_template_submission(
    name,
    language,
    body,
    param_keys,
    samples,
    category="UTILITY",
    quick_replies=(),
):
    """Payload of ``POST /{waba_id}/message_templates``.

    ``body``: our text with ``{{key}}`` placeholders; ``param_keys``: the keys in the
    order of ``{{1}}…{{n}}``; ``samples``: key -> sample value (Meta reviews the text
    with them); ``quick_replies``: commands (``ok``, ``completed``, ``cancel``) whose
    buttons the template offers, in order.
    """
    name = template_name(name)
    language = template_language(language)
    keys = param_key_list(param_keys)
    text = reviewed_text(body, keys)
    body_component = {"type": "BODY", "text": text}
    if keys:
        body_component["example"] = {"body_text": [sample_values(keys, samples)]}
    components = [body_component]
    if quick_replies:
        check_quick_replies(quick_replies)
        components.append(
            {
                "type": "BUTTONS",
                "buttons": [
                    {"type": "QUICK_REPLY", "text": QUICK_REPLY_TITLES[c]} for c in quick_replies
                ],
            }
        )
    return {"name": name, "language": language, "category": category, "components": components}


def _str(value):
    if value is None or isinstance(value, (dict, list)):
        return None
    text = to_text(value).strip()
    return text or None


def _quality(value):
    """``quality_score`` is an object (``{"score": "GREEN", …}``) or, in some
    versions, a bare string."""
    if isinstance(value, dict):
        return _str(value.get("score"))
    return _str(value)


def parse_template_list(items):
    """Meta's template objects -> ``{(name, language): TemplateInfo}``.

    Items without a name or a language are skipped; every other field is optional
    and kept as text (a status or category this module never heard of included).
    """
    result = {}
    for item in items or ():
        if not isinstance(item, dict):
            continue
        name, language = _str(item.get("name")), _str(item.get("language"))
        if not name or not language:
            continue
        reason = _str(item.get("rejected_reason"))
        result[(name, language)] = TemplateInfo(
            name=name,
            language=language,
            id=_str(item.get("id")),
            status=(_str(item.get("status")) or "").upper() or None,
            category=(_str(item.get("category")) or "").upper() or None,
            quality=_quality(item.get("quality_score")),
            rejected_reason=None if reason in (None, "NONE") else reason,
            raw=item,
        )
    return result
