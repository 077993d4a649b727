"""Twilio numbers send outside the window only a Content WhatsApp approved (spec B6, B9)."""

from odoo import fields

from ..models.ofitec_whatsapp_config_setup import TEMPLATE_SYNC_CRONS
from .common import WhatsAppCase
from .twilio_common import CONTENT_SID, QUICK_REPLY_SID, TwilioMixin, twilio_error

OUTSIDER = "+56922222222"  # the assignee; nobody wrote from this number


class TestTwilioApproval(TwilioMixin, WhatsAppCase):
    def setUp(self):
        super().setUp()
        self.transport = self.enterContext(self.mock_twilio())
        self.urgent_template.twilio_approval_status = False  # never read from Twilio
        self.user_manager.partner_id.mobile = False  # one recipient: the assignee

    def _approval_requests(self):
        return [r for r in self.transport.requests if r["path"].endswith("/ApprovalRequests")]

    def test_waits_for_approval_then_goes(self):
        action = self._create_action()
        self._run_queue()
        waiting = self._messages(action, phone=OUTSIDER)
        self.assertEqual(waiting.state, "queued")
        self.assertEqual(waiting.error_code, "template_not_approved")
        self.assertIn(CONTENT_SID, waiting.error_message)
        self.assertIn("Twilio", waiting.error_message)
        self.assertTrue(waiting.next_attempt)
        self.assertFalse(self.transport.sends)
        # Still pending at Twilio: it keeps waiting, the status is shown.
        self.transport.approvals[CONTENT_SID] = "pending"
        self.urgent_template.action_sync_from_twilio()
        self.assertEqual(self.urgent_template.twilio_approval_status, "pending")
        (request,) = self._approval_requests()
        self.assertEqual(request["method"], "GET")
        self.assertEqual(
            request["url"], f"https://content.twilio.com/v1/Content/{CONTENT_SID}/ApprovalRequests"
        )
        self._make_due(waiting)
        self._run_queue()
        self.assertEqual(waiting.state, "queued")
        self.assertIn("pending", waiting.error_message)
        self.assertFalse(self.transport.sends)
        # Approved: the hourly sync releases it at once.
        self.transport.approvals[CONTENT_SID] = "approved"
        self.env["ofitec.whatsapp.template"]._cron_sync_from_twilio()
        self.assertTrue(self.urgent_template._is_approved_at_twilio())
        self.assertFalse(waiting.next_attempt)
        self.assertFalse(waiting.error_code)
        self._run_queue()
        self.assertEqual(waiting.state, "sent")
        (form,) = self.transport.sent_to(OUTSIDER)
        self.assertEqual(form["ContentSid"], CONTENT_SID)

    def test_another_content_sid_or_none_forgets_the_approval(self):
        """What Twilio said of a Content does not hold for another one: clearing the
        SID leaves the template as if never submitted; another SID too, and the
        hourly sync runs now to read it. Saving the same SID keeps everything."""
        template = self.urgent_template
        approved = {
            "twilio_approval_status": "approved",
            "twilio_rejection_reason": "Old reason",
            "twilio_error": "Old error",
            "twilio_synced_at": fields.Datetime.now(),
        }
        never = dict.fromkeys(approved, False)
        fields_read = list(approved)
        Trigger = self.env["ir.cron.trigger"].sudo()
        cron = self.env.ref(TEMPLATE_SYNC_CRONS["twilio"])
        Trigger.search([("cron_id", "=", cron.id)]).unlink()
        template.write(approved)
        template.write({"twilio_content_sid": f" {CONTENT_SID} "})  # the same SID
        self.assertEqual(template.read(fields_read)[0], dict(approved, id=template.id))
        template.twilio_content_sid = False
        self.assertEqual(template.read(fields_read)[0], dict(never, id=template.id))
        self.assertFalse(template._is_approved_for("twilio"))
        self.assertFalse(Trigger.search([("cron_id", "=", cron.id)]), "nothing to read")
        template.write(approved)
        template.twilio_content_sid = QUICK_REPLY_SID
        self.assertEqual(template.read(fields_read)[0], dict(never, id=template.id))
        self.assertTrue(Trigger.search([("cron_id", "=", cron.id)]), "read from Twilio now")
        # That sync reads the new Content's approval.
        self.transport.approvals[QUICK_REPLY_SID] = "approved"
        self.env["ofitec.whatsapp.template"]._cron_sync_from_twilio()
        self.assertEqual(template.twilio_approval_status, "approved")
        self.assertEqual(
            [r["path"].split("/")[3] for r in self._approval_requests()], [QUICK_REPLY_SID]
        )

    def test_unknown_status_is_kept_as_text_and_waits(self):
        self.transport.approvals[CONTENT_SID] = "Some_New_Status"
        self.urgent_template.action_sync_from_twilio()
        self.assertEqual(self.urgent_template.twilio_approval_status, "some_new_status")
        action = self._create_action()
        self._run_queue()
        self.assertEqual(self._messages(action, phone=OUTSIDER).error_code, "template_not_approved")
        self.assertFalse(self.transport.sends)

    def test_rejection_reason_and_errors_are_shown(self):
        self.transport.approvals[CONTENT_SID] = ("rejected", "Variables at the edges")
        self.urgent_template.action_sync_from_twilio()
        self.assertEqual(self.urgent_template.twilio_approval_status, "rejected")
        self.assertEqual(self.urgent_template.twilio_rejection_reason, "Variables at the edges")
        self.transport.approval_errors.append(twilio_error(404, 20404, "Content not found"))
        self.urgent_template.action_sync_from_twilio()
        self.assertIn("Content not found", self.urgent_template.twilio_error)
        self.assertEqual(self.urgent_template.twilio_approval_status, "rejected", "unchanged")
        self.assertFalse(self.twilio_config.sending_paused)

    def test_refused_credentials_pause_the_number(self):
        self.transport.approval_errors.append(twilio_error(401, 20003, "Authenticate"))
        self.env["ofitec.whatsapp.template"]._cron_sync_from_twilio()
        self.assertTrue(self.twilio_config.sending_paused)
        self.assertIn("Authenticate", self.urgent_template.twilio_error)

    def test_cron_leaves_numbers_in_test_mode_alone_until_they_leave_it(self):
        self.transport.approvals[CONTENT_SID] = "approved"
        self.twilio_config.test_mode = True
        self.env["ofitec.whatsapp.template"]._cron_sync_from_twilio()
        self.assertFalse(self._approval_requests())
        self.assertFalse(self.urgent_template.twilio_approval_status)
        # Leaving test mode makes the hourly read due at once; it then reads.
        cron = self.env.ref("ofitec_whatsapp.ir_cron_whatsapp_sync_twilio_approvals")
        triggers = self.env["ir.cron.trigger"].sudo()
        before = triggers.search_count([("cron_id", "=", cron.id)])
        self.twilio_config.test_mode = False
        self.assertEqual(triggers.search_count([("cron_id", "=", cron.id)]), before + 1)
        self.env["ofitec.whatsapp.template"]._cron_sync_from_twilio()
        self.assertTrue(self.urgent_template._is_approved_at_twilio())

    def test_inside_the_window_no_approval_is_needed(self):
        self._open_window(OUTSIDER, config=self.twilio_config)
        action = self._create_action()
        self._run_queue()
        self.assertEqual(self._messages(action, phone=OUTSIDER).state, "sent")
        (form,) = self.transport.sent_to(OUTSIDER)
        self.assertIn("Body", form)

    def test_meta_approval_does_not_count_for_twilio(self):
        self.assertEqual(self.urgent_template.meta_status, "APPROVED")
        self.assertTrue(self.urgent_template._is_approved_for("meta"))
        self.assertFalse(self.urgent_template._is_approved_for("twilio"))
        self.urgent_template.twilio_approval_status = "approved"
        self.assertTrue(self.urgent_template._is_approved_for("twilio"))
