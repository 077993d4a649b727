import unittest
from datetime import datetime, timedelta

from ofitec_whatsapp.tools.status import (
    DATE_FIELDS,
    LEFT_STATES,
    RATE_STATES,
    REACHED_STATES,
    STATUS_RANK,
    TERMINAL_STATES,
    dates_in_order,
    message_state,
    rank_rows,
    sql_dates_in_order,
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


class TestDatesInOrder(unittest.TestCase):
    T0 = datetime(2026, 3, 2, 12, 0)

    def _dates(self, sent=None, delivered=None, read=None):
        at = {"sent": sent, "delivered": delivered, "read": read}
        return {
            field: self.T0 + timedelta(minutes=at[state]) if at[state] is not None else None
            for state, field in DATE_FIELDS.items()
        }

    def test_the_fields_follow_the_ranks(self):
        self.assertEqual(list(DATE_FIELDS), sorted(DATE_FIELDS, key=STATUS_RANK.get))

    def test_no_date_is_later_than_a_higher_one(self):
        cases = [
            # (sent, delivered, read) before -> after
            ((0, 2, 5), (0, 2, 5)),  # in order: unchanged
            ((0, 7, 5), (0, 5, 5)),  # a delivered after the read takes the read's date
            ((3, 2, None), (2, 2, None)),  # our record of the send after the delivery
            ((9, None, 5), (5, None, 5)),  # read without delivered: the send before it
            ((9, 7, 5), (5, 5, 5)),
            ((0, None, None), (0, None, None)),
            ((None, 7, 5), (None, 5, 5)),  # an empty date stays empty
        ]
        for before, after in cases:
            with self.subTest(before=before):
                self.assertEqual(dates_in_order(self._dates(*before)), self._dates(*after))

    def test_sql_follows_the_same_rule(self):
        values = {field: f"v_{field}" for field in DATE_FIELDS.values()}
        self.assertEqual(
            sql_dates_in_order(values),
            {
                "sent_date": "CASE WHEN v_sent_date IS NOT NULL"
                " THEN LEAST(v_sent_date, v_read_date, v_delivered_date) END",
                "delivered_date": "CASE WHEN v_delivered_date IS NOT NULL"
                " THEN LEAST(v_delivered_date, v_read_date) END",
                "read_date": "v_read_date",
            },
        )
