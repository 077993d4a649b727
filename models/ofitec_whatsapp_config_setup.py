"""Set-up help on the WhatsApp number's form."""

from odoo import _, api, fields, models

from ..tools import urls


class OfitecWhatsappConfigSetup(models.Model):
    _inherit = "ofitec.whatsapp.config"

    webhook_url_warning = fields.Char(
        string="Webhook URL Warning", compute="_compute_webhook_url_warning"
    )

    @api.depends("webhook_url")
    @api.depends_context("uid")
    def _compute_webhook_url_warning(self):
        for config in self:
            problem = urls.webhook_url_problem(config.webhook_url) if config.webhook_url else None
            if problem == "local":
                text = _(
                    "Meta cannot call this Webhook URL: it points to this machine or a "
                    "private network. Set the system parameter web.base.url to the public "
                    "HTTPS address of Odoo (or put a public HTTPS proxy in front)."
                )
            elif problem == "http":
                text = _(
                    "Meta only calls HTTPS addresses with a valid certificate: serve Odoo "
                    "over HTTPS and set web.base.url to its https:// address."
                )
            elif problem == "invalid":
                text = _("The Webhook URL is not a valid address: check web.base.url.")
            else:
                text = False
            config.webhook_url_warning = text
