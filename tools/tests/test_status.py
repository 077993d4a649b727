import unittest

from ofitec_whatsapp.tools.status import (
    LEFT_STATES,
    RATE_STATES,
    REACHED_STATES,
    STATUS_RANK,
    TERMINAL_STATES,
    message_state,
    rank_rows,
    sql_in,
    status_moves_forward,
)


class TestStatusOrder(unittest.TestCase):
    def test_rank_table(self):
        self.assertEqual(STATUS_RANK, {"sent": 1, "delivered": 2, "read": 3, "played": 3})

    def test_moves(self):
        forward = [
            (None, "sent"),
            ("", "sent"),
            ("outgoing", "sent"),
            ("queued", "delivered"),
            ("sent", "delivered"),
            ("sent", "read"),  # read without delivered
            ("delivered", "read"),
            ("delivered", "played"),
            (None, "failed"),
            ("outgoing", "failed"),
            ("sent", "failed"),
            ("SENT", "Delivered"),
        ]
        backward = [
            ("delivered", "sent"),
            ("read", "delivered"),
            ("read", "sent"),
            ("read", "played"),
            ("played", "read"),
            ("sent", "sent"),
            ("failed", "sent"),
            ("failed", "read"),
            ("failed", "failed"),
            ("cancelled", "sent"),
            ("cancelled", "failed"),
            ("delivered", "failed"),
            ("read", "failed"),
            ("sent", "deleted"),
            (None, "deleted"),
            ("sent", "warning"),
            ("sent", None),
            ("sent", ""),
            ("sent", 3),
        ]
        for current, new in forward:
            with self.subTest(current=current, new=new):
                self.assertTrue(status_moves_forward(current, new))
        for current, new in backward:
            with self.subTest(current=current, new=new):
                self.assertFalse(status_moves_forward(current, new))

    def test_out_of_order_sequence_ends_on_highest(self):
        state = None
        for new in ("read", "sent", "delivered", "failed", "sent"):
            if status_moves_forward(state, new):
                state = new
        self.assertEqual(state, "read")

    def test_message_state(self):
        self.assertEqual(message_state("played"), "read")
        self.assertEqual(message_state(" Delivered "), "delivered")
        self.assertEqual(message_state("failed"), "failed")
        self.assertIsNone(message_state("deleted"))
        self.assertIsNone(message_state(None))

    def test_rank_rows_follow_the_table(self):
        self.assertEqual(
            rank_rows(),
            [
                ("sent", 1, "sent"),
                ("delivered", 2, "delivered"),
                ("read", 3, "read"),
                ("played", 3, "read"),
            ],
        )


class TestStateSets(unittest.TestCase):
    def test_the_sets_follow_the_ranks(self):
        ranked = {state for _status, _rank, state in rank_rows()}
        self.assertEqual(set(LEFT_STATES), ranked)
        self.assertEqual(
            set(REACHED_STATES), {s for s in ranked if STATUS_RANK[s] >= STATUS_RANK["delivered"]}
        )
        self.assertEqual(set(RATE_STATES), set(LEFT_STATES) | {"failed"})
        self.assertFalse(set(LEFT_STATES) & TERMINAL_STATES)

    def test_sql_in(self):
        self.assertEqual(
            sql_in("state", RATE_STATES), "state IN ('sent', 'delivered', 'read', 'failed')"
        )
        self.assertEqual(sql_in("m.state", REACHED_STATES), "m.state IN ('delivered', 'read')")
        for bad in ((), ("sent'; --",), ("Sent",)):
            with self.subTest(bad=bad), self.assertRaises(ValueError):
                sql_in("state", bad)
