"""The inbound messages of a cron batch are applied together (one redelivery check, one
contact search, one INSERT, the answers queued at once) with exactly the effects the
same events have applied one by one."""

from contextlib import closing
from unittest.mock import patch

from psycopg2.errors import LockNotAvailable
from psycopg2.extensions import TransactionRollbackError

from odoo import SUPERUSER_ID, api
from odoo.tools import mute_logger

from .common import WhatsAppCase, meta_payload, meta_text, meta_timestamp
from .test_replies import ASSIGNEE, MANAGER, MANAGER_WA, STRANGER_WA, ReplyCase
from .test_webhook_processing import EVENT_LOGGER

ASSIGNEE_WA = ASSIGNEE.lstrip("+")
CONTRACTOR = "+56944444444"
CONTRACTOR_WA = "56944444444"


class _Undo(Exception):
    """Rolls a savepoint back on purpose."""


class TestInboundBatch(ReplyCase):
    def setUp(self):
        super().setUp()
        # Status tracking on, as in production (the test classes turn it off): the
        # history entries are part of what must be the same.
        self.env = self.env(context=dict(self.env.context, tracking_disable=False))
        contractor = self._create_user("ctr", "Carlos Contratista", "+56 9 4444 4444")
        project = self.env["project.project"].create(
            {"name": "Bodega Central", "user_id": contractor.id}
        )
        self.first = self._notify()  # to the manager and the assignee
        self.second = self._notify(project_id=project.id, user_id=contractor.id)
        self.env.flush_all()
        self.env.cr.flush()
        self.at = meta_timestamp(minutes=-1)  # the same in both runs
        Message = self.env["ofitec.whatsapp.message"]
        self.last_message = Message.search([], order="id desc", limit=1).id
        self.last_note = self.env["mail.message"].search([], order="id desc", limit=1).id

    def _texts(self):
        """Several senders, in order: two texts of the manager (OK, then COMPLETADO),
        the assignee's OK, a stranger, a plain text, a redelivery of the first text."""
        texts = [
            ("wamid.IN.B1", MANAGER_WA, "OK"),
            ("wamid.IN.B2", CONTRACTOR_WA, "OK"),
            ("wamid.IN.B3", MANAGER_WA, "COMPLETADO"),
            ("wamid.IN.B4", ASSIGNEE_WA, "OK"),
            ("wamid.IN.B5", STRANGER_WA, "OK"),
            ("wamid.IN.B6", CONTRACTOR_WA, "Hola, gracias"),
            ("wamid.IN.B1", MANAGER_WA, "OK"),
        ]
        return [
            meta_payload(messages=[meta_text(wamid, sender, text, timestamp=self.at)])
            for wamid, sender, text in texts
        ]

    def _deliver_all(self):
        return self.env["ofitec.whatsapp.webhook.event"].browse(
            [self._deliver_webhook(payload).id for payload in self._texts()]
        )

    def _effects(self, events):
        """Everything processing changed, without ids (the two runs differ in those)."""
        self.env.flush_all()
        self.env.cr.flush()  # the status tracking and notes are written before commit
        self.env.invalidate_all()
        Message = self.env["ofitec.whatsapp.message"]
        new = Message.search([("id", ">", self.last_message)], order="id")
        inbound = [
            (m.whatsapp_message_id, m.command, m.next_action_id.id, m.reply_processed, m.phone)
            for m in new.filtered(lambda m: m.direction == "inbound")
        ]
        # Per recipient in order (queued answers of different senders may interleave).
        outbound = sorted(
            (
                (m.phone, m.template_id.code, m.body, m.next_action_id.id, m.state)
                for m in new.filtered(lambda m: m.direction == "outbound")
            ),
            key=lambda row: row[0],
        )
        notes = [
            (
                n.res_id,
                n.body,
                n.author_id.name,
                [(t.old_value_char, t.new_value_char) for t in n.tracking_value_ids],
            )
            for n in self.env["mail.message"].search(
                [("id", ">", self.last_note), ("model", "=", "ofitec.next.action")], order="id"
            )
        ]
        contacts = [
            (c.wa_id, c.phone, c.partner_id.name, c.last_inbound_at, c.opted_out)
            for c in self.env["ofitec.whatsapp.contact"].search([], order="wa_id")
        ]
        return {
            "events": [(e.state, e.error, e.message_count) for e in events],
            "actions": [(self.first.status, self.second.status)],
            "inbound": inbound,
            "outbound": outbound,
            "notes": notes,
            "contacts": contacts,
        }

    def test_a_batch_applies_as_its_events_one_by_one(self):
        self.maxDiff = None
        Message = type(self.env["ofitec.whatsapp.message"])
        one_by_one = []
        original = Message._ingest_inbound

        def spy(model, config, inbound):
            one_by_one.append(inbound.wamid)
            return original(model, config, inbound)

        def message_by_message(model, config, inbounds):
            """What the cron did before batches: each message alone, in its savepoint."""
            touched = model.env["ofitec.next.action"]
            for inbound in inbounds:
                with model.env.cr.savepoint():
                    touched |= model._ingest_inbound(config, inbound)
            return touched

        with patch.object(Message, "_ingest_inbound", spy):
            with self.assertRaises(_Undo), self.env.cr.savepoint():
                events = self._deliver_all()
                self.assertEqual(self._process_webhooks(), 7)
                together = self._effects(events)
                raise _Undo  # back to before the batch
            self.assertEqual(one_by_one, [], "the batch path applied them")
            self.env.invalidate_all()
            self.assertEqual((self.first.status, self.second.status), ("pending", "pending"))
            events = self._deliver_all()
            with patch.object(Message, "_ingest_inbound_batch", message_by_message):
                self.assertEqual(self._process_webhooks(), 7)
            alone = self._effects(events)
        self.assertEqual(len(one_by_one), 7)
        self.assertEqual(together, alone)
        # And what that is: the manager's two texts applied in order (the assignee's OK
        # had no older text waiting: the claim took it before the manager's second),
        # the stranger and the redelivery changed nothing.
        self.assertEqual(together["actions"], [("completed", "in_progress")])
        self.assertEqual(together["events"], [("processed", False, 1)] * 7)
        inbound = {row[0]: row for row in together["inbound"]}
        self.assertEqual(len(together["inbound"]), 6)
        self.assertEqual(inbound["wamid.IN.B1"][2:4], (self.first.id, True))
        self.assertEqual(inbound["wamid.IN.B3"][2:4], (self.first.id, True))
        self.assertEqual(inbound["wamid.IN.B4"][2:4], (self.first.id, False))
        self.assertEqual(inbound["wamid.IN.B5"][2:4], (False, False))
        codes = {}
        for number, code, *_rest in together["outbound"]:
            codes.setdefault(number, []).append(code)
        self.assertEqual(codes[MANAGER], ["reply_ok", "reply_completed"])
        self.assertEqual(codes[ASSIGNEE], ["reply_already", "action_completed"])
        self.assertEqual(codes[CONTRACTOR], ["reply_ok", "reply_help"])
        self.assertEqual(codes["+" + STRANGER_WA], ["welcome", "reply_no_action"])
        status_changes = [note[3] for note in together["notes"] if note[3]]
        self.assertEqual(len(status_changes), 3)

    def test_one_bad_event_of_a_batch_fails_alone(self):
        Message = type(self.env["ofitec.whatsapp.message"])
        original = Message._prepare_inbound_vals

        def poisoned(model, config, inbound, contact, command):
            if inbound.wamid == "wamid.IN.B3":
                raise ValueError("poisoned text")
            return original(model, config, inbound, contact, command)

        events = self._deliver_all()
        with patch.object(Message, "_prepare_inbound_vals", poisoned), mute_logger(EVENT_LOGGER):
            self.assertEqual(self._process_webhooks(), 7)
        self.assertEqual(events.mapped("state"), ["processed"] * 2 + ["failed"] + ["processed"] * 4)
        self.assertIn("wamid.IN.B3", events[2].error)
        self.assertIn("poisoned text", events[2].error)
        # The others applied: the manager's OK and the contractor's, not the completion.
        self.assertEqual((self.first.status, self.second.status), ("in_progress", "in_progress"))
        stored = self.Message.search([("direction", "=", "inbound")]).mapped("whatsapp_message_id")
        self.assertEqual(
            sorted(stored),
            ["wamid.IN.B1", "wamid.IN.B2", "wamid.IN.B4", "wamid.IN.B5", "wamid.IN.B6"],
        )
        # Reprocessed once the cause is gone, it applies (the redelivery changed nothing).
        events[2].action_reprocess()
        self._process_webhooks()
        self.assertEqual(events[2].state, "processed")
        self.assertEqual(self.first.status, "completed")

    def test_a_batch_locks_the_open_actions_it_may_change_before_changing_any(self):
        """The replies of a batch lock the open actions their senders may change, in
        one statement before the first change (see ``_whatsapp_lock_for_replies``)."""
        Action = type(self.env["ofitec.next.action"])
        original = Action._whatsapp_lock_for_replies
        locked = []

        def spy(actions):
            if actions:  # a batch without commands locks nothing
                locked.append((sorted(actions.ids), actions.mapped("status")))
            return original(actions)

        self.second.action_mark_completed()  # closed: nothing a reply may change
        self._deliver_all()
        with patch.object(Action, "_whatsapp_lock_for_replies", spy):
            self.assertEqual(self._process_webhooks(), 7)
        # The claim takes the manager's second text in a later batch (one sender's
        # texts one at a time): each batch locked the first action while still open.
        self.assertTrue(locked)
        self.assertTrue(all(ids == [self.first.id] for ids, _statuses in locked), locked)
        self.assertTrue(all(set(statuses) <= {"pending", "in_progress"} for _i, statuses in locked))
        self.assertEqual(self.first.status, "completed")


class TestReplyLock(WhatsAppCase):
    """Two workers applying replies to one action: the second is refused before it
    changes anything, without an ERROR line in the log. Real transactions on
    connections of their own (a demo action, touched without changing it)."""

    def test_an_action_changed_since_the_snapshot_is_refused_quietly(self):
        action_id = self.env.ref("ofitec_next_action.demo_next_action_1").id
        touch = "UPDATE ofitec_next_action SET write_date = write_date WHERE id = %s"
        with closing(self._cursor()) as first, closing(self._cursor()) as second:
            env = api.Environment(first, SUPERUSER_ID, {})
            action = env["ofitec.next.action"].browse(action_id)
            first.execute("SELECT status FROM ofitec_next_action WHERE id = %s", [action_id])
            second.execute(touch, [action_id])  # another worker's reply, committed
            second.commit()  # pylint: disable=invalid-commit
            with (
                self.assertNoLogs("odoo.sql_db", level="ERROR"),
                self.assertRaises(TransactionRollbackError),
            ):
                action._whatsapp_lock_for_replies()
            first.rollback()
            # Its caller's new transaction takes the lock and holds it: another
            # worker's change now waits for it (NOWAIT shows that without waiting).
            action._whatsapp_lock_for_replies()
            with self.assertRaises(LockNotAvailable), mute_logger("odoo.sql_db"):
                second.execute(
                    "SELECT id FROM ofitec_next_action WHERE id = %s FOR NO KEY UPDATE NOWAIT",
                    [action_id],
                )
            second.rollback()
            first.rollback()
