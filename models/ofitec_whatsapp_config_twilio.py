"""Twilio on a WhatsApp number: its settings, its client and its webhook handler.

The config stays the one place that picks the provider (``_get_client`` /
``_get_webhook_handler`` call ``_build_<provider>_client`` / ``_handler``); this file
only holds what is Twilio's.
"""

from odoo import _, api, fields, models
from odoo.exceptions import UserError, ValidationError

from ..tools import twilio_client, twilio_webhook
from ..tools.errors import WhatsAppError
from .ofitec_whatsapp_config import MissingCredentialsError
from .ofitec_whatsapp_config_secret import SECRET_GROUPS


class OfitecWhatsappConfigTwilio(models.Model):
    _inherit = "ofitec.whatsapp.config"

    twilio_account_sid = fields.Char(
        string="Twilio Account SID", help="AC… of the Twilio account that owns the sender."
    )
    twilio_auth_token_stored = fields.Text(groups=SECRET_GROUPS, copy=False)
    twilio_auth_token = fields.Char(
        string="Twilio Auth Token",
        compute="_compute_secrets",
        inverse="_inverse_twilio_auth_token",
        groups=SECRET_GROUPS,
        help="Authenticates the API calls and signs Twilio's webhooks (X-Twilio-Signature).",
    )
    twilio_from = fields.Char(
        string="Twilio Sender",
        help="The WhatsApp sender, whatsapp:+<number>, or a Messaging Service SID (MG…).",
    )
    twilio_api_base_url = fields.Char(
        string="Twilio API Base URL",
        default=twilio_client.DEFAULT_BASE_URL,
        help="Root of Twilio's REST API. Other editions and regions use other hosts.",
    )
    twilio_quick_reply_content_sid = fields.Char(
        string="Quick Reply Content SID",
        help="Optional HX… of a twilio/quick-reply content whose body is {{1}} and whose "
        "button ids are {{2}}, {{3}}, {{4}}: inside the 24-hour window, messages with "
        "reply buttons use it. Without it they go as plain text.",
    )

    def _inverse_twilio_auth_token(self):
        self._store_secret("twilio_auth_token")

    @api.constrains("provider", "twilio_from", "twilio_api_base_url", "twilio_account_sid")
    def _check_twilio(self):
        for config in self.filtered(lambda c: c.provider == "twilio"):
            if config.twilio_from:
                try:
                    twilio_client.sender_params(config.twilio_from)
                except ValueError:
                    raise ValidationError(
                        _(
                            "The Twilio sender must be whatsapp:+<number> or a Messaging "
                            "Service SID (MG…)."
                        )
                    ) from None
            url = config.twilio_api_base_url or ""
            if not url.startswith(("https://", "http://")):
                raise ValidationError(
                    _("The Twilio API base URL must start with https:// or http://.")
                )
            sid = config.twilio_account_sid or ""
            if sid and not (sid.startswith("AC") and len(sid) == 34):
                raise ValidationError(_("A Twilio Account SID is AC followed by 32 characters."))

    # ------------------------------------------------------------------
    # The provider seam (see ofitec_whatsapp_config._get_client)
    # ------------------------------------------------------------------
    def _build_twilio_client(self):
        if not self.twilio_auth_token:
            raise MissingCredentialsError(
                _("The Twilio Auth Token of %s is missing or unreadable.", self.name)
            )
        try:
            return twilio_client.TwilioClient(
                account_sid=self.twilio_account_sid,
                auth_token=self.twilio_auth_token,
                twilio_from=self.twilio_from,
                base_url=self.twilio_api_base_url or twilio_client.DEFAULT_BASE_URL,
                status_callback=self.webhook_url,
                quick_reply_content_sid=self.twilio_quick_reply_content_sid or None,
            )
        except ValueError as error:
            raise UserError(_("%(name)s: %(error)s", name=self.name, error=error)) from None

    def _build_twilio_webhook_handler(self):
        return twilio_webhook.TwilioWebhookHandler(self.twilio_auth_token, self.webhook_url)

    def _test_twilio_connection(self):
        """Fetch the Twilio account: its status, or Twilio's exact error."""
        self.ensure_one()
        try:
            account = self._get_client().fetch_account()
        except WhatsAppError as error:
            return {
                "ok": False,
                "message": self._check_failed_text(error),
                "error_code": error.code,
            }
        except UserError as error:
            return {"ok": False, "message": str(error.args[0])}
        status = account.get("status")
        return {
            "ok": status == "active",
            "message": _(
                "Twilio account %(name)s (%(sid)s), status %(status)s.",
                name=account.get("friendly_name") or "?",
                sid=account.get("sid") or "?",
                status=status or "?",
            ),
            "status": status,
        }
