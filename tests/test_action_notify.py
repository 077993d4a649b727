"""Saving an urgent action only marks it pending; a cron queues its notification."""

import threading
from contextlib import contextmanager
from unittest.mock import patch

import psycopg2.extensions

from odoo import SUPERUSER_ID, api, fields
from odoo.tests import tagged
from odoo.tools import mute_logger

from .common import WhatsAppCase

MANAGER = "+56911111111"
ASSIGNEE = "+56922222222"
NOTIFY_LOGGER = "odoo.addons.ofitec_whatsapp.models.ofitec_next_action_notify"


class NotifyCase(WhatsAppCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.notify_cron = cls.env.ref("ofitec_whatsapp.ir_cron_whatsapp_notify_actions")
        cls.send_cron = cls.env.ref("ofitec_whatsapp.ir_cron_whatsapp_send_queue")

    def _due_triggers(self, cron):
        return (
            self.env["ir.cron.trigger"]
            .sudo()
            .search_count([("cron_id", "=", cron.id), ("call_at", "<=", fields.Datetime.now())])
        )

    def _clear_triggers(self):
        crons = (self.notify_cron | self.send_cron).ids
        self.env["ir.cron.trigger"].sudo().search([("cron_id", "in", crons)]).unlink()


@tagged("post_install", "-at_install")
class TestPendingNotification(NotifyCase):
    def test_pending_shown_right_after_create(self):
        with self.mock_whatsapp_gateway() as gateway:
            action = self._create_action(notify=False)
            self.env.flush_all()
            self.assertEqual(action.whatsapp_notify_state, "pending")
            self.assertTrue(action.whatsapp_notified, "asked for once: no second one")
            self.assertFalse(self._messages(action), "recipients are resolved by the cron")
            self.assertFalse(gateway.clients)
            self.assertFalse(gateway.calls)
        # The list and the form show it, whatever views the customer's module has.
        Action = self.env["ofitec.next.action"]
        for view_type in ("tree", "form"):
            arch = Action.get_view(view_type=view_type)["arch"]
            self.assertIn('name="whatsapp_notify_state"', arch, view_type)
        # Read as the user who saved it (a plain internal user may see it).
        self.env.invalidate_all()
        self.assertEqual(
            action.with_user(self.user_assignee).read(["whatsapp_notify_state"])[0][
                "whatsapp_notify_state"
            ],
            "pending",
        )

    def test_not_urgent_is_not_pending(self):
        for vals in ({"priority": "3"}, {"status": "completed"}, {"whatsapp_enabled": False}):
            with self.subTest(**vals):
                action = self._create_action(notify=False, **vals)
                self.assertFalse(action.whatsapp_notify_state)
                self.assertFalse(action.whatsapp_notified)

    def test_cron_creates_the_messages(self):
        self._clear_triggers()
        action = self._create_action(notify=False)
        self.assertEqual(self._due_triggers(self.notify_cron), 1)
        self.assertEqual(self._due_triggers(self.send_cron), 0, "nothing to send yet")
        with self.mock_whatsapp_gateway() as gateway:
            self.assertEqual(self._run_notify(), 1)
            self.assertFalse(gateway.calls, "the notification cron only queues")
            messages = self._messages(action)
            self.assertEqual(sorted(messages.mapped("phone")), [MANAGER, ASSIGNEE])
            self.assertEqual(set(messages.mapped("state")), {"queued"})
            self.assertEqual(action.whatsapp_notify_state, "queued")
            self.assertEqual(self._due_triggers(self.send_cron), 1)
            self.assertEqual(self._run_notify(), 0, "prepared once")
            self._run_queue()
        self.assertWhatsAppSent(gateway, MANAGER)
        self.assertWhatsAppSent(gateway, ASSIGNEE)

    def test_escalation_on_write_is_pending_too(self):
        action = self._create_action(priority="3")
        self._clear_triggers()
        action.write({"priority": "2"})
        self.assertEqual(action.whatsapp_notify_state, "pending")
        self.assertEqual(self._due_triggers(self.notify_cron), 1)
        self.assertFalse(self._messages(action))
        self._run_notify()
        self.assertEqual(len(self._messages(action)), 2)

    def test_batch_create_wakes_the_cron_once(self):
        self._clear_triggers()
        Trigger = self.env["ir.cron.trigger"].sudo()
        with patch.object(type(Trigger), "create", side_effect=Trigger.create) as created:
            actions = self._create_actions(100)
        self.assertEqual(created.call_count, 1, "one trigger per create call, not per action")
        self.assertEqual(self._due_triggers(self.notify_cron), 1)
        self.assertEqual(set(actions.mapped("whatsapp_notify_state")), {"pending"})
        self.assertFalse(self._messages().filtered(lambda m: m.next_action_id in actions))
        self.assertEqual(self._run_notify(), 100)
        self.assertEqual(set(actions.mapped("whatsapp_notify_state")), {"queued"})
        messages = self.env["ofitec.whatsapp.message"].search(
            [("next_action_id", "in", actions.ids)]
        )
        self.assertEqual(len(messages), 200)

    def _create_actions(self, count, **vals):
        values = {
            "description": "-",
            "action_type": "urgent",
            "category": "risk",
            "priority": "1",
            "project_id": self.project.id,
            "user_id": self.user_assignee.id,
        }
        values.update(vals)
        return self.env["ofitec.next.action"].create(
            [dict(values, name=f"Acción en lote {i}") for i in range(count)]
        )

    def test_failure_of_one_does_not_block_the_others(self):
        first, broken, last = self._create_actions(3)
        Action = type(self.env["ofitec.next.action"])
        original = Action._get_whatsapp_recipients

        def flaky(action):
            if action.id == broken.id:
                # A database error, not only a Python one: the savepoint contains it.
                action.env.cr.execute("SELECT 1/0")
            return original(action)

        with patch.object(Action, "_get_whatsapp_recipients", flaky):
            with self.assertLogs(NOTIFY_LOGGER, "ERROR") as logs, mute_logger("odoo.sql_db"):
                self.assertEqual(self._run_notify(), 3)
        self.assertIn(f"could not queue messages for action {broken.id}", "\n".join(logs.output))
        self.assertEqual(len(self._messages(first)), 2)
        self.assertEqual(len(self._messages(last)), 2)
        self.assertFalse(self._messages(broken))
        self.assertEqual(broken.whatsapp_notify_state, "failed")
        self.assertIn("division by zero", broken.whatsapp_notify_error)
        self.assertIn("could not be prepared", broken.whatsapp_problem)
        self.assertFalse(broken.whatsapp_notified, "a later change may try again")
        # Once fixed, a later change of the action notifies it.
        broken.write({"priority": "2"})
        self.assertEqual(broken.whatsapp_notify_state, "pending")
        self._run_notify()
        self.assertEqual(len(self._messages(broken)), 2)
        self.assertEqual(broken.whatsapp_notify_state, "queued")
        self.assertFalse(broken.whatsapp_notify_error)

    def test_changed_before_the_cron_runs(self):
        """Completed (or no longer urgent) before the cron ran: nothing is sent, and a
        later escalation still notifies."""
        action = self._create_action(notify=False)
        action.action_mark_completed()
        self._run_notify()
        self.assertFalse(self._messages(action))
        self.assertFalse(action.whatsapp_notify_state)
        self.assertFalse(action.whatsapp_notified)
        action.write({"status": "pending"})
        self._run_notify()
        self.assertEqual(len(self._messages(action)), 2)

    def test_create_transaction_makes_no_http_call(self):
        """The fake transport sees no request until the send cron runs; the real
        network is never reached (the kill-switch would raise)."""
        with self.mock_whatsapp_gateway() as gateway:
            self._create_actions(5)
            self._create_action(notify=False, name="Una más")
            self.env.flush_all()
            self.assertFalse(gateway.calls)
            self.assertFalse(gateway.clients)
            self._run_notify()
            self.assertFalse(gateway.calls)
            self._run_queue()
        self.assertEqual(len(gateway.sent), 12)


@tagged("post_install", "-at_install")
class TestNotifyConcurrency(NotifyCase):
    """Two cron workers, two real transactions: each action is prepared once."""

    def setUp(self):
        super().setUp()
        with self._cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            actions = (
                env["ofitec.next.action"]
                .with_context(tracking_disable=True, mail_create_nosubscribe=True)
                .create(
                    [
                        {
                            "name": f"Acción concurrente {i}",
                            "description": "-",
                            "action_type": "urgent",
                            "category": "risk",
                            "priority": "1",
                            "company_id": self.company.id,
                            "user_id": False,
                        }
                        for i in range(2)
                    ]
                )
            )
            self.action_ids = actions.ids
        self.addCleanup(self._delete_committed)

    def _delete_committed(self):
        with self._cursor() as cr:
            ids = tuple(self.action_ids)
            cr.execute("DELETE FROM ofitec_whatsapp_message WHERE next_action_id IN %s", (ids,))
            cr.execute(
                "DELETE FROM mail_message WHERE model = 'ofitec.next.action' AND res_id IN %s",
                (ids,),
            )
            cr.execute(
                "DELETE FROM mail_followers WHERE res_model = 'ofitec.next.action' "
                "AND res_id IN %s",
                (ids,),
            )
            cr.execute("DELETE FROM ofitec_next_action WHERE id IN %s", (ids,))
            cr.execute(
                "DELETE FROM ir_cron_trigger WHERE cron_id IN %s",
                ((self.notify_cron.id, self.send_cron.id),),
            )

    @contextmanager
    def _two_workers(self):
        cr_a, cr_b = self._cursor(), self._cursor()
        try:
            yield cr_a, cr_b
        finally:
            cr_a.close()
            cr_b.close()

    def test_a_claim_meeting_an_action_saved_since_its_snapshot_fails_quietly(self):
        with self._two_workers() as (cr_a, cr_b):
            env_a = api.Environment(cr_a, SUPERUSER_ID, {})
            cr_a.execute("SELECT count(*) FROM ofitec_next_action")  # A's snapshot
            cr_b.execute(  # a user saves the action meanwhile
                "UPDATE ofitec_next_action SET write_date = write_date WHERE id = %s",
                [self.action_ids[0]],
            )
            cr_b.commit()
            with (
                self.assertNoLogs("odoo.sql_db", level="ERROR"),
                self.assertRaises(psycopg2.extensions.TransactionRollbackError),
            ):
                env_a["ofitec.next.action"]._whatsapp_claim_pending(1)
            cr_a.rollback()  # a new transaction sees the action as it is: claimed
            self.assertEqual(
                env_a["ofitec.next.action"]._whatsapp_claim_pending(1).ids, self.action_ids[:1]
            )
            cr_a.rollback()

    def test_a_run_meeting_an_action_saved_since_its_snapshot_starts_again(self):
        """A cron run (it commits) whose claim meets that conflict takes a new
        transaction and notifies the action in the same run."""
        with self._two_workers() as (cr_a, cr_b):
            env_a = api.Environment(cr_a, SUPERUSER_ID, {})
            cr_a.execute("SELECT count(*) FROM ofitec_next_action")  # A's snapshot
            cr_b.execute(
                "UPDATE ofitec_next_action SET write_date = write_date WHERE id = %s",
                [self.action_ids[0]],
            )
            cr_b.commit()
            outcome = {}

            def cron_run():  # a thread of its own: not flagged as a test, so it commits
                try:
                    outcome["handled"] = env_a["ofitec.next.action"]._whatsapp_process_pending()
                except Exception as error:  # reported below
                    outcome["error"] = error

            thread = threading.Thread(target=cron_run)
            with self.assertNoLogs("odoo.sql_db", level="ERROR"):
                thread.start()
                thread.join(60)
            self.assertEqual(outcome, {"handled": 2})
        with self._cursor() as cr:
            cr.execute(
                "SELECT whatsapp_notify_state FROM ofitec_next_action WHERE id IN %s",
                (tuple(self.action_ids),),
            )
            self.assertEqual({row[0] for row in cr.fetchall()}, {"queued"})

    def test_two_workers_prepare_each_action_once(self):
        Action = type(self.env["ofitec.next.action"])
        original = Action._whatsapp_queue_one
        prepared = []

        def counting(action, *args, **kwargs):
            prepared.append(action.id)
            return original(action, *args, **kwargs)

        with patch.object(Action, "_whatsapp_queue_one", counting):
            with self._two_workers() as (cr_a, cr_b):
                cr_b.execute("SET lock_timeout = '5s'")  # B must never wait for A
                env_a = api.Environment(cr_a, SUPERUSER_ID, {})
                env_b = api.Environment(cr_b, SUPERUSER_ID, {})
                held = env_a["ofitec.next.action"]._whatsapp_claim_pending(1)
                self.assertEqual(held.ids, self.action_ids[:1])
                # B skips A's row and prepares the other action only.
                self.assertEqual(env_b["ofitec.next.action"]._whatsapp_process_pending(), 1)
                cr_b.commit()
                self.assertEqual(prepared, self.action_ids[1:])
                held._whatsapp_notify_pending()
                cr_a.commit()
                # Nothing is left for anyone.
                self.assertEqual(env_b["ofitec.next.action"]._whatsapp_process_pending(), 0)
                cr_b.commit()
        self.assertEqual(sorted(prepared), sorted(self.action_ids))
        with self._cursor() as cr:
            cr.execute(
                "SELECT whatsapp_notify_state FROM ofitec_next_action WHERE id IN %s",
                (tuple(self.action_ids),),
            )
            self.assertEqual({row[0] for row in cr.fetchall()}, {"queued"})
