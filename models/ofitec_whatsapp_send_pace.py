"""Each number's send rate, shared by every worker and server through the database."""

from odoo import api, fields, models

from ..tools import ratelimit

# Slots are booked a little under the number's rate (PACE_MARGIN): a request reaches
# Meta some milliseconds after its start, so a late send next to on-time ones must not
# make a second there hold more than the rate. In one process, a number's sends start at
# most ``rate`` in any PACE_WINDOW (the time ``rate`` slots take: 1.031 s, so up to 31 ms
# of arrival jitter leaves no second above the rate; start to arrival measured 1.2 ms
# median, 8.7 ms at most over 1,000 sends at 80/s in session 10), and at least half a
# slot apart (PACE_CATCH_UP), never before their slots (tools.ratelimit.earliest_start):
# a late start is caught up, and is not carried over to every later send as spacing each
# start from the previous one did (about 1 ms per send, 5-8 % of the rate at 80/s). The
# window allows exactly the booked pace: one start fewer (session 8's slack for arrival
# jitter, measured with a fake server that stamped requests late) capped a drain at
# 0.958x the rate and measured 0.95-0.96x; without it, 0.96-0.97x with the peak at 80.
PACE_MARGIN = 0.97
PACE_WINDOW = 1.0 / PACE_MARGIN  # seconds
PACE_CATCH_UP = 2.0
PACE_HORIZON = 0.5  # seconds of slots one worker may book ahead


class OfitecWhatsappSendPace(models.Model):
    """One row per number: its GCRA "theoretical arrival time" (``tat``), the earliest
    moment its next message may leave, on the database's clock. A worker locks the rows
    of the numbers it claims for (``FOR UPDATE SKIP LOCKED``: a number another worker is
    booking right now is skipped, never waited for), books slots and commits with its
    claim; so every worker of every server shares one rate per number, with no burst."""

    _name = "ofitec.whatsapp.send.pace"
    _description = "WhatsApp Number Send Pace"
    _log_access = False

    config_id = fields.Many2one(
        "ofitec.whatsapp.config", string="WhatsApp Number", required=True, ondelete="cascade"
    )
    tat = fields.Float(
        string="Next Free Slot", help="Seconds since the epoch, on the database's clock."
    )

    _sql_constraints = [
        ("config_uniq", "unique(config_id)", "One send pace per WhatsApp number."),
    ]

    @api.model
    def _now(self):
        """The shared clock: the database's, in seconds (not the transaction's start)."""
        self.env.cr.execute("SELECT extract(epoch FROM clock_timestamp())::float8")
        return self.env.cr.fetchone()[0]

    @api.model
    def _lock(self, config_ids, wait=False):
        """Lock the pace of these numbers, skipping those another worker holds (or
        waiting for them with ``wait``).

        Returns ``{config_id: tat}`` for the numbers locked (until this transaction
        ends); a number seen for the first time gets its row here."""
        if not config_ids:
            return {}
        self.env.cr.execute(
            """
            INSERT INTO ofitec_whatsapp_send_pace (config_id, tat)
            SELECT c.id, 0 FROM ofitec_whatsapp_config c
             WHERE c.id = ANY(%s)
               AND NOT EXISTS (SELECT 1 FROM ofitec_whatsapp_send_pace p
                                WHERE p.config_id = c.id)
            ON CONFLICT (config_id) DO NOTHING
            """,
            (list(config_ids),),
        )
        self.env.cr.execute(
            f"""
            SELECT config_id, tat FROM ofitec_whatsapp_send_pace
             WHERE config_id = ANY(%s)
               FOR UPDATE {"" if wait else "SKIP LOCKED"}
            """,
            (list(config_ids),),
            log_exceptions=False,  # a serialization failure is expected, see _process_queue
        )
        return dict(self.env.cr.fetchall())

    @api.model
    def _room(self, tat, now, rate, wanted):
        """How many of ``wanted`` messages a locked number may claim now."""
        slots, _tat = ratelimit.grant_slots(tat, now, rate * PACE_MARGIN, wanted, PACE_HORIZON)
        return len(slots)

    @api.model
    def _pacing(self, rate):
        """``(count, min_gap)`` for the sends of a number in one process: at most
        ``count`` starts in any PACE_WINDOW, and ``min_gap`` seconds between two
        starts ((0, 0.0): unlimited)."""
        if not rate or rate <= 0:
            return 0, 0.0
        return max(1, int(rate)), 1.0 / (rate * PACE_MARGIN * PACE_CATCH_UP)

    @api.model
    def _wake_at(self, tat, rate):
        """When a number booked up to ``tat`` has room again."""
        return tat - max(PACE_HORIZON, 1.0 / (rate * PACE_MARGIN))

    @api.model
    def _book(self, config_id, tat, now, rate, count):
        """Book ``count`` slots of a number locked by ``_lock``; returns their times."""
        slots, new_tat = ratelimit.grant_slots(tat, now, rate * PACE_MARGIN, count, horizon=None)
        if slots and rate and rate > 0:
            self.env.cr.execute(
                "UPDATE ofitec_whatsapp_send_pace SET tat = %s WHERE config_id = %s",
                (new_tat, config_id),
            )
        return slots

    @api.model
    def _push(self, ahead):
        """No slot of these numbers before ``ahead[config_id]`` seconds from now."""
        now = self._now()
        for config_id, seconds in ahead.items():
            self.env.cr.execute(
                "UPDATE ofitec_whatsapp_send_pace SET tat = GREATEST(tat, %s) WHERE config_id = %s",
                (now + seconds, config_id),
            )
