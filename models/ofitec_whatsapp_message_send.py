"""The send loop: claim a cycle, send at the booked slots, record, commit."""

import collections
import dataclasses
import logging
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from datetime import timedelta

import psycopg2

from odoo import api, fields, models

from ..tools import ratelimit, transport
from .ofitec_whatsapp_message_claim import SEND_CUTOFF, Claim, NotStarted
from .ofitec_whatsapp_message_queue import _BROKEN
from .ofitec_whatsapp_send_pace import PACE_WINDOW

_logger = logging.getLogger(__name__)

# Seconds per cron run before it hands over to a fresh run (a trigger, at once). Well
# under Odoo's limit_time_real (120 s by default), past which the prefork server kills the
# cron worker with SIGKILL: mid-batch, which is what a run of 120 s used to get.
QUEUE_TIME_BUDGET = 50.0
SEND_BATCH = 40  # messages claimed per number and cycle (a claim is one transaction)
SEND_TICK = 0.1  # seconds between two claims while sends are in flight
# A number with this many of the run's calls not answered is not claimed again until
# some are: a backlog the machine cannot send at the rate waits in the database, not in
# the thread pool before another number's urgent message (about 40 in the air at 80/s).
SEND_AHEAD = 2 * SEND_BATCH
SEND_THREADS = 8  # concurrent HTTP calls
# Outcomes are recorded and committed once this many are done, or once the oldest has
# waited this long: a worker killed (SIGKILL) between a send and the commit of its
# record loses that record (the message goes again at the end of its lease), so this
# bounds what a kill re-sends to the calls in the air and the few just answered.
RECORD_COUNT = 8
RECORD_DELAY = 0.05  # seconds
# And a send waits (before its HTTP call) while this many calls of the run are started
# but not committed yet: when the cron's thread is held up (a claim on a busy machine),
# the threads stop rather than pile up answers that a kill would lose.
RECORD_LIMIT = 10
RECORD_ATTEMPTS = 5  # transactions tried to record a batch's outcomes
IDLE_WAIT = 2.0  # longest sleep while every number with messages is at its rate
IDLE_STEP = 0.005  # seconds slept past the moment a number has room again

# Injectable for tests (the shared clock is the database's: ofitec.whatsapp.send.pace).
_sleep = time.sleep
_monotonic = time.monotonic


# Per (database, number): sends of one number start in order in this process, and a
# thread that wakes late (a busy machine) neither sends its late slot in one burst with
# the next ones beyond the rate nor delays them (tools.ratelimit.earliest_start); a run
# that ends hands this over to the next (maybe another process): ``_hand_over_paces``.
_PACERS = {}
_PACERS_LOCK = threading.Lock()


def _pacer(key):
    with _PACERS_LOCK:
        return _PACERS.setdefault(key, ratelimit.Pacer())


class _Gate:
    """The calls of a run started and not committed yet (``open``): a call enters
    before it starts (waiting while ``limit`` are open), the cron's thread lets the
    recorded ones out once their record is committed."""

    def __init__(self, limit):
        self.limit = limit
        self.open = 0
        self.condition = threading.Condition()

    def enter(self, deadline):
        """Wait for room until ``deadline`` (``_monotonic()`` time, or None); False
        when there was none in time."""
        with self.condition:
            while self.open >= self.limit:
                left = None if deadline is None else deadline - _monotonic()
                if left is not None and left <= 0:
                    return False
                self.condition.wait(timeout=SEND_TICK if left is None else min(left, SEND_TICK))
            self.open += 1
            return True

    def leave(self, count):
        with self.condition:
            self.open -= count
            self.condition.notify_all()


def _call(step):
    """Run one prepared send: wait for its slot (and for room in its run's gate),
    then the HTTP call, whose start the pacer counts from when its request left
    (``tools.transport``).

    Runs in a worker thread: it touches no ORM record, only the pure client.
    Returns ``(result, None)`` or ``(None, exception)``; ``NotStarted`` only for a
    call that did not enter the gate.
    """
    pacer = _pacer(step.pace_key)
    with pacer.lock:
        start_at = ratelimit.earliest_start(
            step.start_at, pacer.starts, step.window_count, PACE_WINDOW, step.min_gap
        )
        wait = start_at - _monotonic()
        if wait > 0:
            _sleep(wait)
        if step.gate is not None and not step.gate.enter(step.cutoff):
            return None, NotStarted()
        started = _monotonic()
        if step.cutoff is not None and started > step.cutoff:
            if step.gate is not None:
                step.gate.leave(1)
            return None, NotStarted()
        number = pacer.started(started, step.window_count, step.min_gap)
    try:
        with transport.on_departure(lambda: pacer.departed(number, _monotonic())):
            return step.call(), None
    except Exception as error:  # recorded by _finish_send in the cron's thread
        return None, error


def _full(flights):
    """The numbers with SEND_AHEAD calls or more of ``flights`` not answered yet."""
    ahead = collections.Counter(
        message.config_id.id
        for flight in flights
        for message, _step, future in flight.calls
        if not future.done()
    )
    return [config_id for config_id, count in ahead.items() if count >= SEND_AHEAD]


def _stamp(future):
    """When a send was answered (``_monotonic()``): its record waits RECORD_DELAY at most."""
    future.done_at = _monotonic()


@dataclasses.dataclass
class _SendRun:
    """One run of ``_process_queue``: its limits, the clients and the broken messages
    of its cycles, its gate, and its claims whose sends are not recorded yet
    (``flights``, oldest first)."""

    auto_commit: bool
    limit: int = None
    time_budget: float = None
    size: int = 1
    gate: _Gate = None
    clients: dict = dataclasses.field(default_factory=dict)
    broken: set = dataclasses.field(default_factory=set)
    flights: collections.deque = dataclasses.field(default_factory=collections.deque)
    handled: int = 0
    started: float = dataclasses.field(default_factory=lambda: _monotonic())

    def cap(self):
        """How many more messages this run may claim (None: no limit)."""
        return None if self.limit is None else self.limit - self.handled

    def out_of_time(self):
        return self.time_budget is not None and _monotonic() - self.started > self.time_budget

    def busy(self):
        """The recipients with a send in the air: one message at a time each."""
        return [m.phone or m.bsuid for flight in self.flights for m, _s, _f in flight.calls]


class OfitecWhatsappMessageSend(models.Model):
    _inherit = "ofitec.whatsapp.message"

    @api.model
    def _process_queue(
        self, limit=None, time_budget=QUEUE_TIME_BUDGET, batch_size=None, threads=None
    ):
        """Send due queued messages; called by the cron. Returns the number handled.

        A cycle claims, per number, what its shared pace allows now (``_claim_due``:
        ``FOR UPDATE SKIP LOCKED``, urgent first), prepares the sends and books their
        slots, and commits: the messages are then leased (``next_attempt`` ahead) to
        this worker, so no other worker or server sends them, and a worker that dies
        frees them when the lease ends. The HTTP calls run in a few threads, each at
        its slot (pure network calls, no ORM), while this thread claims the next cycle;
        then the outcomes are recorded and committed. A number at its rate never holds
        the others: its neighbours are claimed meanwhile. A crash between a send and the
        commit of its record loses that record: the message goes again when its lease
        ends, unless a status webhook carrying our callback data reconciles it first
        (``_reconcile_callback``). ``batch_size`` and ``threads`` default to SEND_BATCH
        and SEND_THREADS (1 and 1 in tests, which may ask for more).
        """
        auto_commit = not getattr(threading.current_thread(), "testing", False)
        run = _SendRun(
            auto_commit=auto_commit,
            limit=limit,
            time_budget=time_budget,
            size=batch_size or (SEND_BATCH if auto_commit else 1),
            gate=_Gate(RECORD_LIMIT),
        )
        workers = threads or (SEND_THREADS if auto_commit else 1)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="whatsapp-send") as pool:
            while self._send_cycle(run, pool):
                pass
        if run.handled:
            self._hand_over_paces(run)
        return run.handled

    def _send_cycle(self, run, pool):
        """One turn of the send loop: claim and start the next cycle, record what was
        answered meanwhile; False when the run ends."""
        cap = run.cap()
        out_of_time = run.out_of_time()
        if not run.auto_commit:
            # Tests run one cycle after the other: each outcome is recorded before the
            # next claim, as a single message's story reads.
            self._record_flights(run, until=None)
        claim = None
        if not out_of_time and (cap is None or cap > 0):
            claim = self._start_cycle(run.size, cap, pool, run, run.busy(), _full(run.flights))
            if claim and claim.messages:
                run.flights.append(claim)
                run.handled += len(claim.messages)
        if claim is None:
            self._record_flights(run, until=None)
            if out_of_time:
                # Hand over to a fresh cron run rather than exceed the worker's limits
                # (Odoo kills a cron worker after limit_time_real).
                self._trigger_queue()
            return False
        if run.flights:
            # Sends in the air: record them as they are answered until the next claim
            # (the slots of a number are booked about 0.5 s ahead).
            self._record_flights(run, until=_monotonic() + SEND_TICK)
            return True
        return self._wait_for_room(claim)

    def _wait_for_room(self, claim):
        """Nothing in the air and ``claim`` sent nothing: sleep until a number with
        messages has room again; False when the run ends (nothing is due, or every
        number is at its rate for a while: the cron comes back then, rather than this
        worker idling)."""
        if not claim.due or claim.wake_at is None:
            return False
        idle = claim.wake_at - claim.now
        if idle > IDLE_WAIT:
            self._trigger_queue(at=fields.Datetime.now() + timedelta(seconds=idle))
            return False
        # Wait for the first free slot (a little past it: the room opens after).
        _sleep(max(idle, 0.0) + IDLE_STEP)
        return True

    def _hand_over_paces(self, run):
        """Move each number's shared pace up to where this process's window lets its
        next send start, if later (a catching-up run ends with sends close together),
        and release the numbers this run booked (``runner``)."""
        now = _monotonic()
        with _PACERS_LOCK:
            pacers = [(k[1], p) for k, p in _PACERS.items() if k and k[0] == self.env.cr.dbname]
        ahead = {cid: pacer.next_start(PACE_WINDOW) - now for cid, pacer in pacers}
        ahead = {cid: seconds for cid, seconds in ahead.items() if seconds > 0}
        Pace = self.env["ofitec.whatsapp.send.pace"]
        if ahead:
            Pace._push(ahead)
        Pace._release()
        if run.auto_commit:
            self.env.cr.commit()  # pylint: disable=invalid-commit

    @api.model
    def _start_cycle(self, size, cap, pool, run, busy=(), full=()):
        """Claim, prepare and book slots in one transaction, commit, start the calls.

        Returns the ``Claim`` (``claim.calls``: ``(message, step, future)``), or None
        when another worker's snapshot conflict made this one give up the cycle."""
        broken, clients = run.broken, run.clients
        # The slots are on the database's clock, read at the start of the claim: map
        # them to this process's clock from there (not after the commit, whose time
        # varies), so two cycles' sends keep their spacing.
        base = _monotonic()
        try:
            with self.env.cr.savepoint(flush=False):
                claim = self._claim_due(size, exclude=broken, cap=cap, busy=busy, full=full)
        except psycopg2.extensions.TransactionRollbackError:
            # REPEATABLE READ: another worker claimed (and committed) a message this
            # transaction still sees as due. Only a new transaction sees the row as it is.
            if not run.auto_commit:
                return None
            self.env.cr.rollback()
            return Claim(messages=self.browse(), due=True, wake_at=0.0)
        steps = []
        for message, step in self._prepare_sends(claim.messages, clients):
            if step is _BROKEN:
                broken.add(message.id)
            elif step:
                steps.append((message, step))
        slots = self._book_slots(claim, steps)
        if run.auto_commit:
            self.env.cr.commit()  # pylint: disable=invalid-commit
        claim.calls = []
        for (message, step), slot in zip(steps, slots, strict=True):
            step = self._schedule_step(message, step, base + slot - claim.now, claim)
            step = dataclasses.replace(step, cutoff=base + SEND_CUTOFF, gate=run.gate)
            future = pool.submit(_call, step)
            future.add_done_callback(_stamp)
            claim.calls.append((message, step, future))
        return claim

    @api.model
    def _prepare_sends(self, messages, clients):
        """``[(message, step)]``: ``_prepare_send`` of each message, the contacts
        looked up in one search. One savepoint for the batch (two queries per message
        were the savepoints of the per-message guard); if any message fails, the batch
        is rolled back and prepared again one by one, each in its own savepoint."""
        contacts = messages._find_contacts()
        try:
            with self.env.cr.savepoint():
                return [(m, m._prepare_send(clients, contacts[m.id])) for m in messages]
        except Exception:
            # The rollback cleared the cache and the writes of the batch; the guard
            # logs the message that fails and keeps the others.
            return [
                (m, m._guarded("preparing its send", m._prepare_send, clients, contacts[m.id]))
                for m in messages
            ]

    def _schedule_step(self, message, step, start_at, claim):
        """``step`` with its start time and its number's pacing in this process."""
        config_id = message.config_id.id
        _tat, rate = claim.paces.get(config_id, (0.0, 0))
        count, min_gap = message.env["ofitec.whatsapp.send.pace"]._pacing(rate)
        return dataclasses.replace(
            step,
            start_at=start_at,
            pace_key=(self.env.cr.dbname, config_id),
            min_gap=min_gap,
            window_count=count,
        )

    def _record_flights(self, run, until=None):
        """Record the answered sends of the run's ``flights`` (claims in the air, oldest
        first) until ``until`` (``_monotonic()`` time), or all of them (``until=None``): a
        batch is recorded once RECORD_COUNT are answered or the oldest answer has
        waited RECORD_DELAY, and whenever nothing else is in the air. A claim whose
        sends are all recorded leaves ``flights``."""
        flights = run.flights
        while True:
            while flights and not flights[0].calls:
                flights.popleft()
            calls = [call for flight in flights for call in flight.calls]
            if not calls:
                return
            done = [call for call in calls if call[2].done()]
            pending = [call[2] for call in calls if not call[2].done()]
            now = _monotonic()
            # (the stamp lands just after done() turns true)
            oldest = min((getattr(call[2], "done_at", now) for call in done), default=None)
            if done and (
                until is None
                or not pending
                or len(done) >= RECORD_COUNT
                or now - oldest >= RECORD_DELAY
            ):
                self._record_calls(done, run)
                recorded = {id(call) for call in done}
                for flight in flights:
                    flight.calls = [call for call in flight.calls if id(call) not in recorded]
                if until is None or _monotonic() < until:
                    continue
                # Past the tick: claim first (the slots are booked PACE_HORIZON ahead;
                # recording answers as fast as they come used to starve the claims).
                return
            if until is not None and now >= until:
                return
            timeout = None if until is None else until - now
            if oldest is not None:
                timeout = max(0.0, min(timeout, oldest + RECORD_DELAY - now))
            wait(pending, timeout=timeout, return_when=FIRST_COMPLETED)

    def _record_calls(self, calls, run):
        """Record the outcomes of answered sends, in a transaction of their own.

        The messages are not locked by us any more (their claim was committed): lock
        them first, and start again in a new transaction when another writer changed
        one meanwhile (REPEATABLE READ), so the record of a send Meta accepted is never
        lost to a conflict. Accepted sends of plain queued messages are recorded in
        bulk (``_record_sent_bulk``); the others through ``_finish_send``."""
        outcomes = [(message, step, future.result()) for message, step, future in calls]
        started = sum(1 for _m, _s, outcome in outcomes if not isinstance(outcome[1], NotStarted))
        try:
            self._record_outcomes(outcomes, run)
        finally:
            # Committed (or the run ends here): their calls leave the gate.
            if run.gate is not None:
                run.gate.leave(started)

    def _record_outcomes(self, outcomes, run):
        self._lock_for_record([message.id for message, _step, _outcome in outcomes], run)
        accepted = [
            (message, step.kind, result)
            for message, step, (result, error) in outcomes
            if error is None
        ]
        recorded = set()
        if accepted:
            try:
                with self.env.cr.savepoint():
                    recorded = self._record_sent_bulk(accepted)
            except Exception:
                _logger.exception("WhatsApp: a batch of sends is recorded one by one")
                self.invalidate_model()
                recorded = set()
        for message, step, outcome in outcomes:
            if message.id in recorded:
                continue
            message.invalidate_recordset()
            if (
                message._guarded("recording its outcome", message._finish_send, step, outcome)
                is _BROKEN
            ):
                run.broken.add(message.id)
        if run.auto_commit:
            self.env.cr.commit()  # pylint: disable=invalid-commit

    def _lock_for_record(self, ids, run):
        """Lock the messages ``ids`` before their outcomes are written; in a new
        transaction when another writer changed one since this one's snapshot."""
        for attempt in range(RECORD_ATTEMPTS):
            try:
                with self.env.cr.savepoint(flush=False):
                    self.env.cr.execute(
                        "SELECT id FROM ofitec_whatsapp_message WHERE id = ANY(%s) FOR UPDATE",
                        (ids,),
                        log_exceptions=False,
                    )
            except psycopg2.extensions.TransactionRollbackError:
                if not run.auto_commit or attempt == RECORD_ATTEMPTS - 1:
                    raise
                self.env.cr.rollback()
                continue
            return
