"""Marks the English texts of the pure layer that people read, for translation.

Odoo's translation export finds the texts to translate by the name of the call around
them: ``_`` and ``_lt`` in Python (``odoo.tools.translate``'s extractor). A text this
layer gives to users (Twilio's titles of its error codes, our errors' default titles)
is written once, here in English, inside ``_lt(...)``: a no-op without Odoo, so the
pure layer keeps plain strings, while the export lists them in the .pot. The Odoo layer
translates such a text where it stores or shows it
(``ofitec.whatsapp.message._error_title_text``): Odoo looks a code translation up by its
English text.
"""

__all__ = ["_lt"]


def _lt(text):
    """``text`` itself: only a marker for Odoo's translation export."""
    return text
