"""Outbound messages tell their action what became of them."""

import logging

from odoo import _, api, models

from ..tools.errors import UncertainDeliveryError
from .ofitec_next_action_report import reader_lang
from .ofitec_whatsapp_config import PROVIDER_NAMES

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
        return reader_lang(self.env, company=self.company_id)

    def _in_notes_lang(self):
        self.ensure_one()
        return self.with_context(lang=self._notes_lang())

    def _failed_status_vals(self, errors):
        """The error fields of a failure a status reported (``errors``: its JSON list of
        ``{code, title, details}``), in this environment's language."""
        first = errors[0] if errors else {}
        title = self._error_title_text(first.get("title"))
        return {
            "error_code": str(first.get("code") or "failed"),
            "error_title": title or False,
            "error_message": " | ".join(filter(None, (title, first.get("details")))) or False,
        }

    @api.model
    def _error_title_text(self, title):
        """An error title in this environment's language. Our own English titles (the
        pure layer's, marked with ``tools.i18n._lt``: Twilio's titles of its codes, our
        errors' default titles) are translated; the provider's own text, which has no
        translation, is kept as it came."""
        # _() looks a code translation up by its English text, literal or not.
        return _(title) if title else title

    def _describe_error(self, error):
        """``error`` (a tools.errors.WhatsAppError) in words, in the notes' language."""
        if len(self) == 1:
            return self._in_notes_lang()._describe_error_text(error, self.config_id.provider)
        return self._describe_error_text(error)

    @api.model
    def _describe_error_text(self, error, provider=None):
        """Network failures name the host and the cause in words, and never say the
        provider answered: it could not be reached, or its answer never came (then a
        send may have been made); the provider's own errors keep its code and title
        (a title of ours translated)."""
        cause = getattr(error, "network_cause", None)
        if not cause:
            return error.text(title=self._error_title_text(error.title))
        values = {
            "provider": PROVIDER_NAMES.get(provider, provider or "WhatsApp"),
            "host": error.host or "?",
            "cause": self._network_cause_text(cause),
        }
        if isinstance(error, UncertainDeliveryError):
            return _(
                "No answer from %(provider)s (%(host)s): %(cause)s; the message may have "
                "been sent.",
                **values,
            )
        if cause == "read_timeout":
            return _("No answer from %(provider)s (%(host)s): %(cause)s", **values)
        return _("Could not reach %(provider)s (%(host)s): %(cause)s", **values)

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
