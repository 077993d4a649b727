"""An expired, revoked, missing or unreadable token pauses the number; it never fails
the queue.

Meta's authentication and permission errors (190, 0, 10, 200-299, …: see
``tools.errors.is_auth_code``) cannot be cured by retrying: every message of the
number would fail the same way. So the number is paused: its queued messages stay
queued (the queue does not claim them), the WhatsApp managers get an activity and the
configuration shows a banner. Test Connection passing again resumes sending.
"""

import logging

from odoo import _, fields, models

from ..tools.errors import AuthError
from .ofitec_next_action_report import reader_lang

_logger = logging.getLogger(__name__)


class OfitecWhatsappConfigToken(models.Model):
    _name = "ofitec.whatsapp.config"
    _inherit = ["ofitec.whatsapp.config", "mail.thread", "mail.activity.mixin"]

    token_status = fields.Selection(
        [("valid", "Valid"), ("expired", "Expired or revoked"), ("unknown", "Unknown")],
        default="unknown",
        required=True,
        readonly=True,
        copy=False,
        help="From Test Connection and from Meta's answers to real sends.",
    )
    sending_paused = fields.Boolean(
        readonly=True,
        copy=False,
        help="The provider refused the access token, or it is missing or unreadable: "
        "messages of this number stay queued until Test Connection passes again.",
    )
    paused_since = fields.Datetime(readonly=True, copy=False)
    paused_reason = fields.Char(readonly=True, copy=False)

    # ------------------------------------------------------------------
    # Business methods
    # ------------------------------------------------------------------
    def _test_connection(self, real=False):
        result = super()._test_connection(real=real)
        if result.get("test_mode"):
            return result
        if result["ok"]:
            self._resume_sending()
        elif self._is_auth_error_code(result.get("error_code")):
            self._pause_for_refused_check(result["message"])
        return result

    def _pause_for_refused_check(self, reason):
        """A check that sends nothing (Check Credentials, a template sync or submission)
        found the token refused: pause the number, unless it is in test mode. Its test
        messages need no token (pausing would stop them, and Test Connection, which
        contacts nobody in test mode, could not resume it); a real send to its
        allow-list that is refused still pauses it (``_hold_for_token``). The token's
        status shows it either way."""
        self.ensure_one()
        if self.test_mode:
            self.sudo().token_status = "expired"
        else:
            self._pause_sending(reason)

    def _is_auth_error_code(self, code):
        """True when the provider of this number says ``code`` is a credentials problem
        (Meta's 190, 0, 10, 200-299 …; Twilio's 20003)."""
        self.ensure_one()
        if code is None or code is False:
            return False
        return issubclass(self._get_provider_class().classify_error(code), AuthError)

    def _pause_sending(self, reason):
        """Stop sending from this number (messages stay queued) and tell the managers
        once per pause. ``reason`` is Meta's answer, safe to show (no secret)."""
        self.ensure_one()
        config = self.sudo()
        if config.sending_paused:
            config.paused_reason = reason
            return
        _logger.warning("WhatsApp number %s paused: %s", config.id, reason)
        config.write(
            {
                "sending_paused": True,
                "token_status": "expired",
                "paused_since": fields.Datetime.now(),
                "paused_reason": reason,
            }
        )
        # The people of the actions whose messages now wait must know too (test-only
        # messages do not wait: they need no token).
        self.env["ofitec.whatsapp.message"].sudo().search(
            [
                ("config_id", "=", config.id),
                ("state", "=", "queued"),
                ("direction", "=", "outbound"),
                ("next_action_id", "!=", False),
            ]
        ).filtered(lambda m: not m._is_test_only())._report_paused(reason)
        for user in config._get_managers_to_warn():
            # The pause is found by a cron or a webhook: each manager reads their own.
            lang = reader_lang(self.env, user, config.company_id)
            config.with_context(lang=lang)._warn_manager_paused(user, reason)

    def _warn_manager_paused(self, user, reason):
        """An activity asking ``user`` for a new token, in this environment's language."""
        self.ensure_one()
        self.activity_schedule(
            "mail.mail_activity_data_todo",
            summary=_("WhatsApp: new access token needed"),
            note=_(
                "The access token of %(name)s cannot be used: %(reason)s. Its messages "
                "stay queued. Enter a new token and press Test Connection: sending "
                "resumes by itself.",
                name=self.name,
                reason=reason,
            ),
            user_id=user.id,
        )

    def _resume_sending(self):
        """The token works again: send what waited, close the managers' activities."""
        self.ensure_one()
        config = self.sudo()
        was_paused = config.sending_paused
        config.write(
            {
                "sending_paused": False,
                "token_status": "valid",
                "paused_since": False,
                "paused_reason": False,
            }
        )
        if was_paused:
            _logger.info("WhatsApp number %s resumed", config.id)
            config.activity_ids.filtered(
                lambda a: a.activity_type_id == self.env.ref("mail.mail_activity_data_todo")
            ).action_feedback(feedback=_("Test Connection passed: sending resumed."))
            self.env["ofitec.whatsapp.message"]._trigger_queue()

    def _get_managers_to_warn(self):
        """Active WhatsApp managers who may see this number (internal users only)."""
        self.ensure_one()
        group = self.env.ref("ofitec_whatsapp.group_whatsapp_manager")
        return group.sudo().users.filtered(
            lambda u: u.active and not u.share and self.company_id in u.company_ids
        )
