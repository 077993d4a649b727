import http.server
import json
import socket
import threading
from unittest.mock import patch

from odoo.exceptions import AccessError, UserError
from odoo.tests import common, tagged

from ..wizard import ofitec_whatsapp_simulate_reply as simulate_module
from .common import WhatsAppHttpCase
from .twilio_common import TwilioMixin


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _FixedAnswer(http.server.BaseHTTPRequestHandler):
    """Answers every POST with the server's ``answer``: (status, headers)."""

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        status, headers = self.server.answer
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


class SimulateReplyMixin:
    """A number in test mode whose Webhook URL is this test server, and an urgent action
    notified through it (its messages 'sent' with local ids)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._sandbox_config().test_mode = True
        cls.user_wm = cls._create_user(
            "wm",
            "Walter Manager",
            "+56 9 3333 3333",
            groups=("base.group_user", "ofitec_whatsapp.group_whatsapp_manager"),
        )
        cls.user_wu = cls._create_user(
            "wu", "Wanda User", "+56 9 4444 4444", groups=("ofitec_whatsapp.group_whatsapp_user",)
        )

    @classmethod
    def _sandbox_config(cls):
        return cls.config

    def setUp(self):
        super().setUp()
        self.env["ir.config_parameter"].sudo().set_param("web.base.url", self.base_url())
        self.action = self._create_action()
        self._run_queue()
        self.sent = self._messages(self.action, direction="outbound", phone="+56922222222")
        self.assertEqual(self.sent.state, "sent")
        self.assertTrue(self.sent.is_test)

    def _simulate(self, message=None, user=None, **vals):
        """Run the wizard as a manager and wait for its posting thread."""
        wizard = (
            self.env["ofitec.whatsapp.simulate.reply"]
            .with_user(user or self.user_wm)
            .create(dict(vals, message_id=(message or self.sent).id))
        )
        thread = wizard._simulate()
        thread.join(120)
        self.assertFalse(thread.is_alive(), "the simulated reply never finished")
        self.env.invalidate_all()
        return wizard


@tagged("post_install", "-at_install")
class TestSimulateReply(SimulateReplyMixin, WhatsAppHttpCase):
    def test_completado_moves_the_action_through_the_real_webhook(self):
        wizard = self._simulate(reply="completed")
        self.assertEqual(wizard.state, "done")
        self.assertEqual(wizard.webhook_status, 200)
        self.assertEqual(wizard.result_type, "success", wizard.result_message)
        self.assertEqual(self.action.status, "completed")
        # The real controller accepted the signature and stored the event.
        event = self.env["ofitec.whatsapp.webhook.event"].search(
            [("config_id", "=", self.config.id)], limit=1
        )
        self.assertEqual(event.state, "processed")
        self.assertEqual(self.config.signature_failure_count, 0)
        message = json.loads(event.payload)["entry"][0]["changes"][0]["value"]["messages"][0]
        self.assertEqual(message["type"], "button")  # a quick-reply tap on the template
        self.assertEqual(message["context"]["id"], self.sent.whatsapp_message_id)
        self.assertEqual(message["button"]["payload"], f"ofitec:{self.action.id}:completed")
        inbound = wizard.inbound_message_id
        self.assertEqual(inbound.direction, "inbound")
        self.assertEqual(inbound.command, "completed")
        self.assertTrue(inbound.reply_processed)
        self.assertEqual(inbound.whatsapp_message_id, wizard.inbound_wamid)
        result = wizard.with_user(self.user_wm).get_simulation_result()
        self.assertTrue(result["done"])
        self.assertEqual(result["next"]["res_id"], self.action.id)

    def test_ok_starts_the_action(self):
        wizard = self._simulate(reply="ok")
        self.assertEqual(wizard.result_type, "success", wizard.result_message)
        self.assertEqual(self.action.status, "in_progress")

    def test_free_text_is_stored_as_inbound(self):
        text = "¿A qué hora llega el camión?"
        wizard = self._simulate(reply="text", text=text)
        self.assertEqual(wizard.webhook_status, 200)
        self.assertEqual(wizard.result_type, "info", wizard.result_message)
        inbound = self._messages(direction="inbound", whatsapp_message_id=wizard.inbound_wamid)
        self.assertEqual(inbound.body, text)
        self.assertFalse(inbound.command)
        self.assertEqual(inbound.wa_id, "56922222222")
        self.assertEqual(self.action.status, "pending")

    def test_a_command_that_changes_nothing_says_so(self):
        self.assertEqual(self._simulate(reply="ok").result_type, "success")
        again = self._simulate(reply="ok")
        self.assertEqual(again.result_type, "warning", again.result_message)
        self.assertIn("no action changed", again.result_message)
        self.assertEqual(again.inbound_message_id.command, "ok")
        self.assertFalse(again.inbound_message_id.reply_processed)
        self.assertEqual(self.action.status, "in_progress")

    def test_accepted_but_not_processed_says_where_to_look(self):
        Event = type(self.env["ofitec.whatsapp.webhook.event"])
        with (
            patch.object(simulate_module, "PROCESS_ATTEMPTS", 1),
            patch.object(Event, "_process_pending", lambda self, limit=None, helper=False: 0),
        ):
            wizard = self._simulate(reply="completed")
        self.assertEqual(wizard.webhook_status, 200)
        self.assertEqual(wizard.result_type, "warning", wizard.result_message)
        self.assertIn("not processed yet", wizard.result_message)
        self.assertFalse(wizard.inbound_message_id)
        event = self.env["ofitec.whatsapp.webhook.event"].search(
            [("config_id", "=", self.config.id)], limit=1
        )
        self.assertEqual(event.state, "received")
        self.assertEqual(self.action.status, "pending")

    def test_refused_to_a_non_manager(self):
        Wizard = self.env["ofitec.whatsapp.simulate.reply"]
        with self.assertRaises(AccessError):
            Wizard.with_user(self.user_wu).create({"message_id": self.sent.id})
        # Past the access rights too: the method checks the group itself.
        wizard = Wizard.with_user(self.user_wm).create({"message_id": self.sent.id})
        with self.assertRaises(AccessError):
            wizard.with_user(self.user_wu)._check_can_simulate()
        # And the button is not in the non-manager's form.
        arch = (
            self.env["ofitec.whatsapp.message"]
            .with_user(self.user_wu)
            .get_views([(False, "form")])["views"]["form"]["arch"]
        )
        self.assertNotIn("o_whatsapp_simulate_reply", arch)
        manager_arch = (
            self.env["ofitec.whatsapp.message"]
            .with_user(self.user_wm)
            .get_views([(False, "form")])["views"]["form"]["arch"]
        )
        self.assertIn("o_whatsapp_simulate_reply", manager_arch)

    def test_refused_outside_test_mode(self):
        self.config.test_mode = False
        with self.assertRaisesRegex(UserError, "test mode"):
            self.env["ofitec.whatsapp.simulate.reply"].with_user(self.user_wm).create(
                {"message_id": self.sent.id}
            )
        self.assertFalse(self.sent.config_test_mode)

    def test_refused_on_a_message_not_sent(self):
        queued = self.env["ofitec.whatsapp.message"].create(
            {"config_id": self.config.id, "phone": "+56955550001", "body": "Hola"}
        )
        with self.assertRaisesRegex(UserError, "sent"):
            self.env["ofitec.whatsapp.simulate.reply"].with_user(self.user_wm).create(
                {"message_id": queued.id}
            )

    def test_unreachable_webhook_url_says_so(self):
        url = f"http://127.0.0.1:{_free_port()}"
        self.env["ir.config_parameter"].sudo().set_param("web.base.url", url)
        wizard = (
            self.env["ofitec.whatsapp.simulate.reply"]
            .with_user(self.user_wm)
            .create({"message_id": self.sent.id})
        )
        with self.assertRaisesRegex(UserError, "web.base.url"):
            wizard._simulate()
        self.assertEqual(wizard.state, "draft")
        self.assertEqual(self.action.status, "pending")

    def test_a_webhook_url_that_refuses_or_redirects_says_what_to_fix(self):
        """web.base.url leads somewhere that is not this Odoo's route: a proxy that
        redirects, another database that refuses the signature, a server error."""
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _FixedAnswer)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        url = f"http://127.0.0.1:{server.server_address[1]}"
        self.env["ir.config_parameter"].sudo().set_param("web.base.url", url)
        cases = [
            (
                301,
                [("Location", "https://odoo.example.com/x")],
                "redirect to https://odoo.example.com/x",
            ),
            (403, [], "refused the signature"),
            (502, [], "answered HTTP 502"),
        ]
        for status, headers, text in cases:
            server.answer = (status, headers)
            wizard = self._simulate(reply="completed")
            self.assertEqual((wizard.webhook_status, wizard.result_type), (status, "danger"))
            self.assertIn(text, wizard.result_message)
        self.assertEqual(self.action.status, "pending")
        self.assertFalse(self.env["ofitec.whatsapp.webhook.event"].search([]))


@tagged("post_install", "-at_install")
class TestSimulateReplyTwilio(SimulateReplyMixin, TwilioMixin, common.HttpCase):
    """A Twilio number: the form-encoded webhook, signed by the SDK's RequestValidator."""

    @classmethod
    def _sandbox_config(cls):
        return cls.twilio_config

    def test_completado_through_twilio_webhook(self):
        wizard = self._simulate(reply="completed")
        self.assertEqual(wizard.webhook_status, 200)
        self.assertEqual(wizard.result_type, "success", wizard.result_message)
        self.assertEqual(self.action.status, "completed")
        self.assertEqual(self.twilio_config.signature_failure_count, 0)
        event = self.env["ofitec.whatsapp.webhook.event"].search(
            [("config_id", "=", self.twilio_config.id)], limit=1
        )
        self.assertIn(f"ButtonPayload=ofitec%3A{self.action.id}%3Acompleted", event.payload)
        self.assertIn("OriginalRepliedMessageSid=" + self.sent.whatsapp_message_id, event.payload)
