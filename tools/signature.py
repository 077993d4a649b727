"""Meta webhook signatures (``X-Hub-Signature-256``, spec A5).

The HMAC-SHA256 is computed over the **raw request bytes** with the app secret;
never over re-serialised JSON (Meta signs the escaped-unicode bytes it sends).
"""

from __future__ import annotations

import hashlib
import hmac
import re

__all__ = ["SIGNATURE_HEADER", "meta_signature_header", "verify_meta_signature"]

SIGNATURE_HEADER = "X-Hub-Signature-256"
_PREFIX = "sha256="
_HEX_DIGEST = re.compile(r"[0-9a-f]{64}")


def _key(app_secret):
    if isinstance(app_secret, (bytes, bytearray)):
        return bytes(app_secret)
    return str(app_secret).encode("utf-8")


def _body(raw_body):
    if raw_body is None:
        return b""
    if isinstance(raw_body, str):
        return raw_body.encode("utf-8")
    return bytes(raw_body)


def meta_signature_header(app_secret, raw_body):
    """Return the header value Meta would send for ``raw_body``:
    ``'sha256=<64 lowercase hex>'``."""
    digest = hmac.new(_key(app_secret), _body(raw_body), hashlib.sha256).hexdigest()
    return _PREFIX + digest


def verify_meta_signature(app_secret, raw_body, header_value):
    """True when ``header_value`` is a valid signature of ``raw_body``.

    Constant-time comparison. Never raises: a missing header, a header without
    ``sha256=``, a digest of the wrong length or with non-hex characters, or an
    empty app secret all give ``False``. Upper-case hex digits are accepted.
    """
    if not app_secret or header_value is None:
        return False
    try:
        if isinstance(header_value, (bytes, bytearray)):
            header_value = bytes(header_value).decode("latin-1")
        header = str(header_value).strip()
        if header[: len(_PREFIX)].lower() != _PREFIX:
            return False
        received = header[len(_PREFIX) :].strip().lower()
        if not _HEX_DIGEST.fullmatch(received):
            return False
        expected = meta_signature_header(app_secret, raw_body)[len(_PREFIX) :]
        return hmac.compare_digest(expected, received)
    except (TypeError, ValueError):
        return False
