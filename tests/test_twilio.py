"""Twilio as a provider: config, sending through the real SDK over a fake transport,
status callbacks and replies through the same pipeline as Meta's (issue 7)."""

import json
from datetime import timedelta
from unittest.mock import patch

from cryptography.fernet import Fernet

from odoo import fields, tools
from odoo.exceptions import AccessError, ValidationError
from odoo.tests import common, tagged

from ..models.ofitec_whatsapp_config_secret import KEY_CONFIG_OPTION
from ..tools import commands
from ..tools.twilio_client import TwilioClient
from .twilio_common import (
    CONTENT_SID,
    QUICK_REPLY_SID,
    TWILIO_ACCOUNT_SID,
    TWILIO_AUTH_TOKEN,
    TWILIO_FROM,
    TwilioMixin,
    twilio_error,
    twilio_inbound_form,
    twilio_status_form,
)

MANAGER = "+56911111111"
ASSIGNEE = "+56922222222"
MESSAGES_PATH = f"/2010-04-01/Accounts/{TWILIO_ACCOUNT_SID}/Messages.json"


class TwilioCase(TwilioMixin, common.TransactionCase):
    def _send_urgent_action(self, transport, **vals):
        action = self._create_action(**vals)
        self._run_queue()
        messages = self._messages(action)
        return action, messages


@tagged("post_install", "-at_install")
class TestTwilioConfig(TwilioCase):
    def test_the_config_picks_the_twilio_client(self):
        client = self.twilio_config._get_client()
        self.assertIsInstance(client, TwilioClient)
        self.assertEqual(client.account_sid, TWILIO_ACCOUNT_SID)
        self.assertEqual(client.sender, {"from_": TWILIO_FROM})
        self.assertEqual(client.base_url, "https://api.twilio.com")
        self.assertEqual(client.status_callback, self.twilio_config.webhook_url)
        self.assertTrue(client.http_client.timeout)
        self.assertIs(self.twilio_config._get_provider_class(), TwilioClient)

    def test_sender_and_url_are_checked(self):
        for vals in (
            {"twilio_from": "+14155238886"},
            {"twilio_from": "MG123"},
            {"twilio_api_base_url": "api.twilio.com"},
            {"twilio_account_sid": "AC12"},
        ):
            with self.subTest(vals=vals), self.assertRaises(ValidationError):
                self.twilio_config.write(vals)
        self.twilio_config.twilio_from = "MG" + "0" * 32
        self.assertEqual(
            self.twilio_config._get_client().sender, {"messaging_service_sid": "MG" + "0" * 32}
        )

    def test_content_sid_is_checked(self):
        with self.assertRaises(ValidationError):
            self.urgent_template.twilio_content_sid = "HX123"
        ref = self.urgent_template._get_template_ref()
        self.assertEqual(ref.content_sid, CONTENT_SID)

    def test_auth_token_is_a_manager_secret(self):
        wa_user = self._create_user(
            "twu", "Usuario WA", "+56 9 5555 0000", groups=("ofitec_whatsapp.group_whatsapp_user",)
        )
        config = self.twilio_config.with_user(wa_user)
        self.assertEqual(
            config.read(["twilio_account_sid"])[0]["twilio_account_sid"], TWILIO_ACCOUNT_SID
        )
        for fname in ("twilio_auth_token", "twilio_auth_token_stored"):
            with self.subTest(field=fname), self.assertRaises(AccessError):
                config.read([fname])
        data = config.read()[0]
        self.assertNotIn("twilio_auth_token", data)
        self.assertNotIn(TWILIO_AUTH_TOKEN, json.dumps(data, default=str))
        manager = self._create_user(
            "twm",
            "Gerente WA",
            "+56 9 5555 0001",
            groups=("ofitec_whatsapp.group_whatsapp_manager",),
        )
        data = self.twilio_config.with_user(manager).read(["twilio_auth_token"])[0]
        self.assertEqual(data["twilio_auth_token"], TWILIO_AUTH_TOKEN)

    def test_auth_token_encrypted_at_rest_with_a_key(self):
        key = Fernet.generate_key().decode()
        with patch.dict(tools.config.options, {KEY_CONFIG_OPTION: key}):
            self.twilio_config.twilio_auth_token = "rotated-twilio-token"
            self.env.flush_all()
            self.env.cr.execute(
                "SELECT twilio_auth_token_stored FROM ofitec_whatsapp_config WHERE id = %s",
                (self.twilio_config.id,),
            )
            stored = self.env.cr.fetchone()[0]
            self.assertTrue(stored.startswith("enc:v1:"), stored)
            self.assertNotIn("rotated-twilio-token", stored)
            self.twilio_config.invalidate_recordset()
            self.assertEqual(self.twilio_config.twilio_auth_token, "rotated-twilio-token")

    def test_test_connection_reports_the_account_status(self):
        with self.mock_twilio() as transport:
            result = self.twilio_config._test_connection()
            self.assertTrue(result["ok"], result)
            self.assertIn("active", result["message"])
            transport.account_status = "suspended"
            result = self.twilio_config._test_connection()
            self.assertFalse(result["ok"])
            self.assertIn("suspended", result["message"])
        (request, _second) = transport.requests
        self.assertEqual(request["method"], "GET")
        self.assertEqual(request["path"], f"/2010-04-01/Accounts/{TWILIO_ACCOUNT_SID}.json")
        self.assertTrue(request["headers"]["Authorization"].startswith("Basic "))
        self.assertTrue(request["timeout"])

    def test_test_connection_shows_twilios_exact_error(self):
        with self.mock_twilio() as transport:
            transport.answers.append(twilio_error(401, 20003, "Authenticate"))
            result = self.twilio_config._test_connection()
        self.assertFalse(result["ok"])
        self.assertEqual(result["error_code"], 20003)
        self.assertIn("(#20003) Authenticate", result["message"])
        self.assertNotIn(TWILIO_AUTH_TOKEN, json.dumps(result))

    def test_refused_credentials_pause_the_number_until_the_connection_passes(self):
        with self.mock_twilio() as transport:
            transport.answers.append(twilio_error(401, 20003, "Authenticate"))
            self.twilio_config._test_connection()
            self.assertTrue(self.twilio_config.sending_paused)
            self.assertEqual(self.twilio_config.token_status, "expired")
            self.assertIn("20003", self.twilio_config.paused_reason)
            self.assertTrue(self.twilio_config._test_connection()["ok"])
        self.assertFalse(self.twilio_config.sending_paused)
        self.assertEqual(self.twilio_config.token_status, "valid")


@tagged("post_install", "-at_install")
class TestTwilioSending(TwilioCase):
    def test_window_closed_sends_the_content_template(self):
        with self.mock_twilio() as transport:
            action, messages = self._send_urgent_action(transport)
        self.assertEqual(messages.mapped("state"), ["sent", "sent"])
        self.assertEqual(messages.mapped("message_type"), ["template", "template"])
        (form,) = transport.sent_to(ASSIGNEE)
        self.assertEqual(form["From"], TWILIO_FROM)
        self.assertEqual(form["ContentSid"], CONTENT_SID)
        self.assertNotIn("Body", form)
        self.assertEqual(form["StatusCallback"], self.twilio_config.webhook_url)
        variables = json.loads(form["ContentVariables"])
        params = self.urgent_template._get_param_keys()
        payloads = [
            commands.make_button_payload(action.id, command)
            for command in self.urgent_template._get_button_commands()
        ]
        self.assertEqual(len(variables), len(params) + len(payloads))
        self.assertEqual(
            [variables[str(i)] for i in range(len(params) + 1, len(variables) + 1)], payloads
        )
        self.assertIn("Revisar hormigonado losa piso 3", variables.values())
        # The Twilio SID is the message's provider id.
        self.assertEqual(
            sorted(messages.mapped("whatsapp_message_id")),
            sorted(r["sid"] for r in transport.sends),
        )

    def test_reminder_outside_the_window_says_it_is_one(self):
        """A reminder reuses the notification's approved Content: its title variable
        says it is a reminder."""
        reminder = self.env.ref("ofitec_whatsapp.ofitec_whatsapp_template_action_reminder")
        reminder.write({"twilio_content_sid": CONTENT_SID, "twilio_approval_status": "approved"})
        with self.mock_twilio() as transport:
            action, _messages = self._send_urgent_action(transport)
            action.action_send_whatsapp_reminder()
            self._run_queue()
        first, second = transport.sent_to(ASSIGNEE)
        self.assertEqual(second["ContentSid"], CONTENT_SID)
        title_index = str(reminder._get_param_keys().index("title") + 1)
        self.assertEqual(
            json.loads(second["ContentVariables"])[title_index],
            "🔔 Recordatorio: Revisar hormigonado losa piso 3",
        )
        self.assertEqual(
            json.loads(first["ContentVariables"])[title_index], "Revisar hormigonado losa piso 3"
        )

    def test_window_open_sends_text_or_quick_replies(self):
        self._open_window(ASSIGNEE, config=self.twilio_config)
        with self.mock_twilio() as transport:
            self._send_urgent_action(transport)
            (form,) = transport.sent_to(ASSIGNEE)
            self.assertIn("Revisar hormigonado losa piso 3", form["Body"])
            self.assertNotIn("ContentSid", form)
            # With a quick-reply content, the same message carries OK / COMPLETADO / CANCELAR.
            self.twilio_config.twilio_quick_reply_content_sid = QUICK_REPLY_SID
            action, _messages = self._send_urgent_action(transport, name="Segunda acción")
        form = transport.sent_to(ASSIGNEE)[-1]
        self.assertEqual(form["ContentSid"], QUICK_REPLY_SID)
        variables = json.loads(form["ContentVariables"])
        self.assertIn("Segunda acción", variables["1"])
        self.assertEqual(
            [variables["2"], variables["3"], variables["4"]],
            [
                commands.make_button_payload(action.id, c)
                for c in (commands.CMD_OK, commands.CMD_COMPLETED, commands.CMD_CANCEL)
            ],
        )

    def test_63016_on_free_text_falls_back_to_the_template(self):
        self._open_window(ASSIGNEE, config=self.twilio_config)
        with self.mock_twilio() as transport:
            transport.fail(ASSIGNEE, twilio_error(400, 63016, "Outside the 24h window"))
            _action, messages = self._send_urgent_action(transport)
        first, second = transport.sent_to(ASSIGNEE)
        self.assertIn("Body", first)
        self.assertEqual(second["ContentSid"], CONTENT_SID)
        message = messages.filtered(lambda m: m.phone == ASSIGNEE)
        self.assertEqual((message.state, message.message_type), ("sent", "template"))

    def test_errors_by_twilio_code(self):
        cases = [
            (twilio_error(429, 63018, "Rate limit exceeded"), "queued", "63018"),
            (twilio_error(429, 20429, "Too Many Requests"), "queued", "20429"),
            (twilio_error(400, 21211, "Invalid 'To' Phone Number"), "failed", "21211"),
            (twilio_error(400, 21408, "Permission to send is not enabled"), "failed", "21408"),
            (twilio_error(400, 63024, "Invalid message recipient"), "failed", "63024"),
        ]
        for answer, state, code in cases:
            with self.subTest(code=code), self.mock_twilio() as transport:
                transport.fail(ASSIGNEE, answer)
                _action, messages = self._send_urgent_action(transport)
                message = messages.filtered(lambda m: m.phone == ASSIGNEE)
                self.assertEqual((message.state, message.error_code), (state, code))
                if state == "queued":
                    self.assertTrue(message.next_attempt)

    def test_template_error_names_the_template(self):
        with self.mock_twilio() as transport:
            transport.fail(ASSIGNEE, twilio_error(400, 63027, "Template does not exist"))
            _action, messages = self._send_urgent_action(transport)
        message = messages.filtered(lambda m: m.phone == ASSIGNEE)
        self.assertEqual(message.state, "failed")
        self.assertIn("ofitec_urgent_action", message.error_message)
        self.assertIn("Template does not exist", message.error_message)

    def test_auth_error_keeps_the_message(self):
        with self.mock_twilio() as transport:
            transport.fail(ASSIGNEE, twilio_error(401, 20003, "Authenticate"))
            _action, messages = self._send_urgent_action(transport)
        message = messages.filtered(lambda m: m.phone == ASSIGNEE)
        self.assertEqual(message.error_code, "20003")
        self.assertNotIn(TWILIO_AUTH_TOKEN, message.error_message or "")


@tagged("post_install", "-at_install")
class TestTwilioWebhookProcessing(TwilioCase):
    def _sent_message(self, transport):
        action, messages = self._send_urgent_action(transport)
        return action, messages.filtered(lambda m: m.phone == ASSIGNEE)

    def test_statuses_move_forward_once(self):
        with self.mock_twilio() as transport:
            _action, message = self._sent_message(transport)
        sid = message.whatsapp_message_id
        for status in ("queued", "sending", "sent"):
            self._twilio_receive(twilio_status_form(sid, status))
        self.assertEqual(message.state, "sent")
        self.assertEqual(
            self.env["ofitec.whatsapp.status"].search_count([("whatsapp_message_id", "=", sid)]),
            1,
            "queued / sending / sent are one status: stored once",
        )
        self._twilio_receive(twilio_status_form(sid, "read"))
        self.assertEqual(message.state, "read")
        self._twilio_receive(twilio_status_form(sid, "delivered"))
        self.assertEqual(message.state, "read", "statuses never go backwards")
        self.assertTrue(message.delivered_date)

    def test_a_delivered_after_the_read_is_dated_at_the_read(self):
        """Twilio's callbacks carry no time: each status is dated when it arrives. A
        "delivered" that arrives after the "read" took place by the read: it takes
        the read's date (never later), and the message stays read."""
        with self.mock_twilio() as transport:
            _action, message = self._sent_message(transport)
        sid = message.whatsapp_message_id
        read_at = message.sent_date + timedelta(minutes=2)
        self._twilio_arrived(twilio_status_form(sid, "read"), read_at)
        self._twilio_arrived(twilio_status_form(sid, "delivered"), read_at + timedelta(minutes=1))
        self.assertEqual(
            (message.state, message.delivered_date, message.read_date), ("read", read_at, read_at)
        )
        self.assertLessEqual(message.sent_date, message.delivered_date)

    def _twilio_arrived(self, pairs, at):
        """Store a Twilio POST as having arrived ``at`` (its date), and process it."""
        event = self._twilio_deliver(pairs)
        self.env.cr.execute(
            "UPDATE ofitec_whatsapp_webhook_event SET create_date = %s WHERE id = %s",
            (at, event.id),
        )
        event.invalidate_recordset(["create_date"])
        self._process_webhooks()
        self.assertEqual(event.state, "processed", event.error)

    def test_failed_and_undelivered_carry_the_error_code(self):
        with self.mock_twilio() as transport:
            _action, message = self._sent_message(transport)
        self._twilio_receive(
            twilio_status_form(message.whatsapp_message_id, "undelivered", error_code=63024)
        )
        self.assertEqual((message.state, message.error_code), ("failed", "63024"))
        self.assertIn("Invalid recipient", message.error_message)

    def test_a_rate_limited_failure_is_retried_later(self):
        """63018 in a status (Twilio's rate limit; spec B5: retry later): a new copy
        waits its backoff. Without attempts left, the failure is final."""
        with self.mock_twilio() as transport:
            action, messages = self._send_urgent_action(transport)
        to_assignee = messages.filtered(lambda m: m.phone == ASSIGNEE)
        self._twilio_receive(
            twilio_status_form(to_assignee.whatsapp_message_id, "failed", error_code=63018)
        )
        self.assertEqual((to_assignee.state, to_assignee.error_code), ("failed", "63018"))
        again = action.whatsapp_message_ids.filtered(lambda m: m.state == "queued")
        self.assertEqual((again.phone, again.retry_count), (ASSIGNEE, 1))
        self.assertGreater(again.next_attempt, fields.Datetime.now())
        self.assertFalse(again.whatsapp_message_id)
        self.twilio_config.max_attempts = 1
        to_manager = messages.filtered(lambda m: m.phone == MANAGER)
        self._twilio_receive(
            twilio_status_form(to_manager.whatsapp_message_id, "failed", error_code=63018)
        )
        self.assertEqual(to_manager.state, "failed")
        self.assertEqual(action.whatsapp_message_ids.filtered(lambda m: m.state == "queued"), again)

    def test_unknown_status_is_stored_and_ignored(self):
        with self.mock_twilio() as transport:
            _action, message = self._sent_message(transport)
        event = self._twilio_receive(twilio_status_form(message.whatsapp_message_id, "canceled"))
        self.assertEqual(event.state, "processed")
        self.assertEqual(message.state, "sent")
        event = self._twilio_receive(twilio_status_form(message.whatsapp_message_id, "zzz"))
        self.assertEqual(event.state, "processed")
        self.assertEqual(message.state, "sent")

    def test_ok_quick_reply_starts_the_action_and_confirms_through_twilio(self):
        with self.mock_twilio() as transport:
            action, message = self._sent_message(transport)
            payload = commands.make_button_payload(action.id, commands.CMD_OK)
            self._twilio_receive(
                twilio_inbound_form(
                    "SM" + "1" * 32,
                    ASSIGNEE,
                    "OK",
                    button_payload=payload,
                    replied_sid=message.whatsapp_message_id,
                    name="Andrés",
                )
            )
            self.assertEqual(action.status, "in_progress")
            contact = self.env["ofitec.whatsapp.contact"].search(
                [("config_id", "=", self.twilio_config.id), ("wa_id", "=", ASSIGNEE[1:])]
            )
            self.assertTrue(contact._is_window_open())
            self.assertEqual(contact.profile_name, "Andrés")
            self._run_queue()
        confirmation = transport.sent_to(ASSIGNEE)[-1]
        self.assertIn("Body", confirmation, "the window is open: free text")
        reply = self._messages(action).filtered(lambda m: m.template_id.code == "reply_ok")
        self.assertEqual(reply.state, "sent")
        self.assertEqual(reply.whatsapp_message_id, transport.sends[-1]["sid"])

    def test_fixed_button_id_routes_by_the_quoted_message(self):
        """A template whose quick replies have fixed ids: the tap names no action,
        the quoted message (OriginalRepliedMessageSid) does."""
        with self.mock_twilio() as transport:
            action, message = self._sent_message(transport)
            self._create_action(name="Otra acción abierta")
            self._run_queue()
            self._twilio_receive(
                twilio_inbound_form(
                    "SM" + "2" * 32,
                    ASSIGNEE,
                    "COMPLETADO",
                    button_payload="completed",
                    replied_sid=message.whatsapp_message_id,
                )
            )
        self.assertEqual(action.status, "completed")

    def test_inbound_redelivery_is_handled_once(self):
        with self.mock_twilio() as transport:
            action, _message = self._sent_message(transport)
            form = twilio_inbound_form("SM" + "3" * 32, ASSIGNEE, "ok")
            self._twilio_receive(form)
            self._twilio_receive(form)
        inbound = self._messages(direction="inbound")
        self.assertEqual(len(inbound), 1)
        self.assertEqual(action.status, "in_progress")


@tagged("post_install", "-at_install")
class TestTwilioProductionPath(TwilioCase):
    """A batch larger than one message, sent from several threads through one SDK client."""

    def test_batch_of_many_with_threads(self):
        numbers = [f"+5699200{i:04d}" for i in range(9)]
        Message = self.env["ofitec.whatsapp.message"].sudo()
        for number in numbers:
            self._open_window(number, config=self.twilio_config)
        messages = Message.create(
            [
                {
                    "direction": "outbound",
                    "state": "queued",
                    "config_id": self.twilio_config.id,
                    "company_id": self.company.id,
                    "phone": number,
                    "body": f"Hola {number}",
                }
                for number in numbers
            ]
        )
        with self.mock_twilio() as transport:
            transport.fail(numbers[2], twilio_error(400, 21211, "Invalid 'To' Phone Number"))
            transport.fail(numbers[5], twilio_error(429, 63018, "Rate limit exceeded"))
            handled = Message._process_queue(batch_size=4, threads=3)
        self.assertEqual(handled, 9)
        self.assertEqual(len(transport.sends), 9)
        by_number = {m.phone: m for m in messages}
        self.assertEqual(
            (by_number[numbers[2]].state, by_number[numbers[2]].error_code), ("failed", "21211")
        )
        retried = by_number[numbers[5]]
        self.assertEqual((retried.state, retried.retry_count), ("queued", 1))
        sent = messages - by_number[numbers[2]] - retried
        self.assertEqual(set(sent.mapped("state")), {"sent"})
        # Each message got the SID Twilio gave to its own request, whatever the thread.
        sids = {r["form"]["To"]: r["sid"] for r in transport.sends if "sid" in r}
        for message in sent:
            self.assertEqual(message.whatsapp_message_id, sids[f"whatsapp:{message.phone}"])
            (form,) = transport.sent_to(message.phone)
            self.assertEqual(form["Body"], f"Hola {message.phone}")
