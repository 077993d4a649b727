"""Ingestion at scale: the route's cached lookup of the number, the event stored before
the 200, and the processing cron's wake-up that no run can lose (real transactions on
their own connections, as concurrent workers have)."""

import math
import select
import threading
import time
from contextlib import closing
from unittest.mock import patch

import psycopg2

import odoo
from odoo import SUPERUSER_ID, api
from odoo.tests import tagged
from odoo.tools import mute_logger

from ..models import ir_cron as ir_cron_module
from ..models import kept_connection as kept_module
from ..models import ofitec_whatsapp_webhook_event as event_module
from ..models.ofitec_whatsapp_webhook_event import GATHER_POLL, MIN_CYCLE, WAKE_STATUSES
from ..tools.signature import meta_signature_header
from .common import (
    WhatsAppCase,
    WhatsAppHttpCase,
    meta_body,
    meta_payload,
    meta_status,
    meta_text,
)

CRON_XMLID = "ofitec_whatsapp.ir_cron_whatsapp_process_webhooks"


@tagged("post_install", "-at_install")
class TestIngestRoute(WhatsAppHttpCase):
    def setUp(self):
        super().setUp()
        self.cron = self.env.ref(CRON_XMLID)
        self.Trigger = self.env["ir.cron.trigger"].sudo()
        self.Trigger.search([("cron_id", "=", self.cron.id)]).unlink()

    def _body(self, wamid):
        return meta_body(meta_payload(statuses=[meta_status(wamid, "delivered")]))

    def test_events_stored_each_with_its_wake_up(self):
        for index in range(3):
            response = self._post_webhook(self._body(f"wamid.INGEST.{index}"))
            self.assertEqual(response.status_code, 200)
        events = self.env["ofitec.whatsapp.webhook.event"].search([])
        self.assertEqual(len(events), 3)
        self.assertEqual(set(events.mapped("state")), {"received"})
        self.assertEqual(events.mapped("config_id"), self.config)
        self.assertEqual(events.mapped("company_id"), self.config.company_id)
        # No run is looking (a test's run never says it will): one trigger per request
        # (a shared one could be consumed by a run that looked for events before this
        # one committed); one run takes them all.
        self.assertEqual(self.Trigger.search_count([("cron_id", "=", self.cron.id)]), 3)
        self.assertEqual(self._process_webhooks(), 3)

    def test_route_follows_changes_of_the_number(self):
        old_secret = self.config.sudo().app_secret
        body = self._body("wamid.INGEST.A")
        self.assertEqual(self._post_webhook(body).status_code, 200)  # now cached
        self.config.sudo().app_secret = "a-brand-new-app-secret"
        old_signature = meta_signature_header(old_secret, body)
        self.assertEqual(self._post_webhook(body, signature=old_signature).status_code, 403)
        self.assertEqual(self._post_webhook(body).status_code, 200)
        self.config.active = False
        self.assertEqual(self._post_webhook(body).status_code, 404)
        self.config.active = True
        self.assertEqual(self._post_webhook(body).status_code, 200)

    def test_inactive_cron_gets_no_trigger(self):
        self.cron.active = False
        self.assertEqual(self._post_webhook(self._body("wamid.INGEST.OFF")).status_code, 200)
        self.assertFalse(self.Trigger.search([("cron_id", "=", self.cron.id)]))
        self.assertEqual(len(self.env["ofitec.whatsapp.webhook.event"].search([])), 1)

    def test_the_event_row_is_complete(self):
        """The route's INSERT writes what the ORM would: the audit columns (the route
        runs as no user: OdooBot), the sender and the statuses counted."""
        self.assertEqual(self._post_webhook(self._body("wamid.INGEST.ROW")).status_code, 200)
        event = self.env["ofitec.whatsapp.webhook.event"].search([])
        self.assertEqual(len(event), 1)
        self.assertEqual(event.create_uid, self.env.ref("base.user_root"))
        self.assertEqual(event.write_uid, self.env.ref("base.user_root"))
        self.assertTrue(event.create_date)
        self.assertEqual(event.write_date, event.create_date)
        self.assertEqual((event.status_count, event.sender_key), (1, False))
        self.assertIn('"wamid.INGEST.ROW"', event.payload)


@tagged("post_install", "-at_install")
class TestWakeUpConcurrency(WhatsAppCase):
    """Two workers, two real transactions: the webhook request's wake-up and a cron
    run. Data is committed in cursors of their own and deleted afterwards."""

    def setUp(self):
        super().setUp()
        self.cron_id = self.env.ref(CRON_XMLID).id
        Event = self.env["ofitec.whatsapp.webhook.event"]
        self.cron_ids = [self.cron_id, Event._processing_cron(helper=True).id]
        with self._cursor() as cr:
            self.max_trigger_id = self._last_trigger_id(cr)
            cr.execute("SELECT COALESCE(MAX(id), 0) FROM ofitec_whatsapp_webhook_event")
            self.max_event_id = cr.fetchone()[0]
        self.addCleanup(self._delete_committed)

    def _delete_committed(self):
        with self._cursor() as cr:
            self._delete_triggers_since(cr, self.max_trigger_id, self.cron_ids)
            cr.execute(
                "DELETE FROM ofitec_whatsapp_webhook_event WHERE id > %s", (self.max_event_id,)
            )

    def _triggers(self):
        with closing(self._cursor()) as cr:
            cr.execute(
                "SELECT count(*) FROM ir_cron_trigger WHERE cron_id = %s AND id > %s",
                (self.cron_id, self.max_trigger_id),
            )
            return cr.fetchone()[0]

    def test_wake_up_survives_the_end_of_a_run_begun_before_it(self):
        """Odoo ends a run by deleting the triggers due when it began, although the run
        may have looked for events before this request committed. The request does not
        rely on such a trigger: its own, committed after that run's snapshot, survives,
        so a run that starts after the commit takes the event."""
        with self._cursor() as cr:  # the trigger that started the run
            env = api.Environment(cr, SUPERUSER_ID, {})
            env["ofitec.whatsapp.webhook.event"]._wake_processing()
        with closing(self._cursor()) as cron_cr:
            cron_cr.execute("SELECT 1")  # a run begins: its snapshot and now() are fixed
            with self._cursor() as request_cr:
                env = api.Environment(request_cr, SUPERUSER_ID, {})
                env["ofitec.whatsapp.webhook.event"]._wake_processing()
            cron_cr.execute(
                "DELETE FROM ir_cron_trigger WHERE cron_id = %s"
                " AND call_at < (now() at time zone 'UTC')",
                (self.cron_id,),
            )
            cron_cr.commit()
        self.assertEqual(self._triggers(), 1)

    def test_requests_of_one_process_share_a_notify(self):
        """Each request leaves its trigger; the cron workers are notified once for the
        requests of one process within NOTIFY_EVERY (a run woken by the first one is
        still looking when the next commits)."""
        calls = []
        Cron = type(self.env["ir.cron"])
        with (
            patch.object(Cron, "_notifydb", lambda crons: calls.append(sorted(crons.ids))),
            patch.object(event_module, "NOTIFY_EVERY", 3600),
            patch.object(event_module, "_LAST_NOTIFY", [float("-inf")]),
        ):
            for _index in range(3):
                with self._cursor() as cr:
                    env = api.Environment(cr, SUPERUSER_ID, {})
                    env["ofitec.whatsapp.webhook.event"]._wake_processing()
        self.assertEqual(len(calls), 1)
        self.assertIn(self.cron_id, calls[0])
        self.assertEqual(self._triggers(), 3)

    def test_a_run_outside_tests_commits_what_it_processed(self):
        """A cron run outside a test thread commits per batch: the event committed by
        a request is processed and stays processed."""
        config_id = self._committed_config()
        with self._cursor() as cr:
            self._store_in(cr, config_id, "wamid.RUN.1")
        self.assertEqual(self._triggers(), 1)
        handled = []
        self._committed_run(handled).join(60)
        self.assertEqual(handled, [1])
        with closing(self._cursor()) as cr:
            cr.execute(
                "SELECT state FROM ofitec_whatsapp_webhook_event WHERE id > %s",
                (self.max_event_id,),
            )
            self.assertEqual(cr.fetchall(), [("processed",)])

    # -- committed data and runs; a run that the route relies on (RUN_WILL_LOOK) ------
    def _committed_config(self):
        with self._cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            config = env["ofitec.whatsapp.config"].create(
                {"name": "Wake-up test number", "phone_number_id": "990000000078"}
            )
        self.addCleanup(self._delete_config, config.id)
        return config.id

    def _committed_run(self, handled):
        """A cron run in a thread of its own (not a test thread, so it commits per
        batch, as the cron does); what it handled goes into ``handled``."""

        def run():
            with self._cursor() as cr:
                env = api.Environment(cr, SUPERUSER_ID, {})
                handled.append(env["ofitec.whatsapp.webhook.event"]._process_pending())

        worker = threading.Thread(target=run)
        worker.start()
        return worker

    def _store_in(self, cr, config_id, wamid, after_a_statement=False):
        """Store an event as the webhook route does: the number's company and handler
        from the route's per-process cache (read and committed first here; the route
        finds them cached), nothing before the INSERT, which then commits by itself.
        ``after_a_statement``: the request ran a statement first, so the INSERT joins
        its transaction and commits with it."""
        env = api.Environment(cr, SUPERUSER_ID, {})
        Event = env["ofitec.whatsapp.webhook.event"]
        company_id, handler = env["ofitec.whatsapp.config"]._get_webhook_route(config_id)
        Event._processing_cron()  # its xml id is cached too
        body = meta_body(meta_payload(statuses=[meta_status(wamid, "delivered")]))
        parsed = handler.parse(body)
        cr.commit()  # pylint: disable=invalid-commit
        if after_a_statement:
            cr.execute("SELECT 1")
        config = env["ofitec.whatsapp.config"].browse(config_id)
        return Event._store(config, body, company_id, parsed).id

    def _event_ids(self):
        with closing(self._cursor()) as cr:
            cr.execute(
                "SELECT id FROM ofitec_whatsapp_webhook_event WHERE id > %s ORDER BY id",
                (self.max_event_id,),
            )
            return [row[0] for row in cr.fetchall()]

    def test_the_event_commits_by_itself(self):
        """A request that wrote nothing before (the webhook route's case): the INSERT
        commits by itself, one round trip instead of BEGIN, INSERT and COMMIT. The
        event is stored whatever the request does next; the connection is left as
        Odoo set it (no autocommit, REPEATABLE READ for the next transaction)."""
        config_id = self._committed_config()
        with closing(self._cursor()) as request_cr:
            event_id = self._store_in(request_cr, config_id, "wamid.ALONE.1")
            self.assertEqual(self._event_ids(), [event_id])  # before the request commits
            request_cr.rollback()
            self.assertFalse(request_cr._cnx.autocommit)
            request_cr.execute("SHOW transaction_isolation")
            self.assertEqual(request_cr.fetchone()[0], "repeatable read")
        self.assertEqual(self._event_ids(), [event_id])

    def test_a_failed_insert_leaves_the_connection_as_odoo_set_it(self):
        """An INSERT that fails (here: a number deleted meanwhile) raises, and the
        connection is no longer in autocommit for what the request does next."""
        config_id = self._committed_config()
        with closing(self._cursor()) as request_cr:
            env = api.Environment(request_cr, SUPERUSER_ID, {})
            Event = env["ofitec.whatsapp.webhook.event"]
            company_id, handler = env["ofitec.whatsapp.config"]._get_webhook_route(config_id)
            Event._processing_cron()
            body = meta_body(meta_payload(statuses=[meta_status("wamid.ALONE.3", "delivered")]))
            request_cr.commit()
            missing = env["ofitec.whatsapp.config"].browse(config_id + 1_000_000)
            with mute_logger("odoo.sql_db"), self.assertRaises(psycopg2.IntegrityError):
                Event._store(missing, body, company_id, handler.parse(body))
            self.assertFalse(request_cr._cnx.autocommit)
        self.assertEqual(self._event_ids(), [])
        with closing(self._cursor()) as request_cr:  # the kept connection still serves
            event_id = self._store_in(request_cr, config_id, "wamid.ALONE.4")
        self.assertEqual(self._event_ids(), [event_id])

    def _last_statement(self, backend_pid):
        with closing(self._cursor()) as cr:
            cr.execute("SELECT query FROM pg_stat_activity WHERE pid = %s", (backend_pid,))
            return cr.fetchone()[0]

    def test_the_event_goes_on_the_connection_the_process_keeps(self):
        """Not on the request's connection, which Odoo's pool resets (``DISCARD ALL``,
        the plans of the foreign-key checks with it) before every request."""
        config_id = self._committed_config()
        self._looking_run()  # no wake-up: the INSERT is the request's only statement
        kept = kept_module.kept_connection(self.env.cr.dbname)
        backend = kept.backend_pid()
        with closing(self._cursor()) as request_cr:
            first = self._store_in(request_cr, config_id, "wamid.KEPT.1")
            second = self._store_in(request_cr, config_id, "wamid.KEPT.2")
            self.assertNotIn(
                "ofitec_whatsapp_webhook_event",
                self._last_statement(request_cr._cnx.get_backend_pid()),
            )
        self.assertEqual(self._event_ids(), [first, second])
        self.assertEqual(kept.backend_pid(), backend)
        self.assertIn("INSERT INTO ofitec_whatsapp_webhook_event", self._last_statement(backend))

    def test_a_busy_kept_connection_is_not_waited_for(self):
        """Another thread of the process (a threaded server) is storing: the request
        commits its event by itself on its own connection instead of waiting."""
        config_id = self._committed_config()
        kept = kept_module.kept_connection(self.env.cr.dbname)
        kept.backend_pid()
        taken, release = threading.Event(), threading.Event()

        def other_request():
            with kept._lock:
                taken.set()
                release.wait(10)

        other = threading.Thread(target=other_request)
        other.start()
        self.addCleanup(other.join, 10)
        self.addCleanup(release.set)
        self.assertTrue(taken.wait(10))
        with closing(self._cursor()) as request_cr:
            event_id = self._store_in(request_cr, config_id, "wamid.KEPT.3")
            self.assertTrue(other.is_alive(), "the request waited for the kept connection")
            release.set()
            self.assertEqual(self._event_ids(), [event_id])  # before the request commits
            request_cr.rollback()
            self.assertFalse(request_cr._cnx.autocommit)
        self.assertEqual(self._event_ids(), [event_id])

    def test_a_lost_kept_connection_is_replaced(self):
        """The connection broke (PostgreSQL restarted, an admin ended it): the event is
        stored once on the request's connection, and the next one opens another."""
        config_id = self._committed_config()
        kept = kept_module.kept_connection(self.env.cr.dbname)
        backend = kept.backend_pid()
        with closing(self._cursor()) as cr:
            cr.execute("SELECT pg_terminate_backend(%s)", (backend,))
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:  # until that backend has gone
                cr.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (backend,))
                if not cr.fetchone():
                    break
                cr.rollback()
                time.sleep(0.05)
        with closing(self._cursor()) as request_cr, mute_logger(event_module.__name__):
            first = self._store_in(request_cr, config_id, "wamid.KEPT.4")
            second = self._store_in(request_cr, config_id, "wamid.KEPT.5")
        self.assertEqual(self._event_ids(), [first, second])
        self.assertNotEqual(kept.backend_pid(), backend)

    def test_after_a_statement_the_event_commits_with_the_request(self):
        config_id = self._committed_config()
        with closing(self._cursor()) as request_cr:
            self._store_in(request_cr, config_id, "wamid.ALONE.2", after_a_statement=True)
            self.assertEqual(self._event_ids(), [])
            request_cr.rollback()
        self.assertEqual(self._event_ids(), [])

    def _looking_run(self):
        """A cursor of a run that holds the lock telling requests it will look again."""
        run_cr = self._cursor()
        self.addCleanup(run_cr.close)
        # Session locks outlive a cursor's close (its connection stays in the pool).
        self.addCleanup(run_cr.execute, "SELECT pg_advisory_unlock_all()")
        cron = api.Environment(run_cr, SUPERUSER_ID, {})["ir.cron"].browse(self.cron_id)
        self.assertTrue(cron._start_looking())
        run_cr.commit()
        return run_cr, cron

    def _wait_until_looking(self, timeout=30):
        deadline = time.monotonic() + timeout
        with closing(self._cursor()) as cr:
            while time.monotonic() < deadline:
                cr.execute(
                    "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted"
                    " AND classid = %s AND objid = %s",
                    (ir_cron_module.LOOKING_LOCKS, self.cron_id),
                )
                if cr.fetchone():
                    return
                cr.rollback()
                time.sleep(0.02)
        self.fail("the run never took the lock")

    def _stop_in_thread(self, cron):
        stopper = threading.Thread(target=cron._stop_looking)
        stopper.start()
        self.addCleanup(stopper.join, 10)
        return stopper

    def test_a_looking_run_spares_the_request_its_wake_up(self):
        config_id = self._committed_config()
        run_cr, cron = self._looking_run()
        with self._cursor() as cr:
            self._store_in(cr, config_id, "wamid.LOOK.1")
        self.assertEqual(self._triggers(), 0)
        cron._stop_looking()
        run_cr.commit()
        with self._cursor() as cr:  # no run looks any more: the request wakes the cron
            self._store_in(cr, config_id, "wamid.LOOK.2")
        self.assertEqual(self._triggers(), 1)

    def test_a_stopping_run_waits_for_the_requests_that_relied_on_it(self):
        """The run stops being relied on only once the requests that skipped their
        wake-up have committed, so its last look (a new snapshot) sees their events."""
        config_id = self._committed_config()
        run_cr, cron = self._looking_run()
        with closing(self._cursor()) as request_cr:
            event_id = self._store_in(request_cr, config_id, "wamid.LOOK.3", after_a_statement=True)
            stopper = self._stop_in_thread(cron)
            stopper.join(0.5)
            self.assertTrue(stopper.is_alive(), "the run stopped before the request committed")
            request_cr.commit()
        stopper.join(10)
        self.assertFalse(stopper.is_alive())
        run_cr.commit()
        run_cr.execute("SELECT state FROM ofitec_whatsapp_webhook_event WHERE id = %s", (event_id,))
        self.assertEqual(run_cr.fetchall(), [("received",)])
        self.assertEqual(self._triggers(), 0)

    def test_a_stopping_run_sees_an_event_that_committed_by_itself(self):
        """The event committed with the statement that relied on the run: the run
        stops without waiting for the request, and sees the event."""
        config_id = self._committed_config()
        run_cr, cron = self._looking_run()
        with closing(self._cursor()) as request_cr:
            event_id = self._store_in(request_cr, config_id, "wamid.LOOK.7")
            stopper = self._stop_in_thread(cron)
            stopper.join(10)
            self.assertFalse(stopper.is_alive(), "the run waited for a request with nothing open")
            run_cr.commit()
            run_cr.execute(
                "SELECT state FROM ofitec_whatsapp_webhook_event WHERE id = %s", (event_id,)
            )
            self.assertEqual(run_cr.fetchall(), [("received",)])
        self.assertEqual(self._triggers(), 0)

    def test_a_request_while_the_run_stops_wakes_the_cron(self):
        config_id = self._committed_config()
        _run_cr, cron = self._looking_run()
        with closing(self._cursor()) as relied_cr:
            self._store_in(relied_cr, config_id, "wamid.LOOK.4", after_a_statement=True)
            stopper = self._stop_in_thread(cron)
            stopper.join(0.5)
            self.assertTrue(stopper.is_alive(), "the run did not wait for the request above")
            with self._cursor() as cr:
                self._store_in(cr, config_id, "wamid.LOOK.5")
            self.assertEqual(self._triggers(), 1)
            relied_cr.commit()
        stopper.join(10)
        self.assertFalse(stopper.is_alive())

    def test_a_failed_run_is_not_relied_on(self):
        """A run that raises releases the lock before Odoo puts its connection back
        in the pool (where it would hold it until the connection is borrowed again):
        the next requests wake the cron."""
        config_id = self._committed_config()
        Event = type(self.env["ofitec.whatsapp.webhook.event"])
        errors = []

        def run():
            with closing(self._cursor()) as cr:
                env = api.Environment(cr, SUPERUSER_ID, {})
                try:
                    env["ofitec.whatsapp.webhook.event"]._process_pending()
                except RuntimeError as error:
                    errors.append(error)

        def claim_fails(events, *args, **kwargs):
            raise RuntimeError("boom")

        # Opened first: borrowing the run's connection from the pool would reset it
        # (DISCARD ALL), which hides a lock left behind until then.
        with self._cursor() as cr:
            with patch.object(Event, "_claim_for", claim_fails):
                worker = threading.Thread(target=run)
                worker.start()
                worker.join(30)
            self.assertEqual(len(errors), 1)
            self._store_in(cr, config_id, "wamid.LOOK.6")
        self.assertEqual(self._triggers(), 1)

    def test_a_run_relied_on_processes_what_came_meanwhile(self):
        """Requests stored while a committing run lingers leave no wake-up; the run
        processes them all before it ends."""
        config_id = self._committed_config()
        handled = []
        with patch.object(event_module, "IDLE_LINGER", 3.0):  # ample for the requests
            worker = self._committed_run(handled)
            self._wait_until_looking()
            for index in range(3):
                with self._cursor() as cr:
                    self._store_in(cr, config_id, f"wamid.LOOK.RUN.{index}")
            worker.join(60)
        self.assertEqual(handled, [3])
        self.assertEqual(self._triggers(), 0)

    def _delete_config(self, config_id):
        with self._cursor() as cr:
            cr.execute(
                "DELETE FROM ofitec_whatsapp_webhook_event WHERE config_id = %s", (config_id,)
            )
            cr.execute("DELETE FROM ofitec_whatsapp_config WHERE id = %s", (config_id,))


@tagged("post_install", "-at_install")
class TestCronWakeUpChannel(WhatsAppCase):
    """The NOTIFY that wakes the cron workers goes through a connection to the
    ``postgres`` database that the process keeps (Odoo opens a new one each time)."""

    def setUp(self):
        super().setUp()
        _dbname, info = odoo.sql_db.connection_info_for("postgres")
        self.listener = psycopg2.connect(**info)
        self.listener.autocommit = True
        self.addCleanup(self.listener.close)
        with self.listener.cursor() as cr:
            cr.execute("LISTEN cron_trigger")

    def _notifications(self, timeout=10.0):
        """The payloads for this database received within ``timeout`` seconds (other
        databases' servers on the same PostgreSQL notify the same channel)."""
        received = []
        deadline = time.monotonic() + timeout
        while not received and time.monotonic() < deadline:
            select.select([self.listener], [], [], 0.2)
            self.listener.poll()
            received += [n.payload for n in self.listener.notifies]
            self.listener.notifies.clear()
            received = [payload for payload in received if payload == self.env.cr.dbname]
        return received

    def _channel_backend(self):
        return ir_cron_module._WAKE_UP.backend_pid()

    def test_cron_workers_are_notified_on_a_kept_connection(self):
        Cron = self.env["ir.cron"]
        Cron._notifydb()
        self.assertEqual(self._notifications(), [self.env.cr.dbname])
        backend = self._channel_backend()
        Cron._notifydb()
        self.assertEqual(self._notifications(), [self.env.cr.dbname])
        self.assertEqual(self._channel_backend(), backend)

    def test_a_lost_connection_is_opened_again(self):
        Cron = self.env["ir.cron"]
        Cron._notifydb()
        self.assertTrue(self._notifications())
        backend = self._channel_backend()
        with self.listener.cursor() as cr:  # e.g. PostgreSQL restarted, or an admin
            cr.execute("SELECT pg_terminate_backend(%s)", (backend,))
        deadline = time.monotonic() + 10
        with closing(self.listener.cursor()) as cr:
            while time.monotonic() < deadline:  # until that backend has gone
                cr.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (backend,))
                if not cr.fetchone():
                    break
                time.sleep(0.05)
        Cron._notifydb()
        self.assertEqual(self._notifications(), [self.env.cr.dbname])
        self.assertNotEqual(self._channel_backend(), backend)


class TestGathering(WhatsAppCase):
    """While the cron keeps up, statuses gather for MIN_CYCLE between two batches;
    what somebody waits on (a reply, a burst of statuses) ends the wait."""

    def _store(self, payload):
        Event = self.env["ofitec.whatsapp.webhook.event"]
        return Event._store(self.config, meta_body(payload))

    def test_the_body_s_statuses_are_counted_when_stored(self):
        burst = [meta_status(f"wamid.GATHER.{k}", "delivered") for k in range(3)]
        event = self._store(meta_payload(statuses=burst))
        self.assertEqual((event.state, event.status_count, event.message_count), ("received", 3, 0))

    def test_a_reply_or_a_burst_is_waited_on_a_few_statuses_are_not(self):
        Event = self.env["ofitec.whatsapp.webhook.event"]
        Event.search([("state", "=", "received")]).state = "processed"  # others' events
        self.assertFalse(Event._someone_waits())
        few = [meta_status(f"wamid.FEW.{k}", "delivered") for k in range(3)]
        self._store(meta_payload(statuses=few))
        self.assertFalse(Event._someone_waits(), "statuses wait for the cycle")
        burst = [meta_status(f"wamid.BURST.{k}", "read") for k in range(WAKE_STATUSES)]
        burst_event = self._store(meta_payload(statuses=burst))
        self.assertTrue(Event._someone_waits())
        burst_event.state = "processed"
        self.assertFalse(Event._someone_waits())
        self._store(meta_payload(messages=[meta_text("wamid.GATHER.TEXT", "56933333333", "OK")]))
        self.assertTrue(Event._someone_waits(), "a reply")

    def _gather(self, answers):
        """Run ``_gather`` on a fake clock; ``answers``: what each look finds. Returns
        (looks, seconds slept)."""
        clock = [1000.0]
        looks = iter(answers)
        Event = type(self.env["ofitec.whatsapp.webhook.event"])

        def sleep(seconds):
            clock[0] += seconds

        with (
            patch.object(event_module, "_sleep", sleep),
            patch.object(event_module, "_monotonic", lambda: clock[0]),
            patch.object(Event, "_someone_waits", lambda model: next(looks)),
            patch.object(self.env.cr, "commit", lambda: None),
        ):
            self.env["ofitec.whatsapp.webhook.event"]._gather(started=1000.0)
        return len(answers) - len(list(looks)), clock[0] - 1000.0

    def test_the_wait_ends_when_somebody_waits_or_after_the_cycle(self):
        polls = math.ceil(MIN_CYCLE / GATHER_POLL - 1e-9)
        looks, slept = self._gather([False, False, True] + [False] * polls)
        self.assertEqual(looks, 3)
        self.assertAlmostEqual(slept, 3 * GATHER_POLL)
        looks, slept = self._gather([False] * (polls + 5))
        self.assertEqual(looks, polls)
        self.assertAlmostEqual(slept, MIN_CYCLE)
