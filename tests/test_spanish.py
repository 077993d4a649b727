"""What a Spanish-speaking user reads is Spanish, including what the cron writes."""

import re
from pathlib import Path
from unittest.mock import patch

import polib

from odoo.tests import TransactionCase, tagged
from odoo.tools import mute_logger
from odoo.tools.translate import TranslationModuleReader

from ..tools.errors import PermanentError, WhatsAppError
from ..tools.twilio_webhook import ERROR_TITLES
from .common import WhatsAppCase

I18N = Path(__file__).resolve().parent.parent / "i18n"
MANAGER = "+56911111111"
ASSIGNEE = "+56922222222"
NOTIFY_LOGGER = "odoo.addons.ofitec_whatsapp.models.ofitec_next_action_notify"


@tagged("post_install", "-at_install")
class TestSpanish(WhatsAppCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env["res.lang"]._activate_lang("es_ES")
        cls.env["ir.module.module"].search([("name", "=", "ofitec_whatsapp")])._update_translations(
            ["es_ES"], overwrite=True
        )
        # The action's people read Spanish; the cron and whoever saves may not.
        (cls.user_manager | cls.user_assignee).write({"lang": "es_ES"})
        cls.env.user.lang = "en_US"

    def _notes(self, action):
        return "\n".join(body for body in action.message_ids.mapped("body") if body)

    def test_cron_notes_and_stored_errors(self):
        nobody = self.env["res.partner"].create({"name": "Sin Número"})
        action = self._create_action(whatsapp_recipient_ids=[(4, nobody.id)])
        skipped = self._messages(action).filtered(lambda m: m.state == "cancelled")
        self.assertEqual(
            skipped.error_message, "no tiene un número de celular o teléfono utilizable"
        )
        with self.mock_whatsapp_gateway() as gateway:
            gateway.fail(MANAGER, PermanentError("Message undeliverable", code=131026))
            self._run_queue()
        notes = self._notes(action)
        self.assertIn("Sin mensaje de WhatsApp para Sin Número", notes)
        self.assertIn(f"Notificación de WhatsApp enviada a Andrés Asignado ({ASSIGNEE}).", notes)
        self.assertIn(f"Sin mensaje de WhatsApp para Paula Manager ({MANAGER})", notes)
        activity = self.env["mail.activity"].search(
            [("res_model", "=", "ofitec.next.action"), ("res_id", "=", action.id)]
        )
        self.assertEqual(activity.summary, "WhatsApp no pudo llegar a alguien")

    def test_opt_out_and_network_errors(self):
        self._open_window(MANAGER).opted_out = True
        action = self._create_action()
        message = self._messages(action, phone=MANAGER)
        self.assertEqual(
            message.error_message, "se dio de baja de los mensajes de WhatsApp (STOP/BAJA)."
        )
        self.config.api_base_url = "http://127.0.0.1:9"
        self.config.max_attempts = 1
        self._run_queue()
        failed = self._messages(action, phone=ASSIGNEE)
        self.assertEqual(
            failed.error_message, "No se pudo contactar a Meta (127.0.0.1): conexión rechazada"
        )

    def test_labels(self):
        action = self._create_action()
        message = self._messages(action, phone=MANAGER)
        self.assertEqual(
            message.with_context(lang="es_ES").name_get(), [(message.id, f"Saliente {MANAGER}")]
        )
        self.assertEqual(
            message.with_context(lang="en_US").name_get(), [(message.id, f"Outbound {MANAGER}")]
        )

    def test_a_number_is_a_number_and_a_direction_a_sense(self):
        es = self.env(context=dict(self.env.context, lang="es_ES"))
        fields = es["ofitec.whatsapp.message"].fields_get(["direction", "config_id"])
        self.assertEqual(fields["direction"]["string"], "Sentido")
        self.assertEqual(fields["config_id"]["string"], "Número de WhatsApp")
        self.assertEqual(es["ir.model"]._get("ofitec.whatsapp.config").name, "Número de WhatsApp")
        action = self.env.ref("ofitec_whatsapp.ofitec_whatsapp_config_action").with_env(es)
        self.assertEqual(action.name, "Números de WhatsApp")

    def test_demo_configuration_name(self):
        demo = self.env.ref("ofitec_whatsapp.ofitec_whatsapp_config_demo")
        # Same in both languages, and the ribbon already says "test mode".
        self.assertEqual(demo.name, "OFITEC (demo)")
        self.assertTrue(demo.test_mode)

    def test_notification_state_and_its_failure(self):
        action = self._create_action(notify=False)
        labels = dict(
            action.with_context(lang="es_ES")
            ._fields["whatsapp_notify_state"]
            ._description_selection(self.env(context={"lang": "es_ES"}))
        )
        self.assertEqual(labels["pending"], "Preparando")
        Action = type(self.env["ofitec.next.action"])

        def broken(action):
            raise ValueError("sin datos")

        with patch.object(Action, "_get_whatsapp_recipients", broken):
            with mute_logger(NOTIFY_LOGGER):
                self._run_notify()
        self.assertEqual(action.whatsapp_notify_state, "failed")
        self.assertIn(
            "No se pudo preparar la notificación WhatsApp: ValueError: sin datos",
            self._notes(action),
        )

    def test_welcome_completion_and_approval_in_spanish(self):
        es = self.env(context=dict(self.env.context, lang="es_ES"))
        self.env.ref("ofitec_whatsapp.ofitec_whatsapp_template_welcome").meta_status = "PENDING"
        partner = self.env["res.partner"].create({"name": "Pedro", "mobile": "+56 9 7777 7777"})
        nobody = self.env["res.partner"].create({"name": "Sin Número"})
        result = (partner | nobody).with_env(es).action_send_whatsapp_welcome()
        self.assertEqual(result["params"]["title"], "Bienvenida por WhatsApp")
        self.assertIn("Sin Número: Este contacto no tiene", result["params"]["message"])
        fields = es["ofitec.whatsapp.config"].fields_get(["notify_action_completed"])
        self.assertEqual(
            fields["notify_action_completed"]["string"], "Avisar a los destinatarios al completarse"
        )
        fields = es["ofitec.whatsapp.template"].fields_get(["twilio_approval_status"])
        self.assertEqual(fields["twilio_approval_status"]["string"], "Aprobación en Twilio")
        for xmlid in (
            "ofitec_whatsapp.res_partner_action_send_whatsapp_welcome",
            "ofitec_whatsapp.ofitec_whatsapp_contact_action_send_welcome",
        ):
            self.assertEqual(
                self.env.ref(xmlid).with_env(es).name, "Enviar bienvenida por WhatsApp"
            )

    def test_simulate_reply_dialog(self):
        Wizard = self.env["ofitec.whatsapp.simulate.reply"].with_context(lang="es_ES")
        arch = Wizard.get_views([(False, "form")])["views"]["form"]["arch"]
        self.assertIn("Modo de prueba: esto envía el webhook", arch)
        self.assertIn("Enviar respuesta", arch)
        self.assertEqual(
            Wizard.with_context(lang="es_ES")._unreachable_text("http://x/y", "refused")[:31],
            "No se pudo alcanzar la URL del ",
        )


class _CheckoutExport(TranslationModuleReader):
    """Odoo's export (``odoo --i18n-export``), minus the files in hidden folders of the
    checkout: a .venv-test beside the code would lend its packages' ``_()`` to the addon."""

    def _verified_module_filepaths(self, fname, path, root):
        found = super()._verified_module_filepaths(fname, path, root)
        if found[0] and any(part.startswith(".") for part in Path(found[2]).parts):
            return None, None, None, None
        return found


@tagged("post_install", "-at_install")
class TestTranslationFiles(TransactionCase):
    def test_the_pot_lists_what_odoo_exports(self):
        """A text of the code that the .pot lacks keeps its English: es.po's entry for it
        is dropped as obsolete when Odoo loads es.po against the .pot."""
        exported = {row[4] for row in _CheckoutExport(self.env.cr, modules=["ofitec_whatsapp"])}
        template = {entry.msgid for entry in polib.pofile(str(I18N / "ofitec_whatsapp.pot"))}
        self.assertEqual(sorted(exported - template), [], "texts missing from the .pot")
        self.assertEqual(sorted(template - exported), [], ".pot entries the code no longer has")

    def test_every_text_has_spanish(self):
        """An empty entry shows English; a fuzzy one is msgmerge's guess, which Odoo loads
        as if reviewed; an obsolete one (#~) is Spanish of a text the code no longer has."""
        spanish = polib.pofile(str(I18N / "es.po"))
        untranslated = [e.msgid for e in spanish if not e.msgstr or "fuzzy" in e.flags]
        self.assertEqual(untranslated, [], "es.po entries without reviewed Spanish")
        obsolete = [e.msgid for e in spanish.obsolete_entries()]
        self.assertEqual(obsolete, [], "es.po entries for texts no longer in the code")

    def test_every_spanish_entry_is_in_the_pot(self):
        """Odoo merges es.po with the .pot when it loads it (``PoFileReader``): an entry
        the .pot lacks becomes obsolete and its Spanish never reaches the user."""
        template = {entry.msgid for entry in polib.pofile(str(I18N / "ofitec_whatsapp.pot"))}
        spanish = polib.pofile(str(I18N / "es.po"))
        missing = [e.msgid for e in spanish if not e.obsolete and e.msgid not in template]
        self.assertEqual(missing, [], "es.po entries missing from ofitec_whatsapp.pot")
        # The pure layer's titles shown to people (marked with tools.i18n._lt) are
        # code translations: the Odoo layer translates them by their English text.
        errors = [WhatsAppError, *WhatsAppError.__subclasses__()]
        errors += [sub for cls in errors for sub in cls.__subclasses__()]
        titles = {cls.__new__(cls)._default_title() for cls in errors}
        titles |= set(ERROR_TITLES.values())
        translated = {
            e.msgid for e in spanish if e.msgstr and "odoo-python" in (e.comment or "").split()
        }
        self.assertEqual(sorted(titles - translated), [], "titles without Spanish")
        self.assertLessEqual(titles, template, "titles missing from the .pot")
        # One form of address, Odoo's own (its mail module's Spanish): usted.
        informal = re.compile(
            r"\b(tú|tu|tus|te|ti|contigo|puedes|tienes|debes|necesitas|quieres|"
            r"ingresa|introduce|pulsa|presiona|revisa|indica|conecta)\b",
            re.IGNORECASE,
        )
        tuteo = [e.msgstr for e in spanish if informal.search(e.msgstr)]
        self.assertEqual(tuteo, [], "Spanish texts that say tú")
        # One entry per text (msgfmt refuses a file with two; Odoo keeps one of them).
        for catalog in (spanish, polib.pofile(str(I18N / "ofitec_whatsapp.pot"))):
            msgids = [(e.msgctxt, e.msgid) for e in catalog if not e.obsolete]
            repeated = sorted({m for m in msgids if msgids.count(m) > 1})
            self.assertEqual(repeated, [], f"{catalog.fpath}: texts with two entries")
