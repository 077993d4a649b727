"""The send loop records accepted sends in bulk (issue 10, item 6).

A batch of answers is recorded in one transaction: the plain successes by one SQL
statement, the rest (failures, retries, messages that changed meanwhile) through the
ORM. Two real cursors stand for the sending worker and the webhook's processing, which
may apply a status of a message before the worker records its send.
"""

import dataclasses
import time
from concurrent.futures import ThreadPoolExecutor, wait
from unittest.mock import patch

from odoo.tests import tagged

from ..models import ofitec_whatsapp_message_send as send_module
from ..models.ofitec_whatsapp_message_claim import NotStarted, SendStep
from ..tools.webhook import StatusUpdate
from .common import meta_error
from .test_outbound_queue import ConcurrencyCase


@tagged("post_install", "-at_install")
class TestQueueRecord(ConcurrencyCase):
    def _send_cycle(self, env, size):
        """One cycle of the send loop in ``env``'s cursor: claim, prepare, send (the
        calls answered), not recorded yet. Returns ``(claim, run)``."""
        Message = env["ofitec.whatsapp.message"]
        run = send_module._SendRun(auto_commit=False)
        with ThreadPoolExecutor(max_workers=2) as pool:
            claim = Message._start_cycle(size, None, pool, run)
            wait(claim.futures)
        return claim, run

    def _rows(self, ids):
        with self._cursor() as cr:
            cr.execute(
                """
                SELECT id, state, whatsapp_message_id, message_type, error_code,
                       sent_date IS NOT NULL, delivered_date IS NOT NULL, next_attempt
                  FROM ofitec_whatsapp_message WHERE id IN %s
                """,
                (tuple(ids),),
            )
            return {row[0]: row[1:] for row in cr.fetchall()}

    def _status(self, env, wamid, status, callback_data=None):
        config = env["ofitec.whatsapp.config"].browse(self.committed_config_id)
        update = StatusUpdate(
            phone_number_id=None,
            waba_id=None,
            wamid=wamid,
            status=status,
            timestamp=int(time.time()),
            callback_data=callback_data,
        )
        env["ofitec.whatsapp.status"]._ingest_batch(config, [update])

    def test_batch_with_one_failure_and_one_success_records_both(self):
        failing, accepted = "+56996100001", "+56996100002"
        ids = self._commit_messages([failing, accepted])
        Message = type(self.env["ofitec.whatsapp.message"])
        with self.mock_whatsapp_gateway() as gateway:
            gateway.fail(failing, meta_error(131026, "Message undeliverable"))
            gateway.wamids[accepted] = ["wamid.BULK1"]
            with self._cursor() as cr:
                env = self._env(cr)
                claim, run = self._send_cycle(env, size=2)
                self.assertEqual(sorted(claim.messages.ids), ids)
                bulk_method = Message._record_sent_bulk
                with patch.object(
                    Message, "_record_sent_bulk", autospec=True, side_effect=bulk_method
                ) as bulk:
                    env["ofitec.whatsapp.message"]._record_calls(claim.calls, run)
                # One batch: the success went through the bulk statement, alone.
                self.assertEqual(bulk.call_count, 1)
                self.assertEqual([m.id for m, _k, _r in bulk.call_args.args[1]], ids[1:])
                cr.commit()  # pylint: disable=invalid-commit
        rows = self._rows(ids)
        self.assertEqual(rows[ids[0]][0], "failed")
        self.assertEqual(rows[ids[0]][3], "131026")
        self.assertFalse(rows[ids[0]][1])
        self.assertEqual(rows[ids[1]][:4], ("sent", "wamid.BULK1", "template", None))
        self.assertTrue(rows[ids[1]][4])  # sent_date
        self.assertIsNone(rows[ids[1]][6])  # the lease is over
        with self._cursor() as cr:
            cr.execute(
                "SELECT wa_id, phone FROM ofitec_whatsapp_contact WHERE config_id = %s",
                (self.committed_config_id,),
            )
            # The accepted send taught its recipient's id; the failed one did not.
            self.assertEqual(cr.fetchall(), [(accepted.lstrip("+"), accepted)])

    def test_delivered_before_our_record_of_sent_stays_delivered(self):
        """A status webhook (with our callback data) reconciled and delivered the
        message between the send and its record: the record never moves it back."""
        number = "+56996100003"
        (message_id,) = self._commit_messages([number])
        with self.mock_whatsapp_gateway() as gateway:
            gateway.wamids[number] = ["wamid.FIRST"]
            with self._two_workers() as (cr_a, cr_b):
                cr_b.execute("SET lock_timeout = '5s'")
                env_a, env_b = self._env(cr_a), self._env(cr_b)
                claim, run = self._send_cycle(env_a, size=1)
                cr_a.commit()  # the claim (its lease), as the loop commits it
                self._status(env_b, "wamid.FIRST", "sent", f"ofitec:{message_id}")
                self._status(env_b, "wamid.FIRST", "delivered", f"ofitec:{message_id}")
                cr_b.commit()
                self.assertEqual(self._rows([message_id])[message_id][0], "delivered")
                env_a["ofitec.whatsapp.message"]._record_calls(claim.calls, run)
                cr_a.commit()
        state, wamid, kind, error, sent, delivered, lease = self._rows([message_id])[message_id]
        self.assertEqual((state, wamid, kind), ("delivered", "wamid.FIRST", "template"))
        self.assertIsNone(error)
        self.assertTrue(sent and delivered)
        self.assertIsNone(lease)

    def test_status_waiting_for_the_wamid_applies_with_the_bulk_record(self):
        """A status without callback data arrived before the wamid was stored: it
        waits, and applies when the batch records the send (delivered, not sent)."""
        number = "+56996100004"
        (message_id,) = self._commit_messages([number])
        with self.mock_whatsapp_gateway() as gateway:
            gateway.wamids[number] = ["wamid.EARLY"]
            with self._two_workers() as (cr_a, cr_b):
                env_a, env_b = self._env(cr_a), self._env(cr_b)
                claim, run = self._send_cycle(env_a, size=1)
                cr_a.commit()
                self._status(env_b, "wamid.EARLY", "delivered")
                cr_b.commit()
                self.assertEqual(self._rows([message_id])[message_id][0], "queued")
                env_a["ofitec.whatsapp.message"]._record_calls(claim.calls, run)
                cr_a.commit()
        state, wamid, _kind, _error, sent, delivered, _lease = self._rows([message_id])[message_id]
        self.assertEqual((state, wamid), ("delivered", "wamid.EARLY"))
        self.assertTrue(sent and delivered)

    def test_a_full_gate_holds_sends_until_records_are_committed(self):
        """Calls started and not committed yet are bounded: past the limit a send
        waits, and one that cannot start before its cutoff is not sent at all."""
        gate = send_module._Gate(2)
        self.assertTrue(gate.enter(None))
        self.assertTrue(gate.enter(None))
        self.assertFalse(gate.enter(send_module._monotonic()))  # full: not started
        gate.leave(1)  # one record committed
        self.assertTrue(gate.enter(None))
        sent = []
        step = SendStep(
            client=None,
            recipient="+56996100005",
            kind="text",
            call=lambda: sent.append(1),
            cutoff=send_module._monotonic() + 0.05,
            pace_key=("gate-test", 0),
            gate=gate,
        )
        result, error = send_module._call(step)
        self.assertIsNone(result)
        self.assertIsInstance(error, NotStarted)
        self.assertEqual(sent, [])
        gate.leave(2)
        self.assertEqual(send_module._call(dataclasses.replace(step, cutoff=None)), (None, None))
        self.assertEqual(sent, [1])
