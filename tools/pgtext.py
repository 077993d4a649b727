"""Text that PostgreSQL can store.

A PostgreSQL ``text`` column (UTF-8 database) cannot hold NUL (U+0000), and no UTF-8
text can hold a lone UTF-16 surrogate (U+D800-U+DFFF). Both are valid in JSON
(``"\\u0000"``, ``"\\ud800"``), so a webhook can carry them in a message text, a
profile name or a button payload. They carry no meaning for us: they are dropped, and
the rest of the text is kept.
"""

import re

__all__ = ["storable_json", "storable_text"]

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable_text(text):
    """``text`` without the characters PostgreSQL text cannot hold."""
    return _UNSTORABLE.sub("", text)


def storable_json(value):
    """Decoded JSON ``value`` with :func:`storable_text` applied to every string,
    keys included."""
    if isinstance(value, str):
        return storable_text(value)
    if isinstance(value, list):
        return [storable_json(item) for item in value]
    if isinstance(value, dict):
        return {storable_json(key): storable_json(item) for key, item in value.items()}
    return value
