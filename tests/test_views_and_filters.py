"""What the addon adds around its models: the action's views and filter, the number's
form (its checks and buttons), and who hears the dashboards' live updates."""

import json

from lxml import etree

from odoo.exceptions import UserError, ValidationError
from odoo.tests import tagged

from .common import WhatsAppCase, WhatsAppHttpCase, meta_payload, meta_status

MANAGER = "+56911111111"


@tagged("post_install", "-at_install")
class TestActionViewsAndFilter(WhatsAppCase):
    def _arch(self, view_type, arch):
        """The arch the client receives for a customer's own view ``arch``."""
        view = self.env["ir.ui.view"].create(
            {
                "name": "customer view",
                "model": "ofitec.next.action",
                "type": view_type,
                "arch": arch,
            }
        )
        result = self.env["ofitec.next.action"].get_view(view.id, view_type)
        return etree.fromstring(result["arch"])

    def test_a_bare_customer_form_gets_the_whatsapp_header_and_pages(self):
        arch = self._arch("form", '<form><field name="name"/></form>')
        header = arch.find("header")
        self.assertIsNotNone(header, "a header is made for the buttons")
        self.assertTrue(header.xpath("button[@name='action_send_whatsapp_reminder']"))
        self.assertEqual(len(arch.xpath("//field[@name='whatsapp_message_ids']")), 1)
        self.assertTrue(arch.xpath("//notebook/page//field[@name='whatsapp_message_ids']"))

    def test_a_form_with_sheet_and_notebook_gets_the_pages_in_its_notebook(self):
        arch = self._arch(
            "form",
            '<form><header/><sheet><field name="name"/><notebook><page string="Mine">'
            '<field name="description"/></page></notebook></sheet></form>',
        )
        notebooks = arch.xpath("//notebook")
        self.assertEqual(len(notebooks), 1, "the customer's notebook is reused")
        self.assertEqual(notebooks[0].getparent().tag, "sheet")
        self.assertEqual(len(arch.xpath("//header")), 1)
        self.assertTrue(notebooks[0].xpath(".//field[@name='whatsapp_message_ids']"))

    def test_a_form_already_showing_the_messages_is_left_alone(self):
        source = '<form><field name="name"/><field name="whatsapp_message_ids"/></form>'
        arch = self._arch("form", source)
        self.assertIsNone(arch.find("header"))
        self.assertEqual(len(arch.xpath("//field[@name='whatsapp_message_ids']")), 1)

    def test_a_list_gets_the_sent_column_once(self):
        bare = self._arch("tree", '<tree><field name="name"/></tree>')
        self.assertEqual(len(bare.xpath("//field[@name='whatsapp_sent']")), 1)
        own = self._arch("tree", '<tree><field name="name"/><field name="whatsapp_sent"/></tree>')
        self.assertEqual(len(own.xpath("//field[@name='whatsapp_sent']")), 1)

    def test_filter_on_sent(self):
        Action = self.env["ofitec.next.action"]
        with self.mock_whatsapp_gateway():
            sent = self._create_action()
            self._run_queue()
        waiting = self._create_action(name="Otra acción")  # queued, not sent yet
        quiet = self._create_action(name="Sin urgencia", priority="3")
        ours = sent | waiting | quiet
        self.assertEqual(
            Action.search([("id", "in", ours.ids), ("whatsapp_sent", "=", True)]), sent
        )
        self.assertEqual(
            Action.search([("id", "in", ours.ids), ("whatsapp_sent", "!=", True)]), waiting | quiet
        )
        self.assertEqual(
            Action.search([("id", "in", ours.ids), ("whatsapp_sent", "=", False)]), waiting | quiet
        )
        with self.assertRaisesRegex(UserError, "Unsupported search"):
            Action.search([("whatsapp_sent", "in", [True])])


@tagged("post_install", "-at_install")
class TestNumberForm(WhatsAppCase):
    def test_limits_and_url_are_checked(self):
        for vals, error in (
            ({"rate_limit": -1}, "cannot be negative"),
            ({"max_attempts": 0}, "At least one attempt"),
            ({"api_base_url": "ftp://graph.facebook.com"}, "must start with https://"),
            ({"api_base_url": "graph.facebook.com"}, "must start with https://"),
            # Ids and version go into the Graph API URL's path: refused at save, not at
            # the first send.
            ({"api_version": "latest"}, "must look like v23.0"),
            ({"phone_number_id": "106540352242922/messages"}, "Phone Number ID may only"),
            ({"phone_number_id": "1065 4035"}, "Phone Number ID may only"),
            ({"waba_id": "../102290129340398"}, "Business Account ID may only"),
        ):
            # assertRaisesRegex, unlike Odoo's assertRaises, opens no savepoint.
            with (
                self.subTest(vals=vals),
                self.assertRaisesRegex(ValidationError, error),
                self.env.cr.savepoint(),
            ):
                self.config.write(vals)
            self.config.invalidate_recordset()  # the refused value stays in the cache
        self.assertEqual(self.config.rate_limit, 80)
        self.assertEqual(self.config.phone_number_id, "106540352242922")
        self.config.write({"rate_limit": 0, "api_base_url": "http://127.0.0.1:18650"})
        self.config.write({"api_version": "23.0", "waba_id": False})  # the client's v23.0
        self.assertEqual(self.config._get_client().api_version, "v23.0")

    def test_buttons_open_this_numbers_messages_and_webhook_log(self):
        other = self.config.copy({"name": "Otro número", "phone_number_id": "1999"})
        Message = self.env["ofitec.whatsapp.message"]
        ours = Message.create(
            [{"config_id": self.config.id, "phone": MANAGER, "body": f"Hola {i}"} for i in (1, 2)]
        )
        Message.create({"config_id": other.id, "phone": MANAGER, "body": "Otro"})
        self.assertEqual(self.config.message_count, 2)
        action = self.config.action_view_messages()
        self.assertEqual(action["res_model"], "ofitec.whatsapp.message")
        self.assertEqual(Message.search(action["domain"]), ours)

        event = self._deliver_webhook(meta_payload(statuses=[meta_status("wamid.X", "read")]))
        action = self.config.action_view_webhook_events()
        self.assertEqual(action["res_model"], "ofitec.whatsapp.webhook.event")
        self.assertEqual(self.env[action["res_model"]].search(action["domain"]), event)
        self.assertNotEqual(other.action_view_webhook_events()["domain"], action["domain"])

    def test_connection_test_without_phone_number_id_says_so(self):
        self.config.phone_number_id = False
        result = self.config._test_meta_connection()
        self.assertFalse(result["ok"])
        self.assertIn("Phone Number ID is missing", result["message"])


@tagged("post_install", "-at_install")
class TestDashboardLiveUpdates(WhatsAppHttpCase):
    """A dashboard refreshes by itself when its company's WhatsApp changes: WhatsApp
    users' browsers listen on their companies' channel; nobody else hears it."""

    def _peek(self, login, last=0):
        self.authenticate(login, login)
        response = self.url_open(
            "/websocket/peek_notifications",
            data=json.dumps(
                {"jsonrpc": "2.0", "params": {"channels": [], "last": last, "is_first_poll": True}}
            ),
            headers={"Content-Type": "application/json"},
        )
        return response.json()["result"]["notifications"]

    def _user(self, login, groups):
        user = self._create_user(login, login.title(), "+56 9 5555 0000", groups=groups)
        user.password = user.login
        return user.login

    def test_only_whatsapp_users_of_the_company_hear_it(self):
        listener = self._user("oyente", ("ofitec_whatsapp.group_whatsapp_user",))
        plain = self._user("ajeno", ("base.group_user",))
        last = max((n["id"] for n in self._peek(listener)), default=0)
        action = self._create_action()
        self.config._notify_dashboards({self.config: action})
        self.env.flush_all()

        def updates(login):
            return [
                n["message"]["payload"]
                for n in self._peek(login, last)
                if n["message"]["type"] == "ofitec_whatsapp/updated"
            ]

        self.assertEqual(
            updates(listener), [{"config_id": self.config.id, "action_ids": action.ids}]
        )
        self.assertEqual(updates(plain), [])
