import threading
import unittest

from ofitec_whatsapp.tools.ratelimit import TokenBucket, backoff_delay


class FakeTime:
    """A clock that only moves when someone sleeps (or the test advances it)."""

    def __init__(self, start=1000.0):
        self.now = start
        self.sleeps = []

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def bucket(rate, burst=None):
    fake = FakeTime()
    return TokenBucket(rate, burst=burst, clock=fake.clock, sleep=fake.sleep), fake


class TestTokenBucket(unittest.TestCase):
    def test_unlimited(self):
        for rate in (0, None, -5, 0.0):
            with self.subTest(rate=rate):

                def explode(*_args):
                    raise AssertionError("clock or sleep used")

                limiter = TokenBucket(rate, clock=explode, sleep=explode)
                self.assertTrue(limiter.unlimited)
                for _ in range(1000):
                    self.assertEqual(limiter.acquire(), 0.0)
                self.assertIsNotNone(limiter.acquire(timeout=0))

    def test_default_burst(self):
        self.assertEqual(TokenBucket(80).burst, 80)
        self.assertEqual(TokenBucket(0.5).burst, 1)
        self.assertEqual(TokenBucket(2.5).burst, 2.5)
        self.assertEqual(TokenBucket(10, burst=3).burst, 3)
        with self.assertRaises(ValueError):
            TokenBucket(10, burst=0)

    def test_burst_then_spacing(self):
        limiter, fake = bucket(rate=2, burst=2)
        self.assertEqual(limiter.acquire(), 0.0)
        self.assertEqual(limiter.acquire(), 0.0)
        self.assertEqual(fake.sleeps, [])
        self.assertAlmostEqual(limiter.acquire(), 0.5)
        self.assertAlmostEqual(limiter.acquire(), 0.5)
        self.assertEqual(len(fake.sleeps), 2)
        self.assertAlmostEqual(sum(fake.sleeps), 1.0)

    def test_average_rate_over_many_calls(self):
        limiter, fake = bucket(rate=80)
        start = fake.now
        for _ in range(800):
            limiter.acquire()
        # 80 free (burst), the other 720 at 80/s.
        self.assertAlmostEqual(fake.now - start, 720 / 80, places=6)

    def test_refill_is_capped_at_burst(self):
        limiter, fake = bucket(rate=1, burst=3)
        for _ in range(3):
            limiter.acquire()
        fake.now += 3600  # idle for an hour
        for _ in range(3):
            self.assertEqual(limiter.acquire(), 0.0)
        self.assertAlmostEqual(limiter.acquire(), 1.0)

    def test_partial_refill(self):
        limiter, fake = bucket(rate=1, burst=1)
        limiter.acquire()
        fake.now += 0.25
        self.assertAlmostEqual(limiter.acquire(), 0.75)

    def test_timeout_gives_up_without_taking(self):
        limiter, fake = bucket(rate=1, burst=1)
        limiter.acquire()
        self.assertIsNone(limiter.acquire(timeout=0.5))
        self.assertIsNone(limiter.acquire(timeout=0))
        self.assertEqual(fake.sleeps, [])
        # Nothing was reserved by the failed attempts: one second is enough.
        fake.now += 1.0
        self.assertIsNotNone(limiter.acquire(timeout=0))

    def test_timeout_long_enough(self):
        limiter, fake = bucket(rate=1, burst=1)
        limiter.acquire()
        self.assertAlmostEqual(limiter.acquire(timeout=2), 1.0)
        self.assertEqual(len(fake.sleeps), 1)

    def test_clock_going_backwards(self):
        limiter, fake = bucket(rate=1, burst=1)
        limiter.acquire()
        fake.now -= 100
        self.assertAlmostEqual(limiter.acquire(), 1.0)

    def test_several_tokens(self):
        limiter, _fake = bucket(rate=10, burst=10)
        self.assertEqual(limiter.acquire(10), 0.0)
        self.assertAlmostEqual(limiter.acquire(5), 0.5)
        with self.assertRaises(ValueError):
            limiter.acquire(0)

    def test_threads_get_distinct_slots(self):
        lock = threading.Lock()
        waits = []
        limiter = TokenBucket(10, burst=1, clock=lambda: 0.0, sleep=lambda s: None)

        def worker():
            wait = limiter.acquire()
            with lock:
                waits.append(round(wait, 6))

        threads = [threading.Thread(target=worker) for _ in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        # With a frozen clock each caller reserves the next 0.1 s slot.
        self.assertEqual(sorted(waits), [round(i * 0.1, 6) for i in range(20)])


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
