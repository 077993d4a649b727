"""Tiny, safe text rendering for WhatsApp messages.

``{{key}}`` placeholders only: no attribute access, no expressions, no recursion
(a value that itself contains ``{{x}}`` is inserted as is).
"""

from __future__ import annotations

import html
import re

__all__ = [
    "ELLIPSIS",
    "TEMPLATE_PARAM_MAX_LEN",
    "render_text",
    "sanitize_template_param",
    "to_text",
    "truncate",
    "whatsapp_to_html",
]

ELLIPSIS = "…"

#: Default cap for one template parameter. A hydrated template body may not
#: exceed 1024 characters (error 132005), so one parameter gets a fraction.
TEMPLATE_PARAM_MAX_LEN = 300

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_WHITESPACE = re.compile(r"\s+")
_BLANK_LINES = re.compile(r"\n[ \t]*(?:\n[ \t]*)+\n")
# WhatsApp formatting: *bold*, _italic_, ~strikethrough~, ```monospace```. A marker
# opens after a start, a space or punctuation and closes before one, as on the phone.
_FORMATS = [
    (re.compile(r"```(.+?)```", re.S), "code"),
    (re.compile(r"(?<![\w*])\*(?=\S)([^*\n]*?\S)\*(?![\w*])"), "b"),
    (re.compile(r"(?<![\w_])_(?=\S)([^_\n]*?\S)_(?![\w_])"), "i"),
    (re.compile(r"(?<![\w~])~(?=\S)([^~\n]*?\S)~(?![\w~])"), "s"),
]


def to_text(value):
    """``str(value)``, with ``None`` and ``False`` (Odoo's "empty") as ``''``."""
    if value is None or value is False:
        return ""
    return value if isinstance(value, str) else str(value)


def render_text(text, values, drop_empty_lines=False):
    """Replace ``{{key}}`` (spaces inside the braces allowed) with ``values[key]``.

    Unknown keys, ``None`` and ``False`` become ``''``; other values go through
    ``str()``. With ``drop_empty_lines``, a line whose placeholders are all empty
    is left out (``*Fecha límite:* {{deadline}}`` without a deadline), and the blank
    lines this leaves are merged.
    """
    if not text:
        return ""
    values = values or {}

    def _replace(match):
        return to_text(values.get(match.group(1)))

    if not drop_empty_lines:
        return _PLACEHOLDER.sub(_replace, str(text))
    lines = []
    for line in str(text).split("\n"):
        keys = _PLACEHOLDER.findall(line)
        if keys and not any(to_text(values.get(key)).strip() for key in keys):
            continue
        lines.append(_PLACEHOLDER.sub(_replace, line))
    rendered = "\n".join(lines)
    return _BLANK_LINES.sub("\n\n", rendered).strip("\n")


def truncate(text, limit, ellipsis=ELLIPSIS):
    """Return ``text`` cut to at most ``limit`` characters, ending with
    ``ellipsis`` when something was cut."""
    text = to_text(text)
    if limit is None or len(text) <= limit:
        return text
    if limit <= 0:
        return ""
    if limit <= len(ellipsis):
        return text[:limit]
    return text[: limit - len(ellipsis)].rstrip() + ellipsis


def sanitize_template_param(value, max_len=TEMPLATE_PARAM_MAX_LEN, empty="-"):
    """Make ``value`` acceptable as a template parameter text.

    Meta rejects parameters with newlines, tabs or more than 4 consecutive
    spaces (132018) and empty parameters: every whitespace run becomes one space,
    the result is stripped, cut to ``max_len`` and never empty (``empty``, e.g. a
    short word in the template's language).
    """
    text = _WHITESPACE.sub(" ", to_text(value)).strip()
    if max_len is not None:
        text = truncate(text, max_len)
    return text or (_WHITESPACE.sub(" ", to_text(empty)).strip() or "-")


def whatsapp_to_html(text):
    """``text`` as HTML the way a phone shows it: escaped, with *bold*, _italic_,
    ~strikethrough~, ```monospace``` and line breaks rendered."""
    result = html.escape(to_text(text), quote=False)
    for pattern, tag in _FORMATS:
        result = pattern.sub(rf"<{tag}>\1</{tag}>", result)
    return result.replace("\n", "<br/>\n")
