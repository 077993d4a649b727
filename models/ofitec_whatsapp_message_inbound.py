"""Inbound messages: stored once, then routed as a reply to the action they answer."""

import psycopg2

from odoo import api, models

from ..tools import commands, phone

# What a WhatsApp user wrote, as stored in the history.
_INBOUND_TYPES = {"text": "text", "button": "template", "interactive": "interactive"}
_COMMAND_WORDS = {
    commands.CMD_OK: "OK",
    commands.CMD_COMPLETED: "COMPLETADO",
    commands.CMD_CANCEL: "CANCELAR",
    commands.CMD_STOP: "STOP",
}


def _describe_inbound(inbound):
    """The human-readable content of an inbound message, for the history."""
    if inbound.text:
        return inbound.text
    if inbound.type == "location" and inbound.latitude is not None:
        return f"📍 {inbound.latitude}, {inbound.longitude}"
    if inbound.media_id:
        return f"[{inbound.type}] {inbound.media_filename or inbound.media_id}"
    if inbound.type == "unsupported":
        return f"[unsupported: {inbound.unsupported_type or '?'}]"
    return f"[{inbound.type}]"


class OfitecWhatsappMessageInbound(models.Model):
    _inherit = "ofitec.whatsapp.message"

    # ------------------------------------------------------------------
    # Inbound (webhook processing; runs as the config's processing user)
    # ------------------------------------------------------------------
    @api.model
    def _ingest_inbound(self, config, inbound):
        """Store ``inbound`` (a tools.webhook.InboundMessage) once and act on it.

        Returns the actions the message changed (for the dashboard notification).
        """
        Action = self.env["ofitec.next.action"]
        if self.search_count(
            [("config_id", "=", config.id), ("whatsapp_message_id", "=", inbound.wamid)]
        ):
            return Action  # a redelivery: it was handled the first time
        contact = self.env["ofitec.whatsapp.contact"]._touch_from_inbound(config, inbound)
        vals = {
            "direction": "inbound",
            "state": "received",
            "config_id": config.id,
            "company_id": config.company_id.id,
            "whatsapp_message_id": inbound.wamid,
            "wa_id": inbound.from_wa_id or contact.wa_id or False,
            "bsuid": inbound.from_user_id or contact.bsuid or False,
            "phone": contact.phone or False,
            "partner_id": contact.partner_id.id or False,
            "body": _describe_inbound(inbound),
            "message_type": _INBOUND_TYPES.get(inbound.type, "other"),
        }
        try:
            with self.env.cr.savepoint(flush=True):
                message = self.create(vals)
        except psycopg2.IntegrityError:
            return Action  # stored meanwhile by another worker, which handles it
        return message._handle_reply(contact, inbound)

    def _handle_reply(self, contact, inbound):
        """Interpret the text or button of this inbound message; answer the sender."""
        self.ensure_one()
        Action = self.env["ofitec.next.action"]
        config = self.config_id
        if inbound.type in ("reaction", "system", "unsupported") or (
            inbound.type == "interactive" and not inbound.payload
        ):
            return Action
        command, action_ref = None, None
        from_payload = commands.parse_button_payload(inbound.payload) if inbound.payload else None
        if from_payload:
            command, action_ref = from_payload
        else:
            parsed = commands.parse_command(inbound.text or "", config._get_synonyms())
            command, action_ref = parsed.command, parsed.action_ref
        if command:
            self.command = command
        if command == commands.CMD_STOP:
            # Dated by the message itself: a message written before the STOP but
            # delivered after it does not end the opt-out (see _touch_from_inbound).
            contact.write({"opted_out": True, "opted_out_date": contact._inbound_at(inbound)})
            self._reply("reply_opt_out", force=True)
            return Action
        if not command:
            if inbound.type in ("text", "button", "interactive"):
                self._reply("reply_help")
            return Action
        candidates = self._get_reply_candidates(contact)
        action = Action
        if from_payload:
            action = Action.browse(action_ref).exists()
        elif inbound.context_id:
            quoted = self.search(
                [
                    ("config_id", "=", config.id),
                    ("whatsapp_message_id", "=", inbound.context_id),
                    ("direction", "=", "outbound"),
                ],
                limit=1,
            )
            action = quoted.next_action_id
        if not action and action_ref:
            action = Action.browse(action_ref).exists()
            if not action:
                # The sender named an action that does not exist (any more): the
                # command must not fall on another one.
                self._reply("reply_no_action")
                return Action
        if not action:
            open_candidates = candidates.filtered(lambda a: a.status in ("pending", "in_progress"))
            if len(open_candidates) == 1:
                action = open_candidates
            elif len(open_candidates) > 1:
                self._reply_choose(open_candidates, command)
                return Action
            else:
                self._reply("reply_no_action")
                return Action
        self.next_action_id = action.id
        if action not in candidates:
            # Only someone the action was sent to may change it. The refusal is not
            # linked to the action (a message about it would make the stranger one of
            # its recipients) and tells nothing about it.
            self._reply("reply_not_allowed")
            return Action
        result = action._whatsapp_apply_command(command, self)
        self._reply(result, action=action, command=command)
        if result in ("reply_ok", "reply_completed", "reply_cancel"):
            self.reply_processed = True
            return action
        return Action

    def _get_reply_candidates(self, contact):
        """Actions this sender was sent a message about (by this number)."""
        self.ensure_one()
        identities = ["|", "|"]
        ids = set()
        for wa_id in filter(None, {self.wa_id, contact.wa_id}):
            ids |= phone.wa_id_variants(wa_id)
        identities += [("wa_id", "in", list(ids) or [False])]
        identities += [("bsuid", "=", self.bsuid or contact.bsuid or "-")]
        identities += [("phone", "=", contact.phone or "-")]
        sent = self.search(
            [
                ("config_id", "=", self.config_id.id),
                ("direction", "=", "outbound"),
                ("next_action_id", "!=", False),
                ("state", "in", ("sent", "delivered", "read")),
            ]
            + identities
        )
        return sent.mapped("next_action_id")

    def _reply(self, template_code, action=None, command=None, force=False, extra=None):
        """Queue an answer to the sender of this inbound message (inside the window)."""
        self.ensure_one()
        template = self.env["ofitec.whatsapp.template"]._get_by_code(
            template_code, self.config_id.company_id
        )
        if not template:
            return self.browse()
        values = action._prepare_whatsapp_values(self.partner_id) if action else {}
        if action:
            status_labels = dict(action._fields["status"]._description_selection(self.env))
            values["status"] = (status_labels.get(action.status) or action.status or "").lower()
        values["command"] = _COMMAND_WORDS.get(command, "")
        values.update(extra or {})
        return self.create(
            {
                "direction": "outbound",
                "state": "queued",
                "config_id": self.config_id.id,
                "company_id": self.company_id.id,
                "partner_id": self.partner_id.id or False,
                "phone": self.phone or False,
                "wa_id": self.wa_id or False,
                "bsuid": self.bsuid or False,
                "next_action_id": action.id if action else False,
                "template_id": template.id,
                "body": template._render_body(values),
                "force_send": force,
            }
        )

    def _reply_choose(self, actions, command):
        lines = "\n".join(f"#{a.id} {a.name}" for a in actions.sorted("id"))
        return self._reply(
            "reply_choose",
            command=command,
            extra={"actions_list": lines, "action_id": str(actions.sorted("id")[0].id)},
        )
