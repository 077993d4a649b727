import logging
import threading
import time

from psycopg2.extensions import STATUS_READY, TransactionRollbackError

from odoo import SUPERUSER_ID, _, api, fields, models, sql_db

from .ir_cron import RUN_WILL_LOOK
from .kept_connection import Busy, Lost, kept_connection

_logger = logging.getLogger(__name__)

# The processing job's cron, woken by every stored event, and its helper: a second
# worker that a run wakes when it finds a backlog (a full claim), at most every
# HELPER_EVERY seconds, and that ends as soon as there is none. While the first keeps up,
# a second would only split its batches in two and pay their fixed cost twice.
PROCESSING_CRON = "ofitec_whatsapp.ir_cron_whatsapp_process_webhooks"
HELPER_CRON = "ofitec_whatsapp.ir_cron_whatsapp_process_webhooks_2"
HELPER_EVERY = 5.0
EVENT_BATCH = 100  # events claimed per transaction (fewer with texts: MESSAGES_PER_BATCH)
RUN_TIME_BUDGET = 60  # seconds a cron run processes before it yields (then runs again)
# A run that finds nothing left looks again for IDLE_LINGER seconds before it ends, and
# a worker process notifies the cron workers at most every NOTIFY_EVERY seconds: a
# request that skips the NOTIFY commits within NOTIFY_EVERY of one that sent it, so the
# run woken by that one is still looking (IDLE_LINGER > NOTIFY_EVERY) or starts later.
IDLE_LINGER = 0.5
IDLE_POLL = 0.05
# While the cron keeps up, each batch holds the events that arrived during the last
# one, and its fixed cost (claim, the events' and number's reads, the status statement,
# the events' UPDATE, its commit, whose WAL flush the route's commits then wait behind)
# is paid beside the webhook route: a batch that was not full starts at most every
# MIN_CYCLE seconds, so the statuses of that time share one. 0.5 s: at 150 one-status
# POSTs a second, batches of about 75; in the webhook bench the cron's CPU per event
# fell from 1.0-2.2 to 0.5-0.8 ms against 0.2 s in most runs (in some runs of both it
# was 1.2-2.5 ms, not explained yet; bench/README.md). Not in the batches: the cron
# thread's own CPU in them stayed 0.37-0.40 ms per event in runs the bench counted at
# 0.6 and 1.2 ms (session 10); the rest is the database's and the other processes'.
# Nobody waits on a status (a dashboard refreshes once a second at most); somebody
# waits on a reply: the wait ends as soon as an event with inbound messages, or one of
# WAKE_STATUSES statuses or more (a burst), is waiting (looked for every GATHER_POLL
# seconds, ``_someone_waits``). A full batch (a backlog) is followed at once by the next.
MIN_CYCLE = 0.5
WAKE_STATUSES = 25
GATHER_POLL = 0.05
NOTIFY_EVERY = 0.1
# Per process: when this process last notified the cron workers (never, at first: not
# 0.0, which time.monotonic() is close to on a machine booted a moment ago).
_LAST_NOTIFY = [float("-inf")]
# Injectable for tests (``_gather``).
_sleep = time.sleep
_monotonic = time.monotonic


def _notify_cron_workers(cron):
    """After commit: NOTIFY the cron workers, unless this process did so just before
    (opening the connection that carries it costs more than storing the event)."""
    now = time.monotonic()
    if now - _LAST_NOTIFY[0] < NOTIFY_EVERY:
        return
    _LAST_NOTIFY[0] = now
    cron._notifydb()


# The dashboards of a number are told to refresh at most once per NOTICE_EVERY seconds
# by a cron run (they refresh at most once a second anyway), and as soon as the backlog
# is gone: each notice costs a bus row and a connection to send its NOTIFY.
NOTICE_EVERY = 1.0


class _Notices:
    """The dashboard notices of a cron run: ``pending`` (config -> actions) gathers
    them; they are sent with the commit of a batch at most every ``every`` seconds."""

    def __init__(self, env, every):
        self.env = env
        self.every = every
        self.pending = {}
        self.sent_at = None

    def send_when_due(self):
        if self.sent_at is None or time.monotonic() - self.sent_at >= self.every:
            self.send()

    def send(self):
        if self.pending:
            self.env["ofitec.whatsapp.config"]._notify_dashboards(self.pending)
            self.pending = {}
            self.sent_at = time.monotonic()


class _Run:
    """One run of ``_process_pending``: its limits, its idle time and its notices."""

    def __init__(self, env, limit, helper):
        # Tests run the job without commits (and without sleeping).
        self.auto_commit = not getattr(threading.current_thread(), "testing", False)
        self.limit = limit
        self.helper = helper
        self.handled = 0
        self.deadline = time.monotonic() + RUN_TIME_BUDGET
        self.idle_since = None
        self.helper_woken = None
        self.looking = False  # the route relies on this run (``_start_looking``)
        self.notices = _Notices(env, every=NOTICE_EVERY if self.auto_commit else 0)

    def limit_reached(self):
        return self.limit is not None and self.handled >= self.limit

    def out_of_time(self):
        return self.auto_commit and time.monotonic() > self.deadline

    def batch_size(self):
        return EVENT_BATCH if self.limit is None else min(EVENT_BATCH, self.limit - self.handled)


MAX_STORED_REJECTED = 10_000  # characters of a rejected body kept for diagnosis

# The webhook route's one statement (``_store``): the event, and whether a run of the
# processing cron will look for it (``ir_cron.RUN_WILL_LOOK``).
STORE_SQL = f"""
    INSERT INTO ofitec_whatsapp_webhook_event
           (config_id, company_id, state, payload, sender_key,
            status_count, create_uid, write_uid, create_date, write_date)
    VALUES (%(config)s, %(company)s, 'received', %(payload)s, %(sender)s,
            %(statuses)s, %(uid)s, %(uid)s, now() AT TIME ZONE 'UTC',
            now() AT TIME ZONE 'UTC')
    RETURNING id, {RUN_WILL_LOOK}
"""


def _store_alone(cr, params):
    """The event's ``(id, run will look)``, its INSERT committed by itself, when ``cr``
    has no transaction open (the webhook route writes nothing before it); None when
    it must join ``cr``'s transaction (a test's cursor, a caller that already wrote).

    By itself, the INSERT goes on the connection this process keeps to the database
    (``kept_connection``): one round trip to PostgreSQL instead of three (psycopg2's
    BEGIN, the statement, Odoo's COMMIT), on a connection whose plans Odoo's pool does
    not discard before each request. The commit is as durable (``synchronous_commit``
    applies). When another thread of this process is using that connection, or it
    broke, the request's own connection commits the statement by itself instead.
    """
    cnx = cr._cnx
    if not (isinstance(cr, sql_db.Cursor) and cnx.status == STATUS_READY and not cnx.autocommit):
        return None
    try:
        return kept_connection(cr.dbname).execute(STORE_SQL, params, wait=False)
    except Busy:
        _logger.debug("WhatsApp webhook: kept connection busy, storing on the request's")
    except Lost as error:  # stored again below: processing applies a body once
        _logger.info("WhatsApp webhook: kept connection lost (%s), storing on the request's", error)
    cnx.autocommit = True  # psycopg2 keeps the isolation level for the next transaction
    try:
        cr.execute(STORE_SQL, params)
        return cr.fetchone()
    finally:
        cnx.autocommit = False


class OfitecWhatsappWebhookEvent(models.Model):
    """One signed POST from the provider, stored before anything else happens (the webhook log)."""

    _name = "ofitec.whatsapp.webhook.event"
    _description = "WhatsApp Webhook Event"
    _order = "id desc"

    config_id = fields.Many2one(
        "ofitec.whatsapp.config", required=True, index=True, ondelete="cascade"
    )
    # Set on creation, not a stored related field: the webhook route then inserts the
    # event in one statement (a related field costs an UPDATE right after the INSERT).
    company_id = fields.Many2one("res.company", required=True, index=True, readonly=True)
    state = fields.Selection(
        [
            ("received", "Received"),
            ("processed", "Processed"),
            ("failed", "Failed"),
            ("rejected", "Rejected"),
        ],
        required=True,
        default="received",
        index=True,
    )
    # Not prefetched: reading a batch's other columns (its number, its state) would
    # load every body with them; processing reads the bodies it parses in one query.
    payload = fields.Text(help="The body as received (signature already checked).", prefetch=False)
    rejection_reason = fields.Char(readonly=True)
    error = fields.Text(readonly=True)
    processed_date = fields.Datetime(readonly=True)
    attempt_count = fields.Integer(readonly=True)
    message_count = fields.Integer(string="Messages", readonly=True)
    status_count = fields.Integer(string="Statuses", readonly=True)
    # Set by the route from the body it already parsed: several cron workers process
    # one sender's events one at a time, in id order (``_claim``).
    sender_key = fields.Char(
        readonly=True,
        help="Whom the inbound messages are from ('*': several senders); empty without.",
    )

    def init(self):
        # What _claim looks up for each candidate: an older event of its sender still
        # waiting. Only waiting events are indexed, so the index stays small.
        self.env.cr.execute(
            """
            CREATE INDEX IF NOT EXISTS ofitec_whatsapp_webhook_event_sender_waiting_idx
                ON ofitec_whatsapp_webhook_event (sender_key, id)
             WHERE state = 'received' AND sender_key IS NOT NULL
            """
        )

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            if not vals.get("company_id") and vals.get("config_id"):
                config = self.env["ofitec.whatsapp.config"].sudo().browse(vals["config_id"])
                vals["company_id"] = config.company_id.id
        return super().create(vals_list)

    def name_get(self):
        return [(event.id, _("Webhook #%s", event.id)) for event in self]

    # ------------------------------------------------------------------
    # Storing (called by the controller, after the signature check)
    # ------------------------------------------------------------------
    @api.model
    def _store(self, config, raw_body, company_id=None, parsed=None):
        """Store one signed POST of ``config`` as received, and wake the processing cron.

        This is the whole cost of the webhook route in the database while events keep
        coming: one statement, the event's INSERT (the ORM would read the config and
        compute defaults first), committed before the route answers 200: by itself when
        nothing was written before it in the request (``_store_alone``), otherwise with
        the request. The statement also asks whether a run of the
        processing cron will look for events after this commit
        (``ir_cron.RUN_WILL_LOOK``); when none will, a second one wakes the cron
        (``_wake_processing``: never lost, consumed in bulk by the next run).
        ``parsed``: the body as the route's handler parsed it (its sender goes on the
        event); parsed here when not given.

        A request that Odoo retries after a serialization failure (of the wake-up)
        stores its body again: processing applies each status and message once.
        """
        if parsed is None:
            parsed = self._parse_for_store(config, raw_body)
        uid = self.env.uid or SUPERUSER_ID
        params = {
            "config": config.id,
            "company": company_id or config.sudo().company_id.id,
            "payload": raw_body.decode("utf-8"),
            "sender": parsed.sender_key if parsed is not None else None,
            # What the body holds, until processing counts what it applied (a burst of
            # statuses ends the cron's wait for more, ``_someone_waits``).
            "statuses": len(parsed.statuses) if parsed is not None else 0,
            "uid": uid,
            "look_cron_id": self._processing_cron().id or None,
        }
        row = _store_alone(self.env.cr, params)
        if row is None:  # joins the open transaction, commits with it
            self.env.cr.execute(STORE_SQL, params)
            row = self.env.cr.fetchone()
        event_id, run_will_look = row
        if not run_will_look:
            self._wake_processing()
        return self.browse(event_id)

    @api.model
    def _parse_for_store(self, config, raw_body):
        """The body parsed by the number's handler; None when it cannot be (processing
        will say why)."""
        route = self.env["ofitec.whatsapp.config"].sudo()._get_webhook_route(config.id)
        handler = route[1] if route else config.sudo()._get_webhook_handler()
        try:
            return handler.parse(raw_body)
        except ValueError:
            return None

    @api.model
    def _wake_processing(self):
        """Wake the processing cron for the events of this transaction (see
        ``ir.cron._trigger_now``: never lost, consumed in bulk by the next run)."""
        cron = self._processing_cron()
        if cron._trigger_now(notify=False):
            self._notify_after_commit(cron)

    @api.model
    def _notify_after_commit(self, cron):
        """The NOTIFY of a wake-up, after commit, shared by the requests of a tenth of a
        second (``NOTIFY_EVERY``)."""
        self.env.cr.postcommit.add(lambda: _notify_cron_workers(cron))

    @api.model
    def _store_rejected(self, config, raw_body, reason):
        return self.sudo().create(
            {
                "config_id": config.id,
                "company_id": config.company_id.id,
                "state": "rejected",
                "rejection_reason": reason,
                # PostgreSQL text cannot hold NUL characters (e.g. a UTF-16 body).
                "payload": raw_body[:MAX_STORED_REJECTED]
                .decode("utf-8", errors="replace")
                .replace("\x00", "\ufffd"),
            }
        )

    # ------------------------------------------------------------------
    # Actions
    # ------------------------------------------------------------------
    def action_reprocess(self):
        """Process failed events again (processing is idempotent)."""
        events = self.filtered(lambda e: e.state == "failed")
        events.write({"state": "received", "error": False})
        if events:
            self._wake_processing()
        return True

    # ------------------------------------------------------------------
    # Processing (cron)
    # ------------------------------------------------------------------
    @api.model
    def _process_pending(self, limit=None, helper=False):
        """Process received events in id order, a batch of them per transaction.
        ``helper``: the second worker's run, which ends when the backlog is gone.

        A batch is applied together (``_process_batch``: its statuses in one set-based
        step, its events marked in one UPDATE), event by event only when that fails, so
        one bad event is marked failed and the others still apply. A batch shares one
        commit and one dashboard notification per number: per event, those cost more
        than most events' work. Row locks (``SKIP LOCKED``) keep other workers off the
        batch's events.
        """
        run = _Run(self.env, limit, helper)
        try:
            self._process_loop(run)
        except Exception:
            if run.looking:  # never leave producers relying on a failed run
                self.env.cr.rollback()
                self._stop_looking(run)
            raise
        self._stop_looking(run)
        self._end_run(run)
        return run.handled

    @api.model
    def _process_loop(self, run):
        while not run.limit_reached():
            if run.out_of_time():
                self._yield_run(run)
                break
            self._start_looking(run)
            # The query below reads the table itself: write what the last batch changed
            # first (without it, a test run, which does not commit, gets it again).
            self.env.flush_all()
            started = _monotonic()
            size = run.batch_size()
            events = self._claim_for(size, retry=run.auto_commit)
            if events is None:
                continue  # an event changed since this snapshot: again
            if not events:
                if self._linger(run) or self._look_last(run):
                    continue
                break
            run.idle_since = None
            self._call_helper_if_behind(run, full=len(events) == size)
            done = self._apply_claimed(events, run.notices.pending, retry=run.auto_commit)
            if done is None:
                continue
            run.handled += len(done)
            run.notices.send_when_due()
            if run.auto_commit:
                # A batch is a unit of work; committing releases its locks.
                self.env.cr.commit()  # pylint: disable=invalid-commit
                if len(events) < size:  # no backlog
                    if run.helper:
                        break
                    self._gather(started)

    # ------------------------------------------------------------------
    # A run that the webhook route relies on (ir_cron.RUN_WILL_LOOK)
    # ------------------------------------------------------------------
    @api.model
    def _start_looking(self, run):
        """The cron's run (not a helper's, nor a limited or a test's) tells the route
        it will look again: the route then stores its event without a wake-up. Tried
        before each claim until it holds (a request that found no run looking holds
        the lock shared until its commit)."""
        if run.auto_commit and not run.helper and run.limit is None and not run.looking:
            run.looking = self._processing_cron()._start_looking()

    @api.model
    def _stop_looking(self, run):
        """Stop being relied on (``ir.cron._stop_looking``: once the requests that
        relied on this run have committed), and commit: a new snapshot sees them."""
        if run.looking:
            self._processing_cron()._stop_looking()
            run.looking = False
            self.env.cr.commit()  # pylint: disable=invalid-commit

    @api.model
    def _look_last(self, run):
        """Before the run ends: stop being relied on, then look once more; True (relied
        on again, and lingering anew) when events came meanwhile."""
        if not run.looking:
            return False
        self._stop_looking(run)
        self.env.cr.execute(
            "SELECT EXISTS (SELECT 1 FROM ofitec_whatsapp_webhook_event WHERE state = 'received')"
        )
        if not self.env.cr.fetchone()[0]:
            return False
        run.idle_since = None  # another worker may hold them: look again, not at once
        return True

    @api.model
    def _gather(self, started):
        """Let the next events gather until MIN_CYCLE after ``started``, or until one
        that somebody waits on is waiting (``_someone_waits``)."""
        while True:
            left = MIN_CYCLE - (_monotonic() - started)
            if left < 1e-6:
                return
            _sleep(min(GATHER_POLL, left))
            waits = self._someone_waits()
            self.env.cr.commit()  # pylint: disable=invalid-commit
            if waits:
                return

    @api.model
    def _someone_waits(self):
        """Whether an event with inbound messages, or with WAKE_STATUSES statuses or
        more, is waiting (one indexed look-up; ``_gather`` commits after it, so that
        each look sees what was committed since the last)."""
        self.flush_model(["state", "sender_key", "status_count"])
        self.env.cr.execute(
            """
            SELECT EXISTS (
                SELECT 1 FROM ofitec_whatsapp_webhook_event
                 WHERE state = 'received'
                   AND (sender_key IS NOT NULL OR status_count >= %s))
            """,
            (WAKE_STATUSES,),
        )
        return self.env.cr.fetchone()[0]

    @api.model
    def _claim_for(self, size, retry=True, with_messages=False):
        """``_claim``; None when a concurrent change made it fail (rolled back: a new
        transaction sees the rows as they are), unless ``retry`` is False (a test's
        transaction, which cannot roll back: the error is raised)."""
        try:
            return self._claim(size, with_messages=with_messages)
        except TransactionRollbackError:
            if not retry:
                raise
            self.env.cr.rollback()
            return None

    @api.model
    def _linger(self, run):
        """Nothing to claim: refresh the dashboards now; True to look again a little
        before ending the run (a request that did not notify relies on it, see
        NOTIFY_EVERY), False to end it."""
        run.notices.send()
        if not run.auto_commit or run.helper:
            return False
        # A fresh snapshot for the next look.
        self.env.cr.commit()  # pylint: disable=invalid-commit
        now = time.monotonic()
        run.idle_since = run.idle_since or now
        if now - run.idle_since >= IDLE_LINGER:
            return False
        time.sleep(IDLE_POLL)
        return True

    @api.model
    def _call_helper_if_behind(self, run, full):
        """A full claim is a backlog: wake the helper worker, at most every HELPER_EVERY."""
        if not (run.auto_commit and not run.helper and full and run.limit is None):
            return
        now = time.monotonic()
        if run.helper_woken is None or now - run.helper_woken >= HELPER_EVERY:
            run.helper_woken = now
            self._processing_cron(helper=True)._trigger_now()

    def _apply_claimed(self, events, notices, retry=True):
        """Process these claimed events; returns those done, or None when another
        worker changed the same rows (a message's statuses, one action answered by two
        people): rolled back, nothing is lost, the batch runs again in a new
        transaction (``retry`` False: the error is raised, as in ``_claim_for``)."""
        events.invalidate_recordset()
        try:
            return events._process_batch(notices)
        except TransactionRollbackError:
            if not retry:
                raise
            _logger.info("WhatsApp webhooks %s: concurrent update, retried", events.ids)
            self.env.cr.rollback()
            return None

    @api.model
    def _yield_run(self, run):
        """Give the cron worker back to the other jobs; a trigger of its own (not one
        Odoo deletes at the end of this run) brings it back at once."""
        self._processing_cron(run.helper)._trigger_now()
        run.notices.send()
        self.env.cr.commit()  # pylint: disable=invalid-commit

    @api.model
    def _end_run(self, run):
        if run.notices.pending:  # the limit was reached
            run.notices.send()
            if run.auto_commit:
                self.env.cr.commit()  # pylint: disable=invalid-commit

    @api.model
    def _claim(self, size, with_messages=False):
        """Lock up to ``size`` received events for this transaction, in id order
        (``with_messages``: only events with inbound messages).

        Several workers may process at once (``SKIP LOCKED``: never the same event
        twice), but one sender's events only one at a time and in order: an event is
        taken only when no older event of its sender is waiting (another worker holds
        it, or it is next). An event with messages of several senders (``*``) waits
        for every older event with messages, and they for it. Events without messages
        (statuses) are taken freely.

        Raises TransactionRollbackError, without logging it, when an event changed
        since this transaction's snapshot (a worker that committed it meanwhile): the
        callers take a new transaction and claim again.
        """
        self.env.cr.execute(
            """
            SELECT e.id FROM ofitec_whatsapp_webhook_event AS e
             WHERE e.state = 'received' AND (%s OR e.sender_key IS NOT NULL)
               AND (e.sender_key IS NULL OR NOT EXISTS (
                       SELECT 1 FROM ofitec_whatsapp_webhook_event AS o
                        WHERE o.state = 'received' AND o.sender_key IS NOT NULL
                          AND o.id < e.id
                          AND (o.sender_key = e.sender_key OR o.sender_key = '*'
                               OR e.sender_key = '*')))
             ORDER BY e.id
             LIMIT %s
               FOR UPDATE OF e SKIP LOCKED
            """,
            (not with_messages, size),
            log_exceptions=False,
        )
        return self.browse([row[0] for row in self.env.cr.fetchall()])

    @api.model
    def _processing_cron(self, helper=False):
        """The processing job's cron (``helper``: its second worker's)."""
        # By id from the cached xml id lookup: env.ref() would also query the cron.
        xmlid = HELPER_CRON if helper else PROCESSING_CRON
        cron_id = self.env["ir.model.data"]._xmlid_to_res_id(xmlid, raise_if_not_found=False)
        return self.env["ir.cron"].sudo().browse(cron_id or [])
