"""Why an HTTP call never got an answer, in words a person can act on.

``network_cause(exc)`` walks a ``requests`` exception and what it wraps (urllib3
errors, socket errors) and returns one of the :data:`CAUSES` codes; the Odoo layer
words the code in the user's language, ``CAUSES[code]`` is the English text.
"""

from __future__ import annotations

import socket
import ssl

import requests

__all__ = ["CAUSES", "network_cause"]

CAUSES = {
    "dns": "name resolution failed",
    "refused": "connection refused",
    "connect_timeout": "no answer to the connection (timeout)",
    "read_timeout": "no answer in time (timeout)",
    "tls": "the secure connection (TLS certificate) failed",
    "lost": "the connection was lost",
    "proxy": "the proxy refused the connection",
    "invalid_url": "the address is not valid",
    "other": "network error",
}

_DNS_WORDS = (
    "name or service not known",
    "temporary failure in name resolution",
    "nodename nor servname",
    "no address associated",
    "failed to resolve",
    "getaddrinfo failed",
    "nameresolutionerror",
)


def _chain(exc):
    """``exc`` and everything it wraps (args, reason, __cause__, __context__)."""
    seen, todo = [], [exc]
    while todo and len(seen) < 20:
        item = todo.pop(0)
        if item is None or any(item is s for s in seen):
            continue
        seen.append(item)
        if isinstance(item, BaseException):
            todo.extend([getattr(item, "reason", None), item.__cause__, item.__context__])
            todo.extend(arg for arg in item.args if isinstance(arg, BaseException))
    return seen


def network_cause(exc):
    """The :data:`CAUSES` code of a network failure (``'other'`` when unknown)."""
    exceptions = requests.exceptions
    if isinstance(exc, exceptions.ProxyError):
        return "proxy"
    if isinstance(exc, exceptions.SSLError):
        return "tls"
    if isinstance(exc, exceptions.ConnectTimeout):
        return "connect_timeout"
    if isinstance(exc, exceptions.Timeout):
        return "read_timeout"
    if isinstance(exc, (exceptions.InvalidURL, exceptions.MissingSchema, exceptions.InvalidSchema)):
        return "invalid_url"
    chain = _chain(exc)
    text = " ".join(f"{type(item).__name__} {item}" for item in chain).lower()
    if any(isinstance(item, socket.gaierror) for item in chain) or any(
        word in text for word in _DNS_WORDS
    ):
        return "dns"
    if any(isinstance(item, ConnectionRefusedError) for item in chain) or "refused" in text:
        return "refused"
    if any(isinstance(item, ssl.SSLError) for item in chain):
        return "tls"
    if any(isinstance(item, (ConnectionResetError, ConnectionAbortedError)) for item in chain):
        return "lost"
    if "aborted" in text or "reset" in text or "remote end closed" in text:
        return "lost"
    if any(isinstance(item, (TimeoutError, socket.timeout)) for item in chain):
        return "read_timeout"
    return "other"
