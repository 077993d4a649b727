"""The outbound queue: business code only queues, the cron sends (issue 2)."""

import json
import threading
import time
from concurrent.futures import Future
from contextlib import contextmanager
from datetime import date, timedelta
from unittest.mock import patch

import requests

from odoo import SUPERUSER_ID, api, fields
from odoo.tests import tagged
from odoo.tools import mute_logger

from ..models import ir_cron as ir_cron_module
from ..models import ofitec_whatsapp_message_retry as retry_module
from ..models import ofitec_whatsapp_message_send as send_module
from ..models.ofitec_whatsapp_message_claim import Claim
from ..models.ofitec_whatsapp_send_pace import PACE_MARGIN, PACE_WINDOW, runner_identity
from ..tools import commands
from ..tools.errors import RateLimitedError, RetryableError, UncertainDeliveryError
from .common import RealNetworkCall, WhatsAppCase, claim_held, meta_error, send_held

MANAGER = "+56911111111"
ASSIGNEE = "+56922222222"
NOTIFY_LOGGER = "odoo.addons.ofitec_whatsapp.models.ofitec_next_action_notify"
MESSAGE_LOGGER = "odoo.addons.ofitec_whatsapp.models.ofitec_whatsapp_message_queue"
SEND_LOGGER = "odoo.addons.ofitec_whatsapp.models.ofitec_whatsapp_message_send"


class QueueCase(WhatsAppCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.template = cls.env.ref("ofitec_whatsapp.ofitec_whatsapp_template_urgent_action")
        cls.Message = cls.env["ofitec.whatsapp.message"].sudo()

    def _queue(self, number, body="Hola", **vals):
        """A queued free-form message to ``number`` (as the API or a reply creates it)."""
        values = {
            "direction": "outbound",
            "state": "queued",
            "config_id": self.config.id,
            "company_id": self.company.id,
            "phone": number,
            "body": body,
        }
        values.update(vals)
        return self.Message.create(values)

    def _two_in_window(self):
        """A queued text to the manager and one to the assignee, both in their window."""
        self._open_window(MANAGER)
        self._open_window(ASSIGNEE)
        return self._queue(MANAGER), self._queue(ASSIGNEE)


@tagged("post_install", "-at_install")
class TestQueueing(QueueCase):
    """Creating or escalating an action only queues; nothing leaves Odoo then."""

    def test_kill_switch_blocks_real_network(self):
        with self.assertRaises(RealNetworkCall):
            requests.get("https://graph.facebook.com/v23.0/me", timeout=1)

    def test_urgent_action_queues_without_network(self):
        with self.mock_whatsapp_gateway() as gateway:
            action = self._create_action()
            action.write({"description": "Otra descripción", "priority": "2"})
            self.env.flush_all()
            self.assertFalse(gateway.clients, "no client may be built in the user's transaction")
            self.assertNoWhatsApp(gateway)
            messages = self._messages(action)
            self.assertEqual(messages.mapped("state"), ["queued", "queued"])
            self.assertEqual(sorted(messages.mapped("phone")), [MANAGER, ASSIGNEE])
            self.assertTrue(action.whatsapp_notified)
            self.assertFalse(action.whatsapp_sent)

            self.assertEqual(self._run_queue(), 2)
        self.assertWhatsAppSent(gateway, MANAGER)
        self.assertWhatsAppSent(gateway, ASSIGNEE)
        self.assertEqual(messages.mapped("state"), ["sent", "sent"])
        self.assertTrue(all(m.whatsapp_message_id for m in messages))
        self.assertTrue(action.whatsapp_sent)

    def test_real_client_is_only_reached_by_the_queue(self):
        """Without the fake: creating the action is fine (no network), the first real
        request happens in the queue, where the kill-switch stops it."""
        action = self._create_action()
        messages = self._messages(action)
        self.assertEqual(messages.mapped("state"), ["queued", "queued"])
        with self.assertLogs(MESSAGE_LOGGER, "ERROR") as logs:
            self._run_queue(limit=1)
        self.assertIn("RealNetworkCall", "\n".join(logs.output))
        tried = messages.filtered("retry_count")
        self.assertEqual(len(tried), 1)
        self.assertEqual(tried.state, "queued", "an unexpected error is retried, not lost")

    def test_creation_wakes_the_cron(self):
        cron = self.env.ref("ofitec_whatsapp.ir_cron_whatsapp_send_queue")
        notify_cron = self.env.ref("ofitec_whatsapp.ir_cron_whatsapp_notify_actions")
        Trigger = self.env["ir.cron.trigger"].sudo()
        Trigger.search([("cron_id", "in", (cron | notify_cron).ids)]).unlink()

        def due(job):
            # "Now" when counting: a second may pass between the steps on a busy machine.
            return Trigger.search_count(
                [("cron_id", "=", job.id), ("call_at", "<=", fields.Datetime.now())]
            )

        self._create_action(notify=False)
        self.assertEqual(due(notify_cron), 1)
        self._run_notify()  # the notification cron queues the messages: the send cron wakes
        self.assertEqual(due(cron), 1)
        # One due trigger wakes the cron, which drains everything: no second one
        # (each immediate trigger costs a NOTIFY on a new connection after commit).
        self._create_action(name="Otra acción urgente")
        self.assertEqual(due(cron), 1)
        self.assertEqual(due(notify_cron), 1)

    def test_a_due_trigger_nobody_announced_still_wakes_the_workers(self):
        """A retry's backoff trigger comes due by itself: nobody tells the cron workers,
        who would see it only at their one-minute poll. Queueing another message adds
        no trigger row, but wakes them after commit."""
        cron = self.env.ref("ofitec_whatsapp.ir_cron_whatsapp_send_queue")
        Trigger = self.env["ir.cron.trigger"].sudo()
        Trigger.search([("cron_id", "=", cron.id)]).unlink()
        Trigger.create(
            {"cron_id": cron.id, "call_at": fields.Datetime.now() - timedelta(seconds=30)}
        )
        woken = []
        Cron = type(self.env["ir.cron"])
        with patch.object(Cron, "_notifydb", lambda crons: woken.append(crons.ids)):
            self.env["ofitec.whatsapp.message"]._trigger_queue()
            self.assertEqual(woken, [], "not before the commit")
            self.env.cr.postcommit.run()
        self.assertEqual(Trigger.search_count([("cron_id", "=", cron.id)]), 1)
        self.assertIn([cron.id], woken)

    def test_a_future_trigger_rings_the_workers_when_it_comes_due(self):
        """A retry's backoff trigger is announced when it comes due, not at the cron
        workers' next one-minute poll: an alarm of this process, set after commit."""
        rung = []
        at = fields.Datetime.now() + timedelta(seconds=5)
        with patch.object(ir_cron_module._ALARMS, "set", lambda db, delay: rung.append(delay)):
            self.env["ofitec.whatsapp.message"]._trigger_queue(at=at)
            self.assertEqual(rung, [], "not before the commit")
            self.env.cr.postcommit.run()
        self.assertEqual(len(rung), 1)
        self.assertAlmostEqual(rung[0], 5 + ir_cron_module.ALARM_MARGIN, delta=2)

    def test_alarms_ring_once_per_database_and_moment(self):
        alarms = ir_cron_module._Alarms()
        rung = []
        done = threading.Event()

        def notify(dbname):
            rung.append(dbname)
            if len(rung) == 2:
                done.set()
            return True

        with patch.object(ir_cron_module._WAKE_UP, "notify", notify):
            alarms.set("db_a", 0.05)
            alarms.set("db_a", 0.2)  # served by the first one (ALARM_SLACK)
            alarms.set("db_b", 0.1)
            self.assertTrue(done.wait(5))
            time.sleep(0.4)
        self.assertEqual(rung, ["db_a", "db_b"])

    def test_action_saved_when_queueing_raises(self):
        Action = type(self.env["ofitec.next.action"])

        def broken(action):
            # A database error, not only a Python one: the savepoint must contain it.
            action.env.cr.execute("SELECT 1/0")

        with self.mock_whatsapp_gateway() as gateway:
            with patch.object(Action, "_get_whatsapp_recipients", broken):
                with self.assertLogs(NOTIFY_LOGGER, "ERROR") as logs:
                    with mute_logger("odoo.sql_db"):
                        # The cron's job runs inside the patch (see _create_action).
                        action = self._create_action(name="Acción que falla al encolar")
            self.assertIn("could not queue", "\n".join(logs.output))
            self.assertEqual(action.whatsapp_notify_state, "failed")
            # The transaction is still usable and the action is saved.
            self.assertTrue(action.exists())
            self.assertEqual(
                self.env["ofitec.next.action"].search([("name", "=", action.name)]), action
            )
            self.assertFalse(self._messages(action))
            self.assertFalse(action.whatsapp_notified, "a later change may try again")
            self._run_queue()
        self.assertNoWhatsApp(gateway)

    def test_only_urgent_open_actions(self):
        cases = [
            ({"priority": "3"}, 0),
            ({"priority": "4"}, 0),
            ({"priority": "1", "status": "completed"}, 0),
            ({"priority": "2", "status": "cancelled"}, 0),
            ({"priority": "1"}, 2),
            ({"priority": "2"}, 2),
            ({"priority": "1", "status": "in_progress"}, 2),
        ]
        for vals, expected in cases:
            with self.subTest(**vals):
                action = self._create_action(**vals)
                self.assertEqual(len(self._messages(action)), expected)
                self.assertEqual(action.whatsapp_notified, bool(expected))

    def test_notified_once(self):
        action = self._create_action(priority="2")
        self.assertEqual(len(self._messages(action)), 2)
        action.write({"priority": "1"})
        action.write({"name": "Nuevo título", "description": "Cambio"})
        action.action_start_progress()
        action.write({"status": "pending", "priority": "2"})
        self._run_notify()
        self.assertEqual(len(self._messages(action)), 2)

    def test_escalation_notifies_once(self):
        action = self._create_action(priority="3")
        self.assertFalse(self._messages(action))
        action.write({"priority": "1"})
        self._run_notify()
        messages = self._messages(action)
        self.assertEqual(len(messages), 2)
        self.assertEqual(set(messages.mapped("state")), {"queued"})
        action.write({"priority": "3"})
        action.write({"priority": "2"})
        self._run_notify()
        self.assertEqual(self._messages(action), messages)

    def test_reopened_urgent_action_is_notified_when_it_opens(self):
        action = self._create_action(priority="1", status="completed")
        self.assertFalse(self._messages(action))
        action.write({"status": "pending"})
        self._run_notify()
        self.assertEqual(len(self._messages(action)), 2)

    def test_whatsapp_disabled(self):
        action = self._create_action(whatsapp_enabled=False)
        action.write({"priority": "2"})
        action.write({"priority": "1"})
        self._run_notify()
        self.assertFalse(self._messages(action))
        self.assertFalse(action.whatsapp_notified)
        # Switching it on for an urgent open action sends the notification (once).
        action.whatsapp_enabled = True
        self._run_notify()
        self.assertEqual(len(self._messages(action)), 2)
        action.write({"whatsapp_enabled": False})
        action.write({"whatsapp_enabled": True})
        self._run_notify()
        self.assertEqual(len(self._messages(action)), 2)

    def test_extension_hook(self):
        """An _inherit override of _prepare_whatsapp_message changes what is sent."""
        Action = type(self.env["ofitec.next.action"])
        original = Action._prepare_whatsapp_message

        def _prepare_whatsapp_message(action, partner=None, template_code="urgent_action"):
            prepared = original(action, partner, template_code=template_code)
            prepared["body"] = f"[Obra] {prepared['body']}"
            prepared["template_params"] = [p.upper() for p in prepared["template_params"]]
            return prepared

        self._open_window(MANAGER)
        with self.mock_whatsapp_gateway() as gateway:
            with patch.object(Action, "_prepare_whatsapp_message", _prepare_whatsapp_message):
                action = self._create_action()
            messages = self._messages(action)
            self.assertTrue(all(m.body.startswith("[Obra] 🚨") for m in messages), messages)
            self._run_queue()
        (inside,) = self.assertWhatsAppSent(gateway, MANAGER, kind="interactive")
        manager_message = messages.filtered(lambda m: m.phone == MANAGER)
        self.assertEqual(inside["body"], manager_message.body)
        self.assertTrue(inside["body"].startswith("[Obra] "))
        (outside,) = self.assertWhatsAppSent(gateway, ASSIGNEE, kind="template")
        self.assertEqual(outside["params"][0], "ANDRÉS ASIGNADO")

    def test_reminder(self):
        action = self._create_action(priority="3")
        self.assertFalse(self._messages(action))
        with self.mock_whatsapp_gateway() as gateway:
            result = action.action_send_whatsapp_reminder()
            self.assertNoWhatsApp(gateway)
        self.assertEqual(result["params"]["type"], "success")
        self.assertIn("Paula Manager", result["params"]["message"])
        self.assertEqual(result["params"]["next"]["tag"], "soft_reload")  # the tab shows it
        messages = self._messages(action)
        self.assertEqual(len(messages), 2)
        self.assertEqual(set(messages.mapped("state")), {"queued"})
        # The chatter is told once the outcome is known, not while it is "queued".
        self.assertFalse(action.message_ids.filtered(lambda m: "WhatsApp" in (m.body or "")))
        with self.mock_whatsapp_gateway():
            self._run_queue()
        notes = action.message_ids.filtered(lambda m: "WhatsApp reminder sent" in (m.body or ""))
        self.assertEqual(len(notes), 2)
        self.assertTrue(any("Andrés Asignado" in note.body for note in notes))
        # A reminder does not count as the automatic notification.
        self.assertFalse(action.whatsapp_notified)

    def test_reminder_without_its_template_uses_the_urgent_one_then_plain_text(self):
        """A company that archived the reminder template: the urgent action's goes;
        without either, a plain text naming the action (inside the window only; in the
        language of the action's notes, English in this database)."""
        self.env.ref("ofitec_whatsapp.ofitec_whatsapp_template_action_reminder").active = False
        self._open_window(MANAGER)
        action = self._create_action(priority="3", name="Revisar andamio")
        action.action_send_whatsapp_reminder()
        reminders = self._messages(action)
        self.assertEqual(set(reminders.mapped("template_id")), {self.template})
        self.template.active = False
        reminders.state = "cancelled"
        action.action_send_whatsapp_reminder()
        plain = self._messages(action, state="queued")
        self.assertFalse(plain.template_id)
        self.assertEqual(set(plain.mapped("body")), {"Urgent action: Revisar andamio"})
        with self.mock_whatsapp_gateway() as gateway:
            self._run_queue()
        (payload,) = self.assertWhatsAppSent(gateway, MANAGER, kind="text")
        self.assertEqual(payload["body"], "Urgent action: Revisar andamio")
        self.assertEqual(plain.filtered(lambda m: m.phone == ASSIGNEE).error_code, "window")

    def test_reminder_without_numbers(self):
        self.user_manager.partner_id.mobile = False
        self.user_assignee.partner_id.mobile = False
        action = self._create_action(priority="3")
        result = action.action_send_whatsapp_reminder()
        # Nothing could be queued: an error, naming who and why.
        self.assertEqual(result["params"]["type"], "danger")
        self.assertIn("no usable mobile or phone number", result["params"]["message"])
        self.assertEqual(set(self._messages(action).mapped("state")), {"cancelled"})


@tagged("post_install", "-at_install")
class TestWindow(QueueCase):
    """Text or buttons inside the 24-hour window, the approved template outside it."""

    def test_template_outside_window(self):
        action = self._create_action(deadline=date(2026, 11, 28))
        with self.mock_whatsapp_gateway() as gateway:
            self._run_queue()
        (payload,) = self.assertWhatsAppSent(gateway, MANAGER, kind="template")
        self.assertEqual(payload["name"], "ofitec_urgent_action")
        self.assertEqual(payload["language"], "es")
        # meta_param_keys: recipient_name,project,title,priority,deadline,expected_benefits
        self.assertEqual(
            payload["params"],
            [
                "Paula Manager",
                "Edificio Los Robles",
                "Revisar hormigonado losa piso 3",
                "Crítica",
                "28/11/2026",
                "Evitar 2 semanas de atraso.",
            ],
        )
        self.assertEqual(
            payload["button_payloads"],
            [
                f"ofitec:{action.id}:ok",
                f"ofitec:{action.id}:completed",
                f"ofitec:{action.id}:cancel",
            ],
        )
        message = self._messages(action, phone=MANAGER)
        self.assertEqual(payload["callback"], f"ofitec:{message.id}")
        self.assertEqual(message.message_type, "template")
        self.assertEqual(json.loads(message.template_params), payload["params"])

    def test_param_order_follows_template(self):
        self.template.meta_param_keys = "title,recipient_name"
        self._create_action()
        with self.mock_whatsapp_gateway() as gateway:
            self._run_queue()
        (payload,) = self.assertWhatsAppSent(gateway, MANAGER, kind="template")
        self.assertEqual(payload["params"], ["Revisar hormigonado losa piso 3", "Paula Manager"])

    def test_buttons_inside_window(self):
        self._open_window(MANAGER, hours_ago=23)
        action = self._create_action()
        with self.mock_whatsapp_gateway() as gateway:
            self._run_queue()
        (payload,) = self.assertWhatsAppSent(gateway, MANAGER, kind="interactive")
        self.assertButtonsFor(payload, action)
        self.assertEqual([b[1] for b in payload["buttons"]], ["OK", "COMPLETADO", "CANCELAR"])
        self.assertEqual(
            [commands.parse_button_payload(b[0]) for b in payload["buttons"]],
            [("ok", action.id), ("completed", action.id), ("cancel", action.id)],
        )
        message = self._messages(action, phone=MANAGER)
        self.assertEqual(payload["body"], message.body)
        self.assertIn("Revisar hormigonado losa piso 3", payload["body"])
        self.assertEqual(message.message_type, "interactive")
        # The assignee never wrote: template.
        self.assertWhatsAppSent(gateway, ASSIGNEE, kind="template")

    def test_window_expired(self):
        self._open_window(MANAGER, hours_ago=25)
        self._create_action()
        with self.mock_whatsapp_gateway() as gateway:
            self._run_queue()
        self.assertWhatsAppSent(gateway, MANAGER, kind="template")

    def test_window_decided_at_send_time(self):
        """The window is looked at when the message is sent, not when it is queued."""
        action = self._create_action()
        self._open_window(MANAGER)
        with self.mock_whatsapp_gateway() as gateway:
            self._run_queue()
        self.assertWhatsAppSent(gateway, MANAGER, kind="interactive")
        self.assertEqual(self._messages(action, phone=MANAGER).message_type, "interactive")

    def test_text_inside_window_without_buttons(self):
        self.template.use_buttons = False
        self._open_window(MANAGER)
        self._create_action()
        with self.mock_whatsapp_gateway() as gateway:
            self._run_queue()
        self.assertWhatsAppSent(gateway, MANAGER, kind="text")

    def test_free_text_inside_window(self):
        self._open_window(MANAGER)
        message = self._queue(MANAGER, body="Hola Paula")
        with self.mock_whatsapp_gateway() as gateway:
            self._run_queue()
        (payload,) = self.assertWhatsAppSent(gateway, MANAGER, kind="text")
        self.assertEqual(payload["body"], "Hola Paula")
        self.assertEqual(message.state, "sent")

    def test_no_template_outside_window_fails(self):
        message = self._queue(MANAGER, body="Hola")
        with self.mock_whatsapp_gateway() as gateway:
            self._run_queue()
        self.assertNoWhatsApp(gateway)
        self.assertEqual(message.state, "failed")
        self.assertEqual(message.error_code, "window")
        self.assertIn("24-hour window", message.error_message)

    def test_wa_id_returned_by_meta_is_stored(self):
        self._create_action()
        with self.mock_whatsapp_gateway() as gateway:
            gateway.wa_ids[MANAGER] = "56911119999"
            self._run_queue()
        message = self._messages(phone=MANAGER)
        self.assertEqual(message.wa_id, "56911119999")
        contact = self.env["ofitec.whatsapp.contact"].search(
            [("config_id", "=", self.config.id), ("wa_id", "=", "56911119999")]
        )
        self.assertEqual(len(contact), 1)
        self.assertEqual(contact.phone, MANAGER)
        self.assertEqual(contact.partner_id, self.user_manager.partner_id)
        # The same wa_id is used for the number when it is what Meta returns.
        assignee = self.env["ofitec.whatsapp.contact"].search(
            [("config_id", "=", self.config.id), ("phone", "=", ASSIGNEE)]
        )
        self.assertEqual(assignee.wa_id, "56922222222")

    def test_opted_out_contact_is_skipped(self):
        contact = self._open_window(MANAGER)
        contact.opted_out = True
        self._create_action()
        with self.mock_whatsapp_gateway() as gateway:
            self._run_queue()
        self.assertFalse(gateway.sent_to(MANAGER))
        self.assertEqual(self._messages(phone=MANAGER).state, "cancelled")
        self.assertWhatsAppSent(gateway, ASSIGNEE)


@tagged("post_install", "-at_install")
class TestRetries(QueueCase):
    """Retryable errors back off, permanent ones fail at once (codes from Meta)."""

    def setUp(self):
        super().setUp()
        self.delays = []
        original = retry_module._backoff_delay

        def recording_delay(attempt, error):
            delay = original(attempt, error)
            self.delays.append(delay)
            return delay

        patcher = patch.object(retry_module, "_backoff_delay", recording_delay)
        patcher.start()
        self.addCleanup(patcher.stop)

    def _run_and_check_retry(self, message, attempt):
        before = fields.Datetime.now()
        self._run_queue()
        self.assertEqual(message.state, "queued")
        self.assertEqual(message.retry_count, attempt)
        self.assertGreaterEqual(
            message.next_attempt, before + timedelta(seconds=int(self.delays[-1]))
        )
        self.assertGreater(message.next_attempt, before)

    def test_retryable_codes_back_off_then_fail(self):
        self.config.max_attempts = 4
        for code in (131000, 2, 133004):
            with self.subTest(code=code):
                self.delays.clear()
                self._open_window(MANAGER)
                message = self._queue(MANAGER)
                with self.mock_whatsapp_gateway() as gateway:
                    gateway.fail(
                        MANAGER, *[meta_error(code, f"Temporary {code}", http_status=500)] * 4
                    )
                    self._run_and_check_retry(message, 1)
                    self.assertEqual(message.error_code, str(code))
                    # Not due yet: a new run does not touch it.
                    self.assertEqual(self._run_queue(), 0)
                    self.assertEqual(len(gateway.calls), 1)
                    for attempt in (2, 3):
                        self._make_due(message)
                        self._run_and_check_retry(message, attempt)
                    self._make_due(message)
                    self._run_queue()
                self.assertEqual(len(gateway.calls), 4)
                self.assertEqual(message.state, "failed")
                self.assertEqual(message.retry_count, 4)
                self.assertEqual(message.error_code, str(code))
                self.assertIn(f"Temporary {code}", message.error_message)
                self.assertFalse(message.next_attempt)
                self.assertEqual(len(self.delays), 3)
                self.assertTrue(
                    self.delays[0] < self.delays[1] < self.delays[2], f"backoff grows {self.delays}"
                )

    def test_retry_then_success(self):
        self._open_window(MANAGER)
        message = self._queue(MANAGER)
        with self.mock_whatsapp_gateway() as gateway:
            gateway.fail(MANAGER, meta_error(131000, "Something went wrong", http_status=500))
            self._run_queue()
            self.assertEqual(message.state, "queued")
            self._make_due(message)
            self._run_queue()
        self.assertEqual(message.state, "sent")
        self.assertFalse(message.error_code)
        self.assertFalse(message.next_attempt)
        self.assertEqual(len(gateway.calls), 2)
        self.assertEqual(len(gateway.sent), 1)

    def test_backoff_delays(self):
        with patch.object(retry_module.random, "random", lambda: 1.0):
            high = [retry_module._backoff_delay(n, RetryableError(code=2)) for n in (1, 2, 3)]
        with patch.object(retry_module.random, "random", lambda: 0.0):
            low = [retry_module._backoff_delay(n, RetryableError(code=2)) for n in (1, 2, 3)]
        # Jitter spreads the delays, the next attempt always waits longer.
        self.assertLess(high[0], low[1])
        self.assertLess(high[1], low[2])
        self.assertLess(low[0], high[0])
        self.assertLessEqual(
            retry_module._backoff_delay(30, RetryableError(code=2)),
            retry_module.BACKOFF_CAP * 1.25,
        )
        pair = RateLimitedError(code=131056)
        self.assertEqual([retry_module._backoff_delay(n, pair) for n in (1, 2, 3)], [1, 4, 16])
        uncertain = UncertainDeliveryError("Read timeout")
        self.assertGreaterEqual(retry_module._backoff_delay(1, uncertain), 60)

    def test_read_timeout_waits_for_the_status_webhook(self):
        self._open_window(MANAGER)
        message = self._queue(MANAGER)
        with self.mock_whatsapp_gateway() as gateway:
            gateway.fail(MANAGER, UncertainDeliveryError("Read timeout"))
            before = fields.Datetime.now()
            self._run_queue()
        self.assertEqual(message.state, "queued")
        self.assertEqual(message.retry_count, 1)
        self.assertGreaterEqual(message.next_attempt, before + timedelta(seconds=60))

    def test_throughput_limit_backs_off(self):
        self._open_window(MANAGER)
        message = self._queue(MANAGER)
        with self.mock_whatsapp_gateway() as gateway:
            gateway.fail(MANAGER, meta_error(130429, "Rate limit hit"))
            self._run_and_check_retry(message, 1)
        self.assertEqual(message.error_code, "130429")
        self.assertFalse(gateway.sent)

    def test_pair_rate_limit(self):
        """131056: wait 4^n for that recipient, hold its other messages, others go out."""
        self._open_window(MANAGER)
        self._open_window(ASSIGNEE)
        first = self._queue(MANAGER, body="uno")
        second = self._queue(MANAGER, body="dos")
        other = self._queue(ASSIGNEE, body="otro")
        with self.mock_whatsapp_gateway() as gateway:
            gateway.fail(MANAGER, *[meta_error(131056, "Pair rate limit hit")] * 2)
            before = fields.Datetime.now()
            self._run_queue()
            self.assertEqual(other.state, "sent")
            self.assertEqual(first.state, "queued")
            self.assertEqual(first.retry_count, 1)
            self.assertEqual(first.error_code, "131056")
            self.assertGreaterEqual(first.next_attempt, before + timedelta(seconds=1))
            self.assertEqual(second.state, "queued")
            self.assertEqual(second.retry_count, 0)
            self.assertGreaterEqual(second.next_attempt, first.next_attempt)
            self.assertEqual([c["to"] for c in gateway.calls], [MANAGER, ASSIGNEE])

            self._make_due(first + second)
            before = fields.Datetime.now()
            self._run_queue()
            self.assertEqual(first.retry_count, 2)
            self.assertGreaterEqual(first.next_attempt, before + timedelta(seconds=4))
            self.assertGreaterEqual(second.next_attempt, first.next_attempt)
            self.assertEqual(len(gateway.calls), 3)

            self._make_due(first + second)
            self._run_queue()
        self.assertEqual((first + second).mapped("state"), ["sent", "sent"])
        self.assertEqual([p["body"] for p in gateway.sent_to(MANAGER)], ["uno", "dos"])

    def test_permanent_errors_fail_at_once(self):
        for code, title in (
            (100, "Invalid parameter"),
            (131026, "Message undeliverable"),
        ):  # auth errors (190, 131005, …) pause the number instead: test_token_pause
            with self.subTest(code=code):
                self._open_window(MANAGER)
                message = self._queue(MANAGER)
                with self.mock_whatsapp_gateway() as gateway:
                    gateway.fail(MANAGER, meta_error(code, title, details="Detalle de Meta"))
                    self._run_queue()
                    self.assertEqual(self._run_queue(), 0)
                self.assertEqual(len(gateway.calls), 1)
                self.assertEqual(message.state, "failed")
                self.assertEqual(message.error_code, str(code))
                self.assertIn(title, message.error_message)
                self.assertIn(str(code), message.error_message)
                self.assertEqual(message.retry_count, 0)

    def test_failure_does_not_stop_the_queue(self):
        failing, other = self._two_in_window()
        with self.mock_whatsapp_gateway() as gateway:
            gateway.fail(MANAGER, meta_error(131026, "Message undeliverable"))
            self.assertEqual(self._run_queue(), 2)
        self.assertEqual(failing.state, "failed")
        self.assertEqual(other.state, "sent")
        self.assertWhatsAppSent(gateway, ASSIGNEE)

    def test_unrecordable_outcome_is_not_retried_in_a_loop(self):
        """Recording Meta's answer fails (a database error): the others of the batch
        keep their record, and the run does not claim that message again and again."""
        broken, other = self._two_in_window()
        Message = type(self.Message)
        original = Message._mark_sent
        original_bulk = Message._record_sent_bulk

        def failing_mark_sent(message, *args, **kwargs):
            if message == broken:
                message.env.cr.execute("SELECT 1/0")
            return original(message, *args, **kwargs)

        def failing_bulk(messages, entries):
            # The bulk record fails too: the batch falls back to one by one.
            if broken in [message for message, _kind, _result in entries]:
                messages.env.cr.execute("SELECT 1/0")
            return original_bulk(messages, entries)

        with self.mock_whatsapp_gateway() as gateway:
            with (
                patch.object(Message, "_mark_sent", failing_mark_sent),
                patch.object(Message, "_record_sent_bulk", failing_bulk),
            ):
                with (
                    mute_logger("odoo.sql_db", SEND_LOGGER),
                    self.assertLogs(MESSAGE_LOGGER, "ERROR"),
                ):
                    self.assertEqual(self._run_queue(), 2)
        self.assertEqual([p["to"] for p in gateway.sent], [MANAGER, ASSIGNEE])
        self.assertEqual(other.state, "sent")
        self.assertEqual(broken.state, "queued")  # left for a later run or its webhook

    def test_a_message_that_cannot_be_prepared_does_not_stop_its_batch(self):
        """An error escaping one message's preparation (a database error before its
        HTTP call) rolls the batch's preparation back; it is prepared again one by one:
        the others go, that one is neither sent nor claimed again in this run."""
        broken, other = self._two_in_window()
        Message = type(self.Message)
        original = Message._choose_message_type

        def failing(message, *args, **kwargs):
            if message == broken:
                message.env.cr.execute("SELECT 1/0")
            return original(message, *args, **kwargs)

        with self.mock_whatsapp_gateway() as gateway:
            with patch.object(Message, "_choose_message_type", failing):
                with mute_logger("odoo.sql_db"), self.assertLogs(MESSAGE_LOGGER, "ERROR") as logs:
                    self._run_queue()
            self.assertIn(f"message {broken.id}: preparing its send failed", logs.output[0])
            self.assertEqual([p["to"] for p in gateway.sent], [ASSIGNEE])
            self.assertEqual((broken.state, other.state), ("queued", "sent"))
            self.assertTrue(broken.next_attempt, "leased: not claimed again at once")
            self._make_due(broken)  # its lease ends: it goes
            self._run_queue()
        self.assertEqual([p["to"] for p in gateway.sent], [ASSIGNEE, MANAGER])
        self.assertEqual(broken.state, "sent")

    def test_window_closed_falls_back_to_template(self):
        """131047 at send time: Meta is right, the approved template goes out at once."""
        self._open_window(MANAGER)
        action = self._create_action()
        with self.mock_whatsapp_gateway() as gateway:
            gateway.fail(MANAGER, meta_error(131047, "Re-engagement message"))
            self._run_queue()
        message = self._messages(action, phone=MANAGER)
        self.assertEqual(message.state, "sent")
        self.assertEqual(message.message_type, "template")
        self.assertEqual(
            [c["kind"] for c in gateway.calls if c["to"] == MANAGER], ["interactive", "template"]
        )
        self.assertWhatsAppSent(gateway, MANAGER, kind="template")
        # Our window book-keeping was wrong: the next message goes as a template directly.
        self._queue(MANAGER, template_id=self.template.id, next_action_id=action.id)
        with self.mock_whatsapp_gateway() as gateway:
            self._run_queue()
        self.assertEqual([c["kind"] for c in gateway.calls], ["template"])

    def test_window_closed_without_template_fails(self):
        self._open_window(MANAGER)
        message = self._queue(MANAGER)
        with self.mock_whatsapp_gateway() as gateway:
            gateway.fail(MANAGER, meta_error(131047, "Re-engagement message"))
            self._run_queue()
        self.assertEqual(message.state, "failed")
        self.assertEqual(message.error_code, "131047")
        self.assertEqual(len(gateway.calls), 1)

    def test_unknown_code_one_tried_twice(self):
        self._open_window(MANAGER)
        message = self._queue(MANAGER)
        with self.mock_whatsapp_gateway() as gateway:
            gateway.fail(MANAGER, *[meta_error(1, "API Unknown", http_status=500)] * 3)
            self._run_queue()
            self._make_due(message)
            self._run_queue()
        self.assertEqual(message.state, "failed")
        self.assertEqual(message.error_code, "1")
        self.assertEqual(len(gateway.calls), 2)

    def test_unexpected_exception_is_retried(self):
        broken, other = self._two_in_window()
        with self.mock_whatsapp_gateway() as gateway:
            gateway.fail(MANAGER, ValueError("bug in a client"))
            with self.assertLogs(MESSAGE_LOGGER, "ERROR"):
                self._run_queue()
        self.assertEqual(broken.state, "queued")
        self.assertEqual(broken.retry_count, 1)
        self.assertEqual(other.state, "sent")

    def test_retry_action_requeues(self):
        self._open_window(MANAGER)
        message = self._queue(MANAGER)
        with self.mock_whatsapp_gateway() as gateway:
            gateway.fail(MANAGER, meta_error(131026, "Message undeliverable"))
            self._run_queue()
            self.assertEqual(message.state, "failed")
            message.action_retry()
            self.assertEqual(message.state, "queued")
            self.assertFalse(message.error_code)
            self._run_queue()
        self.assertEqual(message.state, "sent")


@tagged("post_install", "-at_install")
class TestRateLimit(QueueCase):
    """config.rate_limit messages per second per number, paced by the shared slots of
    ofitec.whatsapp.send.pace (on a fake clock here: nothing sleeps)."""

    def setUp(self):
        super().setUp()
        self.clock = [1000.0]
        self.sleeps = []
        self.late = []  # how late each sleep wakes up (a busy machine), in order
        self.sends = []  # (clock, recipient) when each HTTP call starts
        test = self
        real_call = send_module._call

        def sleep(seconds):
            test.sleeps.append(seconds)
            test.clock[0] += seconds + (test.late.pop(0) if test.late else 0.0)

        def call(step):
            outcome = real_call(step)
            test.sends.append((test.clock[0], step.recipient))
            return outcome

        Pace = type(self.env["ofitec.whatsapp.send.pace"])
        for patcher in (
            patch.object(send_module, "_sleep", sleep),
            patch.object(send_module, "_monotonic", lambda: test.clock[0]),
            patch.object(send_module, "_call", call),
            patch.dict(send_module._PACERS, clear=True),
            patch.object(Pace, "_now", lambda self: test.clock[0]),
        ):
            patcher.start()
            self.addCleanup(patcher.stop)

    def _queue_many(self, count, config=None, prefix="+5699000"):
        numbers = [f"{prefix}{i:04d}" for i in range(count)]
        for number in numbers:
            self._open_window(number, config=config)
            self._queue(number, config_id=(config or self.config).id)
        return numbers

    def _peak(self, times):
        """The most sends in any window [t, t + 1 s)."""
        times = sorted(times)
        return max(sum(1 for other in times if start <= other < start + 1.0) for start in times)

    def _second_number(self, rate):
        other = self.config.copy({"name": "Second number", "phone_number_id": "777"})
        other.access_token = "other-token"
        other.rate_limit = rate
        return other

    def test_rate_limit_respected(self):
        self.config.rate_limit = 2
        self._queue_many(5)
        with self.mock_whatsapp_gateway() as gateway:
            self.assertEqual(self._run_queue(), 5)
        self.assertEqual(len(gateway.sent), 5)
        times = [clock for clock, _recipient in self.sends]
        self.assertEqual(times[0], 1000.0)
        self.assertLessEqual(self._peak(times), 2)
        self.assertTrue(all(b > a for a, b in zip(times, times[1:], strict=False)))

    def test_no_burst_after_a_quiet_time(self):
        """The limit holds from the first second: a long idle time gives no credit."""
        self.config.rate_limit = 3
        self._queue_many(9)
        self.clock[0] += 3600
        with self.mock_whatsapp_gateway():
            self._run_queue(batch_size=9)
        self.assertEqual(len(self.sends), 9)
        self.assertLessEqual(self._peak([clock for clock, _r in self.sends]), 3)

    def test_no_limit(self):
        self.config.rate_limit = 0
        self._queue_many(4)
        with self.mock_whatsapp_gateway() as gateway:
            self._run_queue()
        self.assertEqual(len(gateway.sent), 4)
        self.assertEqual(self.sleeps, [])

    def test_numbers_do_not_wait_for_each_other(self):
        """A number at its rate never holds another's messages: B's goes before A's
        backlog, at once."""
        self.config.rate_limit = 1
        other = self._second_number(1)
        self._queue_many(3)
        self._queue_many(1, config=other, prefix="+5698000")
        with self.mock_whatsapp_gateway():
            self.assertEqual(self._run_queue(), 4)
        recipients = [recipient for _clock, recipient in self.sends]
        self.assertEqual(recipients[:2], ["+56990000000", "+56980000000"])
        self.assertEqual(self.sends[1][0], 1000.0)
        self.assertLessEqual(self._peak([c for c, r in self.sends if r.startswith("+56990")]), 1)

    def test_a_late_wake_up_is_not_carried_over(self):
        """A send whose thread woke late (a busy machine) does not push the next ones
        back: the one after it still starts at its own slot."""
        self.config.rate_limit = 5
        interval = 1.0 / (5 * PACE_MARGIN)
        self._queue_many(3)
        self.late = [0.1]  # the second send's wake-up is 100 ms late
        with self.mock_whatsapp_gateway() as gateway:
            self.assertEqual(self._run_queue(batch_size=3), 3)
        self.assertEqual(len(gateway.sent), 3)
        times = [clock for clock, _recipient in self.sends]
        self.assertAlmostEqual(times[1], 1000.0 + interval + 0.1)
        self.assertAlmostEqual(times[2], 1000.0 + 2 * interval)

    def test_a_run_hands_its_window_over_to_the_next(self):
        """A run that ends with sends closer than the pace (catching up) moves the
        shared pace to where its own window lets the next send start: the next run,
        maybe in another process with no memory of these starts, starts no sooner."""
        self.config.rate_limit = 4
        self._queue_many(2)
        self.late = [0.45]  # the second send wakes late
        with self.mock_whatsapp_gateway():
            self.assertEqual(self._run_queue(batch_size=2), 2)
        last = self.sends[-1][0]
        self.assertAlmostEqual(last, 1000.0 + 1.0 / (4 * PACE_MARGIN) + 0.45)
        pace = self.env["ofitec.whatsapp.send.pace"].search([("config_id", "=", self.config.id)])
        # The slots booked end earlier (1000.52): the next start is half a slot on.
        self.assertAlmostEqual(pace.tat, last + 1.0 / (4 * PACE_MARGIN * 2))

    def _pace(self, **values):
        Pace = self.env["ofitec.whatsapp.send.pace"]
        pace = Pace.search([("config_id", "=", self.config.id)])
        pace.invalidate_recordset()  # the send loop writes it in SQL
        if values:
            pace = pace or Pace.create({"config_id": self.config.id})
            pace.write(values)
            pace.flush_recordset()
        return pace

    def test_a_run_takes_a_killed_runs_number_over_one_window_later(self):
        """Another process's run booked this number's slots up to 1000.3 and never
        handed them over (killed mid-batch): its last starts may lag behind those slots,
        so this run's first send waits one PACE_WINDOW past them; it hands the number
        over when it ends."""
        self.config.rate_limit = 5
        self._pace(tat=1000.3, runner="another-host:4242")
        self._queue_many(2)
        with self.mock_whatsapp_gateway():
            self.assertEqual(self._run_queue(batch_size=2), 2)
        first = self.sends[0][0]
        self.assertAlmostEqual(first, 1000.3 + PACE_WINDOW)
        self.assertFalse(self._pace().runner)

    def test_a_run_continues_its_own_process_pace_without_a_gap(self):
        """The process that booked the slots keeps its own pace: no gap."""
        self.config.rate_limit = 5
        self._pace(tat=1000.3, runner=runner_identity())
        self._queue_many(1)
        with self.mock_whatsapp_gateway():
            self.assertEqual(self._run_queue(), 1)
        self.assertAlmostEqual(self.sends[0][0], 1000.3)

    def test_a_claim_books_as_the_numbers_runner(self):
        """While a run sends, the number's slots are its own (``runner``)."""
        self.config.rate_limit = 5
        self._queue_many(2)
        claim = self.Message._claim_due(2)
        self.Message._book_slots(claim, [(message, None) for message in claim.messages])
        self.assertEqual(self._pace().runner, runner_identity())

    def test_late_wake_ups_never_burst_beyond_the_rate(self):
        """Catching up after late wake-ups and stalls never puts more than the rate
        in any second, and every message goes once."""
        self.config.rate_limit = 5
        numbers = self._queue_many(24)
        self.late = [0.3, 0.0, 0.05, 0.6, 0.0, 0.0, 0.2, 0.01, 0.9, 0.0] * 5
        with self.mock_whatsapp_gateway() as gateway:
            self.assertEqual(self._run_queue(batch_size=24), 24)
        self.assertEqual(sorted(sent["to"] for sent in gateway.sent), sorted(numbers))
        self.assertLessEqual(self._peak([clock for clock, _r in self.sends]), 5)

    def test_on_time_sends_keep_their_slots_at_meta_default_rate(self):
        """At Meta's default 80/s, sends that wake on time start at their booked slots:
        the process's start window never holds back the pace the slots were booked at
        (it allowed one start fewer per window, which capped a drain at 0.958x)."""
        self.config.rate_limit = 80
        self._queue_many(170)
        with self.mock_whatsapp_gateway():
            self.assertEqual(self._run_queue(batch_size=170), 170)
        times = [clock for clock, _recipient in self.sends]
        interval = 1.0 / (80 * PACE_MARGIN)
        for index, clock in enumerate(times):
            self.assertAlmostEqual(clock, 1000.0 + index * interval, places=6)
        self.assertLessEqual(self._peak(times), 80)

    def test_a_number_with_enough_sends_in_the_air_is_not_claimed(self):
        """When the machine cannot keep a number's rate, its backlog stays in the
        database: the loop stops claiming it while SEND_AHEAD of its calls are not
        answered, and another number's message is claimed at once."""
        other = self._second_number(5)
        self._queue_many(3)
        (b_number,) = self._queue_many(1, config=other, prefix="+5698000")
        claim = self.Message._claim_due(10, full=[self.config.id])
        self.assertEqual(claim.messages.mapped("phone"), [b_number])
        calls = [(claim.messages, None, Future()) for _ in range(send_module.SEND_AHEAD)]
        flights = [Claim(messages=None, calls=calls)]
        self.assertEqual(send_module._full(flights), [other.id])
        flights[0].calls[0][2].set_result(None)
        self.assertEqual(send_module._full(flights), [])

    def test_rate_change_takes_effect(self):
        self.config.rate_limit = 1
        self._queue_many(2)
        with self.mock_whatsapp_gateway():
            self._run_queue()
            self.config.rate_limit = 4
            self._queue_many(4, prefix="+5697000")
            self.sends.clear()
            self._run_queue(batch_size=4)
        self.assertEqual(len(self.sends), 4)
        self.assertEqual(self._peak([clock for clock, _r in self.sends]), 4)

    def test_test_mode_books_no_slot(self):
        self.config.test_mode = True
        self.config.rate_limit = 1
        self._queue_many(3)
        with self.mock_whatsapp_gateway():
            self.assertEqual(self._run_queue(), 3)
        self.assertEqual(self.sleeps, [])
        pace = self.env["ofitec.whatsapp.send.pace"].search([("config_id", "=", self.config.id)])
        self.assertFalse(pace.tat)

    def test_urgent_first_within_a_number(self):
        self._queue_many(2)
        action = self.env["ofitec.next.action"].create(
            {
                "name": "Filtración",
                "description": "-",
                "action_type": "planned",
                "category": "risk",
                "priority": "3",
                "project_id": self.project.id,
            }
        )
        self.env.cr.execute(
            "UPDATE ofitec_next_action SET priority = '1' WHERE id = %s", (action.id,)
        )
        self._open_window("+56977777777")
        urgent = self._queue("+56977777777", next_action_id=action.id)
        self.assertEqual(claim_held(self.Message), urgent)


@tagged("post_install", "-at_install")
class TestTestMode(QueueCase):
    def test_nothing_leaves_odoo(self):
        self.config.test_mode = True
        action = self._create_action()
        with self.mock_whatsapp_gateway() as gateway:
            self.assertEqual(self._run_queue(), 2)
        self.assertNoWhatsApp(gateway)
        self.assertFalse(gateway.clients)
        messages = self._messages(action)
        self.assertEqual(messages.mapped("state"), ["sent", "sent"])
        self.assertTrue(all(messages.mapped("is_test")))
        self.assertTrue(all(m.whatsapp_message_id.startswith("test.") for m in messages))
        self.assertEqual(len(set(messages.mapped("whatsapp_message_id"))), 2)
        self.assertTrue(all(messages.mapped("sent_date")))
        self.assertTrue(action.whatsapp_sent)

    def test_without_network_at_all(self):
        """Test mode works with the real client factory: it is never called."""
        self.config.test_mode = True
        action = self._create_action()
        self._run_queue()
        self.assertEqual(self._messages(action).mapped("state"), ["sent", "sent"])

    def test_allow_list(self):
        self.config.write({"test_mode": True, "test_allowlist": "+56 9 1111 1111\n+56 9 5555 5555"})
        action = self._create_action()
        with self.mock_whatsapp_gateway() as gateway:
            self._run_queue()
        self.assertWhatsAppSent(gateway, MANAGER)
        self.assertFalse(gateway.sent_to(ASSIGNEE))
        manager = self._messages(action, phone=MANAGER)
        assignee = self._messages(action, phone=ASSIGNEE)
        self.assertFalse(manager.is_test)
        self.assertTrue(manager.whatsapp_message_id.startswith("wamid."))
        self.assertTrue(assignee.is_test)
        self.assertTrue(assignee.whatsapp_message_id.startswith("test."))

    def test_test_connection_in_test_mode(self):
        self.config.test_mode = True
        with self.mock_whatsapp_gateway() as gateway:
            result = self.config._test_connection()
            # Not a success: nothing was checked, and it says so.
            self.assertFalse(result["ok"])
            self.assertTrue(result["test_mode"])
            self.assertIn("Meta was not contacted", result["message"])
            self.assertFalse(gateway.calls)
            notification = self.config.action_test_connection()["params"]
            self.assertEqual(notification["type"], "warning")
            self.assertIn("nothing was contacted", notification["title"])
            # The real check is offered, and it does reach Meta (a read, no message).
            notification = self.config.action_test_connection_real()["params"]
        self.assertEqual(notification["type"], "success")
        self.assertEqual([call["kind"] for call in gateway.calls], ["get_phone_number"])
        self.assertFalse(gateway.sent)


class ConcurrencyCase(QueueCase):
    """Two workers, two real transactions: PostgreSQL row locks decide, never luck.

    Other transactions must see the messages, so these classes commit their data in
    cursors of their own (never the test's cursor) and delete it afterwards.
    """

    def setUp(self):
        super().setUp()
        with self._cursor() as cr:
            self.max_trigger_id = self._last_trigger_id(cr)
            config = self._env(cr)["ofitec.whatsapp.config"].create(
                {
                    "name": "Concurrency test number",
                    "phone_number_id": "990000000001",
                    "access_token": "concurrency-token",
                    "company_id": self.company.id,
                    "rate_limit": 0,
                }
            )
            self.committed_config_id = config.id
        self.addCleanup(self._delete_committed)

    def _env(self, cr):
        return api.Environment(cr, SUPERUSER_ID, {})

    @contextmanager
    def _two_workers(self):
        """Two real cursors on their own connections, as two workers would have."""
        cr_a, cr_b = self._cursor(), self._cursor()
        try:
            yield cr_a, cr_b
        finally:
            cr_a.close()
            cr_b.close()

    def _delete_committed(self):
        with self._cursor() as cr:
            cr.execute(
                "DELETE FROM ofitec_whatsapp_message WHERE config_id = %s",
                (self.committed_config_id,),
            )
            # Contacts and statuses go with the config (ON DELETE CASCADE).
            cr.execute(
                "DELETE FROM ofitec_whatsapp_config WHERE id = %s", (self.committed_config_id,)
            )
            cr.execute(
                "DELETE FROM ofitec_whatsapp_template WHERE code = %s",
                (f"concurrency_{self.committed_config_id}",),
            )
            send_cron = self.env.ref("ofitec_whatsapp.ir_cron_whatsapp_send_queue")
            self._delete_triggers_since(cr, self.max_trigger_id, send_cron.ids)

    def _commit_action(self, name):
        """A committed, non-urgent action (deleted after the test); returns its id."""
        with self._cursor() as cr:
            action = (
                self._env(cr)["ofitec.next.action"]
                .with_context(tracking_disable=True, mail_create_nosubscribe=True)
                .create(
                    {
                        "name": name,
                        "description": "-",
                        "action_type": "planned",
                        "category": "risk",
                        "priority": "3",
                        "company_id": self.company.id,
                    }
                )
            )
            action_id = action.id
        self.addCleanup(self._delete_committed_action, action_id)
        return action_id

    def _delete_committed_action(self, action_id):
        with self._cursor() as cr:
            cr.execute(
                "DELETE FROM ofitec_whatsapp_message WHERE next_action_id = %s", (action_id,)
            )
            cr.execute(
                "DELETE FROM mail_followers WHERE res_model = 'ofitec.next.action' AND res_id = %s",
                (action_id,),
            )
            cr.execute(
                "DELETE FROM mail_message WHERE model = 'ofitec.next.action' AND res_id = %s",
                (action_id,),
            )
            cr.execute(
                "DELETE FROM mail_activity WHERE res_model = 'ofitec.next.action' AND res_id = %s",
                (action_id,),
            )
            cr.execute("DELETE FROM ofitec_next_action WHERE id = %s", (action_id,))

    def _commit_messages(self, numbers):
        with self._cursor() as cr:
            # A committed, approved template of its own: the approval of the seed
            # templates that the test class starts from is not committed.
            template = self._env(cr)["ofitec.whatsapp.template"].create(
                {
                    "name": "Concurrency template",
                    "code": f"concurrency_{self.committed_config_id}",
                    "body": "{{title}}",
                    "meta_template_name": "ofitec_urgent_action",
                    "meta_status": "APPROVED",
                }
            )
            messages = self._env(cr)["ofitec.whatsapp.message"].create(
                [
                    {
                        "direction": "outbound",
                        "state": "queued",
                        "config_id": self.committed_config_id,
                        "company_id": self.company.id,
                        "phone": number,
                        "body": f"Mensaje {i}",
                        "template_id": template.id,
                    }
                    for i, number in enumerate(numbers)
                ]
            )
            return messages.ids

    def _committed_states(self, ids):
        with self._cursor() as cr:
            cr.execute(
                "SELECT id, state FROM ofitec_whatsapp_message WHERE id IN %s", (tuple(ids),)
            )
            return dict(cr.fetchall())

    @staticmethod
    def _sent_ids(gateway):
        return sorted(int(p["callback"].split(":")[1]) for p in gateway.sent)


@tagged("post_install", "-at_install")
class TestQueueConcurrency(ConcurrencyCase):
    def test_claimed_row_is_skipped_by_another_worker(self):
        ids = self._commit_messages([f"+5699100{i:04d}" for i in range(4)])
        with self.mock_whatsapp_gateway() as gateway:
            with self._two_workers() as (cr_a, cr_b):
                # Worker B must never wait for A: fail fast instead of hanging the test.
                cr_b.execute("SET lock_timeout = '5s'")
                env_a, env_b = self._env(cr_a), self._env(cr_b)
                held = claim_held(env_a["ofitec.whatsapp.message"])
                self.assertEqual(held.id, ids[0])
                handled = env_b["ofitec.whatsapp.message"]._process_queue()
                self.assertEqual(handled, 3)
                self.assertEqual(self._sent_ids(gateway), ids[1:])
                cr_b.commit()
                # A still holds its row; it sends it now, once.
                send_held(held)
                cr_a.commit()
        self.assertEqual(self._sent_ids(gateway), ids)
        self.assertEqual(set(self._committed_states(ids).values()), {"sent"})

    def test_worker_with_an_old_snapshot_does_not_resend(self):
        """B's transaction began before A sent and committed message 1 (REPEATABLE
        READ): B must neither send it again nor crash."""
        ids = self._commit_messages(["+56991110001", "+56991110002"])
        with self.mock_whatsapp_gateway() as gateway:
            with self._two_workers() as (cr_a, cr_b):
                cr_b.execute("SET lock_timeout = '5s'")
                env_a, env_b = self._env(cr_a), self._env(cr_b)
                cr_b.execute("SELECT id FROM ofitec_whatsapp_message WHERE id IN %s", (tuple(ids),))
                self.assertEqual(len(cr_b.fetchall()), 2)  # B's snapshot is taken
                self.assertEqual(env_a["ofitec.whatsapp.message"]._process_queue(limit=1), 1)
                cr_a.commit()
                self.assertEqual(self._sent_ids(gateway), ids[:1])
                with mute_logger("odoo.sql_db"):
                    env_b["ofitec.whatsapp.message"]._process_queue()
                cr_b.commit()
                # A fresh transaction of B sends what is left.
                env_b["ofitec.whatsapp.message"]._process_queue()
                cr_b.commit()
        self.assertEqual(self._sent_ids(gateway), ids)
        self.assertEqual(set(self._committed_states(ids).values()), {"sent"})

    def test_two_workers_sending_to_the_same_person(self):
        """The contact book-keeping after a send may collide with another worker's:
        that must never undo the record of a message Meta accepted."""
        number = "+56991110003"
        ids = self._commit_messages([number, number])
        with self.mock_whatsapp_gateway() as gateway:
            with self._two_workers() as (cr_a, cr_b):
                cr_b.execute("SET lock_timeout = '5s'")
                env_a, env_b = self._env(cr_a), self._env(cr_b)
                cr_b.execute("SELECT 1 FROM ofitec_whatsapp_contact LIMIT 1")  # B's snapshot
                held = claim_held(env_a["ofitec.whatsapp.message"])
                self.assertEqual(held.id, ids[0])
                other = claim_held(env_b["ofitec.whatsapp.message"])
                self.assertEqual(other.id, ids[1])
                send_held(held)
                cr_a.commit()  # A created the contact of this number
                with mute_logger("odoo.sql_db"), self.assertLogs(MESSAGE_LOGGER, "WARNING"):
                    send_held(other)  # B does not see it and creates it too
                cr_b.commit()
        self.assertEqual(self._sent_ids(gateway), ids)
        self.assertEqual(set(self._committed_states(ids).values()), {"sent"})
        with self._cursor() as cr:
            cr.execute(
                "SELECT COUNT(*) FROM ofitec_whatsapp_contact WHERE config_id = %s AND phone = %s",
                (self.committed_config_id, number),
            )
            self.assertEqual(cr.fetchone()[0], 1)

    def test_two_workers_sending_about_the_same_action(self):
        """Recording a send must not write the action's row: a concurrent writer of
        the action (another worker, a user) would otherwise make the record of a
        message Meta accepted roll back, and the message would go out again."""
        action_id = self._commit_action("Concurrency action")
        ids = self._commit_messages(["+56991110004", "+56991110005"])
        with self._cursor() as cr:
            cr.execute(
                "UPDATE ofitec_whatsapp_message SET next_action_id = %s WHERE id IN %s",
                (action_id, tuple(ids)),
            )
        with self.mock_whatsapp_gateway() as gateway:
            with self._two_workers() as (cr_a, cr_b):
                cr_b.execute("SET lock_timeout = '5s'")
                env_a, env_b = self._env(cr_a), self._env(cr_b)
                held = claim_held(env_a["ofitec.whatsapp.message"])
                other = claim_held(env_b["ofitec.whatsapp.message"])
                self.assertEqual((held + other).ids, ids)
                send_held(held)
                cr_a.commit()
                send_held(other)
                cr_b.commit()
        self.assertEqual(self._sent_ids(gateway), ids)
        self.assertEqual(set(self._committed_states(ids).values()), {"sent"})
        with self._cursor() as cr:
            self.assertTrue(self._env(cr)["ofitec.next.action"].browse(action_id).whatsapp_sent)

    def test_parallel_runs_send_each_message_once(self):
        """Two cron runs at the same time, in threads, committing per message as in
        production: every message goes out exactly once."""
        count = 24
        # Some people get several messages: their contact rows are shared too.
        ids = self._commit_messages([f"+5699200{i % 10:04d}" for i in range(count)])
        barrier = threading.Barrier(2)
        handled, errors = [0, 0], []

        def worker(index):
            try:
                with self._cursor() as cr:
                    cr.execute("SET lock_timeout = '10s'")
                    env = self._env(cr)
                    barrier.wait(timeout=30)
                    handled[index] = env["ofitec.whatsapp.message"]._process_queue(time_budget=None)
            except Exception as error:  # reported by the main thread
                errors.append(error)

        with self.mock_whatsapp_gateway() as gateway, mute_logger("odoo.sql_db"):
            threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=120)
            self.assertFalse(any(t.is_alive() for t in threads), "a worker is stuck")
        self.assertFalse(errors, errors)
        sent = self._sent_ids(gateway)
        self.assertEqual(sent, ids, "each message exactly once")
        self.assertEqual(sum(handled), count)
        self.assertEqual(set(self._committed_states(ids).values()), {"sent"})
