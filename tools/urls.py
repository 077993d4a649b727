"""Whether Meta can call a webhook URL: public HTTPS only."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

__all__ = ["webhook_url_problem"]

_LOCAL_SUFFIXES = (".localhost", ".local", ".localdomain", ".internal", ".lan", ".home.arpa")


def webhook_url_problem(url):
    """Why Meta would not call ``url``, or None when it looks public.

    Returns ``'invalid'`` (no host), ``'local'`` (localhost, a loopback, private,
    link-local or reserved address, a local-only name), or ``'http'`` (not HTTPS).
    Local problems come first: they cannot be fixed by a certificate.
    """
    try:
        parts = urlsplit(url or "")
        host = (parts.hostname or "").rstrip(".").lower()
    except ValueError:
        return "invalid"
    if not host:
        return "invalid"
    if host == "localhost" or host.endswith(_LOCAL_SUFFIXES) or "." not in host.strip("[]"):
        try:
            ipaddress.ip_address(host)
        except ValueError:
            return "local"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is not None and not address.is_global:
        return "local"
    if parts.scheme != "https":
        return "http"
    return None
