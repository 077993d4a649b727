import logging

from odoo import _, api, fields, models
from odoo.exceptions import UserError, ValidationError

from ..tools import cloud_api, commands, meta_webhook, twilio_client
from ..tools.errors import WhatsAppError

_logger = logging.getLogger(__name__)

# provider (selection value) -> its pure client class (see _get_provider_class)
PROVIDER_CLASSES = {"meta": cloud_api.CloudApiClient, "twilio": twilio_client.TwilioClient}
# provider -> how people call it (in every language)
PROVIDER_NAMES = {"meta": "Meta", "twilio": "Twilio"}


class MissingCredentialsError(UserError):
    """The number's credential (Meta's access token, Twilio's Auth Token) is missing or
    cannot be decrypted with the configured key. Like a token the provider refuses, it
    pauses the number (its messages wait) rather than failing them."""


def _is_node_id(value):
    """True for an empty value or an id the Cloud API client accepts in a URL path."""
    try:
        return not value or bool(cloud_api.check_node_id(value, "id"))
    except ValueError:
        return False


class OfitecWhatsappConfig(models.Model):
    _name = "ofitec.whatsapp.config"
    _description = "WhatsApp Number"
    _order = "sequence, id"

    # ------------------------------------------------------------------
    # Fields
    # ------------------------------------------------------------------
    name = fields.Char(required=True)
    active = fields.Boolean(default=True)
    sequence = fields.Integer(
        default=10,
        help="When no number is tied to an action's project, the active configuration "
        "of the action's company with the lowest sequence sends the message.",
    )
    company_id = fields.Many2one(
        "res.company", required=True, default=lambda self: self.env.company, index=True
    )
    provider = fields.Selection(
        [("meta", "Meta WhatsApp Cloud API"), ("twilio", "Twilio")],
        required=True,
        default="meta",
    )
    phone_number_id = fields.Char(
        string="Phone Number ID", help="Meta's id of the business phone number."
    )
    waba_id = fields.Char(string="WhatsApp Business Account ID")
    display_phone_number = fields.Char(readonly=True, copy=False)
    verified_name = fields.Char(readonly=True, copy=False)
    quality_rating = fields.Char(readonly=True, copy=False)
    api_base_url = fields.Char(
        string="API Base URL",
        required=True,
        default="https://graph.facebook.com",
        help="Graph API root. A proxy or a local Graph-speaking server may stand in.",
    )
    api_version = fields.Char(string="API Version", required=True, default="v23.0")
    webhook_url = fields.Char(compute="_compute_webhook_url", string="Webhook URL")
    test_mode = fields.Boolean(
        help="Nothing leaves Odoo: messages get a local id and go straight to 'sent'."
    )
    test_allowlist = fields.Text(
        string="Test Mode Allow-list",
        help="Numbers (one per line or comma separated) that still receive real "
        "messages while test mode is on.",
    )
    rate_limit = fields.Integer(
        string="Messages per Second",
        default=80,
        help="Throughput allowed for this number (Meta's default is 80). 0 lifts the limit.",
    )
    max_attempts = fields.Integer(
        default=6, help="Attempts before a message with a temporary error is marked failed."
    )
    message_count = fields.Integer(compute="_compute_message_count")
    synonyms_ok = fields.Char(
        string="Synonyms of OK",
        default=commands.DEFAULT_CONFIG_SYNONYMS[commands.CMD_OK],
        help="Comma-separated words accepted as OK (besides OK itself).",
    )
    synonyms_completed = fields.Char(
        string="Synonyms of COMPLETADO",
        default=commands.DEFAULT_CONFIG_SYNONYMS[commands.CMD_COMPLETED],
    )
    synonyms_cancel = fields.Char(
        string="Synonyms of CANCELAR", default=commands.DEFAULT_CONFIG_SYNONYMS[commands.CMD_CANCEL]
    )
    # The webhook log is for managers only (like its model's access rights).
    webhook_event_ids = fields.One2many(
        "ofitec.whatsapp.webhook.event",
        "config_id",
        groups="ofitec_whatsapp.group_whatsapp_manager",
    )
    webhook_failed_count = fields.Integer(
        compute="_compute_webhook_counts", groups="ofitec_whatsapp.group_whatsapp_manager"
    )
    signature_failure_count = fields.Integer(
        readonly=True, copy=False, help="Webhook calls refused for a missing or wrong signature."
    )
    last_signature_failure = fields.Datetime(readonly=True, copy=False)

    _sql_constraints = [
        (
            "phone_number_id_company_uniq",
            "unique(phone_number_id, company_id)",
            "This phone number id is already configured for this company.",
        ),
    ]

    # ------------------------------------------------------------------
    # Compute / inverse
    # ------------------------------------------------------------------
    @api.depends_context("uid")
    def _compute_webhook_url(self):
        base_url = self.env["ir.config_parameter"].sudo().get_param("web.base.url", "")
        for config in self:
            config.webhook_url = (
                f"{base_url.rstrip('/')}/webhooks/whatsapp/{config.id}" if config.id else False
            )

    def _compute_message_count(self):
        groups = self.env["ofitec.whatsapp.message"]._read_group(
            [("config_id", "in", self.ids)], ["config_id"], ["config_id"]
        )
        counts = {g["config_id"][0]: g["config_id_count"] for g in groups}
        for config in self:
            config.message_count = counts.get(config.id, 0)

    def _compute_webhook_counts(self):
        groups = self.env["ofitec.whatsapp.webhook.event"]._read_group(
            [("config_id", "in", self.ids), ("state", "=", "failed")], ["config_id"], ["config_id"]
        )
        counts = {g["config_id"][0]: g["config_id_count"] for g in groups}
        for config in self:
            config.webhook_failed_count = counts.get(config.id, 0)

    # ------------------------------------------------------------------
    # Constraints
    # ------------------------------------------------------------------
    @api.constrains("rate_limit", "max_attempts")
    def _check_limits(self):
        for config in self:
            if config.rate_limit < 0:
                raise ValidationError(_("The rate limit cannot be negative."))
            if config.max_attempts < 1:
                raise ValidationError(_("At least one attempt is needed."))

    @api.constrains("api_base_url")
    def _check_api_base_url(self):
        for config in self:
            if not (config.api_base_url or "").startswith(("https://", "http://")):
                raise ValidationError(_("The API base URL must start with https:// or http://."))

    @api.constrains("provider", "api_version", "phone_number_id", "waba_id")
    def _check_meta_ids(self):
        """What the Cloud API client would refuse at the first send (the ids go into
        the URL's path), refused when the number is saved."""
        for config in self.filtered(lambda c: c.provider == "meta"):
            try:
                cloud_api.normalize_api_version(config.api_version)
            except ValueError:
                raise ValidationError(_("The API version must look like v23.0.")) from None
            if not _is_node_id(config.phone_number_id):
                raise ValidationError(
                    _("The Phone Number ID may only hold letters, digits and underscores.")
                )
            if not _is_node_id(config.waba_id):
                raise ValidationError(
                    _(
                        "The WhatsApp Business Account ID may only hold letters, digits "
                        "and underscores."
                    )
                )

    # ------------------------------------------------------------------
    # CRUD
    # ------------------------------------------------------------------
    # ------------------------------------------------------------------
    # Actions
    # ------------------------------------------------------------------
    def action_test_connection(self):
        """Ask Meta for the phone number's profile and show what it says."""
        self.ensure_one()
        return self._connection_notification(self._test_connection())

    def action_test_connection_real(self):
        """The real check even in test mode: it only reads the number's profile."""
        self.ensure_one()
        return self._connection_notification(self._test_connection(real=True))

    def _connection_notification(self, result):
        if result.get("test_mode"):
            title, kind = _("Test mode: nothing was contacted"), "warning"
        elif result["ok"]:
            title, kind = _("Connection succeeded"), "success"
        else:
            title, kind = _("Connection failed"), "danger"
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": title,
                "message": result["message"],
                "type": kind,
                "sticky": kind != "success",
                "className": "o_whatsapp_notification",
            },
        }

    def action_view_messages(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "ofitec_whatsapp.ofitec_whatsapp_message_action"
        )
        action["domain"] = [("config_id", "=", self.id)]
        action["context"] = {}
        return action

    def action_view_webhook_events(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "ofitec_whatsapp.ofitec_whatsapp_webhook_event_action"
        )
        action["domain"] = [("config_id", "=", self.id)]
        return action

    # ------------------------------------------------------------------
    # Business methods
    # ------------------------------------------------------------------
    def _test_connection(self, real=False):
        """Ask the provider about this number: returns a dict safe to show (never a
        secret). Each provider has its ``_test_<provider>_connection``.

        In test mode nothing is contacted unless ``real`` (the check reads the
        number's profile and sends nothing to anybody, so it is safe in test mode too).
        """
        self.ensure_one()
        if self.test_mode and not real:
            return {
                "ok": False,
                "message": _(
                    "Test mode is on, so %(provider)s was not contacted and the credentials "
                    "were not checked. Press Check Credentials to check them for real: it "
                    "only reads the number's profile and sends no message.",
                    provider=PROVIDER_NAMES.get(self.provider, self.provider),
                ),
                "test_mode": True,
            }
        return getattr(self, f"_test_{self.provider}_connection")()

    def _test_meta_connection(self):
        """GET /{phone_number_id}."""
        if not self.phone_number_id:
            return {"ok": False, "message": _("The Phone Number ID is missing.")}
        try:
            info = self._get_client().get_phone_number()
        except WhatsAppError as error:
            return {
                "ok": False,
                "message": self._check_failed_text(error),
                "error_code": error.code,
            }
        except UserError as error:  # no usable access token
            return {"ok": False, "message": str(error.args[0])}
        self.sudo().write(
            {
                "display_phone_number": info.get("display_phone_number") or False,
                "verified_name": info.get("verified_name") or False,
                "quality_rating": info.get("quality_rating") or False,
            }
        )
        status = info.get("status")
        return {
            "ok": status in (None, "CONNECTED"),
            "message": _(
                "Number %(number)s (%(name)s), quality %(quality)s, status %(status)s.",
                number=info.get("display_phone_number") or "?",
                name=info.get("verified_name") or "?",
                quality=info.get("quality_rating") or "?",
                status=status or "?",
            ),
            "display_phone_number": info.get("display_phone_number"),
            "verified_name": info.get("verified_name"),
            "quality_rating": info.get("quality_rating"),
            "status": status,
        }

    def _check_failed_text(self, error):
        """Why a check of this number failed (``error``: a tools.errors.WhatsAppError):
        the provider's answer, or, when no answer came, which host could not be reached
        and why; never "answered" for an answer that never came."""
        self.ensure_one()
        Message = self.env["ofitec.whatsapp.message"]
        text = Message._describe_error_text(error, self.provider)
        if error.network_cause or error.http_status is None:
            return text
        return _(
            "%(provider)s answered: %(error)s",
            provider=PROVIDER_NAMES.get(self.provider, self.provider),
            error=text,
        )

    # The provider seam (tools/provider.py). This is the only place that knows which
    # provider a number uses: the queue, statuses and replies go through these methods.
    # A new provider adds its selection value, its class to PROVIDER_CLASSES and its
    # two builders ``_build_<provider>_client`` and ``_build_<provider>_webhook_handler``.
    def _get_provider_class(self):
        """The pure provider class (tools.provider.Provider) of this number."""
        self.ensure_one()
        return PROVIDER_CLASSES[self.provider]

    def _get_client(self):
        """The only place the ORM obtains a network client, a tools.provider.Provider."""
        self.ensure_one()
        return getattr(self.sudo(), f"_build_{self.provider}_client")()

    def _get_webhook_handler(self):
        """The tools.provider.WebhookHandler that checks and parses this number's webhooks."""
        self.ensure_one()
        return getattr(self.sudo(), f"_build_{self.provider}_webhook_handler")()

    def _build_meta_client(self):
        if not self.access_token:
            raise MissingCredentialsError(
                _("The access token of %s is missing or unreadable.", self.name)
            )
        try:
            return cloud_api.CloudApiClient(
                access_token=self.access_token,
                phone_number_id=self.phone_number_id,
                api_version=self.api_version,
                base_url=self.api_base_url,
                waba_id=self.waba_id or None,
            )
        except ValueError as error:  # an id or version with the wrong shape
            raise UserError(_("%(name)s: %(error)s", name=self.name, error=error)) from None

    def _build_meta_webhook_handler(self):
        return meta_webhook.MetaWebhookHandler(self.app_secret, self.verify_token)

    def _get_synonyms(self):
        """Extra reply words of this number, for tools.commands.parse_command."""
        self.ensure_one()
        table = {}
        for fname, command in (
            ("synonyms_ok", commands.CMD_OK),
            ("synonyms_completed", commands.CMD_COMPLETED),
            ("synonyms_cancel", commands.CMD_CANCEL),
        ):
            for word in (self[fname] or "").split(","):
                if word.strip():
                    table[word.strip()] = command
        return table

    def _record_signature_failure(self):
        """Count a refused webhook call (in its own short transaction-safe UPDATE)."""
        self.ensure_one()
        self.env.cr.execute(
            """
            UPDATE ofitec_whatsapp_config
               SET signature_failure_count = COALESCE(signature_failure_count, 0) + 1,
                   last_signature_failure = (now() at time zone 'UTC')
             WHERE id = %s
            """,
            (self.id,),
        )
        self.invalidate_recordset(["signature_failure_count", "last_signature_failure"])

    def _get_processing_env(self):
        """The environment webhook processing runs in: the WhatsApp technical user,
        restricted to this number's company (not a blanket sudo)."""
        self.ensure_one()
        # By id from the cached xml id lookup: env.ref() also checks that it exists.
        bot_id = self.env["ir.model.data"]._xmlid_to_res_id("ofitec_whatsapp.user_whatsapp_bot")
        bot = self.env["res.users"].sudo().browse(bot_id)
        # Odoo's own per-process cache of a user's companies (what it checks the
        # allowed companies against; cleared when they change): no query per batch.
        if self.company_id.id not in bot._get_company_ids():
            bot.write({"company_ids": [(4, self.company_id.id)]})
        env = self.env(user=bot.id, su=False)
        return env(context=dict(env.context, allowed_company_ids=[self.company_id.id]))

    def _notify_dashboard(self, actions=None):
        """Tell open dashboards of this company to refresh (after commit)."""
        self.ensure_one()
        self._notify_dashboards({self: actions or self.env["ofitec.next.action"]})

    @api.model
    def _notify_dashboards(self, notices):
        """``notices``: config -> actions. One bus message per number, and one NOTIFY
        connection after commit for all of them (Odoo opens one per ``_sendmany``)."""
        if notices:
            self.env["bus.bus"].sudo()._sendmany(
                [
                    (
                        config.company_id,
                        "ofitec_whatsapp/updated",
                        {"config_id": config.id, "action_ids": actions.ids},
                    )
                    for config, actions in notices.items()
                ]
            )
