"""Hourly delivery counters, so the dashboard's 30-day delivery rate costs the same at
a million messages as at ten.

Each row is a *delta*: for one company and one hour of ``sent_date``, how many real
(not test) outbound messages in a final state (sent, delivered, read, failed) and how
many of them reached the phone (delivered, read) were added or removed. A PostgreSQL
trigger on ``ofitec_whatsapp_message`` writes them in the same transaction as the change
that causes them, whatever makes it (ORM, the status batch's SQL, a delete): the
counters can only be wrong if someone disables the trigger. Writers only ever INSERT,
so concurrent transactions never wait for each other on a counter row; the hourly cron
folds the deltas into one row per (company, hour). ``_rebuild()`` recomputes everything
from the messages, should the counters ever drift (``odoo shell``:
``env['ofitec.whatsapp.stats.hour']._rebuild()``).
"""

from odoo import api, fields, models

from ..tools.status import RATE_STATES, REACHED_STATES, REAL_OUTBOUND_SQL, sql_in

# What the dashboard's delivery rate counts (see get_whatsapp_stats).
_COUNTED = f"{REAL_OUTBOUND_SQL} AND sent_date IS NOT NULL"
_SENT = sql_in("state", RATE_STATES)
_REACHED = sql_in("state", REACHED_STATES)

_ROWS = f"""
    SELECT company_id, date_trunc('hour', sent_date) AS hour,
           %(sign)s({_SENT})::int AS sent, %(sign)s({_REACHED})::int AS reached
      FROM %(table)s
     WHERE {_COUNTED}
"""
_INSERT = """
    INSERT INTO ofitec_whatsapp_stats_hour (company_id, hour, sent_count, reached_count)
    SELECT company_id, hour, sum(sent), sum(reached)
      FROM (%s) AS delta
     GROUP BY company_id, hour
    HAVING sum(sent) <> 0 OR sum(reached) <> 0;
"""
_NEW = _ROWS % {"sign": "", "table": "new_rows"}
_OLD = _ROWS % {"sign": "-", "table": "old_rows"}
_REBUILD = _INSERT % (_ROWS % {"sign": "", "table": "ofitec_whatsapp_message"})
# Each branch names only the transition tables its event has.
_TRIGGER_FUNCTION = f"""
CREATE OR REPLACE FUNCTION ofitec_whatsapp_stats_hour_delta() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        {_INSERT % _NEW}
    ELSIF TG_OP = 'UPDATE' THEN
        {_INSERT % (_NEW + " UNION ALL " + _OLD)}
    ELSE
        {_INSERT % _OLD}
    END IF;
    RETURN NULL;
END
$$;
"""
# What uninstalling drops (hooks.py): Odoo drops the table, not this function; its
# triggers go with it.
DROP_TRIGGER_FUNCTION = "DROP FUNCTION IF EXISTS ofitec_whatsapp_stats_hour_delta() CASCADE"
# A trigger with transition tables serves one event (PostgreSQL's rule): three of them.
_TRIGGERS = "".join(
    f"""
    DROP TRIGGER IF EXISTS ofitec_whatsapp_stats_hour_{event} ON ofitec_whatsapp_message;
    CREATE TRIGGER ofitec_whatsapp_stats_hour_{event}
        AFTER {event.upper()} ON ofitec_whatsapp_message REFERENCING {tables}
        FOR EACH STATEMENT EXECUTE FUNCTION ofitec_whatsapp_stats_hour_delta();
    """
    for event, tables in (
        ("insert", "NEW TABLE AS new_rows"),
        ("update", "OLD TABLE AS old_rows NEW TABLE AS new_rows"),
        ("delete", "OLD TABLE AS old_rows"),
    )
)


class OfitecWhatsappStatsHour(models.Model):
    _name = "ofitec.whatsapp.stats.hour"
    _description = "WhatsApp Delivery Counters (per hour)"
    _log_access = False

    company_id = fields.Many2one("res.company", required=True, readonly=True, ondelete="cascade")
    hour = fields.Datetime(required=True, readonly=True, index=True, help="UTC, on the hour.")
    sent_count = fields.Integer(readonly=True)
    reached_count = fields.Integer(readonly=True)

    def init(self):
        cr = self.env.cr
        cr.execute("SELECT 1 FROM pg_trigger WHERE tgname = 'ofitec_whatsapp_stats_hour_update'")
        fresh = not cr.fetchone()
        cr.execute(_TRIGGER_FUNCTION)
        cr.execute(_TRIGGERS)
        if fresh:
            self._rebuild()

    @api.model
    def _rebuild(self):
        """Recompute every counter from the messages (they lock out writers meanwhile)."""
        cr = self.env.cr
        cr.execute("LOCK TABLE ofitec_whatsapp_message IN SHARE MODE")
        cr.execute("DELETE FROM ofitec_whatsapp_stats_hour")
        cr.execute(_REBUILD)
        self.env.invalidate_all()

    @api.model
    def _compact(self):
        """Fold the deltas into one row per (company, hour) (cron, hourly)."""
        cr = self.env.cr
        # One compaction at a time; the deltas inserted meanwhile are not seen, so kept.
        cr.execute("SELECT pg_try_advisory_xact_lock(hashtext('ofitec_whatsapp_stats_hour'))")
        if not cr.fetchone()[0]:
            return False
        cr.execute(
            """
            WITH folded AS (
                DELETE FROM ofitec_whatsapp_stats_hour
                RETURNING company_id, hour, sent_count, reached_count
            )
            INSERT INTO ofitec_whatsapp_stats_hour (company_id, hour, sent_count, reached_count)
            SELECT company_id, hour, sum(sent_count), sum(reached_count)
              FROM folded
             GROUP BY company_id, hour
            HAVING sum(sent_count) <> 0 OR sum(reached_count) <> 0
            """
        )
        self.env.invalidate_all()
        return True
