"""What the crons and the webhook processing write is in its readers' language.

They run as the superuser, whose language is English here, as in the user trial; the
action's people, the WhatsApp managers and the company read Spanish.
"""

from unittest.mock import patch

import requests

from odoo.tests import common, tagged

from ..tools.errors import UncertainDeliveryError
from .common import WhatsAppCase, meta_error, meta_payload, meta_text
from .twilio_common import (
    CONTENT_SID,
    TWILIO_HOST,
    TwilioMixin,
    twilio_error,
    twilio_status_form,
)

MANAGER = "+56911111111"
MANAGER_WA = "56911111111"
ASSIGNEE = "+56922222222"


class SpanishReadersMixin:
    """es_ES loaded with the module's Spanish; the company and the action's people in
    es_ES; the crons run as the superuser in en_US."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env["res.lang"]._activate_lang("es_ES")
        module = cls.env["ir.module.module"].search([("name", "=", "ofitec_whatsapp")])
        module._update_translations(["es_ES"], overwrite=True)
        cls.company.partner_id.lang = "es_ES"
        (cls.user_manager | cls.user_assignee).write({"lang": "es_ES"})
        cls.env.user.lang = "en_US"
        cls.env = cls.env(context=dict(cls.env.context, lang="en_US"))

    def _notes(self, action):
        return "\n".join(body for body in action.message_ids.mapped("body") if body)


@tagged("post_install", "-at_install")
class TestSpanishFromTheCrons(SpanishReadersMixin, WhatsAppCase):
    def test_a_message_held_after_the_window_closed_says_why_in_spanish(self):
        """The send's outcome is recorded in the readers' language: a free text
        refused as outside the window, whose template is not approved yet, waits."""
        self._open_window(MANAGER)
        action = self._create_action()
        self.env.ref(
            "ofitec_whatsapp.ofitec_whatsapp_template_urgent_action"
        ).meta_status = "PENDING"
        with self.mock_whatsapp_gateway() as gateway:
            gateway.fail(MANAGER, meta_error(131047, "Re-engagement message"))
            self._run_queue()
        held = self._messages(action, phone=MANAGER)
        self.assertEqual(held.error_code, "template_not_approved")
        self.assertTrue(
            held.error_message.startswith(
                "La plantilla ofitec_urgent_action no está aprobada en Meta"
            ),
            held.error_message,
        )

    def test_a_read_timeout_says_the_message_may_have_gone(self):
        action = self._create_action()
        with self.mock_whatsapp_gateway() as gateway:
            gateway.fail(MANAGER, UncertainDeliveryError("Read timeout"))
            self._run_queue()
        waiting = self._messages(action, phone=MANAGER)
        self.assertEqual(waiting.state, "queued")
        self.assertEqual(
            waiting.error_message,
            "Sin respuesta de Meta (graph.facebook.com): sin respuesta a tiempo (tiempo "
            "agotado); puede que el mensaje se haya enviado.",
        )

    def test_a_reply_note_is_in_spanish(self):
        action = self._create_action()
        with self.mock_whatsapp_gateway():
            self._run_queue()
            self._receive(meta_payload(messages=[meta_text("wamid.IN.ES1", MANAGER_WA, "OK")]))
        self.assertEqual(action.status, "in_progress")
        self.assertIn(
            "Respuesta de WhatsApp de Paula Manager: «OK» (aplicado)", self._notes(action)
        )

    def test_a_paused_number_asks_each_manager_in_their_language(self):
        managers = {
            lang: self._create_user(
                f"wam_{lang}",
                f"Manager {lang}",
                "+56 9 3333 3333",
                groups=("ofitec_whatsapp.group_whatsapp_manager",),
            )
            for lang in ("es_ES", "en_US")
        }
        for lang, user in managers.items():
            user.lang = lang
        action = self._create_action()
        with self.mock_whatsapp_gateway() as gateway:
            gateway.fail(MANAGER, meta_error(190, "Access token has expired", http_status=401))
            self._run_queue()
        self.assertTrue(self.config.sending_paused)
        summaries = {
            lang: self.config.activity_ids.filtered(lambda a, u=user: a.user_id == u).summary
            for lang, user in managers.items()
        }
        self.assertEqual(
            summaries,
            {
                "es_ES": "WhatsApp: se necesita un token de acceso nuevo",
                "en_US": "WhatsApp: new access token needed",
            },
        )
        self.assertIn("espera: el número Test number está pausado", self._notes(action))


@tagged("post_install", "-at_install")
class TestSpanishFromTwilio(SpanishReadersMixin, TwilioMixin, common.TransactionCase):
    def test_a_failure_titled_by_its_twilio_code_is_in_spanish(self):
        """A status callback without ErrorMessage: the title of its code (tools), in
        Spanish on the message, the action's note and its problem line."""
        with self.mock_twilio():
            action = self._create_action()
            self._run_queue()
        message = self._messages(action, phone=ASSIGNEE)
        self._twilio_receive(
            twilio_status_form(message.whatsapp_message_id, "undelivered", error_code=63024)
        )
        title = "Destinatario no válido (no está en WhatsApp o no aceptó los términos)"
        self.assertEqual((message.state, message.error_title), ("failed", title))
        self.assertEqual(message.error_message, title)
        self.assertIn(title, self._notes(action))
        problem = action.with_context(lang="es_ES").whatsapp_problem
        self.assertIn(f"Andrés Asignado ({ASSIGNEE}): {title}", problem)

    def test_the_template_sync_cron_notes_in_the_companys_language(self):
        with self.mock_twilio() as transport:
            transport.approval_errors.append(twilio_error(500, 20500, "Internal Server Error"))
            self.env["ofitec.whatsapp.template"]._cron_sync_from_twilio()
        self.assertEqual(self.urgent_template.twilio_content_sid, CONTENT_SID)
        self.assertEqual(
            self.urgent_template.twilio_error,
            "La sincronización falló: (#20500) Internal Server Error",
        )

    def test_no_answer_is_not_called_an_answer(self):
        """Check Credentials that never reached Twilio says so; a real answer is
        Twilio's."""

        def refuse(adapter, request, *args, **kwargs):
            raise requests.exceptions.ConnectionError("Connection refused", request=request)

        config = self.twilio_config.with_context(lang="en_US")
        with patch.object(requests.adapters.HTTPAdapter, "send", refuse):
            result = config._test_connection()
        self.assertEqual(
            result["message"], f"Could not reach Twilio ({TWILIO_HOST}): connection refused"
        )
        with patch.object(requests.adapters.HTTPAdapter, "send", refuse):
            result = config.with_context(lang="es_ES")._test_connection()
        self.assertEqual(
            result["message"], f"No se pudo contactar a Twilio ({TWILIO_HOST}): conexión rechazada"
        )
        with self.mock_twilio() as transport:
            transport.answers.append(twilio_error(401, 20003, "Authenticate"))
            result = config._test_connection()
        self.assertEqual(result["message"], "Twilio answered: (#20003) Authenticate")
