import json
import logging
from collections import namedtuple
from datetime import datetime, timezone

import psycopg2

from odoo import api, fields, models

from ..tools import provider
from ..tools import status as status_rule
from ..tools.schema import drop_indexes

_logger = logging.getLogger(__name__)

DATE_FIELDS = status_rule.DATE_FIELDS
# Each date of a moved message: its own, or the batch's first of its status (``new``),
# then kept in the statuses' order (tools.status).
_DATES_SET = ",\n               ".join(
    f"{field} = {expression}"
    for field, expression in status_rule.sql_dates_in_order(
        {field: f"COALESCE(m.{field}, new.{state}_at)" for state, field in DATE_FIELDS.items()}
    ).items()
)

# A status stored by ``_ingest_batch``: its id, wamid, status and message (None: unknown).
Stored = namedtuple("Stored", "id wamid status message_id")

# ``_ingest_batch``'s statement. ``stored``: the new statuses (ON CONFLICT skips those
# stored before), linked to their messages when known; ``moved``: each message known
# takes its highest new status under the forward-only rule (``rule``: tools.status as a
# table; a terminal message never moves), each date set once and none later than a
# higher status's. A failure moves nothing here (it is not in ``rule``): the ORM applies
# it with its error.
BATCH_SQL = f"""
    WITH rule AS (
        SELECT * FROM unnest(%(rule_statuses)s::varchar[], %(rule_ranks)s::int[],
                             %(rule_states)s::varchar[]) AS r(status, rank, state)
    ), stored AS (
        INSERT INTO ofitec_whatsapp_status
               (config_id, company_id, whatsapp_message_id, status, timestamp,
                callback_data, errors, message_id, applied, create_uid, write_uid,
                create_date, write_date)
        SELECT %(config)s, %(company)s, s.wamid, s.status, s.at, s.callback, s.errors,
               m.id, m.id IS NOT NULL, %(uid)s, %(uid)s, now() at time zone 'UTC',
               now() at time zone 'UTC'
          FROM unnest(%(wamids)s::varchar[], %(statuses)s::varchar[], %(ats)s::timestamp[],
                      %(callbacks)s::varchar[], %(errors)s::text[])
               AS s(wamid, status, at, callback, errors)
          LEFT JOIN ofitec_whatsapp_message AS m
                 ON m.config_id = %(config)s AND m.whatsapp_message_id = s.wamid
            ON CONFLICT ON CONSTRAINT ofitec_whatsapp_status_status_uniq DO NOTHING
        RETURNING id, whatsapp_message_id, status, message_id, timestamp
    ), new AS (
        SELECT s.message_id,
               max(rule.rank) AS rank,
               (array_agg(rule.state ORDER BY rule.rank DESC))[1] AS state,
               min(s.timestamp) FILTER (WHERE rule.state = 'sent') AS sent_at,
               min(s.timestamp) FILTER (WHERE rule.state = 'delivered') AS delivered_at,
               min(s.timestamp) FILTER (WHERE rule.state = 'read') AS read_at
          FROM stored AS s
          JOIN rule ON rule.status = s.status
         WHERE s.message_id IS NOT NULL
         GROUP BY s.message_id
    ), moved AS (
        UPDATE ofitec_whatsapp_message AS m
           SET state = CASE
                   WHEN NOT (m.state = ANY(%(terminal)s))
                    AND new.rank > COALESCE(
                            (SELECT rule.rank FROM rule WHERE rule.status = m.state), 0)
                   THEN new.state
                   ELSE m.state END,
               {_DATES_SET},
               write_uid = %(uid)s,
               write_date = now() at time zone 'UTC'
          FROM new
         WHERE m.id = new.message_id
    )
    SELECT id, whatsapp_message_id, status, message_id FROM stored
"""


def _to_datetime(timestamp):
    return datetime.fromtimestamp(int(timestamp), tz=timezone.utc).replace(tzinfo=None)


class OfitecWhatsappStatus(models.Model):
    """A delivery status from Meta, stored once per (number, wamid, status).

    Statuses arrive at least once, in any order, sometimes before our send call has
    stored the wamid. Each one is recorded here first (the unique key drops
    duplicates); it is applied to its message at once when the message is known,
    otherwise when the message gets its wamid (``_apply_pending``).
    """

    _name = "ofitec.whatsapp.status"
    _description = "WhatsApp Delivery Status"
    _order = "id"

    # Not index=True: the unique (config_id, whatsapp_message_id, status) index serves it.
    config_id = fields.Many2one("ofitec.whatsapp.config", required=True, ondelete="cascade")
    company_id = fields.Many2one(related="config_id.company_id", store=True)
    whatsapp_message_id = fields.Char(required=True, index=True)
    status = fields.Char(required=True)
    timestamp = fields.Datetime()
    callback_data = fields.Char()
    errors = fields.Text(help="JSON list of Meta's errors (failed statuses).")
    message_id = fields.Many2one("ofitec.whatsapp.message", index=True, ondelete="cascade")
    applied = fields.Boolean(index=True)

    _sql_constraints = [
        (
            "status_uniq",
            "unique(config_id, whatsapp_message_id, status)",
            "A status is stored once per message.",
        ),
    ]

    def init(self):
        drop_indexes(self.env.cr, "ofitec_whatsapp_status_config_id_index")

    @api.model
    def _ingest_batch(self, config, updates):
        """Record and apply many statuses in one set-based statement.

        Same rules as ``_ingest`` (used per item when a batch fails, to isolate the bad
        one): redeliveries change nothing, statuses only move messages forward (each
        date is set once), and a status whose message is unknown waits for it (or
        reconciles a lost answer). Meta sends up to 1,000 statuses per POST, and one
        per POST in a cron batch of many: the common path (sent, delivered, read of
        known messages) is SQL; failures and unknown messages take the ORM path.
        """
        unique = self._unique_updates(updates)
        if not unique:
            return self.browse()
        self.env.flush_all()
        stored = self._store_and_apply(config, unique.values())
        if not stored:
            return self.browse()
        self._invalidate_applied()
        self._finish_batch(config, unique, stored)
        return self.browse([row.id for row in stored])

    @staticmethod
    def _unique_updates(updates):
        """``{(wamid, status): update}``: a status repeated in the batch counts once."""
        unique = {}
        for update in updates:
            unique.setdefault((update.wamid, update.status), update)
        return unique

    @api.model
    def _store_and_apply(self, config, updates):
        """Store the new statuses, linked to their messages when known, and move each
        message to its highest new status: one statement (``BATCH_SQL``). A status
        stored before (a redelivery, or another worker's meanwhile) is skipped by the
        unique key; returns the :class:`Stored` rows of those stored now."""
        self.env.cr.execute(BATCH_SQL, self._batch_params(config, updates))
        return [Stored(*row) for row in self.env.cr.fetchall()]

    @api.model
    def _batch_params(self, config, updates):
        rows = [self._prepare_vals(config, update) for update in updates]
        rules = status_rule.rank_rows()  # the forward-only rule of tools.status, as a table
        return {
            "config": config.id,
            "company": config.company_id.id,
            "uid": self.env.uid,
            "wamids": [vals["whatsapp_message_id"] for vals in rows],
            "statuses": [vals["status"] for vals in rows],
            "ats": [vals["timestamp"] for vals in rows],
            "callbacks": [vals["callback_data"] or None for vals in rows],
            "errors": [vals["errors"] or None for vals in rows],
            "rule_statuses": [row[0] for row in rules],
            "rule_ranks": [row[1] for row in rules],
            "rule_states": [row[2] for row in rules],
            "terminal": sorted(status_rule.TERMINAL_STATES),
        }

    def _invalidate_applied(self):
        """Forget only what the batch's SQL changed (a full invalidation made every
        event of a cron batch read its number, user and company again)."""
        self.env["ofitec.whatsapp.message"].invalidate_model()
        self.invalidate_model()
        self.env["ofitec.next.action"].invalidate_model(["whatsapp_sent"])

    @api.model
    def _finish_batch(self, config, unique, stored):
        """The ORM path of the rare statuses: a failure (its error on the message, the
        template fallback) and a status for a message not known by its wamid (our lost
        answer, reconciled from the callback data; otherwise it waits)."""
        Message = self.env["ofitec.whatsapp.message"]
        for row in stored:
            if row.message_id and row.status == status_rule.FAILED:
                self.browse(row.id)._move_message(Message.browse(row.message_id))
        for row in stored:
            if not row.message_id:
                message = self._reconcile_callback(config, unique[(row.wamid, row.status)])
                if message:
                    message._after_whatsapp_id_assigned()

    @api.model
    def _prepare_vals(self, config, update):
        errors = [
            {"code": e.code, "title": e.title, "details": e.details} for e in update.errors or []
        ]
        return {
            "config_id": config.id,
            "whatsapp_message_id": update.wamid,
            "status": update.status,
            "timestamp": _to_datetime(update.timestamp),
            "callback_data": update.callback_data,
            "errors": json.dumps(errors) if errors else False,
        }

    @api.model
    def _ingest(self, config, update):
        """Record ``update`` (a tools.webhook.StatusUpdate) once and apply it if possible."""
        existing = self.search(
            [
                ("config_id", "=", config.id),
                ("whatsapp_message_id", "=", update.wamid),
                ("status", "=", update.status),
            ],
            limit=1,
        )
        if existing:
            return existing  # a redelivery: nothing changes
        try:
            with self.env.cr.savepoint(flush=True):
                record = self.create(self._prepare_vals(config, update))
        except psycopg2.IntegrityError:
            # Another worker stored the same status meanwhile: it applies it.
            return self.browse()
        message = self.env["ofitec.whatsapp.message"].search(
            [("config_id", "=", config.id), ("whatsapp_message_id", "=", update.wamid)], limit=1
        )
        if message:
            record._apply_to(message)
            return record
        message = self._reconcile_callback(config, update)
        if message:
            # The message just got its wamid: this status and any that came before
            # it without our callback data (all waiting) apply now.
            message._after_whatsapp_id_assigned()
        return record

    @api.model
    def _reconcile_callback(self, config, update):
        """A status for a send whose answer we lost (timeout): adopt its wamid.

        Our sends carry ``biz_opaque_callback_data = 'ofitec:<message id>'``. When Meta
        accepted a send but the HTTP answer never reached us, the message is still
        waiting for a retry; its first status tells us it went out, so the retry (a
        duplicate on the phone) is not made.
        """
        message_id = provider.parse_callback_data(update.callback_data)
        if not message_id:
            return self.env["ofitec.whatsapp.message"]
        message = (
            self.env["ofitec.whatsapp.message"]
            .browse(message_id)
            .exists()
            .filtered(
                lambda m: (
                    m.config_id == config
                    and m.direction == "outbound"
                    and not m.whatsapp_message_id
                    and m.state in ("queued", "failed")
                )
            )
        )
        if message:
            _logger.info("WhatsApp message %s: adopting wamid from a status webhook", message.id)
            message.write(
                {
                    "whatsapp_message_id": update.wamid,
                    "state": "sent",
                    "sent_date": _to_datetime(update.timestamp),
                    "next_attempt": False,
                    "error_code": False,
                    "error_message": False,
                }
            )
            if update.recipient_id:
                message.wa_id = update.recipient_id
            message._remember_contact()
        return message

    def _apply_to(self, message):
        """Move ``message`` forward with this status; never backwards."""
        self.write({"message_id": message.id, "applied": True})
        self._move_message(message)

    def _move_message(self, message):
        """Apply these statuses to ``message`` under tools.status's forward-only rule."""
        for record in self:
            status = record.status
            state = status_rule.message_state(status)
            vals = record._dates_for(message, DATE_FIELDS.get(state))
            errors = json.loads(record.errors or "[]")
            if status_rule.status_moves_forward(message.state, status):
                vals["state"] = state
                if state == status_rule.FAILED:
                    vals.update(message._in_notes_lang()._failed_status_vals(errors))
            if vals:
                message.write(vals)
            if vals.get("state") == status_rule.FAILED:
                message._on_failed_status(errors)

    def _dates_for(self, message, date_field):
        """The dates of ``message`` that this status changes: its own date when not set
        yet, and those the statuses' order then moves (tools.status.dates_in_order)."""
        self.ensure_one()
        current = {field: message[field] for field in DATE_FIELDS.values()}
        dates = dict(current)
        if date_field and not dates[date_field]:
            dates[date_field] = self.timestamp or fields.Datetime.now()
        ordered = status_rule.dates_in_order(dates)
        return {field: value for field, value in ordered.items() if value != current[field]}

    @api.model
    def _apply_pending(self, message):
        """Apply the statuses that arrived before ``message`` had its wamid."""
        pending = self.search(
            [
                ("config_id", "=", message.config_id.id),
                ("whatsapp_message_id", "=", message.whatsapp_message_id),
                ("applied", "=", False),
            ]
        )
        pending._apply_to(message)
