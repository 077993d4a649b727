"""The health panel of a number, fed by real requests to the webhook route."""

from odoo.tests import tagged

from .common import WhatsAppHttpCase, meta_error, meta_payload, meta_text

SENDER = "56955550001"


@tagged("post_install", "-at_install")
class TestConfigHealth(WhatsAppHttpCase):
    def test_health_panel_and_checklist_tick_themselves(self):
        config = self.config
        templates = self.env["ofitec.whatsapp.template"].search(
            [("meta_template_name", "!=", False)]
        )
        templates.write({"meta_status": "PENDING"})
        templates[:1].meta_status = "REJECTED"
        self.assertFalse(config.last_webhook_at)
        self.assertFalse(config.handshake_seen_at)
        self.assertEqual(
            (config.templates_approved, config.templates_pending, config.templates_rejected),
            (0, len(templates) - 1, 1),
        )
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
