"""The HTTP transport of the provider clients: a ``requests`` session whose connections
say when each request left.

A send's rate window counts the moments the sends start (``tools.ratelimit``). A thread
that has started a send can still be held before its request goes out: another thread of
the process holds the interpreter lock (busy with cold work, such as a run's first record,
which took 257 ms once in the bench), or the process is not scheduled. The request then reaches the
provider later than its start said, next to sends that started on time, and a second at
the provider can hold more than the rate although no window of starts did.
``on_departure(callback)`` calls ``callback()`` in the calling thread right after a
request's bytes were handed to the socket (connection and TLS handshake done), so the
pacer can count that moment instead. Without it (or on a session built elsewhere,
e.g. a test's fake transport) nothing is called and the start is what counts.
"""

from __future__ import annotations

import contextlib
import threading

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

__all__ = ["DepartureAdapter", "mount", "on_departure", "session"]

_local = threading.local()


@contextlib.contextmanager
def on_departure(callback):
    """Within this block, each request this thread writes calls ``callback()`` once its
    bytes are out (a request retried or redirected calls it again, later)."""
    previous = getattr(_local, "callback", None)
    _local.callback = callback
    try:
        yield
    finally:
        _local.callback = previous


def _departed():
    callback = getattr(_local, "callback", None)
    if callback is not None:
        callback()


class _Stamped:
    """A urllib3 connection that calls ``_departed`` once it has written a request."""

    def request(self, *args, **kwargs):
        try:
            return super().request(*args, **kwargs)
        finally:
            _departed()

    def request_chunked(self, *args, **kwargs):  # urllib3 1.26's chunked bodies
        try:
            return super().request_chunked(*args, **kwargs)
        finally:
            _departed()


class _StampedHTTPConnection(_Stamped, HTTPConnection):
    pass


class _StampedHTTPSConnection(_Stamped, HTTPSConnection):
    pass


class _StampedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = _StampedHTTPConnection


class _StampedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = _StampedHTTPSConnection


_POOLS = {"http": _StampedHTTPConnectionPool, "https": _StampedHTTPSConnectionPool}


class DepartureAdapter(HTTPAdapter):
    """``requests``' adapter, its direct connections stamped (``on_departure``); through
    a proxy the start counts, as without it."""

    def init_poolmanager(self, *args, **kwargs):
        result = super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(_POOLS)
        return result


def mount(http_session):
    """Put a ``DepartureAdapter`` on ``http_session`` for http and https, keeping the
    retry policy of the adapters it replaces; returns the session."""
    for prefix in ("https://", "http://"):
        current = http_session.get_adapter(prefix)
        retries = getattr(current, "max_retries", None)
        adapter = DepartureAdapter() if retries is None else DepartureAdapter(max_retries=retries)
        http_session.mount(prefix, adapter)
    return http_session


def session():
    """A new ``requests.Session`` with stamped connections."""
    return mount(requests.Session())
