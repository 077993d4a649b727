"""Inbound messages: stored once, then routed as a reply to the action they answer."""

import psycopg2
from psycopg2 import sql

from odoo import api, models

from ..tools import commands, phone
from ..tools.actions import OPEN_STATUSES
from ..tools.status import LEFT_STATES, sql_in

# Context key of a batch of inbound messages (``_ingest_inbound_batch``): answers and
# routes gathered, written at the batch's end.
DEFERRED_KEY = "ofitec_whatsapp_inbound_deferred"

# What a WhatsApp user wrote, as stored in the history.
# What the person sent, as the message's type: a tap on a reply button is one, whether
# the buttons came with a template ("button") or an interactive message.
_INBOUND_TYPES = {"text": "text", "button": "interactive", "interactive": "interactive"}


# Whom a reply comes from, among the people sent a notification: one look-up per batch
# of inbound messages. Each of the three identities has its own partial index of the
# outbound messages (``_RECIPIENT_INDEXES``), combined by a bitmap OR: without them the
# look-up reads every notification ever sent (0.12 s at 1,000,000 messages,
# bench/README.md). A new contact's "was this person written to" (``contact_welcome``)
# reads the same indexes.
REPLY_CANDIDATES_SQL = f"""
    SELECT DISTINCT config_id, next_action_id, wa_id, bsuid, phone
      FROM ofitec_whatsapp_message
     WHERE config_id = ANY(%s)
       AND direction = 'outbound'
       AND next_action_id IS NOT NULL
       AND {sql_in("state", LEFT_STATES)}
       AND (wa_id = ANY(%s) OR bsuid = ANY(%s) OR phone = ANY(%s))
"""
_RECIPIENT_INDEXES = {
    f"ofitec_whatsapp_message_outbound_{column}_idx": column
    for column in ("wa_id", "bsuid", "phone")
}


def _is_silent(inbound):
    """Messages that carry no command and get no answer."""
    return inbound.type in ("reaction", "system", "unsupported") or (
        inbound.type == "interactive" and not inbound.payload
    )


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


def _sent_to(rows, config_id, wa_ids, bsuid, number):
    """The ids of the actions in REPLY_CANDIDATES_SQL's ``rows`` that were sent to this
    sender (``_sender_keys``) from this number."""
    return {
        action_id
        for row_config, action_id, wa_id, row_bsuid, row_phone in rows
        if row_config == config_id
        and (wa_id in wa_ids or (bsuid and row_bsuid == bsuid) or (number and row_phone == number))
    }


class OfitecWhatsappMessageInbound(models.Model):
    _inherit = "ofitec.whatsapp.message"

    def init(self):
        res = super().init()
        # Only outbound messages are indexed, and only the identities they carry.
        for name, column in _RECIPIENT_INDEXES.items():
            self.env.cr.execute(
                sql.SQL(
                    """
                    CREATE INDEX IF NOT EXISTS {name} ON ofitec_whatsapp_message ({column})
                     WHERE direction = 'outbound' AND {column} IS NOT NULL
                    """
                ).format(name=sql.Identifier(name), column=sql.Identifier(column))
            )
        return res

    # ------------------------------------------------------------------
    # Inbound (webhook processing; runs as the config's processing user)
    # ------------------------------------------------------------------
    @api.model
    def _ingest_inbound(self, config, inbound):
        """Store ``inbound`` (a tools.webhook.InboundMessage) once and act on it.

        Returns the actions the message changed (for the dashboard notification).
        """
        Action = self.env["ofitec.next.action"]
        if self._is_inbound_stored(config, inbound.wamid):
            return Action  # a redelivery: it was handled the first time
        contact = self.env["ofitec.whatsapp.contact"]._touch_from_inbound(config, inbound)
        command, action_ref, from_payload = self._parse_inbound_command(config, inbound)
        vals = self._prepare_inbound_vals(config, inbound, contact, command)
        try:
            with self.env.cr.savepoint(flush=True):
                message = self.create(vals)
        except psycopg2.IntegrityError:
            return Action  # stored meanwhile by another worker, which handles it
        return message._handle_reply(contact, inbound, command, action_ref, from_payload)

    @api.model
    def _prepare_inbound_vals(self, config, inbound, contact, command):
        """The row of ``inbound`` from ``contact``, its command known before the INSERT
        (stored with it, not by an UPDATE after it)."""
        return {
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
            "command": command or False,
        }

    @api.model
    def _is_inbound_stored(self, config, wamid):
        """True when the message ``wamid`` of ``config`` is already stored (a
        redelivery). The unique index stays the guard against two workers storing it
        at once; this check spares the failed INSERT, which PostgreSQL and Odoo log
        as an error, on every redelivery."""
        self.env.cr.execute(
            """
            SELECT 1 FROM ofitec_whatsapp_message
             WHERE config_id = %s AND whatsapp_message_id = %s
             LIMIT 1
            """,
            (config.id, wamid),
        )
        return bool(self.env.cr.fetchone())

    @api.model
    def _parse_inbound_command(self, config, inbound):
        """``(command, action id or None, from_payload)`` of an inbound message; no
        command for what is not a text or a button (reactions, system messages...)."""
        if _is_silent(inbound):
            return None, None, False
        from_payload = commands.parse_button_payload(inbound.payload) if inbound.payload else None
        if from_payload:
            command, action_ref = from_payload
            return command, action_ref, True
        parsed = commands.parse_command(inbound.text or "", config._get_synonyms())
        return parsed.command, parsed.action_ref, False

    def _handle_reply(self, contact, inbound, command, action_ref, from_payload, candidates=None):
        """Act on the command of this inbound message (parsed by
        ``_parse_inbound_command``); answer the sender. ``candidates``: the sender's
        reply candidates when a batch looked them up (and locked the open ones)
        already; alone, the action is locked before it changes."""
        self.ensure_one()
        Action = self.env["ofitec.next.action"]
        if _is_silent(inbound):
            return Action
        if command == commands.CMD_STOP:
            # Dated by the message itself: a message written before the STOP but
            # delivered after it does not end the opt-out (see _touch_from_inbound).
            contact.write({"opted_out": True, "opted_out_date": contact._inbound_at(inbound)})
            self._reply("reply_opt_out", force=True)
            return Action
        if not command:
            if inbound.type in ("text", "button", "interactive"):
                self._reply("reply_help", contact=contact)
            return Action
        locked = candidates is not None  # a batch locked its open candidates
        if candidates is None:
            candidates = self._get_reply_candidates(contact)
        action = self._get_reply_target(inbound, action_ref, from_payload, candidates, command)
        if action is None:
            return Action  # answered already (no such action, or which one?)
        if action not in candidates:
            # Only someone the action was sent to may change it. The refusal is not
            # linked to the action (a message about it would make the stranger one of
            # its recipients) and tells nothing about it.
            self._set_reply_route(action, False)
            self._reply("reply_not_allowed")
            return Action
        if not locked:
            action._whatsapp_lock_for_replies()
        result = action._whatsapp_apply_command(command, self)
        applied = result in ("reply_ok", "reply_completed", "reply_cancel")
        # One UPDATE of this message (the command came with its INSERT).
        self._set_reply_route(action, applied)
        self._reply(result, action=action, command=command)
        return action if applied else Action

    def _get_reply_target(self, inbound, action_ref, from_payload, candidates, command):
        """The action this command is about, or None when the sender was answered
        that there is none, or asked which one."""
        Action = self.env["ofitec.next.action"]
        action = Action
        if from_payload:
            action = Action.browse(action_ref).exists()
        elif inbound.context_id:
            quoted = self.search(
                [
                    ("config_id", "=", self.config_id.id),
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
                return None
        if action:
            return action
        open_candidates = candidates.filtered(lambda a: a.status in OPEN_STATUSES)
        if len(open_candidates) == 1:
            return open_candidates
        if open_candidates:
            self._reply_choose(open_candidates, command)
        else:
            self._reply("reply_no_action")
        return None

    def _get_reply_candidates(self, contact):
        """Actions this sender was sent a message about (by this number): one query."""
        self.ensure_one()
        return self._get_reply_candidates_batch({self.id: contact})[self.id]

    def _get_reply_candidates_batch(self, contacts):
        """``_get_reply_candidates`` of these inbound messages (``contacts``: message id
        -> its sender's contact) in one query: ``{message id: actions}``, the actions
        of a batch sharing one prefetch."""
        if not self:
            return {}
        keys = self._sender_keys(contacts)
        self.flush_model(
            ["config_id", "direction", "next_action_id", "state", "wa_id", "bsuid", "phone"]
        )
        self.env.cr.execute(
            REPLY_CANDIDATES_SQL,
            (
                list({key[0] for key in keys.values()}),
                list({wa_id for key in keys.values() for wa_id in key[1]}),
                [key[2] for key in keys.values() if key[2]],
                [key[3] for key in keys.values() if key[3]],
            ),
        )
        rows = self.env.cr.fetchall()
        Action = self.env["ofitec.next.action"]
        prefetch = Action.browse(sorted({row[1] for row in rows}))._prefetch_ids
        return {
            message_id: Action.browse(sorted(_sent_to(rows, *key))).with_prefetch(prefetch)
            for message_id, key in keys.items()
        }

    def _sender_keys(self, contacts):
        """``{message id: (config id, wa_ids, bsuid, phone)}``: whom each of these
        inbound messages is from, as REPLY_CANDIDATES_SQL's rows are matched (every
        variant of the message's and its contact's wa_id)."""
        keys = {}
        for message in self:
            contact = contacts[message.id]
            wa_ids = set()
            for wa_id in filter(None, {message.wa_id, contact.wa_id}):
                wa_ids |= phone.wa_id_variants(wa_id)
            keys[message.id] = (
                message.config_id.id,
                wa_ids,
                message.bsuid or contact.bsuid or None,
                contact.phone or None,
            )
        return keys

    def _set_reply_route(self, action, applied):
        """Link this inbound message to the ``action`` it answered (``applied``: the
        reply changed it); a batch (``_ingest_inbound_batch``) writes its routes at once."""
        deferred = self.env.context.get(DEFERRED_KEY)
        if deferred is not None:
            deferred.routes[self.id] = (action.id, applied)
        else:
            self.write({"next_action_id": action.id, "reply_processed": applied})

    def _reply(
        self, template_code, action=None, command=None, force=False, extra=None, contact=None
    ):
        """Queue an answer to the sender of this inbound message (inside the window).
        ``contact``: the sender's contact, when the caller has it at hand. In a batch
        (``_ingest_inbound_batch``) the answers are queued together at its end."""
        self.ensure_one()
        vals = self._prepare_reply_vals(template_code, action, command, force, extra)
        if not vals:
            return self.browse()
        deferred = self.env.context.get(DEFERRED_KEY)
        if deferred is not None:
            deferred.answers.append(vals)
            return self.browse()
        return self.create(vals)

    def _prepare_reply_vals(self, template_code, action, command, force, extra):
        """The values of the answer ``template_code`` to this message, or None without
        such a template."""
        template = self.env["ofitec.whatsapp.template"]._get_by_code(
            template_code, self.config_id.company_id
        )
        if not template:
            return None
        values = action._prepare_whatsapp_values(self.partner_id) if action else {}
        if action:
            status_labels = dict(action._fields["status"]._description_selection(self.env))
            values["status"] = (status_labels.get(action.status) or action.status or "").lower()
        values["command"] = commands.COMMAND_WORDS.get(command, "")
        values.update(extra or {})
        return {
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

    def _reply_choose(self, actions, command):
        lines = "\n".join(f"#{a.id} {a.name}" for a in actions.sorted("id"))
        return self._reply(
            "reply_choose",
            command=command,
            extra={"actions_list": lines, "action_id": str(actions.sorted("id")[0].id)},
        )
