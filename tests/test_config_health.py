"""The health panel of a number, fed by real requests to the webhook route."""

from odoo.tests import tagged

from .common import WhatsAppCase, WhatsAppHttpCase, meta_error, meta_payload, meta_text

SENDER = "56955550001"


@tagged("post_install", "-at_install")
class TestConfigHealth(WhatsAppHttpCase):
    def test_health_panel_and_checklist_tick_themselves(self):
        config = self.config
        templates = self.env["ofitec.whatsapp.template"].search(
            [("meta_template_name", "!=", False)]
        )
        counts = [
            "templates_approved",
            "templates_pending",
            "templates_rejected",
            "templates_unsubmitted",
        ]
        templates.write({"meta_status": False})  # never submitted: not "pending" at Meta
        self.assertEqual([config[name] for name in counts], [0, 0, 0, len(templates)])
        templates.write({"meta_status": "PENDING"})
        templates[:1].meta_status = "REJECTED"
        config.invalidate_recordset()
        self.assertFalse(config.last_webhook_at)
        self.assertFalse(config.handshake_seen_at)
        self.assertEqual([config[name] for name in counts], [0, len(templates) - 1, 1, 0])
        self.assertFalse(
            config.check_connection
            or config.check_webhook_verified
            or config.check_templates_approved
            or config.check_first_webhook
        )

        # Meta's handshake with a wrong token is not "verified"; with the right one it is.
        url = self._webhook_url()
        response = self.url_open(f"{url}?hub.mode=subscribe&hub.verify_token=x&hub.challenge=1")
        self.assertEqual(response.status_code, 403)
        config.invalidate_recordset()
        self.assertFalse(config.check_webhook_verified)
        response = self.url_open(
            f"{url}?hub.mode=subscribe&hub.verify_token=test-verify-token&hub.challenge=42"
        )
        self.assertEqual(response.text, "42")
        config.invalidate_recordset()
        self.assertTrue(config.handshake_seen_at)
        self.assertTrue(config.check_webhook_verified)

        # A bad signature is refused and shown; a signed webhook counts as received.
        self.assertEqual(self._post_webhook(meta_payload(), signature="sha256=00").status_code, 403)
        config.invalidate_recordset()
        self.assertTrue(config.last_signature_failure)
        self.assertFalse(config.check_first_webhook)
        body = meta_payload(messages=[meta_text("wamid.HEALTH1", SENDER, "hola")])
        self.assertEqual(self._post_webhook(body).status_code, 200)
        config.invalidate_recordset()
        self.assertTrue(config.last_webhook_at)
        self.assertTrue(config.check_first_webhook)

        # The last send error, with Meta's code and title.
        self._open_window("+" + SENDER)
        message = self.env["ofitec.whatsapp.message"].create(
            {"config_id": config.id, "phone": "+" + SENDER, "body": "Hola"}
        )
        with self.mock_whatsapp_gateway() as gateway:
            gateway.fail("+" + SENDER, meta_error(131026, "Message undeliverable"))
            self._run_queue()
        self.assertEqual(message.state, "failed")
        config.invalidate_recordset()
        self.assertEqual(config.last_error_code, "131026")
        self.assertIn("Message undeliverable", config.last_error_message)
        self.assertTrue(config.last_error_at)

        # Test Connection passes; every template approved: the checklist is complete.
        with self.mock_whatsapp_gateway():
            config.action_test_connection()
        templates.write({"meta_status": "APPROVED"})
        config.invalidate_recordset()
        self.assertEqual(config.token_status, "valid")
        self.assertTrue(config.check_connection and config.check_templates_approved)
        self.assertEqual(config.templates_approved, len(templates))


class TestLastErrorLookUp(WhatsAppCase):
    """The number's last send error is read through its partial index, not by reading
    every message the number sent: 3,000 sent messages, a few failed ones, analysed,
    and the table scan priced out."""

    def test_the_last_error_reads_its_index(self):
        self.env.cr.execute(
            """
            INSERT INTO ofitec_whatsapp_message
                   (config_id, company_id, direction, state, phone, whatsapp_message_id,
                    error_code, write_date)
            SELECT %(config)s, %(company)s, 'outbound',
                   CASE WHEN g %% 1000 = 0 THEN 'failed' ELSE 'delivered' END,
                   '+5697' || lpad(g::text, 7, '0'), 'wamid.bulk.' || g,
                   CASE WHEN g %% 1000 = 0 THEN '13102' || (g / 1000) END,
                   now() AT TIME ZONE 'UTC' - g * interval '1 minute'
              FROM generate_series(1, 3000) AS g
            """,
            {"config": self.config.id, "company": self.config.company_id.id},
        )
        self.env.cr.execute("ANALYZE ofitec_whatsapp_message")
        Message = self.env["ofitec.whatsapp.message"].sudo()
        query = Message._where_calc(self.config._last_error_domain())
        query.order = (
            '"ofitec_whatsapp_message"."write_date" DESC, "ofitec_whatsapp_message"."id" DESC'
        )
        query.limit = 1
        sql, params = query.select('"ofitec_whatsapp_message"."id"')
        self.env.cr.execute("SET enable_seqscan = off")
        try:
            self.env.cr.execute("EXPLAIN " + sql, params)
            plan = "\n".join(row[0] for row in self.env.cr.fetchall())
        finally:
            self.env.cr.execute("RESET enable_seqscan")
        self.assertIn("ofitec_whatsapp_message_last_error_idx", plan)
        self.assertNotIn("Sort", plan)  # the index gives the newest first
        # And the panel shows the newest error (1,000 minutes old).
        self.config.invalidate_recordset()
        self.assertEqual(self.config.last_error_code, "131021")
