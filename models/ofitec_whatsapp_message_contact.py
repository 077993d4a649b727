"""What a sent message teaches about its recipient, and failures reported later."""

from odoo import models

from ..tools import phone
from ..tools.errors import WindowClosedError


def _error_code(error):
    """The provider's numeric error code of one stored status error, or None."""
    try:
        return int(error.get("code"))
    except (TypeError, ValueError):
        return None


class OfitecWhatsappMessageContact(models.Model):
    _inherit = "ofitec.whatsapp.message"

    # ------------------------------------------------------------------
    # Contacts and statuses
    # ------------------------------------------------------------------
    def _get_contact(self):
        self.ensure_one()
        Contact = self.env["ofitec.whatsapp.contact"].sudo()
        if not self.config_id:
            return Contact
        wa_id = self.wa_id or (phone.to_wa_id(self.phone) if self.phone else None)
        variants = phone.wa_id_variants(wa_id) if wa_id else ()
        return Contact._find(self.config_id, wa_id=wa_id, bsuid=self.bsuid, variants=variants)

    def _remember_contact(self):
        """Record the identity Meta returned, so that replies find their sender."""
        self.ensure_one()
        if not (self.wa_id or self.bsuid):
            return
        contact = self._get_contact()
        vals = {
            "wa_id": self.wa_id,
            "bsuid": self.bsuid,
            "phone": self.phone,
            "partner_id": self.partner_id.id,
        }
        vals = {key: value for key, value in vals.items() if value}
        if not contact:
            contact.create(dict(vals, config_id=self.config_id.id))
            return
        current = {
            "wa_id": contact.wa_id,
            "bsuid": contact.bsuid,
            "phone": contact.phone,
            "partner_id": contact.partner_id.id,
        }
        updates = {key: value for key, value in vals.items() if current[key] != value}
        if updates:
            contact.write(updates)

    def _after_whatsapp_id_assigned(self):
        """Statuses that arrived before Meta's id was stored apply now."""
        for message in self:
            self.env["ofitec.whatsapp.status"].sudo()._apply_pending(message)
        return True

    def _on_failed_status(self, errors):
        """The provider reported a failure after accepting the message."""
        self.ensure_one()
        classify = self.config_id._get_provider_class().classify_error
        window_closed = any(
            issubclass(classify(_error_code(error)), WindowClosedError) for error in errors or []
        )
        if (
            window_closed
            and self.message_type in ("text", "interactive")
            and self._has_approved_template()
        ):
            # Our window book-keeping was wrong: the provider is authoritative. Send the
            # approved template instead (a new message, so the history stays true).
            contact = self._get_contact()
            if contact:
                contact.last_inbound_at = False
            self.copy(
                {
                    "state": "queued",
                    "message_type": False,
                    "whatsapp_message_id": False,
                    "retry_count": 0,
                    "next_attempt": False,
                    "error_code": False,
                    "error_message": False,
                    "sent_date": False,
                }
            )
            return
        # Nothing else will be tried: the people of the action must know.
        self._report_outcome()
