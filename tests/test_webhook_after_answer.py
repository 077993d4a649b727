"""Texts the cron falls behind on are applied by the HTTP worker after its 200."""

from unittest.mock import patch

import psycopg2.errors

from odoo.tests import tagged

from ..models.ofitec_whatsapp_webhook_event_now import BACKLOG
from .common import WhatsAppHttpCase, meta_payload, meta_text


@tagged("post_install", "-at_install")
class TestTextsAfterAnswer(WhatsAppHttpCase):
    def setUp(self):
        super().setUp()
        self.Event = self.env["ofitec.whatsapp.webhook.event"]
        self.cron = self.env.ref("ofitec_whatsapp.ir_cron_whatsapp_process_webhooks")

    def _text(self, wamid, sender, body="Hola"):
        return meta_payload(messages=[meta_text(wamid, sender, body)])

    def _waiting(self, count, first_sender=56940000000):
        """``count`` texts of distinct senders, stored and not applied (the cron behind)."""
        return self.Event.browse(
            [
                self._deliver_webhook(self._text(f"wamid.WAIT{k}", str(first_sender + k))).id
                for k in range(count)
            ]
        )

    def _states(self, events):
        self.env.invalidate_all()
        return events.mapped("state")

    def _triggers(self):
        return self.env["ir.cron.trigger"].search_count([("cron_id", "=", self.cron.id)])

    def _inbound_bodies(self):
        return (
            self.env["ofitec.whatsapp.message"]
            .search([("direction", "=", "inbound")], order="id")
            .mapped("body")
        )

    def test_a_lone_text_is_left_to_the_cron(self):
        waiting = self._waiting(BACKLOG - 2)
        triggers = self._triggers()
        response = self._post_webhook(self._text("wamid.LONE", "56933333333"))
        self.assertEqual(response.status_code, 200)
        event = self.Event.search([("payload", "like", "wamid.LONE")])
        self.assertEqual(self._states(waiting | event), ["received"] * (BACKLOG - 1))
        self.assertEqual(self._triggers(), triggers + 1)  # the cron was woken
        self.assertEqual(self._process_webhooks(), BACKLOG - 1)

    def test_a_batch_waiting_is_applied_by_the_worker_after_its_answer(self):
        waiting = self._waiting(BACKLOG - 1)
        triggers = self._triggers()
        response = self._post_webhook(self._text("wamid.FULL", "56933333333", "OK gracias"))
        self.assertEqual(response.status_code, 200)
        event = self.Event.search([("payload", "like", "wamid.FULL")])
        self.assertEqual(self._states(waiting | event), ["processed"] * BACKLOG)
        self.assertEqual(len(self._inbound_bodies()), BACKLOG)
        self.assertIn("OK gracias", self._inbound_bodies())
        # The cron was woken all the same; nothing is left for it.
        self.assertEqual(self._triggers(), triggers + 1)
        self.assertEqual(self._process_webhooks(), 0)

    def test_statuses_are_never_applied_by_the_worker(self):
        self._waiting(BACKLOG)
        response = self._post_webhook(meta_payload(statuses=[]))  # no message in it
        self.assertEqual(response.status_code, 200)
        self.assertEqual(set(self._states(self.Event.search([]))), {"received"})

    def test_a_batch_the_worker_fails_on_is_answered_and_left_to_the_cron(self):
        waiting = self._waiting(BACKLOG - 1)
        Event = type(self.Event)
        with patch.object(Event, "_process_batch", side_effect=RuntimeError("boom")):
            with self.assertLogs("odoo.addons.ofitec_whatsapp", "ERROR") as logs:
                response = self._post_webhook(self._text("wamid.FAIL", "56933333333"))
        self.assertEqual(response.status_code, 200)
        self.assertIn("left to the cron", logs.output[0])
        self.assertEqual(set(self._states(self.Event.search([]))), {"received"})
        self.assertEqual(self._process_webhooks(), BACKLOG)
        self.assertEqual(self._states(waiting), ["processed"] * (BACKLOG - 1))

    def test_a_claim_refused_by_a_concurrent_worker_is_left_to_the_cron_quietly(self):
        """Another worker committed an event this claim met (REPEATABLE READ refuses
        the lock): tried once more, then left to the cron, and no ERROR is logged."""
        waiting = self._waiting(BACKLOG - 1)
        refused = psycopg2.errors.SerializationFailure("could not serialize access")
        with patch.object(type(self.Event), "_claim", side_effect=refused) as claim:
            with self.assertNoLogs("odoo", "ERROR"):
                response = self._post_webhook(self._text("wamid.RACE", "56933333333"))
        self.assertEqual(response.status_code, 200)
        self.assertEqual(claim.call_count, 2)
        self.assertEqual(set(self._states(self.Event.search([]))), {"received"})
        self.assertEqual(self._process_webhooks(), BACKLOG)
        self.assertEqual(self._states(waiting), ["processed"] * (BACKLOG - 1))

    def test_a_sender_behind_its_older_text_waits_for_it(self):
        self._waiting(BACKLOG - 1)
        self._deliver_webhook(self._text("wamid.OLDER", "56933333333", "primero"))
        self._post_webhook(self._text("wamid.NEWER", "56933333333", "segundo"))
        # The worker applied the older text (one sender in order), not the newer one.
        older = self.Event.search([("payload", "like", "wamid.OLDER")])
        newer = self.Event.search([("payload", "like", "wamid.NEWER")])
        self.assertEqual(self._states(older | newer), ["processed", "received"])
        self.assertEqual(self._process_webhooks(), 1)
        bodies = self._inbound_bodies()
        self.assertLess(bodies.index("primero"), bodies.index("segundo"))
