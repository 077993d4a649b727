import random
import unittest

from ofitec_whatsapp.tools.ratelimit import Pacer, backoff_delay, earliest_start, grant_slots


def peak(times, window=1.0):
    """The most times in any window [t, t + window)."""
    times = sorted(times)
    best, first = 0, 0
    for last, ts in enumerate(times):
        while ts - times[first] >= window - 1e-9:
            first += 1
        best = max(best, last - first + 1)
    return best


def run_sends(slots, lateness, count, window, min_gap):
    """Start each slot at ``earliest_start`` plus its ``lateness`` (a thread waking
    late); the actual start times."""
    starts = []
    for slot, late in zip(slots, lateness, strict=True):
        starts.append(earliest_start(slot, starts, count, window, min_gap) + late)
    return starts


class TestEarliestStart(unittest.TestCase):
    RATE, MARGIN, WINDOW = 80, 0.97, 1.0 / 0.97

    def slots(self, number):
        return [100.0 + i / (self.RATE * self.MARGIN) for i in range(number)]

    def min_gap(self):
        return 1.0 / (self.RATE * self.MARGIN * 2)

    def test_unlimited_starts_at_the_slot(self):
        self.assertEqual(earliest_start(5.0, [4.9, 4.99, 5.0], 0), 5.0)

    def test_on_time_sends_keep_their_slots(self):
        slots = self.slots(400)
        starts = run_sends(slots, [0.0] * 400, self.RATE, self.WINDOW, self.min_gap())
        self.assertEqual(starts, slots)

    def test_a_late_start_does_not_push_the_later_slots_back(self):
        """Spacing each start from the previous one carried every late wake-up over to
        all later sends (about 1 ms per send at 80/s, 0.4 s here): now the send after a
        late one goes at its own slot, and only the send ``count`` later may wait for
        it (the window)."""
        slots = self.slots(300)
        lateness = [0.004 if i % 3 == 0 else 0.0 for i in range(300)]
        starts = run_sends(slots, lateness, self.RATE, self.WINDOW, self.min_gap())
        for slot, start, late in zip(slots[:80], starts, lateness, strict=False):
            self.assertAlmostEqual(start, slot + late)
        self.assertLess(max(start - slot for start, slot in zip(starts, slots, strict=True)), 0.02)

    def test_late_starts_never_put_more_than_count_in_a_window(self):
        """Random lateness with stalls: catching up never exceeds the rate in any
        window, and consecutive starts keep the minimum gap (no burst)."""
        rand = random.Random(7)
        slots = self.slots(2000)
        lateness = [
            rand.choice((0.0, 0.0, 0.001, 0.003, 0.02, 0.3 if rand.random() < 0.01 else 0.05))
            for _ in slots
        ]
        starts = run_sends(slots, lateness, self.RATE, self.WINDOW, self.min_gap())
        self.assertLessEqual(peak(starts, window=self.WINDOW), self.RATE)
        self.assertLessEqual(peak(starts), self.RATE)
        gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
        self.assertGreaterEqual(min(gaps), self.min_gap() - 1e-9)
        self.assertTrue(all(start >= slot for start, slot in zip(starts, slots, strict=True)))

    def test_a_stall_is_caught_up_gradually_then_the_slots_resume(self):
        slots = self.slots(200)
        lateness = [0.0] * 200
        lateness[10] = 0.2  # the worker did not run for 200 ms
        starts = run_sends(slots, lateness, self.RATE, self.WINDOW, self.min_gap())
        self.assertAlmostEqual(starts[10], slots[10] + 0.2)
        self.assertAlmostEqual(starts[11], starts[10] + self.min_gap())
        # Back on its slots well within the second after the stall: only the sends
        # a whole window (``count`` sends) after the late ones wait for them.
        self.assertAlmostEqual(starts[60], slots[60])
        late = {i for i in range(200) if starts[i] > slots[i] + 1e-9}
        caught_up = {i for i in range(10, 60) if i in late}
        self.assertTrue(all(i % self.RATE in caught_up for i in late))


class TestPacer(unittest.TestCase):
    def test_next_start_follows_the_window_and_the_gap(self):
        pacer = Pacer()
        self.assertEqual(pacer.next_start(1.0), float("-inf"))
        for at in (10.0, 10.1, 10.2):
            pacer.started(at, 3, 0.05)
        self.assertAlmostEqual(pacer.next_start(1.0), 11.0)
        pacer.started(11.0, 3, 0.05)
        self.assertEqual(list(pacer.starts), [10.1, 10.2, 11.0])
        self.assertAlmostEqual(pacer.next_start(1.0), 11.1)
        self.assertAlmostEqual(pacer.next_start(0.5), 11.05)

    def test_a_late_departure_moves_its_start(self):
        """A send held between its start and its request counts from when it left:
        the send ``count`` later waits a window from then, not from the start."""
        pacer = Pacer()
        numbers = [pacer.started(10.0 + i * 0.1, 3, 0.05) for i in range(3)]
        pacer.departed(numbers[0], 10.06)
        self.assertAlmostEqual(pacer.next_start(1.0), 11.06)
        pacer.departed(numbers[0], 10.01)  # never earlier than already known
        self.assertAlmostEqual(pacer.next_start(1.0), 11.06)
        pacer.departed(numbers[2], 10.4)  # the gap follows the last departure too
        self.assertAlmostEqual(pacer.next_start(0.1), 10.45)

    def test_a_departure_past_the_window_is_ignored(self):
        pacer = Pacer()
        first = pacer.started(10.0, 2, 0.0)
        for at in (10.5, 11.0):
            pacer.started(at, 2, 0.0)
        pacer.departed(first, 12.0)
        self.assertEqual(list(pacer.starts), [10.5, 11.0])


class TestGrantSlots(unittest.TestCase):
    def test_unlimited(self):
        for rate in (0, None, -5, 0.0):
            with self.subTest(rate=rate):
                self.assertEqual(grant_slots(7.0, 100.0, rate, 3), ([100.0] * 3, 7.0))

    def test_idle_number_starts_now_and_books_only_the_horizon(self):
        slots, tat = grant_slots(0.0, 100.0, 10, 50, horizon=0.5)
        self.assertEqual(len(slots), 5)
        self.assertAlmostEqual(slots[0], 100.0)
        self.assertAlmostEqual(slots[-1], 100.4)
        self.assertAlmostEqual(tat, 100.5)

    def test_a_busy_number_continues_where_the_last_grant_ended(self):
        _slots, tat = grant_slots(0.0, 100.0, 10, 3)
        slots, tat = grant_slots(tat, 100.05, 10, 3)
        self.assertAlmostEqual(slots[0], 100.3)
        self.assertEqual(len(slots), 3)
        self.assertAlmostEqual(tat, 100.6)

    def test_nothing_while_the_number_is_booked_beyond_the_horizon(self):
        self.assertEqual(grant_slots(101.0, 100.0, 10, 5, horizon=0.5), ([], 101.0))

    def test_slow_rate_still_grants_one_slot_when_idle(self):
        slots, tat = grant_slots(0.0, 100.0, 0.5, 5, horizon=0.5)
        self.assertEqual(slots, [100.0])
        self.assertEqual(tat, 102.0)

    def test_no_burst_after_idle_time(self):
        """A long idle time gives no credit: no second holds more than the rate."""
        slots, tat = grant_slots(50.0, 100.0, 80, 1000, horizon=2.0)
        self.assertEqual(len(slots), 160)
        self.assertEqual(peak(slots), 80)

    def test_interleaved_workers_share_one_rate(self):
        """Several workers taking turns on one stored tat never exceed the rate."""
        tat, now, sent = 0.0, 100.0, []
        for turn in range(200):
            slots, tat = grant_slots(tat, now, 80, 7 + turn % 13, horizon=0.5)
            sent += slots
            now += 0.03 * (turn % 4)
        self.assertEqual(len(sent), len(set(sent)))
        self.assertLessEqual(peak(sent), 80)


class TestBackoffDelay(unittest.TestCase):
    def test_exponential_without_jitter(self):
        self.assertEqual([backoff_delay(n, jitter=0) for n in range(1, 7)], [2, 4, 8, 16, 32, 64])

    def test_cap(self):
        self.assertEqual(backoff_delay(20, jitter=0), 900)
        self.assertEqual(backoff_delay(10**6, jitter=0), 900)
        self.assertEqual(backoff_delay(10**6, jitter=0, pair_limited=True), 900)

    def test_pair_limited(self):
        self.assertEqual(
            [backoff_delay(n, jitter=0, pair_limited=True) for n in range(1, 5)],
            [1, 4, 16, 64],
        )

    def test_jitter_bounds(self):
        self.assertAlmostEqual(backoff_delay(3, jitter=0.2, rand=lambda: 0.0), 8 * 0.8)
        self.assertAlmostEqual(backoff_delay(3, jitter=0.2, rand=lambda: 1.0), 8 * 1.2)
        self.assertAlmostEqual(backoff_delay(3, jitter=0.2, rand=lambda: 0.5), 8)
        self.assertLessEqual(backoff_delay(30, jitter=0.5, rand=lambda: 1.0), 900)

    def test_attempt_floor(self):
        self.assertEqual(backoff_delay(0, jitter=0), 2)
        self.assertEqual(backoff_delay(-3, jitter=0), 2)


if __name__ == "__main__":
    unittest.main()
