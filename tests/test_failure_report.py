"""A failure reaches a person; success messages say what really happened."""

import json
from unittest.mock import patch

from odoo.tests import tagged
from odoo.tools import mute_logger

from ..tools.errors import PermanentError
from .common import WhatsAppCase, meta_error, meta_payload, meta_status

MANAGER = "+56911111111"
ASSIGNEE = "+56922222222"


def _notes(action):
    return [body for body in action.message_ids.mapped("body") if body]


class ReportCase(WhatsAppCase):
    def _activities(self, action):
        return self.env["mail.activity"].search(
            [("res_model", "=", "ofitec.next.action"), ("res_id", "=", action.id)]
        )


@tagged("post_install", "-at_install")
class TestFailureReachesAPerson(ReportCase):
    def test_failed_send_is_noted_with_who_and_why(self):
        action = self._create_action()
        # Nothing is noted while the outcome is unknown.
        self.assertFalse([n for n in _notes(action) if "WhatsApp" in n])
        with self.mock_whatsapp_gateway() as gateway:
            gateway.fail(MANAGER, PermanentError("Message undeliverable", code=131026))
            self._run_queue()
        notes = _notes(action)
        failed = [n for n in notes if "No WhatsApp message for" in n]
        self.assertEqual(len(failed), 1, notes)
        self.assertIn(f"Paula Manager ({MANAGER})", failed[0])
        self.assertIn("131026", failed[0])
        self.assertIn("Message undeliverable", failed[0])
        # The other recipient's send is logged once its outcome is known.
        sent = [n for n in notes if "WhatsApp notification sent to" in n]
        self.assertEqual(len(sent), 1, notes)
        self.assertIn(f"Andrés Asignado ({ASSIGNEE})", sent[0])
        # The responsible user (the assignee) gets an activity saying why.
        activity = self._activities(action)
        self.assertEqual(len(activity), 1)
        self.assertEqual(activity.user_id, self.user_assignee)
        self.assertIn("131026", activity.note)
        # The dashboard's warning names who and why.
        self.assertIn("Paula Manager", action.whatsapp_problem)
        self.assertIn("131026", action.whatsapp_problem)
        self.assertNotIn("Andrés", action.whatsapp_problem)

    def test_a_second_failure_adds_a_note_not_a_second_activity(self):
        action = self._create_action()
        with self.mock_whatsapp_gateway() as gateway:
            gateway.fail(MANAGER, PermanentError("Undeliverable", code=131026))
            gateway.fail(MANAGER, PermanentError("Undeliverable", code=131026))
            self._run_queue()
            action.action_send_whatsapp_reminder()
            self._run_queue()
        failed = [n for n in _notes(action) if "No WhatsApp message for" in n]
        self.assertEqual(len(failed), 2)
        activity = self._activities(action)
        self.assertEqual(len(activity), 1)
        self.assertEqual(
            activity.activity_type_id,
            self.env.ref("ofitec_whatsapp.mail_activity_type_whatsapp_problem"),
        )
        # The responsible user changes language: still one activity, not one per language.
        self.user_assignee.lang = "fr_FR" if self.env["res.lang"]._lang_get("fr_FR") else "en_US"
        with self.mock_whatsapp_gateway() as gateway:
            gateway.fail(MANAGER, PermanentError("Undeliverable", code=131026))
            action.action_send_whatsapp_reminder()
            self._run_queue()
        self.assertEqual(len(self._activities(action)), 1)

    def test_a_later_success_clears_the_warning(self):
        action = self._create_action()
        with self.mock_whatsapp_gateway() as gateway:
            gateway.fail(MANAGER, PermanentError("Undeliverable", code=131026))
            self._run_queue()
            self.assertTrue(action.whatsapp_problem)
            action.action_send_whatsapp_reminder()
            self._run_queue()
        action.invalidate_recordset(["whatsapp_problem"])
        self.assertFalse(action.whatsapp_problem)
        self.assertTrue([n for n in _notes(action) if "WhatsApp reminder sent to" in n])

    def test_a_paused_number_is_reported_on_the_action(self):
        action = self._create_action()
        with self.mock_whatsapp_gateway() as gateway:
            gateway.fail(MANAGER, meta_error(190, "Access token has expired", http_status=401))
            self._run_queue()
        self.assertTrue(self.config.sending_paused)
        waiting = [n for n in _notes(action) if "waits: the number Test number is paused" in n]
        self.assertTrue(waiting, _notes(action))
        self.assertIn("Access token has expired", waiting[0])
        self.assertIn("waiting, the number Test number is paused", action.whatsapp_problem)
        self.assertEqual(len(self._activities(action)), 1)

    def test_in_test_mode_only_the_allowlisted_person_waits_on_a_paused_number(self):
        """A paused number in test mode: its test messages need no token, so only the
        person on its allow-list is told to wait, and the others get theirs."""
        self.config.write({"test_mode": True, "test_allowlist": MANAGER})
        action = self._create_action()  # both queued, nothing run yet
        self.config.sudo()._pause_sending("(#190) Access token has expired")
        waiting = [n for n in _notes(action) if "waits: the number Test number is paused" in n]
        self.assertEqual(len(waiting), 1, _notes(action))
        self.assertIn("Paula Manager", waiting[0])
        action.invalidate_recordset(["whatsapp_problem"])
        self.assertIn("Paula Manager", action.whatsapp_problem)
        self.assertNotIn("Andrés", action.whatsapp_problem)
        with self.mock_whatsapp_gateway() as gateway:
            self._run_queue()
        self.assertFalse(gateway.sent_to(MANAGER) or gateway.sent_to(ASSIGNEE))
        states = {m.phone: (m.state, m.is_test) for m in self._messages(action)}
        self.assertEqual(states, {MANAGER: ("queued", False), ASSIGNEE: ("sent", True)})

    def test_recipient_without_number(self):
        self.user_assignee.partner_id.mobile = False
        action = self._create_action()
        notes = [n for n in _notes(action) if "No WhatsApp message for" in n]
        self.assertEqual(len(notes), 1)
        self.assertIn("Andrés Asignado", notes[0])
        self.assertIn("no usable mobile or phone number", notes[0])
        self.assertEqual(self._activities(action).user_id, self.user_assignee)
        self.assertIn("Andrés Asignado", action.whatsapp_problem)

    def test_failed_status_from_meta(self):
        action = self._create_action()
        with self.mock_whatsapp_gateway():
            self._run_queue()
        message = self._messages(action, phone=MANAGER)
        self._receive(
            meta_payload(
                statuses=[
                    meta_status(
                        message.whatsapp_message_id,
                        "failed",
                        errors=[(131026, "Message undeliverable", "Not on WhatsApp")],
                    )
                ]
            )
        )
        self.assertEqual(message.state, "failed")
        failed = [n for n in _notes(action) if "No WhatsApp message for" in n]
        self.assertEqual(len(failed), 1)
        self.assertIn("Not on WhatsApp", failed[0])
        self.assertEqual(len(self._activities(action)), 1)


@tagged("post_install", "-at_install")
class TestTruthfulMessages(ReportCase):
    def test_reminder_to_an_opted_out_number_says_so(self):
        contact = self._open_window(MANAGER)
        contact.opted_out = True
        action = self._create_action()
        notification = action.action_send_whatsapp_reminder()["params"]
        self.assertEqual(notification["type"], "warning")
        self.assertIn("WhatsApp reminder queued for Andrés Asignado", notification["message"])
        self.assertIn("Not sent to Paula Manager", notification["message"])
        self.assertIn("opted out", notification["message"])
        reminder = self._messages(action, phone=MANAGER).filtered(
            lambda m: m.template_id.code == "action_reminder"
        )
        self.assertEqual(reminder.state, "cancelled")
        with self.mock_whatsapp_gateway() as gateway:
            self._run_queue()
        self.assertFalse(gateway.sent_to(MANAGER))

    def test_reminder_to_nobody_is_an_error(self):
        self.user_assignee.partner_id.mobile = False
        self.user_manager.partner_id.mobile = False
        action = self._create_action()
        notification = action.action_send_whatsapp_reminder()["params"]
        self.assertEqual(notification["type"], "danger")
        self.assertNotIn("queued", notification["message"])

    def test_reminder_to_an_action_without_people_says_so(self):
        project = self.env["project.project"].create({"name": "Sin jefe", "user_id": False})
        action = self._create_action(project_id=project.id, user_id=False)
        notification = action.action_send_whatsapp_reminder()["params"]
        self.assertEqual(notification["type"], "danger")
        self.assertIn("nobody to send a WhatsApp reminder to", notification["message"])

    def test_reminder_that_cannot_be_queued_says_why_and_keeps_the_action(self):
        action = self._create_action()
        Action = type(action)

        def broken(action, reason, template_code):
            action.env.cr.execute("SELECT 1/0")  # a database error: the savepoint holds it

        with (
            patch.object(Action, "_whatsapp_queue_one", broken),
            self.assertLogs("odoo.addons.ofitec_whatsapp.models.ofitec_next_action", "ERROR"),
            mute_logger("odoo.sql_db"),
        ):
            notification = action.action_send_whatsapp_reminder()["params"]
        self.assertEqual(notification["type"], "danger")
        self.assertIn(
            f"reminder of {action.display_name} could not be queued", notification["message"]
        )
        self.assertIn("division by zero", notification["message"])
        self.assertNotIn("nobody", notification["message"])
        self.assertFalse(
            self._messages(action).filtered(lambda m: m.template_id.code == "action_reminder")
        )
        # The transaction goes on: the action can still be changed and saved.
        action.write({"description": "Sigue en pie"})
        self.env.flush_all()
        self.assertEqual(action.description, "Sigue en pie")

    def test_reminder_says_it_is_one(self):
        action = self._create_action()
        with self.mock_whatsapp_gateway():
            self._run_queue()
        self._open_window(MANAGER)
        action.action_send_whatsapp_reminder()
        with self.mock_whatsapp_gateway() as gateway:
            self._run_queue()
        payload = gateway.sent_to(MANAGER)[-1]
        self.assertEqual(payload["kind"], "interactive")
        self.assertIn("Recordatorio", payload["body"])
        self.assertIn(f"Acción #{action.id}", payload["body"])

    def test_reminder_outside_the_window_says_it_is_one(self):
        """The approved template's fixed text cannot change: its title parameter says
        it is a reminder, on one line as Meta requires."""
        action = self._create_action(name="Revisar\thormigonado\nlosa")
        action.action_send_whatsapp_reminder()
        with self.mock_whatsapp_gateway() as gateway:
            self._run_queue()
        payload = gateway.sent_to(MANAGER)[-1]
        self.assertEqual(payload["kind"], "template")
        self.assertEqual(payload["name"], "ofitec_urgent_action")
        self.assertEqual(payload["params"][2], "🔔 Recordatorio: Revisar hormigonado losa")
        # The first notification is not one.
        first = gateway.sent_to(MANAGER)[0]
        self.assertEqual(first["params"][2], "Revisar hormigonado losa")

    def test_free_text_in_test_mode_outside_the_window(self):
        """A send in test mode is a send in test mode, window or not."""
        self.config.test_mode = True
        message = self.env["ofitec.whatsapp.message"].create(
            {
                "config_id": self.config.id,
                "phone": "+56933333333",
                "body": "Hola",
                "company_id": self.company.id,
            }
        )
        self._run_queue()
        self.assertEqual(message.state, "sent")
        self.assertTrue(message.is_test)
        self.assertFalse(message.error_message)

    def test_test_mode_notes_say_nothing_left(self):
        self.config.test_mode = True
        action = self._create_action()
        self._run_queue()
        sent = [n for n in _notes(action) if "WhatsApp notification sent to" in n]
        self.assertEqual(len(sent), 2)
        self.assertTrue(all("Test mode" in n for n in sent))

    def test_network_error_in_words(self):
        """A real client against a closed local port: the error names host and cause."""
        self.config.api_base_url = "http://127.0.0.1:9"
        result = self.config._test_connection()
        self.assertFalse(result["ok"])
        self.assertEqual(result["message"], "Could not reach Meta (127.0.0.1): connection refused")
        self.config.max_attempts = 1
        action = self._create_action()
        self._run_queue()
        message = self._messages(action, phone=MANAGER)
        self.assertEqual(message.state, "failed")
        self.assertEqual(
            message.error_message, "Could not reach Meta (127.0.0.1): connection refused"
        )


@tagged("post_install", "-at_install")
class TestMessageContent(ReportCase):
    def test_empty_values_leave_their_line_out(self):
        action = self._create_action(expected_benefits=False, deadline=False)
        body = self._messages(action, phone=MANAGER).body
        self.assertNotIn("Fecha límite", body)
        self.assertNotIn("Impacto estimado", body)
        self.assertNotIn("\n\n\n", body)
        self.assertIn("*Acción:* Revisar hormigonado losa piso 3", body)
        params = json.loads(self._messages(action, phone=MANAGER).template_params)
        self.assertEqual(params[-2:], ["sin definir", "sin definir"])
        self.assertNotIn("-", params)

    def test_long_texts_leave_room_for_the_instructions(self):
        """A long description is cut, not the end of the message: the reply
        instructions and the action's number fit Twilio's 1,600 characters."""
        action = self._create_action(
            description="Revisar armaduras. " * 200,
            expected_benefits="Evitar atrasos. " * 100,
            name="Revisión " * 60,
        )
        body = self._messages(action, phone=MANAGER).body
        self.assertLessEqual(len(body), 1600)
        self.assertIn("Responde *OK*", body)
        self.assertTrue(body.endswith(f"(Acción #{action.id})"), body[-80:])
        self.assertIn("…", body)
        self.assertEqual(len(action.description), 19 * 200, "the action keeps it whole")

    def test_preview_renders_whatsapp_formatting(self):
        template = self.env.ref("ofitec_whatsapp.ofitec_whatsapp_template_urgent_action")
        self.assertIn("<b>Acción urgente</b>", template.preview_html)
        template.body = "_cursiva_ y <script>x</script>"
        self.assertIn("<i>cursiva</i>", template.preview_html)
        self.assertNotIn("<script>", template.preview_html)


@tagged("post_install", "-at_install")
class TestSetUpHelp(ReportCase):
    def _assert_warnings(self, cases, absent=None):
        """``cases``: (web.base.url, a text the warning holds, or False for none)."""
        Param = self.env["ir.config_parameter"].sudo()
        for base, expected in cases:
            with self.subTest(base=base):
                Param.set_param("web.base.url", base)
                self.config.invalidate_recordset(["webhook_url", "webhook_url_warning"])
                warning = self.config.webhook_url_warning
                if not expected:
                    self.assertFalse(warning)
                    continue
                self.assertIn(expected, warning)
                if absent:
                    self.assertNotIn(absent, warning)

    def test_webhook_url_warning(self):
        self._assert_warnings(
            (
                ("http://localhost:8069", "private network"),
                ("http://192.168.1.20:8069", "private network"),
                ("http://odoo.ofitec.cl", "HTTPS"),
                ("https://odoo.ofitec.cl", False),
            )
        )

    def test_webhook_url_warning_names_the_provider(self):
        """A Twilio number is told about Twilio, which also calls plain http."""
        self.config.provider = "twilio"
        self._assert_warnings(
            (
                ("http://localhost:8069", "Twilio cannot call this Webhook URL"),
                ("http://odoo.ofitec.cl", False),
            ),
            absent="Meta",
        )
