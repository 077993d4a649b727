"""Queued messages that wait instead of failing: the number's token was refused, or
the approved template they need is not approved (yet)."""

from datetime import timedelta

from odoo import _, fields, models

TEMPLATE_NOT_APPROVED = "template_not_approved"
TEMPLATE_RECHECK = timedelta(hours=1)


class TemplateNotApproved(Exception):
    """The message needs an approved template and its template (``args[0]``) is not
    approved."""


class OfitecWhatsappMessageHold(models.Model):
    _inherit = "ofitec.whatsapp.message"

    def _hold_for_token(self, error):
        """Meta refused the number's token: this message stays queued (it is not an
        attempt that counts) and the number is paused until Test Connection passes."""
        self.ensure_one()
        self.write(
            {
                "error_code": str(error.code) if error.code is not None else "auth",
                "error_message": str(error),
                "next_attempt": False,
            }
        )
        self.config_id._pause_sending(str(error))
        return False

    def _hold_for_template(self, template):
        """Outside the window, the template this message needs is not approved by its
        provider (Meta's template, Twilio's Content): it waits (queued, reason shown)
        and goes when the approval arrives
        (``ofitec.whatsapp.template._release_waiting_messages``); an hourly look in case
        the approval came by no route we hear of."""
        self.ensure_one()
        if self.config_id.sudo().provider == "twilio":
            reason = _(
                "Twilio Content %(sid)s is not approved for WhatsApp (status: %(status)s): "
                "the message waits in the queue and goes once it is approved.",
                sid=template.twilio_content_sid,
                status=template.twilio_approval_status or _("not submitted"),
            )
        else:
            reason = _(
                "Template %(name)s is not approved at Meta (status: %(status)s): the "
                "message waits in the queue and goes once Meta approves it.",
                name=template.meta_template_name,
                status=template.meta_status or _("not submitted"),
            )
        self.write(
            {
                "error_code": TEMPLATE_NOT_APPROVED,
                "error_message": reason,
                "next_attempt": fields.Datetime.now() + TEMPLATE_RECHECK,
            }
        )
        return None

    def _waits_for_approval(self):
        """True when this message needs its approved template and its number's provider
        has not approved it (the rule: ``ofitec.whatsapp.template._is_approved_for``).

        Test mode "sends" without the provider, so nothing waits there."""
        self.ensure_one()
        if self.template_id._is_approved_for(self.config_id.sudo().provider):
            return False
        return not self._is_test_only()
