"""Client-side throttling helpers (spec A9).

* :func:`grant_slots`: per business number send rate (Meta's default is
  80 messages/s per number; error 130429 beyond it), shared by every worker through
  one stored "theoretical arrival time" per number.
* :func:`backoff_delay`: how long to wait before retry number ``attempt``
  (exponential with jitter; ``4**n`` seconds for the 131056 pair limit).

Pure functions: the caller supplies the clock, so tests never sleep.
"""

from __future__ import annotations

import math
import random

__all__ = ["PAIR_BACKOFF_BASE", "backoff_delay", "grant_slots"]

PAIR_BACKOFF_BASE = 4.0


def grant_slots(tat, now, rate, wanted, horizon=0.5):
    """Send slots for one number by GCRA (the "generic cell rate algorithm").

    ``tat`` is the number's theoretical arrival time: the earliest moment its next
    message may go (seconds on one clock shared by every worker, e.g. the database's).
    Slots are ``1 / rate`` apart, never earlier than ``now``, and only those that begin
    before ``now + horizon`` are granted (at least one when the number is idle), so a
    worker never books far ahead of the others (``horizon=None``: all ``wanted``).
    Returns ``(slots, new_tat)``: up to ``wanted`` send times and the number's next
    ``tat``. ``rate`` of 0 or less means unlimited: ``wanted`` slots at ``now``, ``tat`` unchanged.

    There is no burst: any window of one second holds at most ``ceil(rate)`` slots.
    """
    wanted = max(0, int(wanted))
    if not rate or rate <= 0:
        return [now] * wanted, tat
    interval = 1.0 / rate
    start = max(tat or 0.0, now)
    if horizon is None:
        count = wanted
    else:
        room = math.ceil((now + max(horizon, interval) - start) / interval - 1e-9)
        count = max(0, min(wanted, room))
    slots = [start + index * interval for index in range(count)]
    return slots, (start + count * interval if count else tat)


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
