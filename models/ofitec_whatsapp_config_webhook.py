"""What the webhook route needs of a number, cached per worker process.

Every POST from the provider needs the number's company and its webhook handler (the
app secret or auth token, decrypted). Read through the ORM that costs several queries
per request (the secret columns are restricted to managers, so each is fetched on its
own) and a decryption. Like ``ir.config_parameter.get_param``, the lookup is an
``ormcache``: one copy per process, cleared in every worker and server when a write
changes what the route reads (``clear_caches`` moves the registry's cache sequence,
which each request checks before it runs).
"""

from odoo import api, models, tools

# A change to one of these changes what the webhook route does for a number.
WEBHOOK_ROUTE_FIELDS = frozenset(
    {
        "active",
        "company_id",
        "provider",
        "app_secret",
        "app_secret_stored",
        "verify_token",
        "verify_token_stored",
        "twilio_auth_token",
        "twilio_auth_token_stored",
    }
)


class OfitecWhatsappConfigWebhook(models.Model):
    _name = "ofitec.whatsapp.config"
    _inherit = ["ofitec.whatsapp.config", "ofitec.whatsapp.cached.lookup"]

    _cached_lookup_fields = WEBHOOK_ROUTE_FIELDS

    @api.model
    @tools.ormcache("config_id")
    def _get_webhook_route(self, config_id):
        """``(company id, webhook handler)`` of the active number ``config_id``, or None
        when there is no such number or it is archived. The handler is a pure object
        holding the number's secret; it is never logged nor returned to a client."""
        config = self.sudo().with_context(active_test=False).browse(config_id).exists()
        if not config or not config.active:
            return None
        return config.company_id.id, config._get_webhook_handler()
