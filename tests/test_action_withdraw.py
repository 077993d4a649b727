"""An action closed while its alert still waits in the queue: the alert is withdrawn,
with the reason, and nobody is told "completed" about an alert they never got. A
message a sender holds is never touched."""

from odoo.tests import tagged

from ..models import ofitec_whatsapp_message_send as send_module
from .common import claim_held, meta_error
from .test_outbound_queue import ASSIGNEE, MANAGER, ConcurrencyCase, QueueCase

WITHDRAWN = "withdrawn"


class WithdrawMixin:
    def _notices(self, action):
        completed = self.env.ref("ofitec_whatsapp.ofitec_whatsapp_template_action_completed")
        return self._messages(action, template_id=completed.id)

    def _alerts(self, action):
        urgent = self.env.ref("ofitec_whatsapp.ofitec_whatsapp_template_urgent_action")
        return self._messages(action, template_id=urgent.id)

    def _problem_activities(self, action):
        return self.env["mail.activity"].search(
            [
                ("res_model", "=", "ofitec.next.action"),
                ("res_id", "=", action.id),
                (
                    "activity_type_id",
                    "=",
                    self.env.ref("ofitec_whatsapp.mail_activity_type_whatsapp_problem").id,
                ),
            ]
        )


@tagged("post_install", "-at_install")
class TestWithdraw(WithdrawMixin, QueueCase):
    def test_alert_waiting_on_a_paused_number_is_withdrawn(self):
        action = self._create_action()
        self.config._pause_sending("Error validating access token (190)")
        alerts = self._alerts(action)
        self.assertEqual(alerts.mapped("state"), ["queued", "queued"])
        activities = self._problem_activities(action)  # the pause is reported
        action.action_mark_completed()
        self.assertEqual(alerts.mapped("state"), ["cancelled", "cancelled"])
        self.assertEqual(set(alerts.mapped("error_code")), {WITHDRAWN})
        self.assertIn("the action was completed before", alerts[0].error_message)
        # Nobody got the alert: nobody is told it is completed.
        self.assertFalse(self._notices(action))
        # Said in the history, as a note; nothing for anyone to do, nor a problem.
        notes = [b for b in action.message_ids.mapped("body") if "Withdrawn" in (b or "")]
        self.assertEqual(len(notes), 1, notes)  # one note names both
        self.assertIn("Paula Manager", notes[0])
        self.assertIn("Andrés Asignado", notes[0])
        self.assertEqual(self._problem_activities(action), activities)
        self.assertFalse(action.whatsapp_problem)
        # Once the number is back, nothing about this action goes out.
        self.config.write({"sending_paused": False})
        with self.mock_whatsapp_gateway() as gateway:
            self._run_queue()
        self.assertNoWhatsApp(gateway)

    def test_alert_waiting_for_its_template_is_withdrawn(self):
        self.template.meta_status = "PENDING"
        action = self._create_action()
        with self.mock_whatsapp_gateway() as gateway:
            self._run_queue()
            alerts = self._alerts(action)
            self.assertEqual(set(alerts.mapped("error_code")), {"template_not_approved"})
            action.action_cancel()
            self.assertEqual(alerts.mapped("state"), ["cancelled", "cancelled"])
            self.assertIn("the action was cancelled before", alerts[0].error_message)
            self.template._set_meta_status("APPROVED")
            self._run_queue()
        self.assertNoWhatsApp(gateway)

    def test_completed_goes_only_to_who_got_the_alert(self):
        action = self._create_action()
        with self.mock_whatsapp_gateway() as gateway:
            self.assertEqual(self._run_queue(limit=1), 1)
            (sent,) = self._alerts(action).filtered(lambda m: m.state == "sent")
            (waiting,) = self._alerts(action) - sent
            action.action_mark_completed()
            self.assertEqual(waiting.state, "cancelled")
            self.assertEqual(waiting.error_code, WITHDRAWN)
            self.assertEqual(self._notices(action).mapped("phone"), [sent.phone])
            self._run_queue()
        self.assertEqual(len(gateway.sent_to(sent.phone)), 2)  # the alert, then "completed"
        self.assertFalse(gateway.sent_to(waiting.phone))

    def test_queued_reminder_is_withdrawn(self):
        action = self._create_action(priority="3")
        action.action_send_whatsapp_reminder()
        reminders = self._messages(action)
        self.assertEqual(reminders.mapped("state"), ["queued", "queued"])
        action.action_cancel()
        self.assertEqual(reminders.mapped("state"), ["cancelled", "cancelled"])
        self.assertEqual(set(reminders.mapped("error_code")), {WITHDRAWN})

    def test_a_message_being_sent_is_left_to_its_sender(self):
        """Claimed and prepared (its lease committed, the HTTP call under way) when the
        action is completed: it is sent and recorded as sent, and its recipient is told
        "completed" afterwards."""
        action = self._create_action()
        Message = self.env["ofitec.whatsapp.message"].sudo()
        with self.mock_whatsapp_gateway() as gateway:
            held = claim_held(Message)
            step = held._prepare_send({})
            self.assertTrue(step)
            action.action_mark_completed()
            (other,) = self._alerts(action) - held
            self.assertEqual(held.state, "queued")
            self.assertEqual(other.state, "cancelled")
            # Its fate is not known yet: nobody is told "completed" for now.
            self.assertFalse(self._notices(action))
            held._finish_send(step, send_module._call(step))
            self.assertEqual(held.state, "sent")
            self.assertEqual(self._notices(action).mapped("phone"), [held.phone])
            self._run_queue()
        self.assertEqual(len(gateway.sent_to(held.phone)), 2)
        self.assertFalse(gateway.sent_to(other.phone))

    def test_an_alert_waiting_to_retry_is_withdrawn_when_claimed(self):
        """A short retry wait looks like a sender's lease: it is left alone when the
        action is completed, and withdrawn (not sent) when the queue claims it."""
        action = self._create_action()
        with self.mock_whatsapp_gateway() as gateway:
            gateway.fail(MANAGER, meta_error(131000, "Something went wrong", http_status=500))
            self._run_queue()
            (retrying,) = self._alerts(action).filtered(lambda m: m.state == "queued")
            self.assertEqual(retrying.phone, MANAGER)
            action.action_mark_completed()
            self.assertEqual(retrying.state, "queued")
            self._make_due(retrying)
            self._run_queue()
        self.assertEqual(retrying.state, "cancelled")
        self.assertEqual(retrying.error_code, WITHDRAWN)
        self.assertFalse(gateway.sent_to(MANAGER))
        self.assertEqual(len(gateway.sent_to(ASSIGNEE)), 2)  # the alert, then "completed"


@tagged("post_install", "-at_install")
class TestWithdrawConcurrency(WithdrawMixin, ConcurrencyCase):
    def test_a_row_a_sender_is_claiming_is_skipped(self):
        """Worker A claims an alert (row locked, claim not committed) while B completes
        the action: B does not wait for A, leaves A's alert alone and withdraws the
        other one."""
        urgent = self.env.ref("ofitec_whatsapp.ofitec_whatsapp_template_urgent_action")
        action_id = self._commit_action("Withdraw concurrency action")
        ids = self._commit_messages(["+56991120001", "+56991120002"])
        with self._cursor() as cr:
            cr.execute(
                "UPDATE ofitec_whatsapp_message SET next_action_id = %s, template_id = %s"
                " WHERE id IN %s",
                (action_id, urgent.id, tuple(ids)),
            )
        with self._two_workers() as (cr_a, cr_b):
            cr_b.execute("SET lock_timeout = '5s'")
            held = claim_held(self._env(cr_a)["ofitec.whatsapp.message"])
            self.assertEqual(held.id, ids[0])
            self._env(cr_b)["ofitec.next.action"].browse(action_id).action_mark_completed()
            cr_b.commit()
            cr_a.rollback()
        states = self._committed_states(ids)
        self.assertEqual(states, {ids[0]: "queued", ids[1]: "cancelled"})
        with self._cursor() as cr:
            cr.execute("SELECT error_code FROM ofitec_whatsapp_message WHERE id = %s", (ids[1],))
            self.assertEqual(cr.fetchone()[0], WITHDRAWN)
