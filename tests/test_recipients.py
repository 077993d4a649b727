"""Who gets the WhatsApp message about an action, and with which number."""

from odoo.tests import tagged

from .common import WhatsAppCase

MANAGER = "+56911111111"
ASSIGNEE = "+56922222222"


@tagged("post_install", "-at_install")
class TestRecipients(WhatsAppCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        Partner = cls.env["res.partner"]
        cls.inspector = Partner.create({"name": "Inés Inspectora", "mobile": "+56 9 3333 3333"})
        cls.architect = Partner.create({"name": "Arturo Arquitecto", "phone": "9 4444 4444"})

    def _recipients(self, action):
        return [(r["partner"], r["phone"]) for r in action._get_whatsapp_recipients()]

    def test_manager_assignee_and_custom_list(self):
        action = self._create_action(
            whatsapp_recipient_ids=[(6, 0, (self.inspector | self.architect).ids)]
        )
        messages = self._messages(action)
        self.assertEqual(
            [(m.partner_id, m.phone, m.state) for m in messages[:2]],
            [
                (self.user_manager.partner_id, MANAGER, "queued"),
                (self.user_assignee.partner_id, ASSIGNEE, "queued"),
            ],
        )
        self.assertEqual(
            {(m.partner_id, m.phone, m.state) for m in messages[2:]},
            {
                (self.inspector, "+56933333333", "queued"),
                # Without a mobile, the phone field is used.
                (self.architect, "+56944444444", "queued"),
            },
        )
        self.assertTrue(all(m.config_id == self.config for m in messages))
        self.assertTrue(all(m.company_id == self.company for m in messages))
        for message in messages:
            self.assertIn(message.partner_id.name, message.body)

    def test_manager_is_also_the_assignee(self):
        action = self._create_action(user_id=self.user_manager.id)
        self.assertEqual(self._recipients(action), [(self.user_manager.partner_id, MANAGER)])
        self.assertEqual(len(self._messages(action)), 1)

    def test_same_number_once(self):
        """Two partners sharing a number (written differently) get one message."""
        twin = self.env["res.partner"].create({"name": "Paula (personal)", "mobile": "9 1111 1111"})
        other = self.env["res.partner"].create({"name": "Otra", "mobile": "+56-9-1111-1111"})
        action = self._create_action(whatsapp_recipient_ids=[(6, 0, (twin | other).ids)])
        messages = self._messages(action)
        self.assertEqual(sorted(messages.mapped("phone")), [MANAGER, ASSIGNEE])
        self.assertEqual(len(messages), 2)
        with self.mock_whatsapp_gateway() as gateway:
            self.env["ofitec.whatsapp.message"].sudo()._process_queue()
        self.assertWhatsAppSent(gateway, MANAGER, count=1)

    def test_without_usable_number(self):
        self.user_assignee.partner_id.mobile = False
        nobody = self.env["res.partner"].create({"name": "Sin Número", "mobile": "123"})
        action = self._create_action(whatsapp_recipient_ids=[(4, nobody.id)])
        messages = self._messages(action)
        queued = messages.filtered(lambda m: m.state == "queued")
        skipped = messages - queued
        self.assertEqual(queued.partner_id, self.user_manager.partner_id)
        self.assertEqual(skipped.partner_id, self.user_assignee.partner_id | nobody)
        self.assertEqual(set(skipped.mapped("state")), {"cancelled"})
        self.assertTrue(all("number" in m.error_message for m in skipped))
        self.assertFalse(any(skipped.mapped("phone")))
        notes = "\n".join(action.message_ids.mapped("body"))
        self.assertIn("No WhatsApp message for Andrés Asignado", notes)
        self.assertIn("No WhatsApp message for Sin Número", notes)
        with self.mock_whatsapp_gateway() as gateway:
            self.env["ofitec.whatsapp.message"].sudo()._process_queue()
        self.assertEqual([p["to"] for p in gateway.calls], [MANAGER])
        self.assertEqual(set(skipped.mapped("state")), {"cancelled"})

    def test_names_are_text_in_the_chatter(self):
        """A partner's name is shown as text in the skip note, never run as HTML."""
        odd = self.env["res.partner"].create({"name": "Ana <img src=x onerror=alert(1)>"})
        action = self._create_action(whatsapp_recipient_ids=[(4, odd.id)])
        notes = "\n".join(action.message_ids.mapped("body"))
        self.assertIn("Ana &lt;img src=x onerror=alert(1)&gt;", notes)
        self.assertNotIn("<img", notes)

    def test_chilean_numbers_with_company_country(self):
        self.user_manager.partner_id.mobile = "9 8765 4321"  # no country code
        self.user_assignee.partner_id.mobile = "(+56) 9-1234-5678"
        action = self._create_action()
        self.assertEqual(
            sorted(self._messages(action).mapped("phone")), ["+56912345678", "+56987654321"]
        )

    def test_company_country_decides_the_region(self):
        self.company.country_id = self.env.ref("base.pe")
        self.user_manager.partner_id.mobile = "987 654 321"
        action = self._create_action()
        self.assertIn("+51987654321", self._messages(action).mapped("phone"))

    def test_partner_country_wins(self):
        self.user_manager.partner_id.write(
            {"mobile": "987 654 321", "country_id": self.env.ref("base.pe").id}
        )
        action = self._create_action()
        self.assertIn("+51987654321", self._messages(action).mapped("phone"))

    def test_no_configuration(self):
        self.config.active = False
        action = self._create_action()
        messages = self._messages(action)
        self.assertEqual(len(messages), 2)
        self.assertEqual(set(messages.mapped("state")), {"cancelled"})
        self.assertTrue(
            all("No active WhatsApp configuration" in m.error_message for m in messages)
        )
        self.assertIn(
            "No active WhatsApp configuration", "\n".join(action.message_ids.mapped("body"))
        )

    def test_project_number_is_used(self):
        project_config = self.config.copy(
            {"name": "Obra", "phone_number_id": "555", "sequence": 20}
        )
        self.project.whatsapp_config_id = project_config
        action = self._create_action()
        self.assertEqual(self._messages(action).config_id, project_config)
        # Archived: back to the company's default number.
        project_config.active = False
        other = self._create_action(name="Otra")
        self.assertEqual(self._messages(other).config_id, self.config)

    def test_other_company_number_is_never_used(self):
        company_b = self.env["res.company"].create({"name": "OFITEC B"})
        config_b = self.env["ofitec.whatsapp.config"].create(
            {"name": "B", "phone_number_id": "888", "company_id": company_b.id, "sequence": 1}
        )
        self.project.whatsapp_config_id = config_b
        action = self._create_action()
        self.assertEqual(self._messages(action).config_id, self.config)


@tagged("post_install", "-at_install")
class TestQueuedByAnyUser(WhatsAppCase):
    """Any internal user saves actions: the notification must not depend on what that
    user may read (the project's number is a manager-only field)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.plain_user = cls._create_user(
            "planner",
            "Pía Planificadora",
            "+56 9 1212 1212",
            groups=("base.group_user", "project.group_project_user"),
        )
        cls.project_config = cls.config.copy(
            {"name": "Número de obra", "phone_number_id": "4242", "sequence": 50}
        )
        cls.project.whatsapp_config_id = cls.project_config

    def setUp(self):
        super().setUp()
        # Values the superuser read or wrote stay in the transaction's cache, where
        # the user's environment would find them without any access check.
        self.env.invalidate_all()

    def test_plain_user_creates_an_urgent_action(self):
        Action = self.env["ofitec.next.action"].with_user(self.plain_user)
        action = Action.create(
            {
                "name": "Acción creada por un usuario sin WhatsApp",
                "description": "-",
                "action_type": "urgent",
                "category": "risk",
                "priority": "1",
                "project_id": self.project.id,
                "user_id": self.user_assignee.id,
            }
        )
        # The user's transaction only marks it; the cron (a technical user) queues.
        self.assertEqual(action.whatsapp_notify_state, "pending")
        self._run_notify()
        messages = self._messages(action)
        self.assertEqual(len(messages), 2)
        self.assertEqual(set(messages.mapped("state")), {"queued"})
        self.assertEqual(messages.config_id, self.project_config)
        self.assertTrue(action.whatsapp_notified)
        self.assertFalse(action.whatsapp_sent)  # readable by that user

    def test_plain_user_escalates_in_a_private_project(self):
        self.project.privacy_visibility = "followers"
        action = self._create_action(priority="3")
        self.assertFalse(self._messages(action))
        self.env.invalidate_all()
        action.with_user(self.plain_user).write({"priority": "1"})
        self._run_notify()
        messages = self._messages(action)
        self.assertEqual(sorted(messages.mapped("phone")), ["+56911111111", "+56922222222"])
        self.assertIn("Edificio Los Robles", messages[0].body)

    def test_plain_user_sends_a_reminder(self):
        action = self._create_action(priority="3")
        self.env.invalidate_all()
        result = action.with_user(self.plain_user).action_send_whatsapp_reminder()
        self.assertEqual(result["params"]["type"], "success")
        self.assertEqual(len(self._messages(action)), 2)
