"""The processing cron applies a batch of events together (what Meta sends: one status
or one message per POST, many POSTs), and event by event only when the batch fails."""

import threading
from contextlib import closing
from datetime import datetime, timezone
from unittest.mock import patch

import psycopg2.errors

from odoo import SUPERUSER_ID, api
from odoo.tests import tagged
from odoo.tools import mute_logger

from ..models import ofitec_whatsapp_webhook_event as event_module
from ..models import ofitec_whatsapp_webhook_event_apply as apply_module
from .common import (
    WhatsAppCase,
    meta_body,
    meta_payload,
    meta_status,
    meta_text,
    meta_timestamp,
)
from .test_webhook_processing import EVENT_LOGGER, MANAGER_WA, WebhookProcessingCase

EVENT_MODULE_LOGGER = "odoo.addons.ofitec_whatsapp.models.ofitec_whatsapp_webhook_event"


def _dt(timestamp):
    return datetime.fromtimestamp(int(timestamp), tz=timezone.utc).replace(tzinfo=None)


class TestWebhookBatch(WebhookProcessingCase):
    def _status_events(self, gateway, names, status="delivered"):
        """A sent message per name and one event carrying its ``status``."""
        messages, events = {}, {}
        for name in names:
            wamid = f"wamid.OUT.{name}"
            messages[name] = self._sent_text(gateway, wamid)
            events[name] = self._deliver_webhook(
                meta_payload(statuses=[meta_status(wamid, status)])
            )
        return messages, events

    def test_statuses_of_many_events_are_applied_in_one_batch(self):
        Status = type(self.Status)
        original = Status._ingest_batch
        calls = []

        def ingest_batch(model, config, updates):
            calls.append(sorted(u.wamid for u in updates))
            return original(model, config, updates)

        with self.mock_whatsapp_gateway() as gateway:
            messages, events = self._status_events(gateway, ["M1", "M2", "M3"])
            with patch.object(Status, "_ingest_batch", ingest_batch):
                self.assertEqual(self._process_webhooks(), 3)
        self.assertEqual(calls, [["wamid.OUT.M1", "wamid.OUT.M2", "wamid.OUT.M3"]])
        for name, event in events.items():
            self.assertEqual(messages[name].state, "delivered")
            self.assertEqual(
                (event.state, event.status_count, event.message_count, event.attempt_count),
                ("processed", 1, 0, 1),
            )
            self.assertFalse(event.error)
            self.assertTrue(event.processed_date)

    def test_one_bad_event_is_failed_alone_and_the_others_apply(self):
        """The batch fails on one event's status: it is rolled back and applied event by
        event, so only that event fails (with its error); a body that cannot be parsed
        fails alone without undoing the batch."""
        Status = type(self.Status)
        original = Status._prepare_vals

        def prepare_vals(model, config, update):
            if update.wamid == "wamid.OUT.BAD":
                raise ValueError("poisoned status")
            return original(model, config, update)

        with self.mock_whatsapp_gateway() as gateway:
            messages, events = self._status_events(gateway, ["G1", "BAD", "G2"])
            broken = self._deliver_webhook(b'{"object": "whatsapp_business_account", "entry": 3}')
            text = self._deliver_webhook(
                meta_payload(messages=[meta_text("wamid.IN.BATCH", MANAGER_WA, "Hola")])
            )
            with patch.object(Status, "_prepare_vals", prepare_vals), mute_logger(EVENT_LOGGER):
                self.assertEqual(self._process_webhooks(), 5)
        self.assertEqual(events["BAD"].state, "failed")
        self.assertIn("poisoned status", events["BAD"].error)
        self.assertEqual(messages["BAD"].state, "sent")
        self.assertEqual(broken.state, "failed")
        self.assertTrue(broken.error)
        for name in ("G1", "G2"):
            self.assertEqual((events[name].state, messages[name].state), ("processed", "delivered"))
            self.assertFalse(events[name].error)
        self.assertEqual((text.state, text.message_count), ("processed", 1))
        self.assertEqual(
            self.Message.search_count([("whatsapp_message_id", "=", "wamid.IN.BATCH")]), 1
        )

        # Reprocessing the failed one, once fixed, applies it and nothing twice.
        events["BAD"].action_reprocess()
        self._process_webhooks()
        self.assertEqual((events["BAD"].state, events["BAD"].attempt_count), ("processed", 2))
        self.assertEqual(messages["BAD"].state, "delivered")
        self.assertEqual(len(self._statuses("wamid.OUT.G1")), 1)

    def test_an_event_whose_processing_breaks_is_failed_and_counted(self):
        """An error that escapes an event's own processing (here a database error) fails
        the batch, then that event alone: marked failed with the error and one attempt,
        while the events around it apply."""
        Event = type(self.Event)
        original = Event._apply_messages
        calls, broken_ids = [], []

        def apply_messages(event, messages, template_updates, errors):
            calls.append(event.id)
            if event.id in broken_ids:
                event.env.cr.execute("SELECT 1/0")
            return original(event, messages, template_updates, errors)

        with self.mock_whatsapp_gateway() as gateway:
            messages, events = self._status_events(gateway, ["E1", "E2", "E3"])
            ids = [events[name].id for name in ("E1", "E2", "E3")]
            broken_ids.append(ids[1])
            with (
                patch.object(Event, "_apply_messages", apply_messages),
                self.assertLogs(EVENT_LOGGER, "ERROR") as logs,
                mute_logger("odoo.sql_db"),
            ):
                self.assertEqual(self._process_webhooks(), 3)
        # The batch stopped at the broken event, then each event ran alone.
        self.assertEqual(calls, ids[:2] + ids)
        self.assertIn(f"WhatsApp webhook {ids[1]} could not be processed", logs.output[0])
        self.assertEqual(events["E2"].state, "failed")
        self.assertIn("DivisionByZero: division by zero", events["E2"].error)
        self.assertEqual(events["E2"].attempt_count, 1)
        self.assertEqual(messages["E2"].state, "sent")
        for name in ("E1", "E3"):
            self.assertEqual((events[name].state, messages[name].state), ("processed", "delivered"))

    def test_a_parse_error_alone_does_not_send_the_batch_one_by_one(self):
        with self.mock_whatsapp_gateway() as gateway:
            messages, events = self._status_events(gateway, ["P1"])
            broken = self._deliver_webhook(b"not json")
            Event = type(self.Event)
            with patch.object(Event, "_process", side_effect=AssertionError("one by one")):
                self.assertEqual(self._process_webhooks(), 2)
        self.assertEqual(broken.state, "failed")
        self.assertIn("malformed JSON", broken.error)
        self.assertEqual((events["P1"].state, messages["P1"].state), ("processed", "delivered"))

    def test_statuses_never_go_backwards_across_events_of_a_batch(self):
        """A ``read`` event before a ``delivered`` event of the same message (Meta does
        not keep order) in one batch: the message ends read, each date set once."""
        # Meta's times after our record of the send (an earlier one moves it back).
        stamps = {"delivered": meta_timestamp(minutes=2), "read": meta_timestamp(minutes=4)}
        with self.mock_whatsapp_gateway() as gateway:
            message = self._sent_text(gateway, "wamid.OUT.BACK")
            sent_date = message.sent_date
            for status in ("read", "delivered", "sent"):
                self._deliver_webhook(
                    meta_payload(
                        statuses=[meta_status("wamid.OUT.BACK", status, stamps.get(status))]
                    )
                )
            self.assertEqual(self._process_webhooks(), 3)
        self.assertEqual(message.state, "read")
        self.assertEqual(message.delivered_date, _dt(stamps["delivered"]))
        self.assertEqual(message.read_date, _dt(stamps["read"]))
        self.assertEqual(message.sent_date, sent_date)
        self.assertEqual(len(self._statuses("wamid.OUT.BACK")), 3)
        # Redelivered, in another batch: nothing changes.
        self._receive(meta_payload(statuses=[meta_status("wamid.OUT.BACK", "delivered")]))
        self.assertEqual(message.state, "read")
        self.assertEqual(len(self._statuses("wamid.OUT.BACK")), 3)

    def test_a_batch_takes_a_bounded_number_of_texts(self):
        """Texts cost far more than statuses: a batch stops after MESSAGES_PER_BATCH
        inbound messages; the events after them stay received for the next batch."""
        with patch.object(apply_module, "MESSAGES_PER_BATCH", 2):
            events = self.Event
            for index in range(3):
                events |= self._deliver_webhook(
                    meta_payload(messages=[meta_text(f"wamid.IN.CAP{index}", MANAGER_WA, "Hola")])
                )
            taken = events.sudo()._process_batch({})
            self.assertEqual(taken, events[:2])
            self.assertEqual(events.mapped("state"), ["processed", "processed", "received"])
            self.assertEqual(self._process_webhooks(), 1)
        self.assertEqual(events[2].state, "processed")


@tagged("post_install", "-at_install")
class TestParallelProcessing(WhatsAppCase):
    """Several workers process at once: never the same event twice, never two events of
    one sender at once or out of order. Real transactions on connections of their own
    (data committed there and deleted afterwards)."""

    def setUp(self):
        super().setUp()
        with self._cursor() as cr:
            self.max_trigger_id = self._last_trigger_id(cr)
            env = api.Environment(cr, SUPERUSER_ID, {})
            Event = env["ofitec.whatsapp.webhook.event"]
            self.helper_id = Event._processing_cron(helper=True).id
            self.cron_ids = [Event._processing_cron().id, self.helper_id]
            self.config_id = (
                env["ofitec.whatsapp.config"]
                .create({"name": "Parallel test number", "phone_number_id": "990000000078"})
                .id
            )
        self.addCleanup(self._delete_committed)

    def _delete_committed(self):
        with self._cursor() as cr:
            self._delete_triggers_since(cr, self.max_trigger_id, self.cron_ids)
            cr.execute(
                "DELETE FROM ofitec_whatsapp_webhook_event WHERE config_id = %s", (self.config_id,)
            )
            cr.execute("DELETE FROM ofitec_whatsapp_config WHERE id = %s", (self.config_id,))

    def _store(self, *payloads):
        """Commit one event per payload, as the route does; their ids in order."""
        ids = []
        with self._cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            config = env["ofitec.whatsapp.config"].browse(self.config_id)
            for payload in payloads:
                ids.append(
                    env["ofitec.whatsapp.webhook.event"]._store(config, meta_body(payload)).id
                )
        return ids

    @staticmethod
    def _text(wamid, *senders):
        return meta_payload(messages=[meta_text(f"{wamid}.{s}", s, "OK") for s in senders])

    def _claim(self, cr, mine, fresh=False):
        """What a worker on ``cr`` takes now (``fresh``: in a new transaction, as a
        worker after its commit; only when it holds nothing)."""
        if fresh:
            cr.rollback()
        env = api.Environment(cr, SUPERUSER_ID, {})
        return [i for i in env["ofitec.whatsapp.webhook.event"]._claim(100).ids if i in mine]

    def _done(self, cr, ids):
        cr.execute(
            "UPDATE ofitec_whatsapp_webhook_event SET state = 'processed' WHERE id = ANY(%s)",
            (ids,),
        )
        cr.commit()  # pylint: disable=invalid-commit

    def test_two_workers_never_share_an_event_nor_a_sender(self):
        x1, status, x2, y1 = ids = self._store(
            self._text("wamid.PAR.1", "56933000001"),
            meta_payload(statuses=[meta_status("wamid.PAR.OUT", "delivered")]),
            self._text("wamid.PAR.2", "56933000001"),
            self._text("wamid.PAR.3", "56933000002"),
        )
        with closing(self._cursor()) as first, closing(self._cursor()) as second:
            # The second text of a sender waits for the first, wherever it is.
            self.assertEqual(self._claim(first, ids), [x1, status, y1])
            self.assertEqual(self._claim(second, ids), [], "locked, or its sender is busy")
            self._done(first, [x1, status, y1])
            self.assertEqual(self._claim(second, ids, fresh=True), [x2])
            self.assertEqual(self._claim(first, ids), [], "the second worker holds it")
            second.rollback()
            self.assertEqual(self._claim(first, ids), [x2])

    def test_a_claim_meeting_an_event_committed_since_its_snapshot_fails_quietly(self):
        """REPEATABLE READ refuses to lock an event another worker committed after this
        transaction's snapshot: the claim raises, without an ERROR line (its callers
        claim again in a new transaction)."""
        (event_id,) = ids = self._store(
            meta_payload(statuses=[meta_status("wamid.SNAP.OUT", "delivered")])
        )
        with closing(self._cursor()) as first, closing(self._cursor()) as second:
            first.execute("SELECT count(*) FROM ofitec_whatsapp_webhook_event")  # snapshot
            self.assertEqual(self._claim(second, ids), [event_id])
            self._done(second, [event_id])
            with (
                self.assertNoLogs("odoo.sql_db", level="ERROR"),
                self.assertRaises(psycopg2.errors.SerializationFailure),
            ):
                self._claim(first, ids)
            self.assertEqual(self._claim(first, ids, fresh=True), [], "processed")

    def test_an_event_of_several_senders_waits_for_each_and_they_for_it(self):
        x1, both, y1 = ids = self._store(
            self._text("wamid.STAR.1", "56933000001"),
            self._text("wamid.STAR.2", "56933000001", "56933000002"),
            self._text("wamid.STAR.3", "56933000002"),
        )
        with closing(self._cursor()) as first, closing(self._cursor()) as second:
            self.assertEqual(self._claim(first, ids), [x1])
            self.assertEqual(self._claim(second, ids), [])
            self._done(first, [x1])
            self.assertEqual(self._claim(second, ids, fresh=True), [both])
            self.assertEqual(self._claim(first, ids), [])
            self._done(second, [both])
            self.assertEqual(self._claim(first, ids, fresh=True), [y1])

    def test_a_concurrent_update_runs_the_batch_again_instead_of_failing_it(self):
        """Two workers changing the same rows (two statuses of one message, an action
        answered by two people): PostgreSQL refuses the second; the batch is rolled
        back and runs again, its events are not marked failed."""
        (event_id,) = self._store(meta_payload(statuses=[meta_status("wamid.PAR.RB", "read")]))
        Event = type(self.env["ofitec.whatsapp.webhook.event"])
        original = Event._process_batch
        calls = []

        def flaky(events, notices):
            calls.append(events.ids)
            if len(calls) == 1:
                raise psycopg2.errors.SerializationFailure("could not serialize access")
            return original(events, notices)

        def run():  # a thread of its own: not a test thread, so the run commits
            with self._cursor() as cr:
                env = api.Environment(cr, SUPERUSER_ID, {})
                env["ofitec.whatsapp.webhook.event"]._process_pending(limit=1)

        with patch.object(Event, "_process_batch", flaky), mute_logger(EVENT_MODULE_LOGGER):
            worker = threading.Thread(target=run)
            worker.start()
            worker.join(60)
        self.assertEqual(calls, [[event_id], [event_id]])
        with closing(self._cursor()) as cr:
            cr.execute(
                "SELECT state, attempt_count FROM ofitec_whatsapp_webhook_event WHERE id = %s",
                (event_id,),
            )
            self.assertEqual(cr.fetchall(), [("processed", 1)])

    def test_a_backlog_wakes_the_second_worker_which_stops_when_it_is_gone(self):
        self._store(
            *(meta_payload(statuses=[meta_status(f"wamid.PAR.H{i}", "read")]) for i in range(3))
        )
        handled = {}

        def run(name, **kwargs):  # threads of their own: not test threads, runs commit
            with self._cursor() as cr:
                env = api.Environment(cr, SUPERUSER_ID, {})
                handled[name] = env["ofitec.whatsapp.webhook.event"]._process_pending(**kwargs)

        with (
            patch.object(event_module, "EVENT_BATCH", 2),
            patch.object(event_module, "IDLE_LINGER", 0),
        ):
            worker = threading.Thread(target=run, args=("first",))
            worker.start()
            worker.join(60)
            helper = threading.Thread(target=run, args=("helper",), kwargs={"helper": True})
            helper.start()
            helper.join(60)
        self.assertGreaterEqual(handled["first"], 3)
        self.assertEqual(handled["helper"], 0, "no backlog left: it ends at once")
        with closing(self._cursor()) as cr:
            cr.execute(
                "SELECT count(*) FROM ir_cron_trigger WHERE id > %s AND cron_id = %s",
                (self.max_trigger_id, self.helper_id),
            )
            self.assertEqual(cr.fetchone()[0], 1, "woken once by the full claim")
