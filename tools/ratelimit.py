"""Client-side throttling helpers (spec A9).

* :class:`TokenBucket`: per business number send rate (Meta's default is
  80 messages/s per number; error 130429 beyond it).
* :func:`backoff_delay`: how long to wait before retry number ``attempt``
  (exponential with jitter; ``4**n`` seconds for the 131056 pair limit).

Clock and sleep are injectable so tests are deterministic and never sleep.
"""

from __future__ import annotations

import random
import threading
import time

__all__ = ["PAIR_BACKOFF_BASE", "TokenBucket", "backoff_delay"]

PAIR_BACKOFF_BASE = 4.0


class TokenBucket:
    """Token bucket allowing ``rate`` acquisitions per second on average.

    ``burst`` is the bucket size (how many acquisitions may happen at once after
    an idle period); it defaults to ``max(1, rate)``, i.e. one second worth of
    tokens, which matches Meta's per-second throughput limit. The bucket starts
    full. ``rate`` of ``0``, ``None`` or negative means unlimited: :meth:`acquire`
    returns at once without touching the clock.

    Thread-safe: a caller reserves its token under a lock (the balance may go
    negative) and sleeps outside it, so waiting callers are served in order.
    """

    def __init__(self, rate, burst=None, clock=time.monotonic, sleep=time.sleep):
        self.rate = float(rate) if rate and rate > 0 else 0.0
        if burst is None:
            burst = max(1.0, self.rate)
        if burst <= 0:
            raise ValueError("burst must be positive")
        self.burst = float(burst)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = self.burst
        self._stamp = None

    @property
    def unlimited(self):
        return self.rate <= 0

    def _refill(self, now):
        if self._stamp is None:
            self._stamp = now
            return
        elapsed = now - self._stamp
        if elapsed > 0:  # a clock going backwards never removes tokens
            self._tokens = min(self.burst, self._tokens + elapsed * self.rate)
            self._stamp = now

    def _reserve(self, tokens, max_wait):
        with self._lock:
            self._refill(self._clock())
            missing = tokens - self._tokens
            wait = missing / self.rate if missing > 0 else 0.0
            if max_wait is not None and wait > max_wait:
                return None
            self._tokens -= tokens
            return wait

    def acquire(self, tokens=1, timeout=None):
        """Take ``tokens``, sleeping as long as needed.

        Returns the number of seconds waited (``0.0`` when a token was free).
        With ``timeout``, gives up (returns ``None`` without taking anything)
        when the wait would be longer than ``timeout`` seconds.
        """
        if tokens <= 0:
            raise ValueError("tokens must be positive")
        if self.unlimited:
            return 0.0
        wait = self._reserve(tokens, timeout)
        if wait:
            self._sleep(wait)
        return wait


def backoff_delay(
    attempt,
    base=2.0,
    cap=900.0,
    jitter=0.2,
    pair_limited=False,
    rand=random.random,
):
    """Seconds to wait before retry ``attempt`` (1 for the first retry).

    ``base ** attempt`` capped at ``cap`` (2, 4, 8 … s up to 15 min), or
    ``4 ** (attempt - 1)`` (1, 4, 16, 64 … s) for a pair-rate-limited
    recipient (131056). A random ``±jitter`` fraction spreads retries of many
    messages; ``rand`` is injectable for tests.
    """
    attempt = min(max(1, int(attempt)), 64)  # 4.0 ** 64 still fits in a float
    if pair_limited:
        delay = PAIR_BACKOFF_BASE ** (attempt - 1)
    else:
        delay = base**attempt
    delay = min(float(cap), delay)
    if jitter:
        delay *= 1.0 + jitter * (2.0 * rand() - 1.0)
    return max(0.0, min(float(cap), delay))
