"""The welcome: once to a number that writes for the first time, and "Send welcome"."""

from odoo.exceptions import AccessError

from .common import WhatsAppCase, meta_payload, meta_text
from .test_replies import MANAGER, MANAGER_WA, STRANGER, STRANGER_WA, ReplyCase
from .twilio_common import TwilioMixin, twilio_inbound_form

NEWCOMER = "+56955555555"
NEWCOMER_WA = "56955555555"


class WelcomeCase(ReplyCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.welcome = cls.env.ref("ofitec_whatsapp.ofitec_whatsapp_template_welcome")
        cls.wa_user = cls._create_user(
            "wau",
            "Walter Usuario",
            "+56 9 6666 6666",
            groups=("base.group_user", "ofitec_whatsapp.group_whatsapp_user"),
        )

    def _welcomes(self, number):
        return self._messages(template_id=self.welcome.id, phone=number)


class TestFirstWelcome(WelcomeCase):
    def test_a_new_number_is_welcomed_once(self):
        self._write(NEWCOMER_WA, "Hola")
        welcome = self._welcomes(NEWCOMER)
        self.assertEqual(len(welcome), 1)
        self.assertTrue(welcome.once_key)
        # The welcome lists the commands: the help is not sent on top of it.
        self.assertEqual(self._answers(NEWCOMER), welcome)
        for word in ("*OK*", "*COMPLETADO*", "*CANCELAR*", "*BAJA*"):
            self.assertIn(word, welcome.body)
        # The newcomer just wrote: the window is open, the text goes as it is.
        self._run_queue()
        self.assertEqual(welcome.state, "sent")
        (sent,) = self.assertWhatsAppSent(self.gateway, NEWCOMER, kind="text")
        self.assertEqual(sent["body"], welcome.body)
        # Writing again: the help this time, never a second welcome.
        self._write(NEWCOMER_WA, "Hola otra vez")
        self.assertEqual(len(self._welcomes(NEWCOMER)), 1)
        self.assertIn("No entendí", self._answers(NEWCOMER).body)

    def test_two_messages_in_one_webhook_one_welcome(self):
        items = [meta_text(f"wamid.IN.TWO{i}", NEWCOMER_WA, f"Hola {i}") for i in (1, 2)]
        event = self._receive(meta_payload(messages=items))
        self.assertEqual(event.state, "processed", event.error)
        self.assertEqual(len(self._welcomes(NEWCOMER)), 1)

    def test_contact_created_again_is_not_welcomed_again(self):
        self._write(NEWCOMER_WA, "Hola")
        contact = self.env["ofitec.whatsapp.contact"].search([("wa_id", "=", NEWCOMER_WA)])
        self.assertEqual(len(contact), 1)
        # The contact is created again (another worker, a manager deleting it): the
        # database remembers the welcome of this number and user.
        contact.unlink()
        self._write(NEWCOMER_WA, "Hola de nuevo")
        self.assertEqual(
            len(self.env["ofitec.whatsapp.contact"].search([("wa_id", "=", NEWCOMER_WA)])), 1
        )
        self.assertEqual(len(self._welcomes(NEWCOMER)), 1)

    def test_a_known_contact_is_not_welcomed(self):
        # The manager was notified: their contact exists before they write.
        self._notify()
        self._write(MANAGER_WA, "Hola")
        self.assertFalse(self._welcomes(MANAGER))

    def test_a_stranger_gets_the_welcome_and_the_refusal(self):
        action = self._notify()
        self._write(STRANGER_WA, f"OK {action.id}")
        self.assertEqual(action.status, "pending")
        answers = self._answers(STRANGER)
        self.assertEqual(answers.mapped("template_id.code"), ["welcome", "reply_not_allowed"])

    def test_stop_as_first_message(self):
        self._write(NEWCOMER_WA, "BAJA")
        self._run_queue()
        # The welcome is not sent to someone who asked for nothing more.
        self.assertEqual(self._welcomes(NEWCOMER).state, "cancelled")
        self.assertEqual([p["body"][:5] for p in self.gateway.sent_to(NEWCOMER)], ["Listo"])


class TestSendWelcome(WelcomeCase):
    def test_send_welcome_on_a_partner(self):
        partner = self.env["res.partner"].create(
            {"name": "Pedro Proveedor", "mobile": "+56 9 7777 7777"}
        )
        result = partner.with_user(self.wa_user).action_send_whatsapp_welcome()
        welcome = self._welcomes("+56977777777")
        self.assertEqual(welcome.state, "queued")
        self.assertFalse(welcome.error_code)
        self.assertEqual(result["params"]["type"], "success")
        self.assertIn("Pedro Proveedor", result["params"]["message"])
        # Outside the window: the approved template, with the name as its parameter.
        self._run_queue()
        self.assertEqual(welcome.state, "sent")
        (sent,) = self.assertWhatsAppSent(self.gateway, "+56977777777", kind="template")
        self.assertEqual((sent["name"], sent["params"]), ("ofitec_welcome", ["Pedro Proveedor"]))

    def test_send_welcome_waits_for_approval_and_says_so(self):
        self.welcome.meta_status = "PENDING"
        partner = self.env["res.partner"].create(
            {"name": "Pedro Proveedor", "mobile": "+56 9 7777 7777"}
        )
        nobody = self.env["res.partner"].create({"name": "Sin Número"})
        result = (partner | nobody).with_user(self.wa_user).action_send_whatsapp_welcome()
        welcome = self._welcomes("+56977777777")
        self.assertEqual(welcome.state, "queued")
        self.assertEqual(welcome.error_code, "template_not_approved")
        self.assertEqual(result["params"]["type"], "danger")
        message = result["params"]["message"]
        self.assertIn("ofitec_welcome", message)
        self.assertIn("PENDING", message)
        self.assertIn("Sin Número", message)
        self._run_queue()
        self.assertEqual(welcome.state, "queued")
        self.assertNoWhatsApp(self.gateway)
        # Approved: it goes.
        self.welcome._set_meta_status("APPROVED")
        self._run_queue()
        self.assertEqual(welcome.state, "sent")

    def test_send_welcome_on_contacts_inside_the_window(self):
        contact = self._open_window(NEWCOMER)
        result = contact.with_user(self.wa_user).action_send_welcome()
        self.assertEqual(result["params"]["type"], "success")
        self._run_queue()
        (sent,) = self.assertWhatsAppSent(self.gateway, NEWCOMER, kind="text")
        self.assertEqual(sent["body"], self._welcomes(NEWCOMER).body)
        # Asked by hand, it may be sent again (it is not the automatic first welcome).
        contact.with_user(self.wa_user).action_send_welcome()
        self.assertEqual(len(self._welcomes(NEWCOMER)), 2)

    def test_opted_out_contact_gets_nothing(self):
        contact = self._open_window(NEWCOMER)
        contact.opted_out = True
        result = contact.with_user(self.wa_user).action_send_welcome()
        self.assertEqual(result["params"]["type"], "danger")
        self.assertEqual(self._welcomes(NEWCOMER).state, "cancelled")

    def test_what_cannot_be_welcomed_is_named(self):
        """A contact with neither a number nor a user id, and no active welcome
        template: each is named in the notification and nothing is queued for it."""
        nameless = self.env["ofitec.whatsapp.contact"].create(
            {"config_id": self.config.id, "profile_name": "Sin número"}
        )
        result = nameless.with_user(self.wa_user).action_send_welcome()
        self.assertEqual(result["params"]["type"], "danger")
        self.assertIn("Sin número: no WhatsApp number or user id.", result["params"]["message"])
        contact = self._open_window(NEWCOMER)
        self.welcome.active = False
        result = contact.with_user(self.wa_user).action_send_welcome()
        self.assertEqual(result["params"]["type"], "danger")
        self.assertIn("There is no active welcome template.", result["params"]["message"])
        self.assertFalse(self._welcomes(NEWCOMER))

    def test_a_contact_is_shown_by_its_person_and_number(self):
        Contact = self.env["ofitec.whatsapp.contact"]
        with_partner = self._open_window(MANAGER)
        with_partner.partner_id = self.user_manager.partner_id
        by_profile = Contact.create(
            {"config_id": self.config.id, "wa_id": NEWCOMER_WA, "profile_name": "Nueva"}
        )
        by_bsuid = Contact.create({"config_id": self.config.id, "bsuid": "CL.777"})
        self.assertEqual(with_partner.display_name, f"Paula Manager ({MANAGER})")
        self.assertEqual(by_profile.display_name, f"Nueva ({NEWCOMER_WA})")
        self.assertEqual(by_bsuid.display_name, "CL.777")
        nameless = Contact.create({"config_id": self.config.id, "profile_name": "Sin número"})
        self.assertEqual(nameless.display_name, "Sin número")

    def test_only_whatsapp_users(self):
        partner = self.env["res.partner"].create({"name": "Pedro", "mobile": "+56 9 7777 7777"})
        with self.assertRaises(AccessError):
            partner.with_user(self.user_manager).action_send_whatsapp_welcome()
        self.assertFalse(self._welcomes("+56977777777"))
        for xmlid, model in (
            ("ofitec_whatsapp.res_partner_action_send_whatsapp_welcome", "res.partner"),
            (
                "ofitec_whatsapp.ofitec_whatsapp_contact_action_send_welcome",
                "ofitec.whatsapp.contact",
            ),
        ):
            action = self.env.ref(xmlid)
            self.assertEqual(action.binding_model_id.model, model)
            self.assertIn(self.env.ref("ofitec_whatsapp.group_whatsapp_user"), action.groups_id)


class TestTwilioWelcome(TwilioMixin, WhatsAppCase):
    def test_a_notified_person_replying_is_not_welcomed(self):
        with self.mock_twilio():
            action = self._create_action()
            self._run_queue()
            # No contact before the reply (none recorded at the send, or removed since):
            # the person was written to, so they are not new.
            self.env["ofitec.whatsapp.contact"].search([]).unlink()
            self._twilio_receive(twilio_inbound_form("SM" + "1" * 32, MANAGER, "OK"))
        self.assertEqual(action.status, "in_progress")
        welcome = self.env.ref("ofitec_whatsapp.ofitec_whatsapp_template_welcome")
        self.assertFalse(self._messages(template_id=welcome.id))
        # A stranger writing through Twilio is welcomed.
        with self.mock_twilio():
            self._twilio_receive(twilio_inbound_form("SM" + "2" * 32, NEWCOMER, "Hola"))
        self.assertEqual(len(self._messages(template_id=welcome.id, phone=NEWCOMER)), 1)
