"""Tiny, safe text rendering for WhatsApp messages.

``{{key}}`` placeholders only: no attribute access, no expressions, no recursion
(a value that itself contains ``{{x}}`` is inserted as is).
"""

from __future__ import annotations

import re

__all__ = [
    "ELLIPSIS",
    "TEMPLATE_PARAM_MAX_LEN",
    "render_text",
    "sanitize_template_param",
    "to_text",
    "truncate",
]

ELLIPSIS = "…"

#: Default cap for one template parameter. A hydrated template body may not
#: exceed 1024 characters (error 132005), so one parameter gets a fraction.
TEMPLATE_PARAM_MAX_LEN = 300

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_WHITESPACE = re.compile(r"\s+")


def to_text(value):
    """``str(value)``, with ``None`` and ``False`` (Odoo's "empty") as ``''``."""
    if value is None or value is False:
        return ""
    return value if isinstance(value, str) else str(value)


def render_text(text, values):
    """Replace ``{{key}}`` (spaces inside the braces allowed) with ``values[key]``.

    Unknown keys, ``None`` and ``False`` become ``''``; other values go through
    ``str()``.
    """
    if not text:
        return ""
    values = values or {}

    def _replace(match):
        return to_text(values.get(match.group(1)))

    return _PLACEHOLDER.sub(_replace, str(text))


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


def sanitize_template_param(value, max_len=TEMPLATE_PARAM_MAX_LEN):
    """Make ``value`` acceptable as a template parameter text.

    Meta rejects parameters with newlines, tabs or more than 4 consecutive
    spaces (132018) and empty parameters: every whitespace run becomes one space,
    the result is stripped, cut to ``max_len`` and never empty (``'-'``).
    """
    text = _WHITESPACE.sub(" ", to_text(value)).strip()
    if max_len is not None:
        text = truncate(text, max_len)
    return text or "-"
