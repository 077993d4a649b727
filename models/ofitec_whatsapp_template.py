from markupsafe import Markup

from odoo import _, api, fields, models
from odoo.exceptions import UserError, ValidationError

from ..tools import commands, provider, render, twilio_client
from .ofitec_whatsapp_config_setup import TEMPLATE_SYNC_CRONS

# Keys a template may use, with the sample values of the preview.
TEMPLATE_KEYS = {
    "recipient_name": "María González",
    "project": "Edificio Los Robles",
    "title": "Revisar hormigonado losa piso 3",
    "description": "El laboratorio reporta resistencia bajo lo especificado.",
    "priority": "Crítica",
    "deadline": "28/11/2026",
    "expected_benefits": "Evitar atraso de 2 semanas en la obra gruesa.",
    "action_id": "42",
    "status": "en progreso",
    "command": "OK",
    "actions_list": "#42 Revisar hormigonado losa piso 3\n#43 Aprobar estado de pago",
}


class OfitecWhatsappTemplate(models.Model):
    _name = "ofitec.whatsapp.template"
    _description = "WhatsApp Message Template"
    _order = "code, id"

    name = fields.Char(required=True, translate=True)
    code = fields.Char(
        required=True,
        help="Technical code used by the code that sends (urgent_action, action_completed, "
        "welcome).",
    )
    active = fields.Boolean(default=True)
    company_id = fields.Many2one("res.company", help="Leave empty to share across companies.")
    body = fields.Text(
        required=True,
        help="Text sent inside the 24-hour window. Placeholders: {{recipient_name}}, "
        "{{project}}, {{title}}, {{description}}, {{priority}}, {{deadline}}, "
        "{{expected_benefits}}, {{action_id}}.",
    )
    use_buttons = fields.Boolean(
        string="Reply Buttons",
        help="Inside the window, send the text with the buttons OK / COMPLETADO / CANCELAR.",
    )
    meta_template_name = fields.Char(
        string="Approved Template Name",
        help="Name of the template approved by Meta, sent outside the 24-hour window.",
    )
    meta_language = fields.Char(
        string="Template Language", default="es", help="Exact language code (es, es_MX, …)."
    )
    meta_param_keys = fields.Char(
        string="Template Parameters",
        help="Comma-separated keys, in the order of the approved template's {{1}}, {{2}}, …",
    )
    meta_param_texts = fields.Text(
        string="Parameter Texts",
        help="Optional, one line per parameter whose text differs from its key's value: "
        "'key: text with {{placeholders}}', e.g. 'title: 🔔 Recordatorio: {{title}}'. "
        "A template that reuses another's approved template can so say more without a "
        "new approval (a parameter holds no line breaks).",
    )
    meta_button_commands = fields.Char(
        string="Quick Reply Commands",
        help="Comma-separated commands (ok, completed, cancel) of the approved template's "
        "quick-reply buttons, in order; their payloads name the action.",
    )
    empty_param_text = fields.Char(
        string="Empty Parameter Text",
        help="Sent for an empty parameter of the approved template (Meta refuses empty "
        "ones), e.g. 'sin definir'. Inside the window a line whose values are all empty "
        "is left out instead.",
    )
    preview = fields.Text(compute="_compute_preview")
    preview_html = fields.Html(
        string="Preview (as on the phone)", compute="_compute_preview", sanitize=False
    )
    meta_status = fields.Char(
        string="Meta Status", readonly=True, help="Last status Meta reported (APPROVED, PAUSED, …)."
    )
    twilio_content_sid = fields.Char(
        string="Twilio Content SID",
        help="HX… of the approved Twilio Content template sent outside the 24-hour window. "
        "Its variables {{1}}, {{2}}, … are the template parameters in order; quick-reply "
        "ids written as the next variables receive the buttons' payloads.",
    )

    _sql_constraints = [
        ("code_company_uniq", "unique(code, company_id)", "The template code must be unique."),
    ]

    @api.depends(
        "body", "meta_template_name", "meta_param_keys", "meta_param_texts", "empty_param_text"
    )
    def _compute_preview(self):
        for template in self:
            text = template._render_body(TEMPLATE_KEYS)
            if template.meta_template_name:
                params = template._get_template_params(TEMPLATE_KEYS)
                text += "\n\n" + _(
                    "Outside the 24-hour window: template %(name)s (%(lang)s) with %(params)s",
                    name=template.meta_template_name,
                    lang=template.meta_language or "",
                    params=", ".join(f"{{{{{i}}}}}={v}" for i, v in enumerate(params, 1)),
                )
            template.preview = text
            # Escaped by whatsapp_to_html: only its own tags are HTML.
            template.preview_html = Markup(render.whatsapp_to_html(text))

    @api.constrains("meta_param_keys", "meta_param_texts", "meta_button_commands")
    def _check_keys(self):
        valid_commands = {commands.CMD_OK, commands.CMD_COMPLETED, commands.CMD_CANCEL}
        for template in self:
            unknown = set(template._get_param_keys()) - set(TEMPLATE_KEYS)
            if unknown:
                raise ValidationError(
                    _("Unknown template parameters: %s", ", ".join(sorted(unknown)))
                )
            unknown = set(template._get_param_texts()) - set(template._get_param_keys())
            if unknown:
                raise ValidationError(
                    _(
                        "Parameter texts name keys that are not template parameters: %s",
                        ", ".join(sorted(unknown)),
                    )
                )
            unknown = set(template._get_button_commands()) - valid_commands
            if unknown:
                raise ValidationError(
                    _("Unknown quick reply commands: %s", ", ".join(sorted(unknown)))
                )

    @api.constrains("twilio_content_sid")
    def _check_twilio_content_sid(self):
        for template in self:
            sid = (template.twilio_content_sid or "").strip()
            if sid and not twilio_client.is_content_sid(sid):
                raise ValidationError(
                    _("A Twilio Content SID is HX followed by 32 hexadecimal digits.")
                )

    def _get_param_keys(self):
        self.ensure_one()
        return [key.strip() for key in (self.meta_param_keys or "").split(",") if key.strip()]

    def _get_param_texts(self):
        """{key: text} of the parameters whose text is not just their key's value."""
        self.ensure_one()
        texts = {}
        for line in (self.meta_param_texts or "").splitlines():
            key, sep, text = line.partition(":")
            if sep and key.strip():
                texts[key.strip()] = text.strip()
        return texts

    def _get_button_commands(self):
        self.ensure_one()
        return [c.strip() for c in (self.meta_button_commands or "").split(",") if c.strip()]

    def _get_template_params(self, values):
        """Ordered, sanitised parameter texts for the approved template."""
        self.ensure_one()
        empty = self.empty_param_text or "-"
        texts = self._get_param_texts()
        return [
            render.sanitize_template_param(
                render.render_text(texts[key], values) if key in texts else values.get(key),
                empty=empty,
            )
            for key in self._get_param_keys()
        ]

    def _check_submittable(self):
        """A template that reuses another's approved template (the reminder sends the
        notification's) is never submitted itself: its own text under the shared name
        would replace the approved one. The first template of that name submits."""
        self.ensure_one()
        owner = self.sudo().search(
            [
                ("meta_template_name", "=", self.meta_template_name),
                ("meta_language", "=", self.meta_language),
                ("company_id", "in", [self.company_id.id, False]),
            ],
            order="id",
            limit=1,
        )
        if self.meta_template_name and owner and owner != self.sudo():
            raise UserError(
                _(
                    "This template reuses the approved template %(name)s of '%(owner)s': "
                    "submit that one.",
                    name=self.meta_template_name,
                    owner=owner.name,
                )
            )

    def _get_template_ref(self):
        """How each provider names this approved template (tools.provider.TemplateRef)."""
        self.ensure_one()
        return provider.TemplateRef(
            name=self.meta_template_name or None,
            language=self.meta_language or "es",
            content_sid=(self.twilio_content_sid or "").strip() or None,
        )

    def _forget_approval(self, provider, never, vals, sync):
        """These templates now name another template at ``provider`` (another Meta name
        or language, another Twilio Content SID): what the provider said of the old one
        no longer holds, so its fields take the values ``never`` (what a template never
        submitted shows) unless ``vals`` sets them. ``sync``: a new one is named; the
        provider's sync cron runs now, as it may be approved already."""
        reset = {name: value for name, value in never.items() if name not in vals}
        if not self or not reset:
            return
        self.write(reset)
        cron = self.env.ref(TEMPLATE_SYNC_CRONS[provider], raise_if_not_found=False)
        if sync and cron:
            cron.sudo()._trigger()

    def _is_approved_for(self, provider):
        """May this template be sent outside the 24-hour window by ``provider``: the one
        rule. Meta approves the template itself (``meta_status``); for Twilio the
        Content API's approval of its Content plays that part."""
        self.ensure_one()
        if provider == "twilio":
            return self._is_approved_at_twilio()
        return self._is_approved_at_meta()

    def _render_body(self, values):
        """The text sent inside the window; lines whose values are all empty are left
        out (no "Fecha límite:" without a deadline)."""
        self.ensure_one()
        return render.render_text(self.body or "", values, drop_empty_lines=True)

    @api.model
    def _apply_meta_status(self, update):
        """message_template_status_update webhook: remember Meta's verdict."""
        templates = self.sudo().search(
            [
                "|",
                ("meta_template_id", "=", update.message_template_id),
                "&",
                ("meta_template_name", "=", update.message_template_name),
                ("meta_language", "=", update.message_template_language),
            ]
        )
        templates._set_meta_status(update.event, update.reason)
