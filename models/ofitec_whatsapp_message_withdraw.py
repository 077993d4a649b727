"""Alerts that lost their point: the action was completed or cancelled while its
notification or reminder still waited in the queue (a paused number, a template
waiting for approval, a backlog). They are withdrawn, never raced with a sender."""

import logging

import psycopg2

from odoo import _, api, models

from ..tools.actions import CLOSED_STATUSES
from .ofitec_next_action_report import NOTIFICATION_CODES, WITHDRAWN
from .ofitec_whatsapp_message_claim import SEND_LEASE

_logger = logging.getLogger(__name__)


class OfitecWhatsappMessageWithdraw(models.Model):
    _inherit = "ofitec.whatsapp.message"

    @api.model
    def _withdraw_for_closed(self, actions):
        """Cancel, with the reason, the queued notifications and reminders of
        ``actions`` (just completed or cancelled) that no sender holds; never raises.
        Returns the messages withdrawn.

        A sender's message is left alone: one it is claiming now (its row is locked:
        SKIP LOCKED) or one it leased (``next_attempt`` less than SEND_LEASE ahead: its
        HTTP call may be under way; a retry that waits as little looks the same). Such
        a message, if it is still not sent when it is next claimed, is withdrawn then
        (``_prepare_send_checked``). So is one whose claim this transaction cannot see
        yet (REPEATABLE READ: a serialization conflict here)."""
        self.env.flush_all()
        try:
            with self.env.cr.savepoint(flush=False):
                # Due by the queue's own clock (now(), as _claim_due), or held longer
                # than any lease: clock_timestamp() there, as this transaction may be
                # older than the claim whose lease it must recognise.
                self.env.cr.execute(
                    """
                    SELECT m.id
                      FROM ofitec_whatsapp_message m
                      JOIN ofitec_whatsapp_template t ON t.id = m.template_id
                     WHERE m.next_action_id = ANY(%(actions)s)
                       AND m.state = 'queued' AND m.direction = 'outbound'
                       AND t.code IN %(codes)s
                       AND (m.next_attempt IS NULL
                            OR m.next_attempt <= (now() at time zone 'UTC')
                            OR m.next_attempt > (clock_timestamp() at time zone 'UTC')
                                               + %(lease)s * interval '1 second')
                       FOR UPDATE OF m SKIP LOCKED
                    """,
                    {"actions": actions.ids, "codes": NOTIFICATION_CODES, "lease": SEND_LEASE},
                    log_exceptions=False,
                )
                messages = self.browse([row[0] for row in self.env.cr.fetchall()])
        except psycopg2.extensions.TransactionRollbackError:
            return self.browse()
        messages.invalidate_recordset()
        for action in messages.next_action_id:
            batch = messages.filtered(lambda m, action=action: m.next_action_id == action)
            try:
                with self.env.cr.savepoint():
                    batch._mark_withdrawn()
            except Exception:  # the action's own change must not fail for this
                _logger.exception("WhatsApp messages %s: could not be withdrawn", batch.ids)
        return messages

    def _tell_completed_if_closed(self):
        """This notification was just sent, and its action was completed meanwhile (it
        was in flight then): its recipient is told "completed" too, once."""
        self.ensure_one()
        action = self.next_action_id
        if self.template_id.code in NOTIFICATION_CODES and action.status == "completed":
            action._whatsapp_notify_completed()

    def _is_for_closed_action(self):
        """True for a notification or reminder whose action is completed or cancelled."""
        self.ensure_one()
        return (
            self.template_id.code in NOTIFICATION_CODES
            and self.next_action_id.status in CLOSED_STATUSES
        )

    def _mark_withdrawn(self):
        """Cancel these queued notifications of one closed action, saying why: one
        write, one note on the action (no activity: nobody has anything to do)."""
        action = self.next_action_id.ensure_one()
        self.write(
            {
                "state": "cancelled",
                "error_code": WITHDRAWN,
                "error_message": self[0]._in_notes_lang()._withdrawn_reason(),
                "next_attempt": False,
            }
        )
        action._whatsapp_in_lang()._whatsapp_note_withdrawn(self)
        return False

    def _withdrawn_reason(self):
        self.ensure_one()
        if self.next_action_id.status == "completed":
            return _("Withdrawn: the action was completed before this message was sent.")
        return _("Withdrawn: the action was cancelled before this message was sent.")
