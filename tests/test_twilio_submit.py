"""Submit to Twilio: a template's Content is created and submitted for WhatsApp
approval from Odoo (spec B9), and what is then sent lines up with it."""

import json

from odoo.exceptions import UserError

from .common import WhatsAppCase
from .twilio_common import CONTENT_SID, TwilioMixin, twilio_error

OUTSIDER = "+56922222222"  # the assignee; nobody wrote from this number


class TestTwilioSubmit(TwilioMixin, WhatsAppCase):
    def setUp(self):
        super().setUp()
        self.transport = self.enterContext(self.mock_twilio())
        self.welcome = self.env.ref("ofitec_whatsapp.ofitec_whatsapp_template_welcome")
        self.user_manager.partner_id.mobile = False  # one recipient: the assignee

    def _posts(self, suffix):
        return [
            r
            for r in self.transport.requests
            if r["method"] == "POST" and r["path"].endswith(suffix)
        ]

    def test_submitted_content_is_what_the_queue_then_sends(self):
        template = self.urgent_template
        template.write({"twilio_content_sid": False, "twilio_approval_status": False})
        self.assertFalse(template.twilio_account_missing)
        template.action_submit_to_twilio()
        (sid,) = self.transport.contents
        self.assertEqual(template.twilio_content_sid, sid)
        self.assertEqual(template.twilio_approval_status, "received")
        self.assertFalse(template.twilio_error)
        content = self.transport.contents[sid]
        self.assertEqual(content["friendly_name"], "ofitec_urgent_action")
        self.assertEqual(content["language"], "es")
        quick = content["types"]["twilio/quick-reply"]
        self.assertTrue(
            quick["body"].startswith("Hola {{1}}, hay una acción urgente en el proyecto {{2}}")
        )
        self.assertEqual([a["id"] for a in quick["actions"]], ["{{7}}", "{{8}}", "{{9}}"])
        self.assertEqual([a["title"] for a in quick["actions"]], ["OK", "COMPLETADO", "CANCELAR"])
        self.assertEqual(len(content["variables"]), 9)
        (submit,) = self._posts("/ApprovalRequests/whatsapp")
        self.assertEqual(submit["json"]["name"], "ofitec_urgent_action")
        self.assertEqual(submit["json"]["category"], "UTILITY")
        # Not approved yet: the alert waits; WhatsApp approves: it goes, with the new
        # Content and the buttons' payloads in the variables after the parameters.
        action = self._create_action()
        self._run_queue()
        waiting = self._messages(action, phone=OUTSIDER)
        self.assertEqual(waiting.error_code, "template_not_approved")
        self.assertFalse(self.transport.sends)
        self.transport.approvals[sid] = "approved"
        template.action_sync_from_twilio()
        self._run_queue()
        self.assertEqual(waiting.state, "sent")
        (form,) = self.transport.sent_to(OUTSIDER)
        self.assertEqual(form["ContentSid"], sid)
        variables = json.loads(form["ContentVariables"])
        self.assertEqual(sorted(variables, key=int), [str(i) for i in range(1, 10)])
        self.assertEqual(variables["7"], f"ofitec:{action.id}:ok")
        self.assertEqual(variables["9"], f"ofitec:{action.id}:cancel")

    def test_a_plain_template_becomes_twilio_text(self):
        self.welcome.action_submit_to_twilio()
        (content,) = self.transport.contents.values()
        self.assertEqual(content["friendly_name"], "ofitec_welcome")
        body = content["types"]["twilio/text"]["body"]
        self.assertIn("¡Hola {{1}}!", body)
        self.assertNotIn("recipient_name", body)
        self.assertEqual(content["variables"], {"1": "María González"})

    def test_submitted_once_and_a_rejected_content_is_replaced(self):
        self.welcome.action_submit_to_twilio()
        first = self.welcome.twilio_content_sid
        with self.assertRaises(UserError):
            self.welcome.action_submit_to_twilio()
        self.assertEqual(len(self.transport.contents), 1)
        self.transport.approvals[first] = ("rejected", "Variable at the start")
        self.welcome.action_sync_from_twilio()
        self.assertEqual(self.welcome.twilio_rejection_reason, "Variable at the start")
        self.welcome.action_submit_to_twilio()  # its text cannot change: a new Content
        self.assertEqual(len(self.transport.contents), 2)
        self.assertNotEqual(self.welcome.twilio_content_sid, first)
        self.assertEqual(self.welcome.twilio_approval_status, "received")
        self.assertFalse(self.welcome.twilio_rejection_reason)

    def test_a_content_typed_in_is_submitted_as_it_is(self):
        self.urgent_template.twilio_approval_status = False  # created in Twilio's console
        self.urgent_template.action_submit_to_twilio()
        self.assertFalse(self._posts("/v1/Content"), "no new Content")
        (submit,) = self._posts("/ApprovalRequests/whatsapp")
        self.assertIn(CONTENT_SID, submit["url"])
        self.assertEqual(self.urgent_template.twilio_approval_status, "received")

    def test_refusals_are_shown_and_nothing_else_changes(self):
        self.urgent_template.twilio_approval_status = False
        self.transport.content_errors.append(twilio_error(400, 20001, "Invalid category"))
        self.urgent_template.action_submit_to_twilio()
        self.assertIn("Invalid category", self.urgent_template.twilio_error)
        self.assertEqual(self.urgent_template.twilio_content_sid, CONTENT_SID)
        self.assertFalse(self.urgent_template.twilio_approval_status)
        self.assertFalse(self.twilio_config.sending_paused)
        # Refused credentials pause the number, as a refused send does.
        self.transport.content_errors.append(twilio_error(401, 20003, "Authenticate"))
        self.welcome.action_submit_to_twilio()
        self.assertIn("Authenticate", self.welcome.twilio_error)
        self.assertFalse(self.welcome.twilio_content_sid)
        self.assertTrue(self.twilio_config.sending_paused)
        self.assertNotIn(self.twilio_config.twilio_auth_token, self.welcome.twilio_error)

    def test_what_cannot_be_submitted_says_why_and_sends_nothing(self):
        self.welcome.meta_template_name = False
        with self.assertRaisesRegex(UserError, "cannot be submitted"):
            self.welcome.action_submit_to_twilio()
        self.welcome.meta_template_name = "ofitec_welcome"
        self.twilio_config.active = False
        self.welcome.invalidate_recordset(["twilio_account_missing"])
        self.assertTrue(self.welcome.twilio_account_missing)
        with self.assertRaises(UserError):
            self.welcome.action_submit_to_twilio()
        self.assertFalse(self.transport.requests)

    def test_a_template_reusing_another_ones_is_never_submitted(self):
        reminder = self.env.ref("ofitec_whatsapp.ofitec_whatsapp_template_action_reminder")
        self.assertEqual(reminder.meta_template_name, self.urgent_template.meta_template_name)
        reminder.twilio_content_sid = False
        for submit in (reminder.action_submit_to_twilio, reminder.action_submit_to_meta):
            with self.assertRaisesRegex(UserError, "reuses the approved template"):
                submit()
        self.assertFalse(self.transport.requests)
        self.urgent_template.twilio_approval_status = False
        self.urgent_template.action_submit_to_twilio()  # the first of that name submits
        self.assertEqual(self.urgent_template.twilio_approval_status, "received")
