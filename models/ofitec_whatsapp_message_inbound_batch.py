"""Inbound messages of a cron batch applied together.

Message by message, a text cost about 17 queries besides the action's own change: the
redelivery check, the contact searched and read, the row in its savepoint, the reply
candidates, the answer's INSERT and its cron check, an UPDATE linking the row to its
action. For a batch (``_ingest_inbound_batch``) those are set-based: one redelivery
check, one contact search, one INSERT of the rows, one candidates query, the answers
queued by one INSERT (one cron check) and the links written by one UPDATE. What a reply
does to its action (the transition, its tracking and history entry) stays the ORM's,
message after message in the batch's order, so one sender's texts apply in order.

The batch runs in the cron's savepoint: when anything fails, the caller applies its
events one by one (``_ingest_inbound``, each message in its own savepoint).
"""

from odoo import api, models

from ..tools import commands
from ..tools.actions import OPEN_STATUSES
from .ofitec_whatsapp_message_inbound import DEFERRED_KEY


class _Deferred:
    """What a batch writes at its end: the answers' values, and per inbound message id
    the action it answered and whether the reply changed it."""

    def __init__(self):
        self.answers = []
        self.routes = {}


class OfitecWhatsappMessageInboundBatch(models.Model):
    _inherit = "ofitec.whatsapp.message"

    @api.model
    def _ingest_inbound_batch(self, config, inbounds):
        """``_ingest_inbound`` for ``inbounds`` (in order) of ``config``, together.
        Returns the actions the messages changed."""
        Action = self.env["ofitec.next.action"]
        fresh = self._not_stored_inbounds(config, inbounds)
        if not fresh:
            return Action
        parsed = [self._parse_inbound_command(config, inbound) for inbound in fresh]
        if any(
            inbound.type == "system" or command == commands.CMD_STOP
            for inbound, (command, _ref, _payload) in zip(fresh, parsed, strict=True)
        ):
            # These change the contact after the row is stored (a STOP, a new number),
            # which the sender's next message must see: one message after the other.
            for inbound in fresh:
                Action |= self._ingest_inbound(config, inbound)
            return Action
        Contact = self.env["ofitec.whatsapp.contact"]
        pool = Contact._find_for_inbounds(config, fresh)
        # As _handle_reply takes them: (contact, inbound, command, action_ref, from_payload)
        rows = [
            (Contact._touch_from_inbound(config, inbound, pool=pool), inbound, *parsed_one)
            for inbound, parsed_one in zip(fresh, parsed, strict=True)
        ]
        deferred = _Deferred()
        messages = self.with_context(**{DEFERRED_KEY: deferred}).create(
            [self._prepare_inbound_vals(config, row[1], row[0], row[2]) for row in rows]
        )
        routed = {message.id: row[0] for message, row in zip(messages, rows, strict=True) if row[2]}
        candidates = messages.browse(list(routed))._get_reply_candidates_batch(routed)
        Action.union(*candidates.values()).filtered(
            lambda action: action.status in OPEN_STATUSES
        )._whatsapp_lock_for_replies()
        touched = Action
        for message, row in zip(messages, rows, strict=True):
            touched |= message._handle_reply(*row, candidates=candidates.get(message.id))
        self._write_deferred(deferred)
        return touched

    @api.model
    def _not_stored_inbounds(self, config, inbounds):
        """``inbounds`` without the redeliveries (one query; a wamid twice in the batch
        is kept once). The unique index stays the guard against another worker."""
        self.env.cr.execute(
            """
            SELECT whatsapp_message_id FROM ofitec_whatsapp_message
             WHERE config_id = %s AND whatsapp_message_id = ANY(%s)
            """,
            (config.id, [inbound.wamid for inbound in inbounds]),
        )
        seen = {row[0] for row in self.env.cr.fetchall()}
        fresh = []
        for inbound in inbounds:
            if inbound.wamid not in seen:
                seen.add(inbound.wamid)
                fresh.append(inbound)
        return fresh

    @api.model
    def _write_deferred(self, deferred):
        """The batch's links to actions in one UPDATE, its answers in one create."""
        if deferred.routes:
            self.flush_model(["next_action_id", "reply_processed"])
            ids = list(deferred.routes)
            self.env.cr.execute(
                """
                UPDATE ofitec_whatsapp_message AS m
                   SET next_action_id = r.action_id, reply_processed = r.applied,
                       write_uid = %s, write_date = now() AT TIME ZONE 'UTC'
                  FROM unnest(%s::int[], %s::int[], %s::bool[]) AS r(id, action_id, applied)
                 WHERE m.id = r.id
                """,
                (
                    self.env.uid,
                    ids,
                    [deferred.routes[i][0] for i in ids],
                    [deferred.routes[i][1] for i in ids],
                ),
            )
            self.browse(ids).invalidate_recordset(
                ["next_action_id", "reply_processed", "write_uid", "write_date"]
            )
            self.env["ofitec.next.action"].invalidate_model(["whatsapp_message_ids"])
        if deferred.answers:
            self.create(deferred.answers)
