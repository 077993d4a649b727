"""What a sent message teaches about its recipient, and failures reported later."""

from datetime import timedelta

from odoo import fields, models

from ..tools import phone
from ..tools.errors import RetryableError, WindowClosedError
from .ofitec_whatsapp_message_retry import _backoff_delay


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
        kinds = [(classify(_error_code(error)), error) for error in errors or []]
        window_closed = any(issubclass(kind, WindowClosedError) for kind, _error in kinds)
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
            self._queue_again()
            return
        retryable = [(k, e) for k, e in kinds if issubclass(k, RetryableError)]
        if retryable and self._retry_after_failed_status(*retryable[0]):
            return
        # Nothing else will be tried: the people of the action must know.
        self._report_outcome()

    def _retry_after_failed_status(self, kind, error):
        """A failure the provider says is worth retrying later (a rate limit: Twilio's
        63018, Meta's 130429 or 131056): a new copy waits its backoff, within the
        number's attempts, as a failed send would. False when none are left."""
        attempt = self.retry_count + 1
        if attempt >= (self.config_id.max_attempts or 1):
            return False
        code = _error_code(error)
        delay = _backoff_delay(attempt, kind(error.get("title"), code=code))
        at = fields.Datetime.now() + timedelta(seconds=delay)
        self._queue_again(retry_count=attempt, next_attempt=at)
        self._trigger_queue(at=at)
        return True

    def _queue_again(self, **values):
        """A queued copy of this failed message (a new one: the history stays true)."""
        reset = {
            "state": "queued",
            "message_type": False,
            "whatsapp_message_id": False,
            "retry_count": 0,
            "next_attempt": False,
            "error_code": False,
            "error_message": False,
            "sent_date": False,
        }
        return self.copy(dict(reset, **values))
