"""Set-up help on the WhatsApp number's form."""

from odoo import _, api, fields, models

from ..tools import urls

# The crons that read what the provider says of our templates (they skip numbers in
# test mode), by provider.
TEMPLATE_SYNC_CRONS = {
    "meta": "ofitec_whatsapp.ir_cron_whatsapp_sync_templates",
    "twilio": "ofitec_whatsapp.ir_cron_whatsapp_sync_twilio_approvals",
}


class OfitecWhatsappConfigSetup(models.Model):
    _inherit = "ofitec.whatsapp.config"

    webhook_url_warning = fields.Char(
        string="Webhook URL Warning", compute="_compute_webhook_url_warning"
    )

    def write(self, vals):
        leaving = (
            self.filtered("test_mode") if "test_mode" in vals and not vals["test_mode"] else None
        )
        result = super().write(vals)
        if leaving:
            leaving._sync_templates_soon()
        return result

    @api.model
    def _numbers_to_sync(self, provider):
        """The numbers of ``provider`` whose templates the sync crons read: not one in
        test mode (nothing leaves Odoo) nor one whose token was refused (paused)."""
        return self.sudo().search(
            [("provider", "=", provider), ("test_mode", "=", False), ("sending_paused", "=", False)]
        )

    def _sync_templates_soon(self):
        """A number leaves test mode, in which no cron reads its templates at the
        provider: its provider's sync runs now, not a day later, so that a message
        outside the 24-hour window does not wait for an approval already given."""
        for provider in set(self.mapped("provider")):
            xmlid = TEMPLATE_SYNC_CRONS.get(provider)
            cron = xmlid and self.env.ref(xmlid, raise_if_not_found=False)
            if cron:
                cron.sudo()._trigger()

    @api.depends("webhook_url", "provider")
    @api.depends_context("uid")
    def _compute_webhook_url_warning(self):
        for config in self:
            problem = urls.webhook_url_problem(config.webhook_url) if config.webhook_url else None
            if problem == "local":
                text = _(
                    "%(provider)s cannot call this Webhook URL: it points to this machine "
                    "or a private network. Set the system parameter web.base.url to the "
                    "public HTTPS address of Odoo (or put a public HTTPS proxy in front).",
                    provider="Twilio" if config.provider == "twilio" else "Meta",
                )
            elif problem == "http" and config.provider == "meta":  # Twilio calls http too
                text = _(
                    "Meta only calls HTTPS addresses with a valid certificate: serve Odoo "
                    "over HTTPS and set web.base.url to its https:// address."
                )
            elif problem == "invalid":
                text = _("The Webhook URL is not a valid address: check web.base.url.")
            else:
                text = False
            config.webhook_url_warning = text
