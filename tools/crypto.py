"""Encryption of stored secrets (access token, app secret, ...) with Fernet.

Encrypted values look like ``enc:v1:<fernet token>``. Values without that
prefix are treated as legacy plain text: :meth:`SecretBox.decrypt` returns them
unchanged, so a database can be migrated lazily.

Generate a key with::

    python3 -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"
"""

from __future__ import annotations

import binascii

from cryptography.fernet import Fernet, InvalidToken

__all__ = [
    "GENERATE_KEY_COMMAND",
    "PREFIX",
    "SecretBox",
    "SecretKeyError",
    "generate_key",
    "is_encrypted",
]

PREFIX = "enc:v1:"
GENERATE_KEY_COMMAND = (
    'python3 -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"'
)


class SecretKeyError(Exception):
    """The key is unusable, or a value cannot be decrypted with it.

    Messages never contain the key nor the value.
    """


def generate_key():
    """A new random key, as text (what goes into the configuration)."""
    return Fernet.generate_key().decode("ascii")


def is_encrypted(value):
    """True when ``value`` carries our ``enc:v1:`` prefix."""
    return isinstance(value, str) and value.startswith(PREFIX)


class SecretBox:
    """Encrypt / decrypt short secrets with one Fernet key
    (url-safe base64 of 32 random bytes)."""

    def __init__(self, key):
        if isinstance(key, str):
            key = key.strip().encode("ascii", errors="replace")
        elif isinstance(key, (bytes, bytearray)):
            key = bytes(key).strip()
        else:
            key = b""
        if not key:
            raise SecretKeyError(
                f"No secret key configured. Generate one with: {GENERATE_KEY_COMMAND}"
            )
        try:
            fernet = Fernet(key)
        except (ValueError, TypeError, binascii.Error):
            # ``from None``: the original exception could show the key.
            raise SecretKeyError(
                "Invalid secret key: it must be a Fernet key (32 bytes, url-safe "
                f"base64-encoded, 44 characters). Generate one with: {GENERATE_KEY_COMMAND}"
            ) from None
        self._fernet = fernet

    def __repr__(self):
        return "SecretBox(key=***)"

    is_encrypted = staticmethod(is_encrypted)

    def encrypt(self, text):
        """``'enc:v1:…'`` for ``text``; ``''`` for empty text (or ``None``)."""
        if text is None or text is False or text == "":
            return ""
        token = self._fernet.encrypt(str(text).encode("utf-8"))
        return PREFIX + token.decode("ascii")

    def decrypt(self, value):
        """Plain text of ``value``. A value that is not encrypted is returned as
        is; ``None`` / ``''`` give ``''``. Raises :class:`SecretKeyError` when the
        value was encrypted with another key or is corrupted."""
        if value is None or value is False or value == "":
            return ""
        if not is_encrypted(value):
            return value
        token = value[len(PREFIX) :].encode("ascii", errors="replace")
        try:
            plain = self._fernet.decrypt(token)
        except InvalidToken:
            raise SecretKeyError(
                "Cannot decrypt a stored secret: it was encrypted with another key "
                "or is corrupted. Restore the previous key or enter the secret again."
            ) from None
        return plain.decode("utf-8")
