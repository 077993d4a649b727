"""An action was completed: the people it was notified to are told, once each. An
action completed or cancelled withdraws its alerts still waiting in the queue."""

import logging

from odoo import models

from ..tools import phone
from ..tools.actions import CLOSED_STATUSES
from ..tools.status import LEFT_STATES
from .ofitec_next_action_report import NOTIFICATION_CODES

_logger = logging.getLogger(__name__)

COMPLETED = "completed"
# Messages that told a person this action is completed: the notice, or the answer
# to their own COMPLETADO.
COMPLETION_CODES = ("action_completed", "reply_completed")


class OfitecNextActionCompleted(models.Model):
    _inherit = "ofitec.next.action"

    def write(self, vals):
        before = {}
        if "status" in vals:
            before = {action.id: action.status for action in self}
        res = super().write(vals)
        if before:
            closed = self.filtered(
                lambda a: a.status in CLOSED_STATUSES and before.get(a.id) not in CLOSED_STATUSES
            )
            if closed:
                # First: the completion notice then goes only to people who were (or
                # are being) sent the alert.
                self.env["ofitec.whatsapp.message"].sudo()._withdraw_for_closed(closed)
            done = self.filtered(lambda a: a.status == COMPLETED and before.get(a.id) != COMPLETED)
            if done:
                done._whatsapp_notify_completed()
        return res

    def _whatsapp_notify_completed(self):
        """Queue the completion notice to the other notified recipients; never raises.

        Only rows are written (the queue sends them after commit, inside or outside the
        24-hour window as for any message). The person who completed the action (its
        WhatsApp sender, from the context key ``whatsapp_reply_id``, or the user who
        saved it) is not told, nor is anyone already told for this action.
        """
        for action in self:
            try:
                with self.env.cr.savepoint():
                    action._whatsapp_in_lang()._whatsapp_notify_completed_one()
            except Exception:
                _logger.exception("WhatsApp: no completion notice for action %s", action.id)

    def _whatsapp_notify_completed_one(self):
        self.ensure_one()
        Message = self.env["ofitec.whatsapp.message"].sudo()
        # One query for both: who was notified, and who was already told.
        sent = Message.search(
            [
                ("next_action_id", "=", self.id),
                ("direction", "=", "outbound"),
                ("template_id.code", "in", NOTIFICATION_CODES + COMPLETION_CODES),
            ],
            order="id",
        )
        # An alert still queued is not told yet: if it is being sent right now, its
        # recipient is told once it is recorded as sent (ofitec_whatsapp_message_withdraw).
        notified = sent.filtered(
            lambda m: m.template_id.code in NOTIFICATION_CODES and m.state in LEFT_STATES
        )
        told = sent.filtered(lambda m: m.template_id.code in COMPLETION_CODES)
        skip = {m._whatsapp_identity() for m in told} | self._whatsapp_completer_identities()
        vals_list = []
        for message in notified:
            identity = message._whatsapp_identity()
            if identity in skip or not self._whatsapp_tells_completed(message):
                continue
            skip.add(identity)
            vals_list.append(self._whatsapp_completed_vals(message, identity))
        return Message._create_once(vals_list) if vals_list else Message

    def _whatsapp_tells_completed(self, message):
        """Whether the recipient of ``message`` (this action's notification) is told
        that it is completed: their number is active and tells completions, they did
        not complete it themselves, and they did not opt out."""
        config = message.config_id.sudo()
        if not config.active or not config.notify_action_completed:
            return False
        if message.partner_id and message.partner_id == self.env.user.partner_id:
            return False  # they completed it themselves
        return not (message.phone and self._whatsapp_opted_out(config, message.phone))

    def _whatsapp_completed_vals(self, message, identity):
        """The completion notice to the recipient of ``message``, once per number and
        person (``once_key``)."""
        config = message.config_id.sudo()
        vals = (
            self.env["ofitec.whatsapp.message"]
            .sudo()
            ._prepare_queued_vals(
                config,
                message.partner_id,
                message.phone or False,
                action=self,
                template_code="action_completed",
            )
        )
        vals.update(
            bsuid=message.bsuid or False,
            wa_id=message.wa_id or False,
            once_key=f"action_completed:{self.id}:{config.id}:{identity[1]}",
        )
        return vals

    def _whatsapp_completer_identities(self):
        """Identities (see ``_whatsapp_identity``) of the WhatsApp user whose reply is
        completing this action, if any."""
        reply_id = self.env.context.get("whatsapp_reply_id")
        if not reply_id:
            return set()
        # The inbound message being handled (no exists(): it was stored just before).
        reply = self.env["ofitec.whatsapp.message"].sudo().browse(reply_id)
        identities = set()
        for message in reply:
            identities.add(message._whatsapp_identity())
            for wa_id in phone.wa_id_variants(message.wa_id) if message.wa_id else ():
                identities.add((message.config_id.id, "+" + wa_id))
        return identities
