import unittest
from datetime import datetime, timedelta

from ofitec_whatsapp.tools.window import WINDOW, WINDOW_SAFETY, is_window_open

WROTE = datetime(2026, 12, 3, 9, 0, 0)


class TestWindow(unittest.TestCase):
    def test_open_for_a_day_less_the_safety_margin(self):
        self.assertEqual(WINDOW, timedelta(hours=24))
        self.assertTrue(is_window_open(WROTE, WROTE))
        self.assertTrue(is_window_open(WROTE, WROTE + timedelta(hours=23, minutes=54)))
        closing = WROTE + WINDOW - WINDOW_SAFETY
        self.assertTrue(is_window_open(WROTE, closing - timedelta(seconds=1)))
        self.assertFalse(is_window_open(WROTE, closing))
        self.assertFalse(is_window_open(WROTE, WROTE + timedelta(hours=24)))

    def test_never_wrote(self):
        self.assertFalse(is_window_open(None, WROTE))
        self.assertFalse(is_window_open(False, WROTE))


if __name__ == "__main__":
    unittest.main()
