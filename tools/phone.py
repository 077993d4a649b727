"""Phone numbers and WhatsApp user identifiers (spec A10).

* :func:`normalize_phone` turns what people type into E.164 (``+56912345678``).
* :func:`to_wa_id` gives the digits-only form used by Meta in webhooks.
* :func:`display_phone` writes an E.164 number in the international format (``+1 415-555-0199``).
* :func:`wa_id_variants` lists the forms one user's wa_id may take (Brazil,
  Mexico, Argentina quirks) so inbound messages can be matched to partners.
* :func:`is_bsuid` recognises business-scoped user ids (``US.1349…``).
"""

from __future__ import annotations

import re

import phonenumbers

__all__ = [
    "DEFAULT_REGION",
    "display_phone",
    "is_bsuid",
    "normalize_phone",
    "to_wa_id",
    "wa_id_variants",
]

DEFAULT_REGION = "CL"

_CHANNEL_PREFIX = re.compile(r"^\s*whatsapp\s*:\s*", re.IGNORECASE)
_SEPARATORS = re.compile(r"[\s().\-/]")
_BSUID = re.compile(r"[A-Z]{2}\.(?:ENT\.)?[A-Za-z0-9]{1,128}")
_PLAUSIBLE_TYPES = (
    phonenumbers.PhoneNumberType.MOBILE,
    phonenumbers.PhoneNumberType.FIXED_LINE,
)


def _clean(number):
    """Input as a stripped string without the Twilio ``whatsapp:`` prefix."""
    if number is None or isinstance(number, bool):
        return ""
    if isinstance(number, int):
        number = str(number)
    if not isinstance(number, str):
        return ""
    return _CHANNEL_PREFIX.sub("", number).strip()


def _parse(text, region):
    try:
        return phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None


def _fix_mexico(parsed):
    """Mexico dropped the mobile ``1`` after ``+52`` in 2019/2020: ``+52 1 55…``
    (11 national digits) is today's ``+52 55…``."""
    if parsed.country_code == 52:
        nsn = phonenumbers.national_significant_number(parsed)
        if len(nsn) == 11 and nsn.startswith("1"):
            return _parse("+52" + nsn[1:], None) or parsed
    return parsed


def _plausible(parsed):
    """Valid per metadata, or at least of a possible mobile / fixed-line length.

    ``is_valid_number`` alone is too strict for WhatsApp: Meta test numbers
    (``+1 555…``) and unallocated-but-well-formed numbers (``+56 9 1234 5678``)
    would be refused, while Meta itself accepts them.
    """
    if parsed is None or not parsed.national_number:
        return False
    if phonenumbers.is_valid_number(parsed):
        return True
    return any(phonenumbers.is_possible_number_for_type(parsed, t) for t in _PLAUSIBLE_TYPES)


def normalize_phone(number, default_region=DEFAULT_REGION):
    """Return ``number`` in E.164 (``'+56912345678'``) or ``None`` when unusable.

    Accepts national forms for ``default_region`` (``'9 1234 5678'``),
    international forms with or without ``+`` (``'56912345678'``,
    ``'14155550123'``, the digits-only wa_id of a webhook) and Twilio's
    ``whatsapp:+…`` addresses. Empty, non-numeric, too short or too long input
    gives ``None``.
    """
    text = _clean(number)
    if not text:
        return None
    region = (default_region or DEFAULT_REGION).upper()
    compact = _SEPARATORS.sub("", text)
    candidates = []
    if compact.startswith("+"):
        candidates.append(_parse(text, None))
    elif compact.isdigit():
        # National form first; then the same digits as an international number
        # (webhook wa_ids and numbers typed without "+").
        candidates.append(_parse(text, region))
        if not compact.startswith("0"):
            candidates.append(_parse("+" + compact, None))
    else:
        candidates.append(_parse(text, region))
    for parsed in candidates:
        if parsed is None:
            continue
        parsed = _fix_mexico(parsed)
        if _plausible(parsed):
            return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    return None


def display_phone(e164):
    """``+56912345678`` -> ``+56 912345678``, ``+14155550199`` -> ``+1 415-555-0199``
    (the international format); the input unchanged when it does not parse."""
    parsed = _parse(_clean(e164), None)
    if parsed is None:
        return e164
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def to_wa_id(e164):
    """``'+56912345678'`` -> ``'56912345678'`` (digits only, as Meta sends them).

    ``None`` for empty input or a BSUID (which is not a phone number).
    """
    text = _clean(e164)
    if not text or is_bsuid(text):
        return None
    digits = re.sub(r"\D", "", text)
    return digits or None


def wa_id_variants(wa_id):
    """All the forms one WhatsApp user's wa_id may take; always contains the
    input (as digits, without ``+``). Empty input gives an empty set.

    * Brazil (55): with / without the mobile ``9`` after the 2-digit area code
      (``55 92 9 8172 3241`` <-> ``55 92 8172 3241``).
    * Mexico (52): ``52`` + 10 digits <-> ``521`` + 10 digits.
    * Argentina (54): ``549`` + 10 digits <-> ``54`` + 10 digits.
    """
    text = _clean(wa_id)
    if not text:
        return set()
    digits = text.lstrip("+")
    variants = {digits}
    if not digits.isdigit():
        return variants
    if digits.startswith("55"):
        area, subscriber = digits[2:4], digits[4:]
        if len(digits) == 13 and subscriber.startswith("9"):
            variants.add("55" + area + subscriber[1:])
        elif len(digits) == 12 and subscriber[:1] in ("6", "7", "8", "9"):
            variants.add("55" + area + "9" + subscriber)
    elif digits.startswith("52"):
        if len(digits) == 13 and digits[2] == "1":
            variants.add("52" + digits[3:])
        elif len(digits) == 12:
            variants.add("521" + digits[2:])
    elif digits.startswith("54"):
        if len(digits) == 13 and digits[2] == "9":
            variants.add("54" + digits[3:])
        elif len(digits) == 12:
            variants.add("549" + digits[2:])
    return variants


def is_bsuid(value):
    """True for a business-scoped user id: ISO country code, ``.``, optional
    ``ENT.`` (parent BSUID), then up to 128 letters/digits
    (``US.13491208655302741918``, ``US.ENT.11815799212886844830``)."""
    return isinstance(value, str) and bool(_BSUID.fullmatch(value))
