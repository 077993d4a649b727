"""An action is completed: the other people it was notified to are told, once each."""

from unittest.mock import patch

import psycopg2

from odoo.tools import mute_logger

from ..tools.commands import make_button_payload
from .test_replies import (
    ANSWER_COMPLETED,
    ASSIGNEE,
    CONTRACTOR,
    MANAGER,
    MANAGER_WA,
    ReplyCase,
)

ASSIGNEE_WA = ASSIGNEE.lstrip("+")


class TestActionCompleted(ReplyCase):
    def _notices(self, action, number=None):
        domain = {
            "template_id": self.env.ref(
                "ofitec_whatsapp.ofitec_whatsapp_template_action_completed"
            ).id
        }
        if number:
            domain["phone"] = number
        return self._messages(action, direction="outbound", **domain)

    def test_whatsapp_completion_tells_the_others_once(self):
        contractor = self.env["res.partner"].create(
            {"name": "Carla Contratista", "mobile": CONTRACTOR}
        )
        action = self._notify(whatsapp_recipient_ids=[(6, 0, contractor.ids)])
        self._write(MANAGER_WA, "COMPLETADO")
        self.assertEqual(action.status, "completed")
        # The manager gets the answer to their reply, not the notice as well.
        self.assertFalse(self._notices(action, MANAGER))
        self.assertEqual(self._answers(MANAGER).body, ANSWER_COMPLETED)
        for number, name in ((ASSIGNEE, "Andrés Asignado"), (CONTRACTOR, "Carla Contratista")):
            notice = self._notices(action, number)
            self.assertEqual(len(notice), 1, number)
            self.assertEqual(notice.state, "queued")
            self.assertIn("fue completada", notice.body)
            self.assertIn(name, notice.body)
        # Queued in the transaction that completed the action; sent by the queue. The
        # window with the assignee is closed: the approved template goes.
        self.assertFalse(self.gateway.sent_to(ASSIGNEE)[1:])
        self._run_queue()
        self.assertEqual(self._notices(action, ASSIGNEE).state, "sent")
        last = self.gateway.sent_to(ASSIGNEE)[-1]
        self.assertEqual(last["kind"], "template")
        self.assertEqual(last["name"], "ofitec_action_completed")
        self.assertEqual(
            last["params"],
            ["Andrés Asignado", "Revisar hormigonado losa piso 3", "Edificio Los Robles"],
        )
        self.assertEqual(last["button_payloads"], [])
        # Reopened and completed again (by the form): nobody is told a second time.
        action.action_start_progress()
        action.action_mark_completed()
        action.write({"status": "completed"})
        self.assertEqual(len(self._notices(action)), 2)
        self.assertFalse(self._notices(action, MANAGER))

    def test_completed_in_the_form_tells_everyone_but_the_user(self):
        action = self._notify()
        action.with_user(self.user_assignee).action_mark_completed()
        self.assertFalse(self._notices(action, ASSIGNEE))
        self.assertEqual(len(self._notices(action, MANAGER)), 1)
        # Inside the window the text goes as it is.
        self._open_window(MANAGER)
        self._run_queue()
        last = self.gateway.sent_to(MANAGER)[-1]
        self.assertEqual(last["kind"], "text")
        self.assertIn("*Revisar hormigonado losa piso 3*", last["body"])

    def test_completed_by_a_third_party_tells_both(self):
        action = self._notify()
        action.write({"status": "completed"})
        self.assertEqual(len(self._notices(action, MANAGER)), 1)
        self.assertEqual(len(self._notices(action, ASSIGNEE)), 1)
        # completed → cancelled → completed: still once each.
        action.write({"status": "cancelled"})
        action.write({"status": "completed"})
        self.assertEqual(len(self._notices(action)), 2)

    def test_switched_off_nobody_is_told(self):
        self.config.notify_action_completed = False
        action = self._notify()
        self._write(MANAGER_WA, "COMPLETADO")
        self.assertEqual(action.status, "completed")
        self.assertFalse(self._notices(action))
        self.assertEqual(self._answers(MANAGER).body, ANSWER_COMPLETED)

    def test_only_people_it_was_notified_to(self):
        # Not an urgent action: nothing was sent, so nobody is told it is done.
        action = self._create_action(priority="3")
        self.assertFalse(self._messages(action))
        action.write({"status": "completed"})
        self.assertFalse(self._messages(action))
        # A cancelled notification (opted out, no number) does not count either.
        self.user_assignee.partner_id.mobile = False
        action = self._create_action()
        self._run_queue()
        self.assertEqual(self._messages(action, phone=False).state, "cancelled")
        action.write({"status": "completed"})
        self.assertEqual(self._notices(action).mapped("phone"), [MANAGER])

    def test_template_not_approved_waits_like_any_message(self):
        template = self.env.ref("ofitec_whatsapp.ofitec_whatsapp_template_action_completed")
        action = self._notify()
        template.meta_status = "PENDING"
        self._write(MANAGER_WA, "COMPLETADO")
        self._run_queue()
        notice = self._notices(action, ASSIGNEE)
        self.assertEqual(notice.state, "queued")
        self.assertEqual(notice.error_code, "template_not_approved")
        self.assertIn("ofitec_action_completed", notice.error_message)
        self.assertEqual(len(self.gateway.sent_to(ASSIGNEE)), 1, "only the notification")
        template._set_meta_status("APPROVED")
        self._run_queue()
        self.assertEqual(notice.state, "sent")

    def test_the_completer_by_button_is_not_told_twice(self):
        action = self._notify()
        self._write(ASSIGNEE_WA, payload=make_button_payload(action.id, "completed"))
        self.assertEqual(action.status, "completed")
        self.assertFalse(self._notices(action, ASSIGNEE))
        self.assertEqual(len(self._notices(action, MANAGER)), 1)
        # The same COMPLETADO again: "already completed", and still nobody told twice.
        self._write(ASSIGNEE_WA, "COMPLETADO")
        action.write({"status": "in_progress"})
        action.write({"status": "completed"})
        self.assertFalse(self._notices(action, ASSIGNEE))
        self.assertEqual(len(self._notices(action, MANAGER)), 1)

    def test_once_is_kept_by_the_database(self):
        action = self._notify()
        action.write({"status": "completed"})
        notice = self._notices(action, MANAGER)
        self.assertTrue(notice.once_key)
        with (
            mute_logger("odoo.sql_db"),
            self.assertRaises(psycopg2.IntegrityError),
            self.env.cr.savepoint(),
        ):
            notice.copy({"once_key": notice.once_key})
        # Queued by another worker after our look (a race): skipped, not an error.
        vals = dict(notice.copy_data()[0], once_key=notice.once_key)
        Message = type(self.Message)
        with (
            patch.object(Message, "_used_once_keys", lambda self, keys: set()),
            mute_logger(
                "odoo.sql_db", "odoo.addons.ofitec_whatsapp.models.ofitec_whatsapp_message_once"
            ),
        ):
            self.assertFalse(self.Message._create_once([vals]))
        self.assertEqual(len(self._notices(action)), 2)
