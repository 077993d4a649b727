"""Templates at Twilio: the WhatsApp approval of their Content (spec B6, B9).

Twilio sends outside the 24-hour window only a Content template WhatsApp approved.
Its approval is read from Twilio's Content API (button, hourly cron) and stored
here; messages that wait for it are released as for Meta
(``_release_waiting_messages``). Whether a template may be sent is decided in one
place: ``ofitec.whatsapp.template._is_approved_for``.
"""

import logging

from odoo import _, api, fields, models
from odoo.exceptions import UserError

from ..tools.errors import AuthError, WhatsAppError

_logger = logging.getLogger(__name__)


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

    # ------------------------------------------------------------------
    # Actions
    # ------------------------------------------------------------------
    def action_sync_from_twilio(self):
        """Read the WhatsApp approval of these templates' Content from Twilio."""
        for template in self.filtered("twilio_content_sid"):
            template._sync_twilio_approval(template._get_twilio_account(raise_if_missing=True))
        return True

    @api.model
    def _cron_sync_from_twilio(self):
        """Hourly: every active Twilio number reads the approval of its company's
        Content templates (the messages that wait for one go once it is approved)."""
        configs = self.env["ofitec.whatsapp.config"].sudo().search([("provider", "=", "twilio")])
        seen = set()
        for config in configs:
            key = (config.twilio_account_sid, config.company_id.id)
            if key in seen or config.sending_paused:
                continue
            seen.add(key)
            templates = self.sudo().search(
                [
                    ("company_id", "in", [config.company_id.id, False]),
                    ("twilio_content_sid", "!=", False),
                ]
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
            message = error.args[0] if isinstance(error, UserError) else str(error)
            template.write({"twilio_error": _("Sync failed: %s", message)})
            if isinstance(error, AuthError):
                config._pause_sending(message)
                return False
            return True
        template.write(
            {
                "twilio_approval_status": approval.status or False,
                "twilio_rejection_reason": approval.rejection_reason or False,
                "twilio_error": False,
                "twilio_synced_at": fields.Datetime.now(),
            }
        )
        template._release_waiting_messages()
        return True
