"""Outbound messages tell their action what became of them."""

import logging

from odoo import _, api, models

_logger = logging.getLogger(__name__)


class OfitecWhatsappMessageReport(models.Model):
    _inherit = "ofitec.whatsapp.message"

    def _whatsapp_recipient_label(self):
        """'Paula Manager (+56911111111)': who a message is for, as people read it."""
        self.ensure_one()
        number = self.phone or self.wa_id or self.bsuid
        name = self.partner_id.sudo().name
        if name and number:
            return f"{name} ({number})"
        return name or number or "?"

    def _notes_lang(self):
        """The language of what is written about this message without a user present:
        its action's (see ``ofitec.next.action._whatsapp_lang``), else its company's."""
        self.ensure_one()
        if self.next_action_id:
            return self.next_action_id._whatsapp_lang()
        return self.company_id.sudo().partner_id.lang or self.env.lang or "en_US"

    def _in_notes_lang(self):
        self.ensure_one()
        return self.with_context(lang=self._notes_lang())

    def _describe_error(self, error):
        """``error`` (a tools.errors.WhatsAppError) in words, in the notes' language."""
        if len(self) == 1:
            return self._in_notes_lang()._describe_error_text(error, self.config_id.provider)
        return self._describe_error_text(error)

    @api.model
    def _describe_error_text(self, error, provider=None):
        """Network failures name the host and the cause in words; the provider's own
        errors keep its code and title."""
        cause = getattr(error, "network_cause", None)
        if not cause:
            return str(error)
        names = {"meta": "Meta", "twilio": "Twilio"}
        return _(
            "Could not reach %(provider)s (%(host)s): %(cause)s",
            provider=names.get(provider, provider or "WhatsApp"),
            host=error.host or "?",
            cause=self._network_cause_text(cause),
        )

    @api.model
    def _network_cause_text(self, cause):
        """A tools.network.CAUSES code in words, in the user's language."""
        causes = {
            "dns": _("name resolution failed"),
            "refused": _("connection refused"),
            "connect_timeout": _("no answer to the connection (timeout)"),
            "read_timeout": _("no answer in time (timeout)"),
            "tls": _("the secure connection (TLS certificate) failed"),
            "lost": _("the connection was lost"),
            "proxy": _("the proxy refused the connection"),
            "invalid_url": _("the address is not valid"),
            "other": _("network error"),
        }
        return causes.get(cause, causes["other"])

    def _report_paused(self, reason):
        """Tell the actions of these queued messages that their number is paused."""
        by_action = {}
        for message in self.filtered(lambda m: m.direction == "outbound" and m.next_action_id):
            by_action.setdefault(message.next_action_id, []).append(message.id)
        for action, ids in by_action.items():
            try:
                with self.env.cr.savepoint():
                    action._whatsapp_in_lang()._whatsapp_report_paused(self.browse(ids), reason)
            except Exception:
                _logger.exception("WhatsApp: the pause could not be noted on action %s", action.id)

    def _report_outcome(self):
        """Tell each message's action what became of it (see ofitec_next_action_report).

        Called once a state is final for now (sent, failed, cancelled). Never raises:
        the record of a send must not depend on a chatter note.
        """
        for message in self:
            action = message.next_action_id
            if message.direction != "outbound" or not action:
                continue
            try:
                with self.env.cr.savepoint():
                    action._whatsapp_in_lang()._whatsapp_log_outcome(message)
            except Exception:
                _logger.exception("WhatsApp message %s: its outcome could not be noted", message.id)
