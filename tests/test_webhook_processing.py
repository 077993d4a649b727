"""Processing stored webhooks: idempotent, order-independent, item by item."""

import itertools
import json
import logging
from contextlib import nullcontext
from datetime import datetime, timedelta, timezone
from unittest.mock import patch

from odoo import fields
from odoo.addons.bus.models.bus import channel_with_db, json_dump
from odoo.tools import mute_logger

from ..tools.errors import UncertainDeliveryError
from .common import (
    WhatsAppCase,
    meta_change,
    meta_message,
    meta_payload,
    meta_status,
    meta_text,
    meta_timestamp,
)

MANAGER = "+56911111111"
MANAGER_WA = "56911111111"
ASSIGNEE = "+56922222222"
ASSIGNEE_WA = "56922222222"
EVENT_LOGGER = "odoo.addons.ofitec_whatsapp.models.ofitec_whatsapp_webhook_event_apply"


def _dt(timestamp):
    return datetime.fromtimestamp(int(timestamp), tz=timezone.utc).replace(tzinfo=None)


class WebhookProcessingCase(WhatsAppCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.Message = cls.env["ofitec.whatsapp.message"]
        cls.Status = cls.env["ofitec.whatsapp.status"]
        cls.Contact = cls.env["ofitec.whatsapp.contact"]
        cls.Event = cls.env["ofitec.whatsapp.webhook.event"]

    def _sent_text(self, gateway, wamid, number=MANAGER):
        """An outbound text (window open) that the fake gateway accepted as ``wamid``."""
        self._open_window(number)
        message = self.Message.create(
            {
                "direction": "outbound",
                "config_id": self.config.id,
                "phone": number,
                "body": "Recordatorio",
            }
        )
        gateway.wamids[number] = [wamid]
        self._run_queue()
        self.assertEqual(message.state, "sent")
        self.assertEqual(message.whatsapp_message_id, wamid)
        return message

    def _notify(self, gateway, manager_wamid=None, **vals):
        """An urgent action whose notifications went out; returns (action, manager msg)."""
        action = self._create_action(**vals)
        if manager_wamid:
            gateway.wamids[MANAGER] = [manager_wamid]
        self._run_queue()
        message = self._messages(action, phone=MANAGER, direction="outbound")
        self.assertEqual(message.state, "sent")
        return action, message

    def _statuses(self, wamid):
        return self.Status.search([("whatsapp_message_id", "=", wamid)])


class TestWebhookIdempotence(WebhookProcessingCase):
    def test_each_payload_delivered_three_times_changes_things_once(self):
        with self.mock_whatsapp_gateway() as gateway:
            action, notification = self._notify(gateway, "wamid.OUT.IDEM")
            t_delivered = meta_timestamp(minutes=-5)
            t_read = meta_timestamp(minutes=-4)
            payloads = [
                meta_payload(statuses=[meta_status("wamid.OUT.IDEM", "delivered", t_delivered)]),
                meta_payload(
                    statuses=[meta_status("wamid.OUT.IDEM", "read", t_read)],
                    messages=[meta_text("wamid.IN.IDEM", MANAGER_WA, "OK")],
                ),
            ]
            Action = type(self.env["ofitec.next.action"])
            original = Action.action_start_progress
            calls = []

            def spy(records):
                calls.append(records.ids)
                return original(records)

            with patch.object(Action, "action_start_progress", spy):
                for payload in payloads * 3:  # each payload, three times
                    self._deliver_webhook(payload)
                self.assertEqual(self._process_webhooks(), 6)
                snapshot = notification.read(["state", "sent_date", "delivered_date", "read_date"])
                for payload in payloads:  # and once more, after processing
                    self._receive(payload)
            self.assertEqual(calls, [action.ids])
            self.assertEqual(
                notification.read(["state", "sent_date", "delivered_date", "read_date"]),
                snapshot,
            )
            self.assertEqual(notification.state, "read")
            self.assertEqual(notification.delivered_date, _dt(t_delivered))
            self.assertEqual(notification.read_date, _dt(t_read))
            self.assertEqual(
                sorted(self._statuses("wamid.OUT.IDEM").mapped("status")), ["delivered", "read"]
            )
            inbound = self.Message.search([("whatsapp_message_id", "=", "wamid.IN.IDEM")])
            self.assertEqual(len(inbound), 1)
            self.assertEqual(action.status, "in_progress")
            answers = self._messages(action, phone=MANAGER, direction="outbound") - notification
            self.assertEqual(
                answers.mapped("body"), ["✅ Acción confirmada. Gracias por tu respuesta."]
            )
            self.assertEqual(
                self.Event.search([]).mapped("state"), ["processed"] * 8, "all events processed"
            )

    def test_a_second_worker_storing_the_same_message_does_not_answer_twice(self):
        """The unique wamid is the last guard when two workers race on one message."""
        with self.mock_whatsapp_gateway() as gateway:
            action, _notification = self._notify(gateway)
            payload = meta_payload(messages=[meta_text("wamid.IN.RACE", MANAGER_WA, "OK")])
            self._receive(payload)
            self.assertEqual(action.status, "in_progress")
            replies = self.Message.search_count([("direction", "=", "outbound")])
            # The duplicate check "did not see" the row: the insert must fail quietly.
            Message = type(self.Message)
            with patch.object(Message, "_is_inbound_stored", lambda self, config, wamid: False):
                with mute_logger("odoo.sql_db"):
                    event = self._receive(payload)
            self.assertEqual(event.state, "processed")
            self.assertEqual(self.Message.search_count([("direction", "=", "outbound")]), replies)
            self.assertEqual(
                self.Message.search_count([("whatsapp_message_id", "=", "wamid.IN.RACE")]), 1
            )


class TestStatusOrder(WebhookProcessingCase):
    def test_shuffled_status_orders_end_in_read_with_each_date_set_once(self):
        # Meta's times, after our record of the send (an earlier "delivered" would move
        # that record back: test_dates_keep_the_order_of_the_statuses).
        stamps = {
            "sent": meta_timestamp(minutes=1),
            "delivered": meta_timestamp(minutes=2),
            "read": meta_timestamp(minutes=4),
        }
        with self.mock_whatsapp_gateway() as gateway:
            for index, order in enumerate(itertools.permutations(["sent", "delivered", "read"])):
                with self.subTest(order=order):
                    wamid = f"wamid.OUT.ORDER{index}"
                    message = self._sent_text(gateway, wamid)
                    sent_date = message.sent_date
                    for status in order:
                        self._receive(
                            meta_payload(statuses=[meta_status(wamid, status, stamps[status])])
                        )
                        if status == "read":
                            self.assertEqual(message.state, "read")
                    self.assertEqual(message.state, "read")
                    self.assertEqual(message.sent_date, sent_date, "set once, by the send")
                    self.assertEqual(message.delivered_date, _dt(stamps["delivered"]))
                    self.assertEqual(message.read_date, _dt(stamps["read"]))
                    # A late, duplicated "sent" with a newer timestamp changes nothing.
                    self._receive(
                        meta_payload(statuses=[meta_status(wamid, "sent", meta_timestamp())])
                    )
                    self.assertEqual(message.state, "read")
                    self.assertEqual(message.sent_date, sent_date)
                    self.assertTrue(self._statuses(wamid).mapped("applied"))
                    self.assertEqual(len(self._statuses(wamid)), 3)

    def test_dates_keep_the_order_of_the_statuses(self):
        """No date is later than a higher status's (tools.status.dates_in_order): a
        "delivered" dated after the "read" takes the read's date, in two POSTs or in
        one, in the batch's SQL or one by one, and for statuses that waited for their
        message; a "delivered" dated before our record of the send moves it back."""
        Status = type(self.Status)
        for path in ("batch", "one by one"):
            broken = patch.object(Status, "_ingest_batch", side_effect=RuntimeError("off"))
            with (
                self.subTest(path=path),
                broken if path == "one by one" else nullcontext(),
                self.mock_whatsapp_gateway() as gateway,
            ):
                self._check_dates_in_order(gateway, path.replace(" ", ""))

    def _check_dates_in_order(self, gateway, tag):
        def receive(wamid, *stamped):
            statuses = [meta_status(wamid, status, at) for status, at in stamped]
            event = self._receive(meta_payload(statuses=statuses))
            self.assertEqual(event.state, "processed", event.error)

        def assert_dates(message, sent, delivered, read):
            self.assertEqual(
                (message.state, message.sent_date, message.delivered_date, message.read_date),
                ("read", sent, _dt(delivered), _dt(read)),
            )

        late = self._sent_text(gateway, f"wamid.OUT.LATE.{tag}")
        at_read = meta_timestamp(late.sent_date, minutes=3)
        receive(late.whatsapp_message_id, ("read", at_read))
        receive(late.whatsapp_message_id, ("delivered", meta_timestamp(late.sent_date, minutes=5)))
        assert_dates(late, late.sent_date, at_read, at_read)
        both = self._sent_text(gateway, f"wamid.OUT.BOTH.{tag}")
        at_read = meta_timestamp(both.sent_date, minutes=3)
        at_delivered = meta_timestamp(both.sent_date, minutes=5)
        receive(both.whatsapp_message_id, ("delivered", at_delivered), ("read", at_read))
        assert_dates(both, both.sent_date, at_read, at_read)
        early = self._sent_text(gateway, f"wamid.OUT.EARLY.{tag}")
        at_delivered = meta_timestamp(early.sent_date, seconds=-30)
        at_read = meta_timestamp(early.sent_date, minutes=1)
        receive(early.whatsapp_message_id, ("delivered", at_delivered), ("read", at_read))
        assert_dates(early, _dt(at_delivered), at_delivered, at_read)
        # Statuses before their message has its wamid wait, then apply in the same order.
        wamid = f"wamid.OUT.WAITED.{tag}"
        at_read = meta_timestamp(minutes=3)
        receive(wamid, ("read", at_read))
        receive(wamid, ("delivered", meta_timestamp(minutes=5)))
        self._open_window(MANAGER)
        waited = self.Message.create(
            {"direction": "outbound", "config_id": self.config.id, "phone": MANAGER, "body": "x"}
        )
        gateway.wamids[MANAGER] = [wamid]
        self._run_queue()
        self.assertEqual(waited.whatsapp_message_id, wamid)
        assert_dates(waited, waited.sent_date, at_read, at_read)

    def test_one_post_of_many_statuses_applies_as_one_by_one_would(self):
        # Meta batches up to 1,000 statuses per POST: they are applied together, in a
        # few statements. Patching the one-by-one path proves the batch path did it.
        self._check_many_statuses("_ingest")

    def test_statuses_applied_one_by_one_when_the_batch_fails(self):
        # The batch statement failing (whatever the cause) leaves each status to the
        # one-by-one path, with the same result.
        # logging.INFO, not "INFO": Odoo names its level 25 (RUNBOT) "INFO" too.
        with self.assertLogs(EVENT_LOGGER, logging.INFO) as logs:
            self._check_many_statuses("_ingest_batch")
        self.assertIn("statuses applied one by one", "\n".join(logs.output))

    def _check_many_statuses(self, broken):
        """One POST of many statuses, with ``broken`` (``_ingest``: the one-by-one path;
        ``_ingest_batch``: the batch) failing if it is called."""
        stamps = {
            "delivered": meta_timestamp(minutes=-8),
            "read": meta_timestamp(minutes=-6),
        }
        statuses = [
            meta_status("wamid.OUT.B1", "read", stamps["read"]),
            meta_status("wamid.OUT.B1", "delivered", stamps["delivered"]),
            meta_status("wamid.OUT.B1", "delivered", stamps["delivered"]),  # twice in the POST
            meta_status("wamid.OUT.B2", "delivered", stamps["delivered"]),
            meta_status("wamid.OUT.B3", "failed", errors=[(131026, "Undeliverable", "Gone")]),
            meta_status("wamid.OUT.B4", "played", stamps["read"]),
            meta_status("wamid.OUT.LATER", "delivered", stamps["delivered"]),  # not stored yet
        ]
        Status = type(self.env["ofitec.whatsapp.status"])
        with (
            self.mock_whatsapp_gateway() as gateway,
            patch.object(Status, broken, side_effect=AssertionError(f"{broken} was called")),
        ):
            sent = {w: self._sent_text(gateway, f"wamid.OUT.{w}") for w in ("B1", "B2", "B3", "B4")}
            sent["B4"].state = "read"  # a late "played" moves nothing back
            event = self._receive(meta_payload(statuses=statuses))
            self.assertEqual(event.state, "processed", event.error)
            self.assertEqual(sent["B1"].state, "read")
            self.assertEqual(sent["B1"].delivered_date, _dt(stamps["delivered"]))
            self.assertEqual(sent["B1"].read_date, _dt(stamps["read"]))
            self.assertEqual(sent["B2"].state, "delivered")
            self.assertFalse(sent["B2"].read_date)
            self.assertEqual((sent["B3"].state, sent["B3"].error_code), ("failed", "131026"))
            self.assertEqual(sent["B4"].state, "read")
            self.assertTrue(self._statuses("wamid.OUT.B1").mapped("applied"))
            self.assertEqual(len(self._statuses("wamid.OUT.B1")), 2)
            self.assertFalse(self._statuses("wamid.OUT.LATER").applied)
            # The same POST again changes nothing.
            again = self._receive(meta_payload(statuses=statuses))
            self.assertEqual(again.state, "processed", again.error)
            self.assertEqual(len(self._statuses("wamid.OUT.B1")), 2)
            self.assertEqual(sent["B1"].state, "read")
        # The waiting status applies when its message gets the wamid.
        later = self.Message.create(
            {"direction": "outbound", "config_id": self.config.id, "phone": MANAGER, "body": "x"}
        )
        with self.mock_whatsapp_gateway() as gateway:
            gateway.wamids[MANAGER] = ["wamid.OUT.LATER"]
            self._run_queue()
        self.assertEqual((later.whatsapp_message_id, later.state), ("wamid.OUT.LATER", "delivered"))

    def test_read_without_delivered_and_played(self):
        with self.mock_whatsapp_gateway() as gateway:
            message = self._sent_text(gateway, "wamid.OUT.JUMP")
            self._receive(meta_payload(statuses=[meta_status("wamid.OUT.JUMP", "read")]))
            self.assertEqual(message.state, "read")
            voice = self._sent_text(gateway, "wamid.OUT.VOICE")
            self._receive(meta_payload(statuses=[meta_status("wamid.OUT.VOICE", "played")]))
            self.assertEqual(voice.state, "read")
            self.assertTrue(voice.read_date)

    def test_failed_status_records_code_title_and_details(self):
        with self.mock_whatsapp_gateway() as gateway:
            message = self._sent_text(gateway, "wamid.OUT.FAIL")
            self._receive(
                meta_payload(
                    statuses=[
                        meta_status(
                            "wamid.OUT.FAIL",
                            "failed",
                            errors=[
                                (
                                    131026,
                                    "Message undeliverable",
                                    "Unable to deliver message to this number.",
                                )
                            ],
                        )
                    ]
                )
            )
            self.assertEqual(message.state, "failed")
            self.assertEqual(message.error_code, "131026")
            self.assertIn("Message undeliverable", message.error_message)
            self.assertIn("Unable to deliver message to this number.", message.error_message)
            # A late "delivered" does not bring a failed message back.
            self._receive(meta_payload(statuses=[meta_status("wamid.OUT.FAIL", "delivered")]))
            self.assertEqual(message.state, "failed")

    def test_failed_after_read_does_not_regress(self):
        with self.mock_whatsapp_gateway() as gateway:
            message = self._sent_text(gateway, "wamid.OUT.READFAIL")
            self._receive(meta_payload(statuses=[meta_status("wamid.OUT.READFAIL", "read")]))
            self._receive(
                meta_payload(
                    statuses=[
                        meta_status("wamid.OUT.READFAIL", "failed", errors=[(131000, "Error", "x")])
                    ]
                )
            )
            self.assertEqual(message.state, "read")
            self.assertFalse(message.error_code)

    def test_failed_after_delivered_is_ignored(self):
        """tools.status: a delivered message never becomes failed (nor is re-sent)."""
        failed = meta_status("wamid.OUT.DELFAIL", "failed", errors=[(131047, "Window", "x")])
        with self.mock_whatsapp_gateway() as gateway:
            message = self._sent_text(gateway, "wamid.OUT.DELFAIL")
            self._receive(meta_payload(statuses=[meta_status("wamid.OUT.DELFAIL", "delivered")]))
            self._receive(meta_payload(statuses=[failed]))
            self.assertEqual(message.state, "delivered")
            self.assertFalse(message.error_code)
            # Both in one POST (the batch path), in either order.
            for wamid, order in (("wamid.OUT.DF1", (0, 1)), ("wamid.OUT.DF2", (1, 0))):
                other = self._sent_text(gateway, wamid)
                pair = [meta_status(wamid, "delivered"), dict(failed, id=wamid)]
                self._receive(meta_payload(statuses=[pair[i] for i in order]))
                self.assertEqual(other.state, "delivered", wamid)
            sends = len(gateway.sent)
            self._run_queue()
            self.assertEqual(len(gateway.sent), sends, "nothing is re-sent")

    def test_window_closed_failure_resends_the_approved_template(self):
        with self.mock_whatsapp_gateway() as gateway:
            self._open_window(MANAGER)
            action, notification = self._notify(gateway, "wamid.OUT.WIN")
            self.assertEqual(notification.message_type, "interactive")
            self._receive(
                meta_payload(
                    statuses=[
                        meta_status(
                            "wamid.OUT.WIN",
                            "failed",
                            errors=[(131047, "Re-engagement message", "More than 24 hours")],
                        )
                    ]
                )
            )
            self.assertEqual(notification.state, "failed")
            self.assertEqual(notification.error_code, "131047")
            contact = self.Contact.search([("wa_id", "=", MANAGER_WA)])
            self.assertFalse(contact.last_inbound_at)
            self._run_queue()
            retry = self._messages(action, phone=MANAGER, direction="outbound") - notification
            self.assertEqual(retry.state, "sent")
            self.assertEqual(retry.message_type, "template")
            self.assertEqual(gateway.sent_to(MANAGER)[-1]["kind"], "template")


class TestPendingStatuses(WebhookProcessingCase):
    def test_status_before_its_message_waits_and_applies_later(self):
        with self.mock_whatsapp_gateway() as gateway:
            action = self._create_action()
            notification = self._messages(action, phone=MANAGER)
            self.assertEqual(notification.state, "queued")
            t_delivered = meta_timestamp(seconds=-2)
            t_read = meta_timestamp(seconds=-1)
            self._receive(
                meta_payload(
                    statuses=[
                        meta_status("wamid.EARLY", "read", t_read, recipient_id=MANAGER_WA),
                        meta_status("wamid.EARLY", "delivered", t_delivered),
                    ]
                )
            )
            pending = self._statuses("wamid.EARLY")
            self.assertEqual(len(pending), 2)
            self.assertFalse(any(pending.mapped("applied")))
            self.assertFalse(pending.message_id)
            self.assertEqual(notification.state, "queued")
            # The send returns that wamid: the waiting statuses apply.
            gateway.wamids[MANAGER] = ["wamid.EARLY"]
            self._run_queue()
            self.assertEqual(notification.whatsapp_message_id, "wamid.EARLY")
            self.assertEqual(notification.state, "read")
            self.assertEqual(notification.delivered_date, _dt(t_delivered))
            self.assertEqual(notification.read_date, _dt(t_read))
            self.assertTrue(all(pending.mapped("applied")))
            self.assertEqual(pending.message_id, notification)

    def test_callback_data_reconciles_a_send_whose_answer_was_lost(self):
        with self.mock_whatsapp_gateway() as gateway:
            action = self._create_action()
            gateway.fail(MANAGER, UncertainDeliveryError("Read timed out"))
            self._run_queue()
            notification = self._messages(action, phone=MANAGER)
            self.assertEqual(notification.state, "queued")
            self.assertFalse(notification.whatsapp_message_id)
            self.assertEqual(notification.retry_count, 1)
            self.assertEqual(len([c for c in gateway.calls if c.get("to") == MANAGER]), 1)
            callback = f"ofitec:{notification.id}"
            [call] = [c for c in gateway.calls if c.get("to") == MANAGER]
            self.assertEqual(call["callback"], callback)
            # Meta had accepted it: its statuses come, the first one without our data.
            t_read = meta_timestamp()
            self._receive(meta_payload(statuses=[meta_status("wamid.LOST", "read", t_read)]))
            self.assertEqual(notification.state, "queued")
            self._receive(
                meta_payload(
                    statuses=[
                        meta_status(
                            "wamid.LOST",
                            "sent",
                            recipient_id=MANAGER_WA,
                            callback_data=callback,
                        )
                    ]
                )
            )
            self.assertEqual(notification.whatsapp_message_id, "wamid.LOST")
            self.assertEqual(notification.state, "read")
            self.assertEqual(notification.read_date, _dt(t_read))
            self.assertTrue(all(self._statuses("wamid.LOST").mapped("applied")))
            # The retry that was scheduled is not made.
            self._make_due(notification)
            self._run_queue()
            self.assertEqual(len([c for c in gateway.calls if c.get("to") == MANAGER]), 1)
            self.assertFalse(gateway.sent_to(MANAGER))
            self.assertEqual(notification.state, "read")

    def test_callback_data_never_replaces_a_known_wamid(self):
        with self.mock_whatsapp_gateway() as gateway:
            message = self._sent_text(gateway, "wamid.OUT.KNOWN")
            self._receive(
                meta_payload(
                    statuses=[
                        meta_status(
                            "wamid.OTHER", "delivered", callback_data=f"ofitec:{message.id}"
                        )
                    ]
                )
            )
            self.assertEqual(message.whatsapp_message_id, "wamid.OUT.KNOWN")
            self.assertEqual(message.state, "sent")
            self.assertFalse(self._statuses("wamid.OTHER").applied)


class TestWebhookRouting(WebhookProcessingCase):
    def test_items_of_another_phone_number_id_are_ignored(self):
        with self.mock_whatsapp_gateway() as gateway:
            message = self._sent_text(gateway, "wamid.OUT.MINE")
            payload = meta_payload(
                changes=[
                    meta_change(
                        statuses=[meta_status("wamid.OUT.MINE", "read")],
                        messages=[meta_text("wamid.IN.OTHER", MANAGER_WA, "OK")],
                        phone_number_id="999999999",
                    ),
                    meta_change(statuses=[meta_status("wamid.OUT.MINE", "delivered")]),
                ]
            )
            event = self._receive(payload)
            self.assertEqual(event.state, "processed")
            self.assertEqual(message.state, "delivered")
            self.assertEqual(self._statuses("wamid.OUT.MINE").mapped("status"), ["delivered"])
            self.assertFalse(self.Message.search([("whatsapp_message_id", "=", "wamid.IN.OTHER")]))
            self.assertEqual((event.status_count, event.message_count), (1, 0))

    def test_several_entries_and_changes_in_one_post_are_all_processed(self):
        with self.mock_whatsapp_gateway() as gateway:
            first = self._sent_text(gateway, "wamid.OUT.MULTI1")
            second = self._sent_text(gateway, "wamid.OUT.MULTI2", number=ASSIGNEE)
            payload = meta_payload(
                entries=[
                    [
                        meta_change(statuses=[meta_status("wamid.OUT.MULTI1", "delivered")]),
                        meta_change(messages=[meta_text("wamid.IN.MULTI1", MANAGER_WA, "Hola")]),
                    ],
                    [
                        meta_change(
                            statuses=[
                                meta_status("wamid.OUT.MULTI2", "read"),
                                meta_status("wamid.OUT.MULTI1", "read"),
                            ],
                            messages=[
                                meta_text("wamid.IN.MULTI2", ASSIGNEE_WA, "Hola"),
                                meta_text("wamid.IN.MULTI3", ASSIGNEE_WA, "¿Hay novedades?"),
                            ],
                        )
                    ],
                ]
            )
            event = self._receive(payload)
            self.assertEqual(event.state, "processed")
            self.assertEqual((event.status_count, event.message_count), (3, 3))
            self.assertEqual((first.state, second.state), ("read", "read"))
            inbound = self.Message.search([("direction", "=", "inbound")])
            self.assertEqual(
                sorted(inbound.mapped("whatsapp_message_id")),
                ["wamid.IN.MULTI1", "wamid.IN.MULTI2", "wamid.IN.MULTI3"],
            )

    def test_one_bad_item_does_not_stop_the_others_and_reprocess_is_idempotent(self):
        with self.mock_whatsapp_gateway() as gateway:
            message = self._sent_text(gateway, "wamid.OUT.BAD")
            payload = meta_payload(
                statuses=[meta_status("wamid.OUT.BAD", "delivered")],
                messages=[
                    meta_text("wamid.IN.GOOD", MANAGER_WA, "Hola"),
                    meta_text("wamid.IN.BOOM", ASSIGNEE_WA, "Hola"),
                ],
            )
            Contact = type(self.Contact)
            original = Contact._touch_from_inbound

            def flaky(contacts, config, inbound):
                if inbound.wamid == "wamid.IN.BOOM":
                    raise ValueError("database hiccup")
                return original(contacts, config, inbound)

            with patch.object(Contact, "_touch_from_inbound", flaky), mute_logger(EVENT_LOGGER):
                event = self._receive(payload)
            self.assertEqual(event.state, "failed")
            self.assertIn("wamid.IN.BOOM", event.error)
            self.assertIn("database hiccup", event.error)
            self.assertEqual(message.state, "delivered")
            self.assertTrue(self.Message.search([("whatsapp_message_id", "=", "wamid.IN.GOOD")]))
            self.assertFalse(self.Message.search([("whatsapp_message_id", "=", "wamid.IN.BOOM")]))
            outbound = self.Message.search_count([("direction", "=", "outbound")])

            event.action_reprocess()
            self.assertEqual(event.state, "received")
            self._process_webhooks()
            self.assertEqual(event.state, "processed")
            self.assertFalse(event.error)
            self.assertEqual(event.attempt_count, 2)
            for wamid in ("wamid.IN.GOOD", "wamid.IN.BOOM"):
                self.assertEqual(
                    self.Message.search_count([("whatsapp_message_id", "=", wamid)]), 1
                )
            self.assertEqual(len(self._statuses("wamid.OUT.BAD")), 1)
            # Only the message that failed got its answer now.
            self.assertEqual(
                self.Message.search_count([("direction", "=", "outbound")]), outbound + 1
            )

    def test_invalid_items_are_reported_and_the_rest_applies(self):
        with self.mock_whatsapp_gateway() as gateway:
            message = self._sent_text(gateway, "wamid.OUT.INVALID")
            payload = meta_payload(
                statuses=[
                    meta_status("wamid.OUT.INVALID", "delivered", timestamp="soon"),
                    meta_status("wamid.OUT.INVALID", "read"),
                ],
                messages=[meta_text("wamid.IN.VALID", MANAGER_WA, "Hola")],
            )
            event = self._receive(payload)
            self.assertEqual(event.state, "failed")
            self.assertIn("statuses[0]", event.error)
            self.assertEqual(message.state, "read")
            self.assertTrue(self.Message.search([("whatsapp_message_id", "=", "wamid.IN.VALID")]))

    def test_lone_surrogates_in_the_json_do_not_fail_the_event(self):
        # "\ud800" is valid JSON (Meta escapes non-ASCII) but not storable text.
        body = (
            '{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":'
            '"messages","value":{"metadata":{"phone_number_id":"106540352242922"},'
            '"contacts":[{"profile":{"name":"Ana \\udc80"},"wa_id":"56933333333"}],'
            '"messages":[{"from":"56933333333","id":"wamid.IN.SURR","timestamp":"'
            + meta_timestamp()
            + '","type":"text","text":{"body":"hola \\ud800"}}]}}]}]}'
        ).encode()
        event = self._receive(body)
        self.assertEqual(event.state, "processed", event.error)
        inbound = self.Message.search([("whatsapp_message_id", "=", "wamid.IN.SURR")])
        self.assertEqual(inbound.body, "hola ")
        contact = self.env["ofitec.whatsapp.contact"].search([("wa_id", "=", "56933333333")])
        self.assertEqual(contact.profile_name, "Ana ")

    def test_a_batch_of_events_notifies_each_dashboard_once(self):
        channel = json_dump(channel_with_db(self.env.cr.dbname, self.company))
        Bus = self.env["bus.bus"].sudo()
        before = Bus.search([("channel", "=", channel)])
        with self.mock_whatsapp_gateway() as gateway:
            sent = [self._sent_text(gateway, f"wamid.OUT.EV{i}") for i in range(3)]
            events = [
                self._deliver_webhook(
                    meta_payload(statuses=[meta_status(m.whatsapp_message_id, "delivered")])
                )
                for m in sent
            ]
            self.assertEqual(self._process_webhooks(), 3)
        self.assertEqual({e.state for e in events}, {"processed"})
        self.assertEqual({m.state for m in sent}, {"delivered"})
        updates = [
            row
            for row in Bus.search([("channel", "=", channel)]) - before
            if json.loads(row.message)["type"] == "ofitec_whatsapp/updated"
        ]
        self.assertEqual(len(updates), 1)

    def test_an_event_that_cannot_be_processed_does_not_block_the_next(self):
        with self.mock_whatsapp_gateway() as gateway:
            message = self._sent_text(gateway, "wamid.OUT.NEXT")
            broken = self._deliver_webhook(meta_payload())
            good = self._deliver_webhook(
                meta_payload(statuses=[meta_status("wamid.OUT.NEXT", "delivered")])
            )
            Event = type(self.Event)
            original = Event._parse_payload

            def parse(events, *args):
                if events == broken:
                    raise RuntimeError("unexpected")
                return original(events, *args)

            with patch.object(Event, "_parse_payload", parse), mute_logger(EVENT_LOGGER):
                self.assertEqual(self._process_webhooks(), 2)
            self.assertEqual(broken.state, "failed")
            self.assertIn("unexpected", broken.error)
            self.assertEqual(good.state, "processed")
            self.assertEqual(message.state, "delivered")

    def test_template_status_update(self):
        template = self.env.ref("ofitec_whatsapp.ofitec_whatsapp_template_urgent_action")
        payload = {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": "102290129340398",
                    "changes": [
                        {
                            "field": "message_template_status_update",
                            "value": {
                                "event": "PAUSED",
                                "message_template_id": 1387372356726668,
                                "message_template_name": "ofitec_urgent_action",
                                "message_template_language": "es",
                                "reason": "NONE",
                            },
                        }
                    ],
                }
            ],
        }
        event = self._receive(payload)
        self.assertEqual(event.state, "processed")
        self.assertEqual(template.meta_status, "PAUSED")


class TestInboundIdentity(WebhookProcessingCase):
    def test_sender_known_only_by_bsuid_is_matched_to_its_contact(self):
        with self.mock_whatsapp_gateway() as gateway:
            action, _notification = self._notify(gateway)
            # A first message carries both identities (2026: from_user_id always there).
            self._receive(
                meta_payload(
                    messages=[
                        meta_text("wamid.IN.BOTH", MANAGER_WA, "Hola", user_id="CL.1234567890")
                    ]
                )
            )
            contact = self.Contact.search(
                [("config_id", "=", self.config.id), ("wa_id", "=", MANAGER_WA)]
            )
            self.assertEqual(contact.bsuid, "CL.1234567890")
            self.assertEqual(contact.partner_id, self.user_manager.partner_id)
            # Then the user adopts a username: the phone number is no longer sent.
            self._receive(
                meta_payload(
                    messages=[meta_text("wamid.IN.BSUID", None, "OK", user_id="CL.1234567890")]
                )
            )
            inbound = self.Message.search([("whatsapp_message_id", "=", "wamid.IN.BSUID")])
            self.assertEqual(inbound.bsuid, "CL.1234567890")
            self.assertEqual(inbound.partner_id, self.user_manager.partner_id)
            self.assertEqual(self.Contact.search([("bsuid", "=", "CL.1234567890")]), contact)
            self.assertEqual(action.status, "in_progress")

    def test_partner_is_looked_for_once_per_conversation(self):
        """A sender's partner is matched at the first message of a conversation, not on
        every text (the search scans partners by phone): a partner given the number
        mid-conversation is linked at the sender's next conversation."""
        number = "56977777777"
        with self.mock_whatsapp_gateway():
            self._receive(meta_payload(messages=[meta_text("wamid.IN.P1", number, "Hola")]))
            contact = self.Contact.search([("wa_id", "=", number)])
            self.assertFalse(contact.partner_id)
            partner = self.env["res.partner"].create({"name": "Pía", "mobile": "+56977777777"})
            searched = []
            Partner = type(self.env["res.partner"])
            original = Partner.search

            def search(records, domain, *args, **kwargs):
                searched.append(domain)
                return original(records, domain, *args, **kwargs)

            with patch.object(Partner, "search", search):
                self._receive(meta_payload(messages=[meta_text("wamid.IN.P2", number, "Hola?")]))
                self.assertFalse(contact.partner_id, "same conversation: not looked for again")
                self.assertFalse([d for d in searched if "mobile" in str(d)])
                contact.last_inbound_at -= timedelta(hours=25)  # a day later
                self._receive(meta_payload(messages=[meta_text("wamid.IN.P3", number, "Hola")]))
            self.assertEqual(contact.partner_id, partner)
            inbound = self.Message.search([("whatsapp_message_id", "=", "wamid.IN.P3")])
            self.assertEqual(inbound.partner_id, partner)

    def test_a_person_who_changes_number_is_followed_and_alerted_there(self):
        """Meta's user_changed_number: the contact follows the person, and the partner's
        number is updated (noted in its chatter), so the next alert does not go to the
        old number, which may be someone else's by then."""
        new_wa = "56911119999"
        partner = self.user_manager.partner_id
        with self.mock_whatsapp_gateway():
            self._receive(meta_payload(messages=[meta_text("wamid.IN.OLD", MANAGER_WA, "Hola")]))
            contact = self.Contact.search([("wa_id", "=", MANAGER_WA)])
            self.assertEqual(contact.partner_id, partner)
            change = meta_message(
                "wamid.IN.CHANGED",
                MANAGER_WA,
                "system",
                body=f"Paula changed from {MANAGER_WA} to {new_wa}",
                new_wa_id=new_wa,
                type="user_changed_number",
            )
            event = self._receive(meta_payload(messages=[change]))
        self.assertEqual(event.state, "processed", event.error)
        self.assertEqual((contact.wa_id, contact.phone), (new_wa, "+" + new_wa))
        self.assertEqual(partner.mobile, "+56 911119999")  # the international format
        note = partner.message_ids.filtered(lambda m: "changed number" in (m.body or ""))
        self.assertEqual(len(note), 1)
        self.assertIn(MANAGER, note.body)
        self.assertIn("+" + new_wa, note.body)
        action = self._create_action()
        self.assertEqual(
            sorted(self._messages(action).mapped("phone")), sorted(["+" + new_wa, ASSIGNEE])
        )

    def test_a_number_change_to_a_number_already_heard_from(self):
        """The person wrote from the new number before Meta reported the change: that
        number's contact takes the partner (no clash on the unique wa_id), and the
        partner's number still moves."""
        new_wa = "56911118888"
        partner = self.user_manager.partner_id
        self._receive(meta_payload(messages=[meta_text("wamid.IN.O1", MANAGER_WA, "Hola")]))
        self._receive(meta_payload(messages=[meta_text("wamid.IN.N1", new_wa, "Soy yo")]))
        old_contact = self.Contact.search([("wa_id", "=", MANAGER_WA)])
        new_contact = self.Contact.search([("wa_id", "=", new_wa)])
        self.assertEqual(old_contact.partner_id, partner)
        self.assertFalse(new_contact.partner_id)
        change = meta_message(
            "wamid.IN.CHANGED3",
            MANAGER_WA,
            "system",
            body="changed",
            new_wa_id=new_wa,
            type="user_changed_number",
        )
        event = self._receive(meta_payload(messages=[change]))
        self.assertEqual(event.state, "processed", event.error)
        self.assertFalse(event.error)
        self.assertEqual(old_contact.wa_id, MANAGER_WA)
        self.assertEqual(new_contact.partner_id, partner)
        self.assertEqual(partner.mobile, "+56 911118888")
        self.assertTrue(partner.message_ids.filtered(lambda m: "changed number" in (m.body or "")))

    def test_a_number_change_of_someone_without_that_number_changes_no_partner(self):
        partner = self.env["res.partner"].create({"name": "Otro", "mobile": "+56 9 4545 4545"})
        contact = self.Contact.create(
            {"config_id": self.config.id, "wa_id": "56945454545", "phone": "+56945454545"}
        )
        contact.partner_id = partner
        partner.mobile = "+56 9 4545 0000"  # changed in Odoo meanwhile: not ours to touch
        change = meta_message(
            "wamid.IN.CHANGED2",
            "56945454545",
            "system",
            body="changed",
            new_wa_id="56945451111",
            type="user_changed_number",
        )
        event = self._receive(meta_payload(messages=[change]))
        self.assertEqual(event.state, "processed", event.error)
        self.assertEqual(contact.wa_id, "56945451111")
        self.assertEqual(partner.mobile, "+56 9 4545 0000")
        self.assertFalse(partner.message_ids.filtered(lambda m: "changed number" in (m.body or "")))

    def test_new_sender_with_only_a_bsuid(self):
        with self.mock_whatsapp_gateway() as gateway:
            self._receive(
                meta_payload(messages=[meta_text("wamid.IN.NEW", None, "Hola", user_id="AR.999")])
            )
            contact = self.Contact.search([("bsuid", "=", "AR.999")])
            self.assertTrue(contact)
            self.assertFalse(contact.wa_id)
            self.assertTrue(contact.last_inbound_at)
            inbound = self.Message.search([("whatsapp_message_id", "=", "wamid.IN.NEW")])
            self.assertEqual((inbound.bsuid, inbound.wa_id), ("AR.999", False))
            # The help answer goes back to the user id.
            self._run_queue()
            self.assertEqual(len(gateway.sent_to("AR.999")), 1)
            self.assertIn("*COMPLETADO*", gateway.sent_to("AR.999")[0]["body"])

    def test_media_reaction_and_unsupported_messages_are_stored(self):
        with self.mock_whatsapp_gateway() as gateway:
            self._sent_text(gateway, "wamid.OUT.MEDIA")
            payload = meta_payload(
                messages=[
                    meta_message(
                        "wamid.IN.IMG",
                        MANAGER_WA,
                        "image",
                        caption="Losa piso 3",
                        mime_type="image/jpeg",
                        id="1003383421387256",
                    ),
                    meta_message(
                        "wamid.IN.REACT",
                        MANAGER_WA,
                        "reaction",
                        message_id="wamid.OUT.MEDIA",
                        emoji="👍",
                    ),
                    meta_message("wamid.IN.UNSUP", MANAGER_WA, "unsupported", type="poll"),
                ]
            )
            event = self._receive(payload)
            self.assertEqual(event.state, "processed")
            inbound = self.Message.search([("direction", "=", "inbound")], order="id")
            self.assertEqual(inbound.mapped("body"), ["Losa piso 3", "👍", "[unsupported: poll]"])
            # Media, reactions and unsupported messages get no "I did not understand".
            self.assertFalse(
                self.Message.search([("direction", "=", "outbound"), ("state", "=", "queued")])
            )


class TestCustomerServiceWindow(WebhookProcessingCase):
    def test_inbound_message_opens_the_window_from_its_timestamp(self):
        contact = self.Contact.search([("wa_id", "=", MANAGER_WA)])
        self.assertFalse(contact.last_inbound_at)
        sent_at = meta_timestamp(hours=-2)
        self._receive(meta_payload(messages=[meta_text("wamid.IN.WIN1", MANAGER_WA, "Hola")]))
        self._receive(
            meta_payload(
                messages=[meta_text("wamid.IN.WIN0", MANAGER_WA, "Hola", timestamp=sent_at)]
            )
        )
        contact = self.Contact.search([("wa_id", "=", MANAGER_WA)])
        # The later of the two, whatever the order they came in.
        self.assertGreater(contact.last_inbound_at, _dt(sent_at))
        self.assertTrue(contact.window_open)
        # A message written 30 hours ago (a late redelivery) does not open it.
        old = meta_timestamp(hours=-30)
        self._receive(
            meta_payload(messages=[meta_text("wamid.IN.OLD", ASSIGNEE_WA, "Hola", timestamp=old)])
        )
        assignee = self.Contact.search([("wa_id", "=", ASSIGNEE_WA)])
        self.assertEqual(assignee.last_inbound_at, _dt(old))
        self.assertFalse(assignee.window_open)
        self.Message.search([("direction", "=", "outbound")]).write({"state": "cancelled"})

        with self.mock_whatsapp_gateway() as gateway:
            action = self._create_action()
            self._run_queue()
            [free_form] = self.assertWhatsAppSent(gateway, MANAGER, kind="interactive")
            self.assertButtonsFor(free_form, action)
            self.assertIn(action.name, free_form["body"])
            self.assertWhatsAppSent(gateway, ASSIGNEE, kind="template")

    def test_window_refreshes_with_each_message(self):
        first = meta_timestamp(hours=-23, minutes=-57)
        self._receive(
            meta_payload(messages=[meta_text("wamid.IN.R1", MANAGER_WA, "Hola", timestamp=first)])
        )
        contact = self.Contact.search([("wa_id", "=", MANAGER_WA)])
        self.assertEqual(contact.last_inbound_at, _dt(first))
        self.assertFalse(contact.window_open, "closes a little before 24 hours")
        second = meta_timestamp(minutes=-1)
        self._receive(
            meta_payload(messages=[meta_text("wamid.IN.R2", MANAGER_WA, "Hola", timestamp=second)])
        )
        self.assertEqual(contact.last_inbound_at, _dt(second))
        self.assertTrue(contact.window_open)
        self.assertTrue(contact._is_window_open(at=fields.Datetime.now() + timedelta(hours=23)))


class TestProcessingUser(WebhookProcessingCase):
    def test_processing_runs_as_the_bot_within_the_number_company(self):
        bot = self.env.ref("ofitec_whatsapp.user_whatsapp_bot")
        other_company = self.env["res.company"].create({"name": "OFITEC Perú"})
        other_config = self.env["ofitec.whatsapp.config"].create(
            {
                "name": "Número Perú",
                "phone_number_id": "222333444",
                "access_token": "token",
                "app_secret": "secret",
                "company_id": other_company.id,
            }
        )
        with self.mock_whatsapp_gateway() as gateway:
            action, notification = self._notify(gateway, "wamid.OUT.BOT")
            event = self._receive(
                meta_payload(
                    statuses=[meta_status("wamid.OUT.BOT", "delivered")],
                    messages=[meta_text("wamid.IN.BOT", MANAGER_WA, "Hola")],
                )
            )
            self.assertEqual(event.state, "processed")
            inbound = self.Message.search([("whatsapp_message_id", "=", "wamid.IN.BOT")])
            self.assertEqual(inbound.create_uid, bot)
            self.assertEqual(self._statuses("wamid.OUT.BOT").create_uid, bot)
            self.assertEqual(notification.write_uid, bot)
            # The same person writes "OK" to the other company's number: that number
            # never sent them this action, so nothing changes.
            event = self._receive(
                meta_payload(
                    messages=[meta_text("wamid.IN.PERU", MANAGER_WA, "OK")],
                    phone_number_id="222333444",
                ),
                config=other_config,
            )
            self.assertEqual(event.state, "processed", event.error)
            inbound = self.Message.sudo().search([("whatsapp_message_id", "=", "wamid.IN.PERU")])
            self.assertEqual(inbound.company_id, other_company)
            self.assertEqual(inbound.config_id, other_config)
            self.assertEqual(action.status, "pending")
            self.assertIn(other_company, bot.company_ids)
