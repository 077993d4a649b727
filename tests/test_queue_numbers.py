"""Numbers are independent and share their limits across workers (issue 10, item 6).

Two real cursors on their own connections stand for two workers (or two servers):
claims never overlap, one number's pace is shared by both, a claim whose worker died
is taken again once its lease ends, and a number at its rate never holds another's.
The pace's clock (the database's) is replaced by a fake one where slots matter.
"""

from unittest.mock import patch

from odoo.tests import tagged
from odoo.tools import mute_logger

from ..models import ofitec_whatsapp_message_send as send_module
from .test_outbound_queue import ConcurrencyCase


@tagged("post_install", "-at_install")
class TestQueueNumbers(ConcurrencyCase):
    def setUp(self):
        super().setUp()
        self.clock = [5000.0]
        test = self

        def sleep(seconds):
            test.clock[0] += seconds

        Pace = type(self.env["ofitec.whatsapp.send.pace"])
        for patcher in (
            patch.object(Pace, "_now", lambda self: test.clock[0]),
            patch.object(send_module, "_sleep", sleep),
            patch.object(send_module, "_monotonic", lambda: test.clock[0]),
            patch.dict(send_module._PACERS, clear=True),
        ):
            patcher.start()
            self.addCleanup(patcher.stop)

    def _set_rate(self, config_id, rate):
        with self._cursor() as cr:
            cr.execute(
                "UPDATE ofitec_whatsapp_config SET rate_limit = %s WHERE id = %s", (rate, config_id)
            )
            # The number's pace row exists (the first claim would create it otherwise).
            cr.execute(
                "INSERT INTO ofitec_whatsapp_send_pace (config_id, tat) VALUES (%s, 0) "
                "ON CONFLICT (config_id) DO NOTHING",
                (config_id,),
            )

    def _second_config(self, rate):
        """Another committed number (deleted with its messages afterwards)."""
        with self._cursor() as cr:
            config = self._env(cr)["ofitec.whatsapp.config"].create(
                {
                    "name": "Concurrency test number B",
                    "phone_number_id": "990000000002",
                    "access_token": "concurrency-token-b",
                    "company_id": self.company.id,
                    "rate_limit": rate,
                }
            )
        self.addCleanup(self._delete_config, config.id)
        return config.id

    def _delete_config(self, config_id):
        with self._cursor() as cr:
            cr.execute("DELETE FROM ofitec_whatsapp_message WHERE config_id = %s", (config_id,))
            cr.execute("DELETE FROM ofitec_whatsapp_config WHERE id = %s", (config_id,))

    def _move(self, ids, config_id):
        with self._cursor() as cr:
            cr.execute(
                "UPDATE ofitec_whatsapp_message SET config_id = %s WHERE id IN %s",
                (config_id, tuple(ids)),
            )

    def _claim(self, env, size=10):
        """One worker's claim with its slots booked, as a send cycle does."""
        Message = env["ofitec.whatsapp.message"]
        claim = Message._claim_due(size)
        slots = Message._book_slots(claim, [(m, None) for m in claim.messages])
        return claim, slots

    @staticmethod
    def _peak(times):
        times = sorted(times)
        return max(sum(1 for t in times if start <= t < start + 1.0) for start in times)

    def test_two_workers_never_claim_the_same_message(self):
        ids = self._commit_messages([f"+5699300{i:04d}" for i in range(6)])
        with self._two_workers() as (cr_a, cr_b):
            cr_b.execute("SET lock_timeout = '5s'")
            claim_a, _slots = self._claim(self._env(cr_a), size=3)
            claim_b, _slots = self._claim(self._env(cr_b), size=10)
            self.assertEqual(len(claim_a.messages), 3)
            self.assertFalse(set(claim_a.messages.ids) & set(claim_b.messages.ids))
            self.assertEqual(sorted(claim_a.messages.ids + claim_b.messages.ids), ids)
            cr_a.commit()
            cr_b.commit()
        # Committed claims are leased: a third worker finds nothing to take.
        with self._cursor() as cr:
            self.assertFalse(self._claim(self._env(cr))[0].messages)

    def test_shared_pace_holds_across_two_workers(self):
        """Two workers claiming in turns for one number: no second holds more than the
        number's rate, and a worker never waits for the other's lock."""
        rate = 4
        self._set_rate(self.committed_config_id, rate)
        ids = self._commit_messages([f"+5699400{i:04d}" for i in range(12)])
        slots = []
        with self._two_workers() as (cr_a, cr_b):
            cr_b.execute("SET lock_timeout = '5s'")
            env_a, env_b = self._env(cr_a), self._env(cr_b)
            claim_a, booked = self._claim(env_a)
            slots += booked
            self.assertTrue(claim_a.messages)
            # A still holds the number's pace: B skips the number instead of waiting.
            claim_b, booked = self._claim(env_b)
            self.assertFalse(claim_b.messages)
            cr_b.rollback()
            cr_a.commit()
            for turn in range(40):
                env = env_a if turn % 2 else env_b
                claim, booked = self._claim(env)
                slots += booked
                env.cr.commit()
                self.clock[0] += 0.2
            self.assertEqual(len(slots), len(ids))
        self.assertEqual(len(set(slots)), len(slots))
        self.assertLessEqual(self._peak(slots), rate)

    def test_killed_worker_frees_its_claim_after_the_lease(self):
        ids = self._commit_messages(["+56995000001", "+56995000002"])
        killed = self._cursor()
        claim, _slots = self._claim(self._env(killed))
        self.assertEqual(claim.messages.ids, ids)
        killed.commit()
        killed.close()  # the worker dies before sending anything: nothing is recorded
        with self.mock_whatsapp_gateway() as gateway:
            with self._cursor() as cr:
                # Not while the lease runs: the dead worker might have sent them.
                self.assertEqual(self._env(cr)["ofitec.whatsapp.message"]._process_queue(), 0)
                cr.commit()  # pylint: disable=invalid-commit
            self.assertEqual(gateway.sent, [])
            with self._cursor() as cr:  # the lease ends
                cr.execute(
                    "UPDATE ofitec_whatsapp_message "
                    "SET next_attempt = (now() at time zone 'UTC') - interval '1 second' "
                    "WHERE id IN %s",
                    (tuple(ids),),
                )
            with self._cursor() as cr:
                handled = self._env(cr)["ofitec.whatsapp.message"]._process_queue(time_budget=None)
                cr.commit()  # pylint: disable=invalid-commit
        self.assertEqual(handled, 2)
        self.assertEqual(self._sent_ids(gateway), ids)
        self.assertEqual(set(self._committed_states(ids).values()), {"sent"})

    def test_b_is_sent_while_a_is_limited(self):
        """Number A is booked far ahead (another worker drains its backlog): a worker
        sends B's message at once and does not wait for A."""
        self._set_rate(self.committed_config_id, 1)
        ids = self._commit_messages([f"+5699600{i:04d}" for i in range(4)])
        a_ids, b_ids = ids[:3], ids[3:]
        b_config = self._second_config(rate=1)
        self._set_rate(b_config, 1)
        self._move(b_ids, b_config)
        with self._cursor() as cr:
            cr.execute(
                "UPDATE ofitec_whatsapp_send_pace SET tat = %s WHERE config_id = %s",
                (self.clock[0] + 100, self.committed_config_id),
            )
        with self.mock_whatsapp_gateway() as gateway, mute_logger("odoo.sql_db"):
            with self._cursor() as cr:
                handled = self._env(cr)["ofitec.whatsapp.message"]._process_queue(time_budget=None)
                cr.commit()  # pylint: disable=invalid-commit
        self.assertEqual(handled, 1)
        self.assertEqual(self._sent_ids(gateway), b_ids)
        states = self._committed_states(a_ids)
        self.assertEqual(set(states.values()), {"queued"})
