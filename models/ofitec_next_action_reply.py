"""A WhatsApp reply applied to its action: the transition, run as the sender, and its
note in the action's history."""

from markupsafe import escape

from odoo import _, models

from ..tools import actions

# Per transaction (cursor data): actions whose WhatsApp reply note rides with the
# tracking message of their status change.
REPLY_NOTE_RIDES = "ofitec_whatsapp.reply_note_rides"


class OfitecNextActionReply(models.Model):
    _inherit = "ofitec.next.action"

    def write(self, vals):
        if "status" in vals and self.env.context.get("whatsapp_reply_note"):
            self._whatsapp_note_with_tracking(vals["status"])
        return super().write(vals)

    def _whatsapp_lock_for_replies(self):
        """Lock these actions, in id order, before replies change them.

        Two workers may apply replies to one action at once (its two recipients
        answering together). Odoo's transactions are REPEATABLE READ: the second one's
        change fails with a serialization error, which its caller retries in a new
        transaction. Raised here it is quiet; raised by the ORM's UPDATE, PostgreSQL's
        refusal was logged at ERROR before anyone could catch it (36 lines in one
        inbound benchmark, none a fault). Locking in id order also keeps two batches
        from waiting for each other's actions in opposite orders (a deadlock).
        """
        if self:
            self.env.cr.execute(
                "SELECT id FROM ofitec_next_action WHERE id IN %s ORDER BY id FOR NO KEY UPDATE",
                [tuple(self.ids)],
                log_exceptions=False,
            )

    def _whatsapp_apply_command(self, command, inbound_message):
        """Apply a reply command through the model's own methods (the transitions are
        ``tools.actions.REPLY_TRANSITIONS``).

        Returns the code of the answer template to send back.
        """
        self.ensure_one()
        transition = actions.REPLY_TRANSITIONS[command]
        result = actions.reply_answer(command, self.status)
        applies = result == transition.answer
        actor = self._whatsapp_actor(inbound_message.partner_id)
        # The note and the transition's tracking are read by the action's people, not
        # by the technical user that processes the webhook: in their language.
        action = self.with_context(lang=self._whatsapp_lang())
        note = action._whatsapp_reply_note(inbound_message, applies)
        with_tracking = applies and action._whatsapp_transition(
            transition.method, actor, inbound_message, note
        )
        if not with_tracking:
            # Logged as the tracking is, not posted: a note tells no follower unless one
            # chose to follow notes, so message_post's followers and notification work
            # would be spent on nobody.
            action.sudo()._message_log(author_id=actor.partner_id.id, body=note)
        return result

    def _whatsapp_reply_note(self, inbound_message, applied):
        """The history's note of a reply: who wrote what, and whether it changed the
        action. Signed like the transition: by the sender's user, or the bot."""
        who = (
            inbound_message.partner_id.name
            or inbound_message.phone
            or inbound_message.wa_id
            or inbound_message.bsuid
        )
        return escape(  # what a WhatsApp user wrote is text, never HTML
            _(
                "WhatsApp reply from %(who)s: «%(text)s» (%(result)s)",
                who=who,
                text=inbound_message.body or "",
                result=_("applied") if applied else _("nothing changed"),
            )
        )

    def _whatsapp_transition(self, method, actor, inbound_message, note):
        """Run the transition ``method`` as ``actor``. Returns True when ``note`` went
        into the tracking message of the status (one entry in the history: the reply
        and the old and new status), False when it must be logged on its own."""
        riding = self.env.cr.postcommit.data.setdefault(REPLY_NOTE_RIDES, set())
        riding.discard(self.id)
        # The completion notice must not go to the sender too: they get the answer.
        action = self.with_user(actor).with_context(
            whatsapp_reply_id=inbound_message.id, whatsapp_reply_note=note
        )
        getattr(action, method)()
        # The tracking message is written now, signed by the actor: left to the
        # commit, the first actor's tracking step would write (and sign) those of every
        # reply of the batch.
        action._track_finalize()
        return self.id in riding

    def _whatsapp_note_with_tracking(self, status):
        """Before a write of ``status`` asked by a WhatsApp reply (context key
        ``whatsapp_reply_note``): give the reply's note to the tracking message that
        write prepares, once. Nothing when the status is not tracked (or tracking is
        off) or does not change: the note is then logged on its own."""
        note = self.env.context.get("whatsapp_reply_note")
        context = self.env.context
        if (
            not note
            or len(self) != 1
            or self.status == status
            or context.get("tracking_disable")
            or context.get("mail_notrack")
            or "status" not in self._track_get_fields()
        ):
            return
        riding = self.env.cr.postcommit.data.setdefault(REPLY_NOTE_RIDES, set())
        if self.id not in riding:
            self._track_set_log_message(note)
            riding.add(self.id)

    def _whatsapp_actor(self, partner):
        """Who performs a transition asked over WhatsApp: the sender's own internal
        user when there is one (so access rules and the chatter say who did it),
        otherwise the current (technical) processing user."""
        users = partner.sudo().user_ids.filtered(
            lambda u: not u.share and self.company_id in u.company_ids
        )
        return users[:1] or self.env.user
