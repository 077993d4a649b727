import heapq
import logging
import threading
import time

import psycopg2
from psycopg2 import sql

from odoo import fields, models
from odoo.addons.base.models.ir_cron import ODOO_NOTIFY_FUNCTION

from .kept_connection import Lost, kept_connection

_logger = logging.getLogger(__name__)


class _WakeUpChannel:
    """The cron workers LISTEN on the ``postgres`` database; this process NOTIFYs them on
    the connection it keeps there (``kept_connection``). Odoo's ``_notifydb`` opens a
    new connection for each NOTIFY (its pool keeps none to ``postgres``): a new
    PostgreSQL backend each time, which costs more CPU than storing a webhook event."""

    def notify(self, dbname):
        """NOTIFY the cron workers of ``dbname``; False when it could not be sent."""
        channel = kept_connection("postgres")
        for _attempt in range(2):  # a connection that broke meanwhile: once more
            try:
                channel.execute(_notify_query(), [dbname])
                return True
            except Lost as error:
                _logger.info("Cron wake-up connection lost (%s), opening another", error)
            except psycopg2.Error as error:
                _logger.info("Cron wake-up not sent: %s", error)
                return False
        return False

    def backend_pid(self):
        return kept_connection("postgres").backend_pid()


def _notify_query():
    if ODOO_NOTIFY_FUNCTION:
        return sql.SQL("SELECT {}('cron_trigger', %s)").format(sql.Identifier(ODOO_NOTIFY_FUNCTION))
    return "NOTIFY cron_trigger, %s"


_WAKE_UP = _WakeUpChannel()

# An alarm rings this long after its trigger's time (the database's clock and this
# process's may differ a little), and one ring serves the alarms of a database due within
# ALARM_SLACK after it (one run of the cron takes them all).
ALARM_MARGIN = 0.2
ALARM_SLACK = 0.5


class _Alarms:
    """This process's alarms: the cron workers are woken when a future trigger comes due.

    Odoo announces only immediate triggers (``_notifydb`` after commit). A future one, a
    retry's backoff, waited for the workers' one-minute poll: a retry due in two seconds
    went out up to a minute later (seen on the demo). One thread per process sleeps
    until the earliest alarm; a process that ends takes its alarms with it, and the
    poll is the fallback.
    """

    def __init__(self):
        self._cond = threading.Condition()
        self._heap = []  # (monotonic time, dbname)
        self._thread = None

    def set(self, dbname, delay):
        with self._cond:
            heapq.heappush(self._heap, (time.monotonic() + max(delay, 0.0), dbname))
            if self._thread is None or not self._thread.is_alive():  # a forked process too
                self._thread = threading.Thread(
                    target=self._run, name="ofitec_whatsapp.cron_alarms", daemon=True
                )
                self._thread.start()
            self._cond.notify()

    def _run(self):
        while True:
            dbname = self._next_due()
            if not _WAKE_UP.notify(dbname):
                _logger.info("Cron alarm for %s not sent: the workers' poll will do", dbname)

    def _next_due(self):
        """Wait for the earliest alarm; its database, the alarms it serves removed."""
        with self._cond:
            while True:
                wait = self._heap[0][0] - time.monotonic() if self._heap else None
                if wait is not None and wait <= 0:
                    due, dbname = heapq.heappop(self._heap)
                    kept = [a for a in self._heap if a[1] != dbname or a[0] > due + ALARM_SLACK]
                    if len(kept) != len(self._heap):
                        self._heap = kept
                        heapq.heapify(self._heap)
                    return dbname
                self._cond.wait(wait)


_ALARMS = _Alarms()

# A run that looks for work until it finds none (the webhook processing) spares the
# producers of that work their trigger: in the webhook route's statement, the trigger's
# INSERT cost 0.10-0.15 ms of backend CPU, half as much as the event's own INSERT
# (bench/README.md, session 13).
# PostgreSQL advisory locks, two-int form (namespace, cron id), so that a crashed run
# holds nothing: LOOKING is held, session-level, by a run while it will look again;
# SKIPPED, shared, by each producer that relied on it, until its commit. Before it stops
# looking, a run takes SKIPPED exclusively (the producers that relied on it have then
# committed), drops LOOKING, and looks once more in a new transaction.
LOOKING_LOCKS = 0x4F57  # the namespaces; arbitrary, this addon's own
SKIPPED_LOCKS = 0x4F58
# True, for a producer, when a run of the cron will look after this transaction
# commits: it takes SKIPPED (shared, until commit) and finds LOOKING held. False when
# a run is stopping (SKIPPED taken exclusively) or none is looking: then the producer
# triggers the cron. CASE fixes the order: SKIPPED first.
RUN_WILL_LOOK = f"""
    CASE WHEN pg_try_advisory_xact_lock_shared({SKIPPED_LOCKS}, %(look_cron_id)s)
         THEN NOT pg_try_advisory_xact_lock_shared({LOOKING_LOCKS}, %(look_cron_id)s)
         ELSE false END
"""


class IrCron(models.Model):
    _inherit = "ir.cron"

    def _notifydb(self):
        """Wake the cron workers up as Odoo does, on a connection this process keeps
        (see :class:`_WakeUpChannel`); Odoo's way when that one cannot be opened."""
        if _WAKE_UP.notify(self.env.cr.dbname):
            return None
        return super()._notifydb()

    def _trigger_unless_pending(self, at=None):
        """``_trigger()``, without a new trigger row when this cron already has a due
        one: queueing messages one after the other would add a row each time, although
        one due trigger makes the cron run, which then drains everything. The cron
        workers are still woken after commit (``_notifydb``, on the connection this
        process keeps): the due trigger may be one that came due by itself (a retry's
        backoff), which nobody announced, and the workers would see it only at their
        next one-minute poll. A future trigger (``at``) rings an alarm in this process
        when it comes due (``_Alarms``). A trigger created while the cron runs can be deleted by
        that run's end; the cron's one-minute interval is the fallback for that rare
        case.
        """
        self.ensure_one()
        if at is None:
            self.env.cr.execute(
                """
                SELECT 1 FROM ir_cron_trigger
                 WHERE cron_id = %s AND call_at <= %s
                 LIMIT 1
                """,
                # Odoo's clock, as _trigger() uses it (not the transaction's start).
                (self.id, fields.Datetime.now()),
            )
            if self.env.cr.fetchone():
                self.env.cr.postcommit.add(self._notifydb)
                return
        self.sudo()._trigger(at)
        if at is not None:
            self.env.cr.postcommit.add(lambda: self._ring_at(at))

    def _ring_at(self, at):
        """Wake the cron workers when ``at`` (a future trigger's time) comes (``_Alarms``)."""
        delay = (at - fields.Datetime.now()).total_seconds() + ALARM_MARGIN
        _ALARMS.set(self.env.cr.dbname, delay)

    # ------------------------------------------------------------------
    # A wake-up that is never lost (the webhook events)
    # ------------------------------------------------------------------
    def _trigger_now(self, notify=True):
        """``_trigger()`` for work committed with the current transaction, never lost.

        Skipping the trigger when one is already due (``_trigger_unless_pending``) can
        leave work behind: the run that deletes that trigger at its end may have looked
        for work before this transaction committed. This transaction's own trigger is
        invisible to the clean-up of a run begun before the commit (``_process_job``
        deletes what its snapshot holds), so the run it causes starts after the commit.
        One INSERT for these crons (several: the workers of one job), and (``notify``)
        a NOTIFY to the cron workers after commit; one run consumes the triggers of
        many requests.
        """
        self.env.cr.execute(
            """
            INSERT INTO ir_cron_trigger (cron_id, call_at, create_uid, write_uid,
                                         create_date, write_date)
            SELECT id, clock_timestamp() AT TIME ZONE 'UTC', %(uid)s, %(uid)s,
                   now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC'
              FROM ir_cron WHERE id = ANY(%(ids)s) AND active
            """,
            {"uid": self.env.uid, "ids": self.ids},
        )
        if not self.env.cr.rowcount:
            return False
        if notify:
            self.env.cr.postcommit.add(self._notifydb)
        return True

    # ------------------------------------------------------------------
    # A run that producers can rely on (RUN_WILL_LOOK)
    # ------------------------------------------------------------------
    def _start_looking(self):
        """Tell producers that this run will look again (True), unless another
        session holds it: they then keep triggering, which is always safe. Session
        level: it outlives this run's commits; ``_stop_looking`` releases it."""
        self.ensure_one()
        self.env.cr.execute("SELECT pg_try_advisory_lock(%s, %s)", (LOOKING_LOCKS, self.id))
        return self.env.cr.fetchone()[0]

    def _stop_looking(self):
        """Stop being relied on: wait for the producers that skipped their trigger to
        commit, then release. The caller commits and looks once more (a new snapshot
        sees what they committed); what commits later triggers the cron."""
        self.ensure_one()
        self.env.cr.execute(
            """
            SELECT pg_advisory_lock(%(skipped)s, %(id)s);
            SELECT pg_advisory_unlock(%(looking)s, %(id)s);
            SELECT pg_advisory_unlock(%(skipped)s, %(id)s);
            """,
            {"skipped": SKIPPED_LOCKS, "looking": LOOKING_LOCKS, "id": self.id},
        )
