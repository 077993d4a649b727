"""Which template a code names: cached per process, always the current answer."""

from ..tools.actions import ANSWER_ALREADY, ANSWER_INVALID_STATE, REPLY_TRANSITIONS
from .common import WhatsAppCase, meta_payload, meta_text

SENDER_WA = "56955555555"
SENDER = "+" + SENDER_WA


class TestTemplateLookup(WhatsAppCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.Template = cls.env["ofitec.whatsapp.template"]
        cls.shared = cls.env.ref("ofitec_whatsapp.ofitec_whatsapp_template_reply_help")
        cls.company_b = cls.env["res.company"].create({"name": "Constructora B"})

    def _help_answers(self):
        return self._messages(phone=SENDER, direction="outbound").filtered(
            lambda m: m.template_id.code == "reply_help"
        )

    def test_every_answer_a_reply_can_get_is_shipped(self):
        codes = {t.answer for t in REPLY_TRANSITIONS.values()}
        codes |= {ANSWER_ALREADY, ANSWER_INVALID_STATE}
        for code in codes:
            with self.subTest(code=code):
                template = self.Template._get_by_code(code, self.env.company)
                self.assertTrue(template.body, code)

    def test_created_archived_and_renamed_templates_are_seen_at_once(self):
        company = self.env.company
        self.assertEqual(self.Template._get_by_code("reply_help", company), self.shared)
        own = self.shared.copy({"company_id": company.id, "body": "Ayuda de la empresa"})
        # The company's own template comes first; another company keeps the shared one.
        self.assertEqual(self.Template._get_by_code("reply_help", company), own)
        self.assertEqual(self.Template._get_by_code("reply_help", self.company_b), self.shared)
        own.active = False
        self.assertEqual(self.Template._get_by_code("reply_help", company), self.shared)
        own.active = True
        own.code = "reply_help_old"
        self.assertEqual(self.Template._get_by_code("reply_help", company), self.shared)
        self.assertEqual(self.Template._get_by_code("reply_help_old", company), own)
        own.unlink()
        self.assertFalse(self.Template._get_by_code("reply_help_old", company))
        self.shared.active = False
        self.assertFalse(self.Template._get_by_code("reply_help", company))
        # Whatever the caller's context, only active templates count.
        self.assertFalse(
            self.Template.with_context(active_test=False)._get_by_code("reply_help", company)
        )

    def test_answers_use_a_template_created_after_the_first_answer(self):
        with self.mock_whatsapp_gateway():
            # Known contact (no welcome): the help answers any text.
            self.env["ofitec.whatsapp.contact"].create(
                {"config_id": self.config.id, "wa_id": SENDER_WA, "phone": SENDER}
            )
            self._receive(meta_payload(messages=[meta_text("wamid.IN.LOOK1", SENDER_WA, "Hola")]))
            self.assertEqual(self._help_answers().template_id, self.shared)
            own = self.shared.copy(
                {"company_id": self.config.company_id.id, "body": "Ayuda de la empresa"}
            )
            self._receive(meta_payload(messages=[meta_text("wamid.IN.LOOK2", SENDER_WA, "Hola")]))
            latest = self._help_answers().sorted("id")[-1]
            self.assertEqual(latest.template_id, own)
            self.assertEqual(latest.body, "Ayuda de la empresa")
