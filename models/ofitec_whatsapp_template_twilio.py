"""Templates at Twilio: their Content, submitted for WhatsApp approval (spec B6, B9).

Twilio sends outside the 24-hour window only a Content template WhatsApp approved.
*Submit to Twilio* creates the template's Content (the text submitted to Meta, the
same parameters) and asks for its WhatsApp approval; the approval is read from
Twilio's Content API (button, hourly cron) and stored here; messages that wait for
it are released as for Meta (``_release_waiting_messages``). Whether a template may
be sent is decided in one place: ``ofitec.whatsapp.template._is_approved_for``.
"""

import logging

from odoo import _, api, fields, models
from odoo.exceptions import UserError

from ..tools import twilio_content
from ..tools.errors import AuthError, WhatsAppError
from ..tools.templates import TemplateSubmissionError
from .ofitec_next_action_report import reader_lang
from .ofitec_whatsapp_template import TEMPLATE_KEYS

_logger = logging.getLogger(__name__)

# Twilio's approval statuses under which a new submission would only be refused.
SUBMITTED = ("received", "pending", "approved")
# What a template never submitted to Twilio shows: what another Content SID (or none)
# leaves, as everything Twilio said was said of the Content it replaces.
NEVER_SUBMITTED = {
    "twilio_approval_status": False,
    "twilio_rejection_reason": False,
    "twilio_error": False,
    "twilio_synced_at": False,
}


class OfitecWhatsappTemplateTwilio(models.Model):
    _inherit = "ofitec.whatsapp.template"

    twilio_approval_status = fields.Char(
        string="Twilio Approval",
        readonly=True,
        copy=False,
        help="WhatsApp approval of the Content template, as Twilio last reported it "
        "(approved, pending, rejected…). Only an approved Content is sent outside the "
        "24-hour window.",
    )
    twilio_rejection_reason = fields.Char(
        string="Twilio Rejection Reason", readonly=True, copy=False
    )
    twilio_error = fields.Text(string="Twilio's Last Error", readonly=True, copy=False)
    twilio_synced_at = fields.Datetime(string="Last Twilio Sync", readonly=True, copy=False)
    twilio_account_missing = fields.Boolean(compute="_compute_twilio_account_missing")

    def write(self, vals):
        if "twilio_content_sid" not in vals:
            return super().write(vals)
        sid = (vals["twilio_content_sid"] or "").strip()
        changed = self.filtered(lambda t: (t.twilio_content_sid or "").strip() != sid)
        result = super().write(vals)
        changed._forget_approval("twilio", NEVER_SUBMITTED, vals, sync=bool(sid))
        return result

    @api.depends_context("company")
    def _compute_twilio_account_missing(self):
        for template in self:
            template.twilio_account_missing = not template._get_twilio_account()

    # ------------------------------------------------------------------
    # Actions
    # ------------------------------------------------------------------
    def action_submit_to_twilio(self):
        """Create this template's Content at Twilio and submit it for WhatsApp approval.

        A Content WhatsApp has not judged yet (a SID typed in, or one whose submission
        failed) is submitted as it is; a rejected one is replaced by a new Content, as
        its text cannot change. Twilio's refusal is shown on the template."""
        self.ensure_one()
        template = self.sudo()
        status = (template.twilio_approval_status or "").lower()
        if status in SUBMITTED:
            raise UserError(_("This template was already submitted to Twilio (%s).", status))
        template._check_submittable()
        config = template._get_twilio_account(raise_if_missing=True)
        try:
            content = template._prepare_twilio_content()
            request = twilio_content.build_approval_request(template.meta_template_name)
        except TemplateSubmissionError as error:
            raise UserError(_("This template cannot be submitted: %s", error)) from None
        sid = (template.twilio_content_sid or "").strip()
        try:
            client = config._get_client()
            if not sid or status == "rejected":
                sid = client.create_content(content)
                # Kept even if the submission below fails: the next one reuses it.
                template.twilio_content_sid = sid
            approval = client.submit_content_approval(sid, request)
        except (WhatsAppError, UserError, ValueError) as error:
            text = template._provider_error_text(error, config)
            template._note_twilio_error(config, _("Submission failed: %s", text), error)
            return True
        template._store_twilio_approval(approval)
        return True

    def action_sync_from_twilio(self):
        """Read the WhatsApp approval of these templates' Content from Twilio."""
        for template in self.filtered("twilio_content_sid"):
            template._sync_twilio_approval(template._get_twilio_account(raise_if_missing=True))
        return True

    @api.model
    def _cron_sync_from_twilio(self):
        """Hourly: every active Twilio number reads the approval of its company's
        Content templates (the messages that wait for one go once it is approved); not
        one in test mode nor a paused one (``_numbers_to_sync``)."""
        configs = self.env["ofitec.whatsapp.config"]._numbers_to_sync("twilio")
        seen = set()
        for config in configs:
            key = (config.twilio_account_sid, config.company_id.id)
            if key in seen:
                continue
            seen.add(key)
            # Nobody reads along: what is noted on the templates is in their company's
            # language, not the cron user's.
            lang = reader_lang(self.env, company=config.company_id)
            templates = (
                self.sudo()
                .with_context(lang=lang)
                .search(
                    [
                        ("company_id", "in", [config.company_id.id, False]),
                        ("twilio_content_sid", "!=", False),
                    ]
                )
            )
            for template in templates:
                if not template._sync_twilio_approval(config):
                    break  # the account refused us: the next run tries again

    # ------------------------------------------------------------------
    # Business methods
    # ------------------------------------------------------------------
    def _is_approved_at_twilio(self):
        self.ensure_one()
        return (self.twilio_approval_status or "").lower() == "approved"

    def _get_twilio_account(self, raise_if_missing=False):
        """The active Twilio number of the template's (or the current) company."""
        self.ensure_one()
        company = self.company_id or self.env.company
        config = (
            self.env["ofitec.whatsapp.config"]
            .sudo()
            .search([("company_id", "=", company.id), ("provider", "=", "twilio")], limit=1)
        )
        if not config and raise_if_missing:
            raise UserError(
                _("%s has no active Twilio number to read the approval from.", company.name)
            )
        return config

    def _sync_twilio_approval(self, config):
        """Store what Twilio says of this template's Content; False when the account
        refused our credentials (the number is paused, as for a refused send)."""
        self.ensure_one()
        template = self.sudo()
        sid = (template.twilio_content_sid or "").strip()
        try:
            approval = config._get_client().fetch_content_approval(sid)
        except (WhatsAppError, UserError, ValueError) as error:
            text = template._provider_error_text(error, config)
            return template._note_twilio_error(config, _("Sync failed: %s", text), error)
        template._store_twilio_approval(approval)
        return True

    def _prepare_twilio_content(self):
        """The Content of this template: the text and parameters submitted to Meta."""
        self.ensure_one()
        return twilio_content.build_content_request(
            self.meta_template_name,
            self.meta_language or "es",
            self.meta_body or self.body,
            self._get_param_keys(),
            TEMPLATE_KEYS,
            quick_replies=self._get_button_commands(),
        )

    def _store_twilio_approval(self, approval):
        """Store a ``tools.twilio_content.ContentApproval``; release what waited for it."""
        self.write(
            {
                "twilio_approval_status": approval.status or False,
                "twilio_rejection_reason": approval.rejection_reason or False,
                "twilio_error": False,
                "twilio_synced_at": fields.Datetime.now(),
            }
        )
        self._release_waiting_messages()

    def _note_twilio_error(self, config, text, error):
        """Show what Twilio refused; refused credentials pause the number (as a refused
        send does). Returns False then, True otherwise."""
        self.write({"twilio_error": text})
        if isinstance(error, AuthError):
            config._pause_for_refused_check(self._provider_error_text(error, config))
            return False
        return True
