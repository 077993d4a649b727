"""Client-side throttling helpers (spec A9).

* :func:`grant_slots`: per business number send rate (Meta's default is
  80 messages/s per number; error 130429 beyond it), shared by every worker through
  one stored "theoretical arrival time" per number.
* :func:`earliest_start`: when one process may start a send at or after its slot, so
  that a late start is not made up by a burst (at most ``count`` starts in any window)
  and does not push the later slots back either.
* :func:`backoff_delay`: how long to wait before retry number ``attempt``
  (exponential with jitter; ``4**n`` seconds for the 131056 pair limit).

Pure functions: the caller supplies the clock, so tests never sleep.
"""

from __future__ import annotations

import collections
import math
import random
import threading

__all__ = ["PAIR_BACKOFF_BASE", "Pacer", "backoff_delay", "earliest_start", "grant_slots"]

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


def earliest_start(slot, starts, count, window=1.0, min_gap=0.0):
    """The earliest moment a send booked at ``slot`` may start in one process.

    ``starts`` are the start times of this process's previous sends of the number,
    oldest first (the last ``count`` are enough). The send starts no sooner than its
    slot, than ``window`` after the start ``count`` sends back (so no ``window`` holds
    more than ``count`` starts, however late some of them were), nor than ``min_gap``
    after the previous start (a late number catches up gradually, not in one burst).

    Unlike spacing each start from the previous one, a start that woke late does not
    push every later send back: the delays of many sends do not add up.
    """
    earliest = slot
    if starts:
        earliest = max(earliest, starts[-1] + min_gap)
    if count >= 1 and len(starts) >= count:
        earliest = max(earliest, starts[-int(count)] + window)
    return earliest


class Pacer:
    """The starts of one process's last sends of one number (``earliest_start``);
    ``lock`` keeps them in order. A start moves later to when its request actually
    left (``departed``), so a send held between its start and its request counts from
    then: the window then holds ``count`` departures, not only ``count`` starts."""

    def __init__(self):
        self.lock = threading.Lock()
        # ``lock`` is held while a send waits for its start; a departure, noted by
        # another thread meanwhile, must not wait for it: its own lock.
        self._moves = threading.Lock()
        self.starts = collections.deque()
        self.first = 0  # the sequence number of starts[0]
        self.count, self.min_gap = 0, 0.0

    def started(self, at, count, min_gap):
        """Note a start (under ``lock``); returns its sequence number for ``departed``."""
        with self._moves:
            self.count, self.min_gap = count, min_gap
            self.starts.append(at)
            while len(self.starts) > max(count, 1):
                self.starts.popleft()
                self.first += 1
            return self.first + len(self.starts) - 1

    def departed(self, number, at):
        """The request of start ``number`` left at ``at`` (a start no longer kept is
        past every window already)."""
        with self._moves:
            index = number - self.first
            if 0 <= index < len(self.starts) and at > self.starts[index]:
                self.starts[index] = at

    def next_start(self, window):
        """The earliest start this process would give the number's next send."""
        return earliest_start(float("-inf"), self.starts, self.count, window, self.min_gap)


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
