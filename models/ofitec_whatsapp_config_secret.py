"""Secrets of a WhatsApp number: stored encrypted at rest, readable only by managers.

The access token, app secret, verify token and Twilio auth token live in ``*_stored``
columns that hold ciphertext when a key is configured (``ofitec_whatsapp_secret_key`` in
the Odoo configuration file, or ``OFITEC_WHATSAPP_SECRET_KEY``); the plain fields are
computed from them and restricted to ``SECRET_GROUPS``.
"""

import logging
import os
import secrets

from odoo import api, fields, models, tools

from ..tools import crypto

_logger = logging.getLogger(__name__)

SECRET_FIELDS = ("access_token", "app_secret", "verify_token", "twilio_auth_token")
SECRET_GROUPS = "ofitec_whatsapp.group_whatsapp_manager,base.group_system"
KEY_CONFIG_OPTION = "ofitec_whatsapp_secret_key"
KEY_ENV_VARIABLE = "OFITEC_WHATSAPP_SECRET_KEY"


def _get_secret_box():
    """The encryption helper for secrets at rest, or None when no key is configured.

    The key comes from the Odoo configuration file (``ofitec_whatsapp_secret_key``)
    or, failing that, from the ``OFITEC_WHATSAPP_SECRET_KEY`` environment variable.
    """
    key = tools.config.get(KEY_CONFIG_OPTION) or os.environ.get(KEY_ENV_VARIABLE)
    if not key:
        return None
    return crypto.SecretBox(key)


class OfitecWhatsappConfigSecret(models.Model):
    _inherit = "ofitec.whatsapp.config"

    # Secrets: the stored columns hold ciphertext when a key is configured.
    access_token_stored = fields.Text(groups=SECRET_GROUPS, copy=False)
    app_secret_stored = fields.Text(groups=SECRET_GROUPS, copy=False)
    verify_token_stored = fields.Text(groups=SECRET_GROUPS, copy=False)
    # Char (unlimited in PostgreSQL terms, and not stored anyway) so the form can mask it.
    access_token = fields.Char(
        compute="_compute_secrets",
        inverse="_inverse_access_token",
        groups=SECRET_GROUPS,
        help="System user access token of the Meta app.",
    )
    app_secret = fields.Char(
        compute="_compute_secrets",
        inverse="_inverse_app_secret",
        groups=SECRET_GROUPS,
        help="App secret of the Meta app: signs the webhooks (X-Hub-Signature-256).",
    )
    verify_token = fields.Char(
        string="Webhook Verify Token",
        compute="_compute_secrets",
        inverse="_inverse_verify_token",
        groups=SECRET_GROUPS,
        help="Token Meta sends in the webhook handshake. Generated when left empty.",
    )
    secrets_encrypted = fields.Boolean(compute="_compute_secrets_encrypted")

    @api.depends(
        "access_token_stored",
        "app_secret_stored",
        "verify_token_stored",
        "twilio_auth_token_stored",
    )
    def _compute_secrets(self):
        box = _get_secret_box()
        for config in self:
            for fname in SECRET_FIELDS:
                value = config[f"{fname}_stored"] or False
                if value and crypto.is_encrypted(value):
                    try:
                        value = box.decrypt(value) if box else False
                    except crypto.SecretKeyError:
                        value = False
                    if value is False:
                        _logger.warning(
                            "WhatsApp config %s: %s cannot be decrypted with the configured key",
                            config.id,
                            fname,
                        )
                config[fname] = value

    def _store_secret(self, fname):
        box = _get_secret_box()
        for config in self:
            value = config[fname] or False
            if value and box:
                value = box.encrypt(value)
            config[f"{fname}_stored"] = value

    def _inverse_access_token(self):
        self._store_secret("access_token")

    def _inverse_app_secret(self):
        self._store_secret("app_secret")

    def _inverse_verify_token(self):
        self._store_secret("verify_token")

    def _compute_secrets_encrypted(self):
        encrypted = _get_secret_box() is not None
        for config in self:
            config.secrets_encrypted = encrypted

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            if not vals.get("verify_token"):
                vals["verify_token"] = secrets.token_urlsafe(24)
        return super().create(vals_list)

    def action_regenerate_verify_token(self):
        self.ensure_one()
        self.verify_token = secrets.token_urlsafe(24)
