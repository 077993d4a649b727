"""Templates at Meta: submit, sync, and what Meta says of each template.

Only an approved template is ever sent (``_is_approved_at_meta``): a message that needs
one waits in the queue (``ofitec.whatsapp.message._hold_for_template``) and goes when
the approval arrives, by Sync, the daily cron or the status webhook.
"""

import logging

from odoo import _, api, fields, models
from odoo.exceptions import UserError

from ..tools import templates as meta_templates
from ..tools.cloud_api import TEMPLATE_FIELDS
from ..tools.errors import WhatsAppError, is_auth_code
from .ofitec_next_action_report import reader_lang
from .ofitec_whatsapp_template import TEMPLATE_KEYS

_logger = logging.getLogger(__name__)

APPROVED = "APPROVED"
EXPECTED_CATEGORY = "UTILITY"
SYNC_FIELDS = TEMPLATE_FIELDS + ("quality_score", "rejected_reason")
# What a template never submitted to Meta shows: what another name or language leaves,
# as Meta approves a template by its name and language, and everything it said was said
# of the template they named before.
NEVER_SUBMITTED = {
    "meta_template_id": False,
    "meta_status": False,
    "meta_category": False,
    "meta_quality": False,
    "meta_rejected_reason": False,
    "meta_error": False,
    "meta_synced_at": False,
}


def _meta_key(name, language):
    """What Meta knows a template by: its name and its language (``es`` by default)."""
    return ((name or "").strip(), (language or "es").strip())


class OfitecWhatsappTemplateMeta(models.Model):
    _inherit = "ofitec.whatsapp.template"

    meta_body = fields.Text(
        string="Text Submitted to Meta",
        help="Text of the approved template, with the same {{key}} placeholders as the "
        "parameters (each once). Empty: the text above is submitted.",
    )
    meta_template_id = fields.Char(string="Meta Template ID", readonly=True, copy=False)
    meta_category = fields.Char(
        readonly=True, copy=False, help="Category Meta gave the template (UTILITY, MARKETING…)."
    )
    meta_quality = fields.Char(string="Meta Quality", readonly=True, copy=False)
    meta_rejected_reason = fields.Char(readonly=True, copy=False)
    meta_error = fields.Text(
        string="Meta's Last Error", readonly=True, copy=False, help="What Meta last refused."
    )
    meta_synced_at = fields.Datetime(string="Last Sync", readonly=True, copy=False)
    meta_category_changed = fields.Boolean(compute="_compute_meta_category_changed")
    meta_account_missing = fields.Boolean(compute="_compute_meta_account_missing")

    def write(self, vals):
        if "meta_template_name" not in vals and "meta_language" not in vals:
            return super().write(vals)
        changed = self.filtered(lambda t: t._meta_key_after(vals) != t._meta_key_after({}))
        result = super().write(vals)
        named = any(changed.mapped("meta_template_name"))
        changed._forget_approval("meta", NEVER_SUBMITTED, vals, sync=named)
        return result

    def _meta_key_after(self, vals):
        """Meta's key of this template once ``vals`` is written."""
        self.ensure_one()
        return _meta_key(
            vals.get("meta_template_name", self.meta_template_name),
            vals.get("meta_language", self.meta_language),
        )

    @api.depends("meta_category")
    def _compute_meta_category_changed(self):
        for template in self:
            template.meta_category_changed = bool(
                template.meta_category and template.meta_category != EXPECTED_CATEGORY
            )

    @api.depends_context("company")
    def _compute_meta_account_missing(self):
        for template in self:
            template.meta_account_missing = not template._get_meta_account()

    # ------------------------------------------------------------------
    # Actions
    # ------------------------------------------------------------------
    def action_submit_to_meta(self):
        """POST the template to the WABA; Meta's refusal is shown on the template."""
        self.ensure_one()
        self._check_submittable()
        config = self._get_meta_account(raise_if_missing=True)
        try:
            payload = self._prepare_meta_submission()
        except meta_templates.TemplateSubmissionError as error:
            raise UserError(_("This template cannot be submitted: %s", error)) from None
        try:
            answer = config._get_client().create_template(payload, waba_id=config.waba_id)
        except WhatsAppError as error:
            self.sudo().meta_error = self._provider_error_text(error, config)
            return True
        self.sudo().write(
            {
                "meta_template_id": answer.get("id") or False,
                "meta_status": (answer.get("status") or "PENDING").upper(),
                "meta_category": (answer.get("category") or EXPECTED_CATEGORY).upper(),
                "meta_rejected_reason": False,
                "meta_error": False,
            }
        )
        self._release_waiting_messages()
        return True

    def action_sync_from_meta(self):
        """Read every template of the accounts these templates belong to."""
        configs = self.env["ofitec.whatsapp.config"]
        for template in self:
            configs |= template._get_meta_account(raise_if_missing=True)
        for config in configs:
            self._sync_account(config)
        return True

    @api.model
    def _cron_sync_from_meta(self):
        """Daily: every active Meta number with a WABA id reads its templates; not one
        in test mode nor a paused one (``_numbers_to_sync``)."""
        configs = self.env["ofitec.whatsapp.config"]._numbers_to_sync("meta").filtered("waba_id")
        seen = set()
        for config in configs:
            if (config.waba_id, config.company_id) in seen:
                continue
            seen.add((config.waba_id, config.company_id))
            # Nobody reads along: what is noted on the templates is in their company's
            # language, not the cron user's.
            self.with_context(lang=reader_lang(self.env, company=config.company_id))._sync_account(
                config
            )

    @api.model
    def _sync_account(self, config):
        """Read the templates of ``config``'s WABA (every page) and store what Meta
        says of ours. A failure is noted on the templates; nothing else changes."""
        ours = self.sudo().search(
            [
                ("company_id", "in", [config.company_id.id, False]),
                ("meta_template_name", "!=", False),
            ]
        )
        try:
            items = config._get_client().list_templates(waba_id=config.waba_id, fields=SYNC_FIELDS)
        except (WhatsAppError, UserError) as error:
            message = self._provider_error_text(error, config)
            ours.write({"meta_error": _("Sync failed: %s", message)})
            if is_auth_code(getattr(error, "code", None)):
                config._pause_for_refused_check(message)
            return False
        infos = meta_templates.parse_template_list(items)
        for template in ours:
            info = infos.get((template.meta_template_name, template.meta_language or "es"))
            if info:
                template._apply_meta_info(info)
            else:
                template.write(
                    {
                        "meta_error": _(
                            "Meta has no template %(name)s in %(lang)s: submit it.",
                            name=template.meta_template_name,
                            lang=template.meta_language or "es",
                        ),
                        "meta_synced_at": fields.Datetime.now(),
                    }
                )
        return True

    # ------------------------------------------------------------------
    # Business methods
    # ------------------------------------------------------------------
    @api.model
    def _provider_error_text(self, error, config):
        """What a provider's refusal (or its absence) says, in this environment's
        language: ``error`` is a tools.errors.WhatsAppError, or a UserError (no usable
        credentials) or a ValueError whose text is already for people."""
        if isinstance(error, WhatsAppError):
            Message = self.env["ofitec.whatsapp.message"]
            return Message._describe_error_text(error, config.provider)
        return str(error.args[0]) if error.args else str(error)

    def _is_approved_at_meta(self):
        self.ensure_one()
        return (self.meta_status or "").upper() == APPROVED

    def _get_meta_account(self, raise_if_missing=False):
        """The number whose WhatsApp Business Account holds this template: the
        template's (or the current) company's active Meta number with a WABA id."""
        self.ensure_one()
        company = self.company_id or self.env.company
        config = (
            self.env["ofitec.whatsapp.config"]
            .sudo()
            .search(
                [
                    ("company_id", "=", company.id),
                    ("provider", "=", "meta"),
                    ("waba_id", "!=", False),
                ],
                limit=1,
            )
        )
        if not config and raise_if_missing:
            raise UserError(
                _(
                    "Set the WhatsApp Business Account ID on a WhatsApp number of %s "
                    "to submit or sync templates.",
                    company.name,
                )
            )
        return config

    def _prepare_meta_submission(self):
        self.ensure_one()
        return meta_templates.build_template_submission(
            self.meta_template_name,
            self.meta_language or "es",
            self.meta_body or self.body,
            self._get_param_keys(),
            TEMPLATE_KEYS,
            category=EXPECTED_CATEGORY,
            quick_replies=self._get_button_commands(),
        )

    def _apply_meta_info(self, info):
        """Store what Meta says of this template (``tools.templates.TemplateInfo``)."""
        self.sudo().write(
            {
                "meta_template_id": info.id or False,
                "meta_status": info.status or False,
                "meta_category": info.category or False,
                "meta_quality": info.quality or False,
                "meta_rejected_reason": info.rejected_reason or False,
                "meta_error": False,
                "meta_synced_at": fields.Datetime.now(),
            }
        )
        self._release_waiting_messages()

    def _set_meta_status(self, status, reason=None):
        """The status webhook: Meta's new verdict on these templates."""
        vals = {"meta_status": (status or "").upper() or False}
        if reason and reason.upper() != "NONE":
            vals["meta_rejected_reason"] = reason
        self.sudo().write(vals)
        self._release_waiting_messages()

    def _release_waiting_messages(self):
        """Approved now: the messages that waited for these templates go at once (those
        whose number's provider approved it: Meta's template, Twilio's Content)."""
        approved = self.filtered(lambda t: t._is_approved_at_meta() or t._is_approved_at_twilio())
        if not approved:
            return
        waiting = (
            self.env["ofitec.whatsapp.message"]
            .sudo()
            .search(
                [
                    ("template_id", "in", approved.ids),
                    ("state", "=", "queued"),
                    ("direction", "=", "outbound"),
                    ("error_code", "=", "template_not_approved"),
                ]
            )
        )
        waiting = waiting.filtered(
            lambda m: m.template_id._is_approved_for(m.config_id.sudo().provider)
        )
        if waiting:
            waiting.write({"next_attempt": False, "error_code": False, "error_message": False})
            waiting._trigger_queue()
