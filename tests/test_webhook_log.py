"""The webhook log is kept for each number's number of days, then purged daily."""

import inspect
from datetime import timedelta

from odoo import fields
from odoo.addons.base.models.ir_autovacuum import is_autovacuum
from odoo.exceptions import ValidationError

from .common import WhatsAppCase, meta_payload, meta_status, meta_timestamp

MANAGER = "+56911111111"


class TestWebhookLog(WhatsAppCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.Event = cls.env["ofitec.whatsapp.webhook.event"].sudo()
        cls.now = fields.Datetime.now()
        cls.timestamp = meta_timestamp()  # one for all: a redelivery is the same body

    def _event(self, state, days_ago, config=None, wamid="wamid.LOG"):
        """An event of ``config`` in ``state``, received ``days_ago`` days ago."""
        config = config or self.config
        if state == "rejected":
            event = self.Event._store_rejected(config, b"{not json", "malformed")
        else:
            payload = meta_payload(
                statuses=[meta_status(wamid, "delivered", self.timestamp, MANAGER[1:])]
            )
            event = self._deliver_webhook(payload, config)
            if state != "received":
                self._process_webhooks()
                if state == "failed":
                    event.write({"state": "failed", "error": "boom"})
        self.assertEqual(event.state, state)
        event.flush_recordset()
        self.env.cr.execute(
            "UPDATE ofitec_whatsapp_webhook_event SET create_date = %s WHERE id = %s",
            (self.now - timedelta(days=days_ago, minutes=1), event.id),
        )
        return event

    def _purge(self):
        return self.Event._gc_webhook_log(now=self.now)

    def test_old_processed_and_rejected_go_waiting_failed_and_newest_stay(self):
        self.assertEqual(self.config.webhook_log_days, 30)
        old_processed = self._event("processed", 40, wamid="wamid.LOG1")
        old_rejected = self._event("rejected", 31)
        old_failed = self._event("failed", 90, wamid="wamid.LOG2")
        recent = self._event("processed", 29, wamid="wamid.LOG3")
        newest = self._event("processed", 35, wamid="wamid.LOG4")  # the newest id
        old_received = self._event("received", 60, wamid="wamid.LOG5")

        self.assertEqual(self._purge(), 2)
        self.assertFalse((old_processed | old_rejected).exists())
        self.assertEqual(
            (old_failed | recent | newest | old_received).exists(),
            old_failed | recent | newest | old_received,
        )
        # The health panel still has its last webhook.
        self.config.invalidate_recordset()
        self.assertTrue(self.config.check_first_webhook)
        self.assertEqual(self._purge(), 0)

    def test_each_number_has_its_own_limit_and_zero_keeps_all(self):
        other = self.config.copy({"name": "Other", "phone_number_id": "106540352242999"})
        other.webhook_log_days = 0
        self.config.webhook_log_days = 10
        mine = self._event("processed", 11, wamid="wamid.LOG1")
        self._event("processed", 1, wamid="wamid.LOG2")
        theirs = self._event("processed", 400, config=other, wamid="wamid.LOG3")
        self._event("processed", 500, config=other, wamid="wamid.LOG4")

        self.assertEqual(self._purge(), 1)
        self.assertFalse(mine.exists())
        self.assertTrue(theirs.exists())

    def test_a_redelivery_after_the_purge_is_still_applied_once(self):
        """Duplicates are told by the statuses, not by the log."""
        with self.mock_whatsapp_gateway() as gateway:
            self._open_window(MANAGER)
            message = self.env["ofitec.whatsapp.message"].create(
                {"config_id": self.config.id, "phone": MANAGER, "body": "Hola"}
            )
            gateway.wamids[MANAGER] = ["wamid.LOGGED"]
            self._run_queue()
        self._event("processed", 40, wamid="wamid.LOGGED")
        self._event("processed", 1, wamid="wamid.OTHER")
        self.assertEqual(self._purge(), 1)
        self.assertEqual(message.state, "delivered")
        statuses = self.env["ofitec.whatsapp.status"].search([("message_id", "=", message.id)])

        self._event("processed", 0, wamid="wamid.LOGGED")
        self.assertEqual(
            self.env["ofitec.whatsapp.status"].search([("message_id", "=", message.id)]), statuses
        )
        self.assertEqual(message.state, "delivered")

    def test_negative_days_are_refused(self):
        with self.assertRaises(ValidationError):
            self.config.webhook_log_days = -1

    def test_odoo_autovacuum_runs_it(self):
        cls = self.env.registry["ofitec.whatsapp.webhook.event"]
        names = [name for name, _func in inspect.getmembers(cls, is_autovacuum)]
        self.assertIn("_gc_webhook_log", names)
