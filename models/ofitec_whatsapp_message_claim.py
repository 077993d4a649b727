"""Claiming queued messages: per number, urgent first, within each number's shared pace,
under a lease that a killed worker cannot keep."""

from dataclasses import dataclass, field

from odoo import api, models

from ..tools.actions import URGENT_PRIORITIES
from .ofitec_whatsapp_send_pace import runner_identity

# A claim is committed at once with this lease (``next_attempt`` moved ahead): other
# workers leave the message alone meanwhile, and if the claiming worker dies its messages
# are due again when the lease ends. A worker starts no HTTP call later than
# SEND_CUTOFF after its claim, so a lease never ends under a send still in progress
# (the call's own timeouts are 5 s to connect and 30 s to read).
SEND_LEASE = 60  # seconds
SEND_CUTOFF = 20.0  # seconds

# A test-only message (``_is_test_only``: its number in test mode, the recipient not on
# the allow-list) needs no token: a paused number still "sends" it.
_TEST_ONLY = """
    (c.test_mode AND NOT (COALESCE(m.phone, '') = ANY(
        string_to_array(COALESCE(c.test_allowlist_numbers, ''), ','))))
"""
_DUE = f"""
    m.state = 'queued' AND m.direction = 'outbound'
    AND (m.next_attempt IS NULL OR m.next_attempt <= (now() at time zone 'UTC'))
    AND NOT (m.id = ANY(%(exclude)s))
    AND NOT (COALESCE(m.phone, m.bsuid, '') = ANY(%(busy)s))
    AND NOT (COALESCE(m.config_id, 0) = ANY(%(full)s))
    AND (NOT COALESCE(c.sending_paused, false) OR {_TEST_ONLY})
"""


class NotStarted(Exception):
    """The send was not attempted: its claim was too old to start an HTTP call."""


@dataclass(frozen=True)
class SendStep:
    """One prepared send: what ``_prepare_send`` hands to a worker thread.

    ``call`` sends the message through ``client`` (a tools.provider.Provider) when
    invoked; it touches no ORM record. ``start_at`` is its slot in the number's pace
    (``_monotonic()`` time); no call starts after ``cutoff``, nor while its run's
    ``gate`` is full (sends not committed yet); in this process, sends of the same
    number (``pace_key``) start at least ``min_gap`` apart and at most
    ``window_count`` in any PACE_WINDOW (``tools.ratelimit.earliest_start``).
    """

    client: object
    recipient: str
    kind: str
    call: object
    start_at: float = 0.0
    cutoff: float = None
    pace_key: tuple = None
    min_gap: float = 0.0
    window_count: int = 0
    gate: object = None


@dataclass
class Claim:
    """What one claim took: ``messages`` (locked until the claim commits, leased after),
    the shared clock at the claim (``now``), each paced number's locked ``tat`` and rate,
    ``wake_at``: when a number that had messages but no free slot can send again, and
    the send run (``runner``) that books their slots, if any."""

    messages: object
    now: float = 0.0
    paces: dict = field(default_factory=dict)
    wake_at: float = None
    due: bool = False
    calls: list = field(default_factory=list)
    runner: str = None

    @property
    def futures(self):
        return [future for _message, _step, future in self.calls]


class OfitecWhatsappMessageClaim(models.Model):
    _inherit = "ofitec.whatsapp.message"

    @api.model
    def _claim_due(self, size, exclude=(), cap=None, busy=(), full=()):
        """Lock and lease due queued messages: up to ``size`` per number and only as many
        as the number's pace allows now (a number another worker is booking, or at its
        rate, is skipped: its neighbours go instead), urgent actions first within a
        number; ``cap`` bounds the whole claim. Messages to the recipients in ``busy``
        (numbers or BSUIDs this worker is sending to) wait for the next claim: a pair
        limit answer (131056) to those sends must hold them first; the numbers in
        ``full`` (config ids: this worker has enough of their sends in the air) are not
        claimed. Returns a ``Claim``."""
        # The queries read the table itself: write pending ORM changes first (a run that
        # does not commit, like a test, would otherwise get the same row again).
        self.env.flush_all()
        params = {"exclude": list(exclude), "busy": list(busy), "full": list(full)}
        numbers = self._due_numbers(params)
        claim = Claim(messages=self.browse(), due=bool(numbers), runner=runner_identity())
        if not numbers:
            return claim
        Pace = self.env["ofitec.whatsapp.send.pace"]
        rates = {cid: rate for cid, rate, active in numbers if cid and active and rate > 0}
        claim.now = Pace._now()
        locked = Pace._lock(list(rates))
        ids = []
        for config_id, _rate, _active in numbers:
            wanted = size if cap is None else min(size, cap - len(ids))
            if wanted <= 0:
                break
            if config_id in rates:
                wanted = self._room_now(claim, config_id, rates[config_id], locked, wanted)
            if wanted:
                ids += self._claim_number(config_id, wanted, params)
        if ids:
            self.env.cr.execute(
                """
                UPDATE ofitec_whatsapp_message
                   SET next_attempt = (now() at time zone 'UTC') + %s * interval '1 second'
                 WHERE id = ANY(%s)
                """,
                (SEND_LEASE, ids),
            )
        claim.messages = self.browse(ids)
        # The rows may have been changed by the transactions that released them.
        claim.messages.invalidate_recordset()
        return claim

    @api.model
    def _due_numbers(self, params):
        """``[(config id, rate, active)]`` of the numbers with due messages, those with
        an urgent one first, then by their oldest."""
        self.env.cr.execute(
            f"""
            SELECT m.config_id, COALESCE(c.rate_limit, 0), COALESCE(c.active, false)
              FROM ofitec_whatsapp_message m
              LEFT JOIN ofitec_whatsapp_config c ON c.id = m.config_id
              LEFT JOIN ofitec_next_action a ON a.id = m.next_action_id
             WHERE {_DUE}
             GROUP BY m.config_id, c.rate_limit, c.active
             ORDER BY bool_or(COALESCE(a.priority IN %(urgent)s, false)) DESC, min(m.id)
            """,
            dict(params, urgent=tuple(URGENT_PRIORITIES)),
            log_exceptions=False,  # a serialization failure is expected, see _process_queue
        )
        return self.env.cr.fetchall()

    @api.model
    def _room_now(self, claim, config_id, rate, locked, wanted):
        """How many of ``wanted`` messages the shared pace of number ``config_id``
        (``locked``: config id -> its pace, locked by this claim) lets it take now; 0
        when another worker is booking its slots. Its pace goes on ``claim``, and when
        it has no room, the moment it has some on ``claim.wake_at``."""
        if config_id not in locked:
            return 0  # another worker is booking this number's slots right now
        Pace = self.env["ofitec.whatsapp.send.pace"]
        tat = locked[config_id]
        claim.paces[config_id] = (tat, rate)
        room = Pace._room(tat, claim.now, rate, wanted)
        if not room:
            wake = Pace._wake_at(tat, rate)
            claim.wake_at = wake if claim.wake_at is None else min(claim.wake_at, wake)
        return room

    @api.model
    def _claim_number(self, config_id, size, params):
        self.env.cr.execute(
            f"""
            SELECT m.id
              FROM ofitec_whatsapp_message m
              LEFT JOIN ofitec_whatsapp_config c ON c.id = m.config_id
              LEFT JOIN ofitec_next_action a ON a.id = m.next_action_id
             WHERE {_DUE} AND m.config_id IS NOT DISTINCT FROM %(config)s
             ORDER BY COALESCE(a.priority IN %(urgent)s, false) DESC,
                      m.next_attempt NULLS FIRST, m.id
             LIMIT %(size)s
               FOR UPDATE OF m SKIP LOCKED
            """,
            dict(params, config=config_id, size=size, urgent=tuple(URGENT_PRIORITIES)),
            log_exceptions=False,
        )
        return [row[0] for row in self.env.cr.fetchall()]

    def _book_slots(self, claim, steps):
        """Book one slot of its number's pace per prepared send (``steps``: a list of
        ``(message, step)``). Returns the slot times, in order, on the shared clock."""
        Pace = self.env["ofitec.whatsapp.send.pace"]
        by_number = {}
        for index, (message, _step) in enumerate(steps):
            by_number.setdefault(message.config_id.id, []).append(index)
        slots = [claim.now] * len(steps)
        for config_id, indexes in by_number.items():
            if config_id not in claim.paces:
                continue  # unlimited
            tat, rate = claim.paces[config_id]
            booked = Pace._book(config_id, tat, claim.now, rate, len(indexes), claim.runner)
            for index, slot in zip(indexes, booked, strict=True):
                slots[index] = slot
        return slots
