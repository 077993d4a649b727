"""Each number's send rate, shared by every worker and server through the database."""

import os
import socket

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
# A start counts from when its request left (tools.transport, ratelimit.Pacer.departed):
# a send held after its start (the interpreter lock busy elsewhere) counts from then.
PACE_MARGIN = 0.97
PACE_WINDOW = 1.0 / PACE_MARGIN  # seconds
PACE_CATCH_UP = 2.0
PACE_HORIZON = 0.5  # seconds of slots one worker may book ahead
# A send run books a number's slots as its ``runner`` and hands them over when it ends
# (``_release``). A run killed mid-batch never does, and its last starts may lag behind
# its slots (a late wake-up being caught up), so a run of another process that takes the
# number over books from one PACE_WINDOW past the slots booked: no second then holds the
# killed run's last starts and the new run's first ones beyond the rate, for a lag of up
# to about a second. A run that handed over costs the next nothing.


def runner_identity():
    """This process, as a send run's ``runner``: host and pid."""
    return f"{socket.gethostname()}:{os.getpid()}"


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
    runner = fields.Char(
        string="Sending Process",
        help="Host and pid of the send run that booked the slots and has not handed them over yet.",
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
        ends), the ``tat`` one PACE_WINDOW later for a number whose slots another
        process's run booked and did not hand over; a number seen for the first time
        gets its row here."""
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
            SELECT config_id, tat, runner FROM ofitec_whatsapp_send_pace
             WHERE config_id = ANY(%s)
               FOR UPDATE {"" if wait else "SKIP LOCKED"}
            """,
            (list(config_ids),),
            log_exceptions=False,  # a serialization failure is expected, see _process_queue
        )
        me = runner_identity()
        return {
            config_id: tat + PACE_WINDOW if runner and runner != me else tat
            for config_id, tat, runner in self.env.cr.fetchall()
        }

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
    def _book(self, config_id, tat, now, rate, count, runner=None):
        """Book ``count`` slots of a number locked by ``_lock``, for the send run
        ``runner`` if given (``runner_identity()``); returns their times."""
        slots, new_tat = ratelimit.grant_slots(tat, now, rate * PACE_MARGIN, count, horizon=None)
        if slots and rate and rate > 0:
            self.env.cr.execute(
                """
                UPDATE ofitec_whatsapp_send_pace SET tat = %s, runner = COALESCE(%s, runner)
                 WHERE config_id = %s
                """,
                (new_tat, runner, config_id),
            )
        return slots

    @api.model
    def _release(self):
        """This process's send run ends: its numbers' slots are handed over."""
        self.env.cr.execute(
            "UPDATE ofitec_whatsapp_send_pace SET runner = NULL WHERE runner = %s",
            (runner_identity(),),
        )

    @api.model
    def _push(self, ahead):
        """No slot of these numbers before ``ahead[config_id]`` seconds from now."""
        now = self._now()
        for config_id, seconds in ahead.items():
            self.env.cr.execute(
                "UPDATE ofitec_whatsapp_send_pace SET tat = GREATEST(tat, %s) WHERE config_id = %s",
                (now + seconds, config_id),
            )
