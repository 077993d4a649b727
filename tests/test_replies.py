"""Replies to notifications: commands, routing, permissions, answers, opt-out."""

import importlib.util
import itertools
import json
from pathlib import Path
from unittest.mock import patch

from odoo.addons.bus.models.bus import channel_with_db, json_dump

from ..models.ofitec_whatsapp_message_inbound import _RECIPIENT_INDEXES, REPLY_CANDIDATES_SQL
from ..tools import commands
from ..tools.commands import make_button_payload
from .common import (
    WhatsAppCase,
    meta_button,
    meta_button_reply,
    meta_payload,
    meta_text,
    meta_timestamp,
)

MANAGER = "+56911111111"
MANAGER_WA = "56911111111"
ASSIGNEE = "+56922222222"
STRANGER = "+56933333333"
STRANGER_WA = "56933333333"
CONTRACTOR = "+56944444444"
CONTRACTOR_WA = "56944444444"

_inbound_counter = itertools.count(1)

ANSWER_OK = "✅ Acción confirmada. Gracias por tu respuesta."
ANSWER_COMPLETED = "🎉 Acción completada exitosamente. ¡Excelente trabajo!"
ANSWER_CANCEL = "❌ Acción cancelada. Si necesitas ayuda, avísanos."
ANSWER_NOT_ALLOWED = (
    "Lo sentimos, esta acción no te fue enviada, así que no puedes modificarla desde WhatsApp."
)
ANSWER_NO_ACTION = "No encontramos una acción abierta enviada a este número."


class ReplyCase(WhatsAppCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.Message = cls.env["ofitec.whatsapp.message"]
        cls.Action = cls.env["ofitec.next.action"]
        cls.bot = cls.env.ref("ofitec_whatsapp.user_whatsapp_bot")

    def setUp(self):
        super().setUp()
        self.gateway = self.enterContext(self.mock_whatsapp_gateway())

    def _notify(self, **vals):
        """An urgent action whose notifications went out (templates: window closed)."""
        action = self._create_action(**vals)
        self._run_queue()
        sent = self._messages(action, direction="outbound")
        self.assertTrue(sent)
        self.assertEqual(set(sent.mapped("state")), {"sent"})
        return action

    def _notification(self, action, number=MANAGER):
        return self._messages(action, phone=number, direction="outbound")[:1]

    def _write(
        self,
        sender,
        text=None,
        payload=None,
        button_text=None,
        interactive=False,
        context=None,
        timestamp=None,
    ):
        """``sender`` (wa_id digits) writes ``text`` or taps a button; processed at once."""
        wamid = f"wamid.IN.REPLY{next(_inbound_counter)}"
        kwargs = {"context_id": context, "timestamp": timestamp}
        if payload and interactive:
            item = meta_button_reply(wamid, sender, payload, button_text or "OK", **kwargs)
        elif payload:
            item = meta_button(wamid, sender, payload, button_text or "OK", **kwargs)
        else:
            item = meta_text(wamid, sender, text, **kwargs)
        event = self._receive(meta_payload(messages=[item]))
        self.assertEqual(event.state, "processed", event.error)
        return self.Message.search([("whatsapp_message_id", "=", wamid)])

    def _answers(self, number):
        """Answers queued to ``number``, oldest first."""
        return self.Message.search(
            [("direction", "=", "outbound"), ("phone", "=", number), ("state", "=", "queued")],
            order="id",
        )

    def assertAnswer(self, number, text):
        answers = self._answers(number)
        self.assertEqual(len(answers), 1, answers.mapped("body"))
        self.assertEqual(answers.body, text)
        # Sent as plain text (the sender just wrote: the window is open).
        self._run_queue()
        self.assertEqual(answers.state, "sent")
        last = self.gateway.sent_to(number)[-1]
        self.assertEqual((last["kind"], last["body"]), ("text", text))
        return answers

    def _spy(self, method):
        """Record the calls of an action method: (ids, uid) per call."""
        Action = type(self.Action)
        original = getattr(Action, method)
        calls = []

        def spy(records, *args, **kwargs):
            calls.append((records.ids, records.env.uid))
            return original(records, *args, **kwargs)

        self.enterContext(patch.object(Action, method, spy))
        return calls


class TestReplyCommands(ReplyCase):
    def _check_variants(self, variants, status, answer):
        for text in variants:
            with self.subTest(text=text):
                # One open action at a time for the manager.
                self.Action.search([("status", "in", ("pending", "in_progress"))]).write(
                    {"status": "cancelled"}
                )
                action = self._notify()
                inbound = self._write(MANAGER_WA, text)
                self.assertEqual(action.status, status)
                self.assertEqual(inbound.next_action_id, action)
                self.assertTrue(inbound.reply_processed)
                self.assertAnswer(MANAGER, answer)

    def test_ok_variants(self):
        calls = self._spy("action_start_progress")
        variants = [
            "OK", "ok", "  Ok.  ", "¡OK!", "✅ OK", "ok 👍", "Okay",
            "sí", "SÍ", "Si", "vale", "VALE!!", "De acuerdo", "confirmo",
        ]  # fmt: skip
        self._check_variants(variants, "in_progress", ANSWER_OK)
        self.assertEqual(len(calls), len(variants))

    def test_completed_variants(self):
        calls = self._spy("action_mark_completed")
        variants = [
            "COMPLETADO", "completado", "Completádo!!", "🎉 completado 🎉", " COMPLETADA ",
            "hecho", "HECHO", "terminado", "TERMINADO", "Terminada.",
        ]  # fmt: skip
        self._check_variants(variants, "completed", ANSWER_COMPLETED)
        self.assertEqual(len(calls), len(variants))

    def test_chilean_acknowledgements_never_complete(self):
        """In Chile "listo", "ya" and "dale" answer "ok, understood" as often as "done":
        they start the action (OK), they never complete it."""
        calls = self._spy("action_mark_completed")
        self._check_variants(["Listo", "listo.", "Ya", "¡Dale!"], "in_progress", ANSWER_OK)
        self.assertEqual(calls, [])

    def test_the_upgrade_moves_listo_where_nobody_changed_the_words(self):
        """16.0.1.0.1's migration: a number with 16.0.1.0.0's words gets the new ones;
        a number whose words somebody changed keeps them."""
        path = Path(__file__).resolve().parent.parent / "migrations/16.0.1.0.1/post-migrate.py"
        spec = importlib.util.spec_from_file_location("ofitec_whatsapp_migrate_16_0_1_0_1", path)
        migration = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(migration)
        former = {command: words for command, words in migration.FORMER.values()}
        untouched = self.config
        changed = self.config.copy({"name": "Other number", "phone_number_id": "990000000099"})
        untouched.write(
            {
                "synonyms_ok": former[commands.CMD_OK],
                "synonyms_completed": former[commands.CMD_COMPLETED],
            }
        )
        changed.write({"synonyms_ok": "sí, vamos", "synonyms_completed": "listo, finiquitado"})
        self.env.flush_all()
        migration.migrate(self.env.cr, "16.0.1.0.0")
        self.env.invalidate_all()
        self.assertEqual(
            (untouched.synonyms_ok, untouched.synonyms_completed),
            (
                commands.DEFAULT_CONFIG_SYNONYMS[commands.CMD_OK],
                commands.DEFAULT_CONFIG_SYNONYMS[commands.CMD_COMPLETED],
            ),
        )
        self.assertEqual(
            (changed.synonyms_ok, changed.synonyms_completed), ("sí, vamos", "listo, finiquitado")
        )

    def test_cancel_variants(self):
        calls = self._spy("action_cancel")
        variants = ["CANCELAR", "cancelar", " Cancelar ❌", "¡Cancelar!", "anular", "ANULAR"]
        self._check_variants(variants, "cancelled", ANSWER_CANCEL)
        self.assertEqual(len(calls), len(variants))

    def test_synonym_added_in_the_configuration(self):
        action = self._notify()
        self._write(MANAGER_WA, "Vamos")
        self.assertEqual(action.status, "pending")
        self.assertIn("*OK*", self._answers(MANAGER).body)
        self._answers(MANAGER).write({"state": "cancelled"})
        self.config.synonyms_ok = (self.config.synonyms_ok or "") + ", vamos"
        self.config.synonyms_completed = "finiquitado"
        self._write(MANAGER_WA, "¡Vamos!")
        self.assertEqual(action.status, "in_progress")
        self.assertAnswer(MANAGER, ANSWER_OK)
        self._write(MANAGER_WA, "FINIQUITADO")
        self.assertEqual(action.status, "completed")
        self.assertAnswer(MANAGER, ANSWER_COMPLETED)

    def test_any_other_text_gets_the_help(self):
        action = self._notify()
        for text in ("Hola, ¿qué tal?", "ok, pero mañana", "42", "🙂"):
            with self.subTest(text=text):
                inbound = self._write(MANAGER_WA, text)
                self.assertFalse(inbound.command)
                self.assertFalse(inbound.reply_processed)
                self.assertEqual(action.status, "pending")
                help_text = self.assertAnswer(MANAGER, self._answers(MANAGER).body).body
                for word in ("*OK*", "*COMPLETADO*", "*CANCELAR*"):
                    self.assertIn(word, help_text)
        self.assertEqual(self.Message.get_whatsapp_stats()["replies_processed"], 0)


class TestReplyButtons(ReplyCase):
    def test_template_quick_reply_payload(self):
        action = self._notify()
        notification = self._notification(action)
        self.assertEqual(notification.message_type, "template")
        [sent] = self.gateway.sent_to(MANAGER)
        self.assertEqual(
            sent["button_payloads"],
            [make_button_payload(action.id, c) for c in ("ok", "completed", "cancel")],
        )
        self._write(
            MANAGER_WA,
            payload=sent["button_payloads"][1],
            button_text="Completado",
            context=notification.whatsapp_message_id,
        )
        self.assertEqual(action.status, "completed")
        self.assertAnswer(MANAGER, ANSWER_COMPLETED)

    def test_template_button_without_payload_uses_its_label(self):
        action = self._notify()
        # Meta sends the label as payload when the button has none.
        self._write(MANAGER_WA, payload="OK", button_text="OK")
        self.assertEqual(action.status, "in_progress")
        self.assertAnswer(MANAGER, ANSWER_OK)

    def test_interactive_button_reply_id(self):
        self._open_window(MANAGER)
        action = self._notify()
        self.assertEqual(self._notification(action).message_type, "interactive")
        [sent] = self.gateway.sent_to(MANAGER)
        self.assertButtonsFor(sent, action)
        cancel_id, cancel_title = sent["buttons"][2]
        self._write(MANAGER_WA, payload=cancel_id, button_text=cancel_title, interactive=True)
        self.assertEqual(action.status, "cancelled")
        self.assertAnswer(MANAGER, ANSWER_CANCEL)


class TestUnstorableCharacters(ReplyCase):
    """NUL (and lone surrogates) are valid JSON but not PostgreSQL text: the reply
    must still apply, stored without them."""

    def test_nul_in_text_and_profile_name(self):
        action = self._notify()
        wamid = "wamid.IN.NUL.TEXT"
        item = meta_text(wamid, MANAGER_WA, "O\x00K")
        event = self._receive(meta_payload(messages=[item], names={MANAGER_WA: "Pau\x00la"}))
        self.assertEqual(event.state, "processed", event.error)
        inbound = self.Message.search([("whatsapp_message_id", "=", wamid)])
        self.assertEqual(inbound.body, "OK")
        self.assertEqual(action.status, "in_progress")
        contact = self.env["ofitec.whatsapp.contact"].search([("wa_id", "=", MANAGER_WA)])
        self.assertEqual(contact.profile_name, "Paula")
        self.assertAnswer(MANAGER, ANSWER_OK)

    def test_nul_and_surrogate_in_button_payload(self):
        action = self._notify()
        payload = make_button_payload(action.id, "completed")
        inbound = self._write(
            MANAGER_WA, payload=payload[:7] + "\x00" + payload[7:] + "\ud800", button_text="\x00"
        )
        self.assertEqual(inbound.message_type, "interactive")  # a reply button's tap
        self.assertEqual(action.status, "completed")
        self.assertAnswer(MANAGER, ANSWER_COMPLETED)


class TestReplyRouting(ReplyCase):
    def test_payload_names_the_action(self):
        first, second = self._notify(name="Primera"), self._notify(name="Segunda")
        # The tap names ``first`` even though it quotes the notification of ``second``.
        self._write(
            MANAGER_WA,
            payload=make_button_payload(first.id, "ok"),
            context=self._notification(second).whatsapp_message_id,
        )
        self.assertEqual((first.status, second.status), ("in_progress", "pending"))

    def test_quoted_notification_names_the_action(self):
        first, second = self._notify(name="Primera"), self._notify(name="Segunda")
        inbound = self._write(
            MANAGER_WA, "OK", context=self._notification(second).whatsapp_message_id
        )
        self.assertEqual((first.status, second.status), ("pending", "in_progress"))
        self.assertEqual(inbound.next_action_id, second)
        self.assertAnswer(MANAGER, ANSWER_OK)

    def test_only_open_notified_action_of_the_sender(self):
        done = self._notify(name="Terminada")
        done.action_mark_completed()
        mine = self._notify(name="Mía")
        not_mine = self._create_action(name="De otro", user_id=self.env.user.id, project_id=False)
        self._run_queue()
        self.assertFalse(self._notification(not_mine))
        self._write(MANAGER_WA, "OK")
        self.assertEqual(mine.status, "in_progress")
        self.assertEqual(done.status, "completed")
        self.assertEqual(not_mine.status, "pending")

    def test_several_open_actions_get_a_numbered_list(self):
        first, second = self._notify(name="Primera"), self._notify(name="Segunda")
        inbound = self._write(MANAGER_WA, "ok")
        self.assertFalse(inbound.reply_processed)
        self.assertEqual((first.status, second.status), ("pending", "pending"))
        self.assertAnswer(
            MANAGER,
            "Tienes varias acciones abiertas:\n"
            f"#{first.id} Primera\n#{second.id} Segunda\n"
            f"Indica el número de la acción, por ejemplo «OK {first.id}».",
        )
        inbound = self._write(MANAGER_WA, f"OK {second.id}")
        self.assertTrue(inbound.reply_processed)
        self.assertEqual((first.status, second.status), ("pending", "in_progress"))
        self.assertAnswer(MANAGER, ANSWER_OK)
        self._write(MANAGER_WA, f"#{first.id} cancelar")
        self.assertEqual(first.status, "cancelled")
        self.assertAnswer(MANAGER, ANSWER_CANCEL)

    def test_a_payload_or_number_naming_no_action_changes_nothing(self):
        action = self._notify()
        missing = self.Action.search([], order="id desc", limit=1).id + 100
        self._write(MANAGER_WA, payload=make_button_payload(missing, "cancel"))
        self.assertEqual(action.status, "pending")
        self.assertAnswer(MANAGER, ANSWER_NO_ACTION)
        self._write(MANAGER_WA, f"COMPLETADO {missing}")
        self.assertEqual(action.status, "pending")
        self.assertAnswer(MANAGER, ANSWER_NO_ACTION)


class TestReplyCandidatesLookUp(ReplyCase):
    """Who a reply is from, and whether this number ever wrote to a new contact, are
    looked up among the messages sent to that wa_id, user id or phone, through their
    indexes: not by reading every message the number sent (0.12 s at 1,000,000). A
    number that has sent 3,000 messages to other people, as the planner sees it (the
    number alone then selects every row, the person a few), and the table scan priced
    out: the plan must read the recipient indexes."""

    def setUp(self):
        super().setUp()
        self.action = self._notify()
        self.env.cr.execute(
            """
            INSERT INTO ofitec_whatsapp_message
                   (config_id, company_id, direction, state, next_action_id,
                    phone, wa_id, whatsapp_message_id)
            SELECT %(config)s, %(company)s, 'outbound', 'delivered',
                   CASE WHEN g %% 2 = 0 THEN %(action)s END,
                   '+5697' || lpad(g::text, 7, '0'), '5697' || lpad(g::text, 7, '0'),
                   'wamid.bulk.' || g
              FROM generate_series(1, 3000) AS g
            """,
            {
                "config": self.config.id,
                "company": self.config.company_id.id,
                "action": self.action.id,
            },
        )
        self.env.cr.execute("ANALYZE ofitec_whatsapp_message")

    def _plan(self, query, params):
        cr = self.env.cr
        cr.execute("SET enable_seqscan = off")
        try:
            cr.execute("EXPLAIN " + query, params)
            return "\n".join(row[0] for row in cr.fetchall())
        finally:
            cr.execute("RESET enable_seqscan")

    def test_whom_a_reply_is_from(self):
        plan = self._plan(
            REPLY_CANDIDATES_SQL, ([self.config.id], [MANAGER_WA], ["CL.123"], [MANAGER])
        )
        for name in _RECIPIENT_INDEXES:
            self.assertIn(name, plan)
        # And the look-up still finds the action notified to the manager.
        self.env.cr.execute(REPLY_CANDIDATES_SQL, ([self.config.id], [], [], [MANAGER]))
        self.assertIn(self.action.id, {row[1] for row in self.env.cr.fetchall()})

    def test_whether_a_new_contact_was_written_to(self):
        Contact = self.env["ofitec.whatsapp.contact"]
        manager = Contact.new({"config_id": self.config.id, "wa_id": MANAGER_WA, "bsuid": "CL.123"})
        plan = self._plan(*Contact._written_to_query(manager))
        for name, column in _RECIPIENT_INDEXES.items():
            if column != "wa_id":  # the domain names phones and the user id
                self.assertIn(name, plan)
        self.assertTrue(Contact._was_written_to(manager))
        stranger = Contact.new({"config_id": self.config.id, "wa_id": STRANGER_WA})
        self.assertFalse(Contact._was_written_to(stranger))


class TestReplyPermissions(ReplyCase):
    def test_a_stranger_cannot_change_an_action(self):
        action = self._notify()
        cancel_calls = self._spy("action_cancel")
        ok_calls = self._spy("action_start_progress")
        inbound = self._write(STRANGER_WA, f"CANCELAR {action.id}")
        self.assertFalse(inbound.reply_processed)
        self.assertEqual(action.status, "pending")
        # A number writing for the first time is welcomed (see test_welcome): set that
        # aside to look at the refusal.
        welcome = self._answers(STRANGER)[:1]
        self.assertEqual(welcome.template_id.code, "welcome")
        welcome.state = "cancelled"
        self.assertAnswer(STRANGER, ANSWER_NOT_ALLOWED)
        # A forged button payload, twice (after our refusal went out to them).
        for _attempt in range(2):
            self._write(STRANGER_WA, payload=make_button_payload(action.id, "cancel"))
            self.assertEqual(action.status, "pending")
            self.assertAnswer(STRANGER, ANSWER_NOT_ALLOWED)
        # A stranger quoting our notification (e.g. a forwarded copy).
        self._write(STRANGER_WA, "OK", context=self._notification(action).whatsapp_message_id)
        self.assertEqual(action.status, "pending")
        self.assertAnswer(STRANGER, ANSWER_NOT_ALLOWED)
        # Without naming an action there is nothing of theirs to change.
        self._write(STRANGER_WA, "OK")
        self.assertAnswer(STRANGER, ANSWER_NO_ACTION)
        self.assertEqual(action.status, "pending")
        self.assertFalse(cancel_calls or ok_calls)
        # The refusal never names the action to the stranger.
        refusals = self.Message.search([("phone", "=", STRANGER), ("direction", "=", "outbound")])
        self.assertFalse(refusals.next_action_id)

    def test_a_stranger_known_only_by_a_user_id_cannot_change_an_action(self):
        """A sender without a phone number (a username: only a BSUID) is no recipient of
        the notifications that carry no WhatsApp id either."""
        action = self._notify()
        notifications = self._messages(action, direction="outbound")
        notifications.write({"wa_id": False, "bsuid": False})
        event = self._receive(
            meta_payload(
                messages=[meta_text("wamid.IN.BSUIDONLY", None, f"OK {action.id}", user_id="AR.7")]
            )
        )
        self.assertEqual(event.state, "processed", event.error)
        self.assertEqual(action.status, "pending")
        inbound = self.Message.search([("whatsapp_message_id", "=", "wamid.IN.BSUIDONLY")])
        self.assertFalse(inbound.reply_processed)
        answers = self.Message.search(
            [("direction", "=", "outbound"), ("bsuid", "=", "AR.7")], order="id"
        )
        self.assertEqual(answers.mapped("template_id.code"), ["welcome", "reply_not_allowed"])

    def test_a_recipient_of_another_action_cannot_change_this_one(self):
        contractor = self.env["res.partner"].create(
            {"name": "Carlos Contratista", "mobile": "+56 9 4444 4444"}
        )
        theirs = self._notify(
            name="Del contratista", whatsapp_recipient_ids=[(6, 0, contractor.ids)]
        )
        other = self._notify(name="Otra")
        self.assertEqual(len(self._notification(other, CONTRACTOR)), 0)
        self._write(CONTRACTOR_WA, payload=make_button_payload(other.id, "completed"))
        self.assertEqual(other.status, "pending")
        self.assertAnswer(CONTRACTOR, ANSWER_NOT_ALLOWED)
        self._write(CONTRACTOR_WA, payload=make_button_payload(theirs.id, "completed"))
        self.assertEqual(theirs.status, "completed")
        self.assertAnswer(CONTRACTOR, ANSWER_COMPLETED)

    def test_invalid_transitions_are_explained(self):
        cancelled = self._notify(name="Anulada")
        cancelled.action_cancel()
        completed = self._notify(name="Cerrada")
        completed.action_mark_completed()
        started = self._notify(name="Empezada")
        started.action_start_progress()
        calls = [
            self._spy("action_mark_completed"),
            self._spy("action_cancel"),
            self._spy("action_start_progress"),
        ]
        self._write(MANAGER_WA, payload=make_button_payload(cancelled.id, "completed"))
        self.assertEqual(cancelled.status, "cancelled")
        self.assertAnswer(
            MANAGER, "La acción «Anulada» está cancelada, así que no se puede aplicar COMPLETADO."
        )
        self._write(MANAGER_WA, f"CANCELAR {completed.id}")
        self.assertEqual(completed.status, "completed")
        self.assertAnswer(
            MANAGER, "La acción «Cerrada» está completada, así que no se puede aplicar CANCELAR."
        )
        self._write(MANAGER_WA, payload=make_button_payload(started.id, "ok"))
        self.assertEqual(started.status, "in_progress")
        self.assertAnswer(
            MANAGER, "La acción «Empezada» ya está en progreso. No hay nada que cambiar."
        )
        self.assertEqual(calls, [[], [], []])
        self.assertEqual(self.Message.get_whatsapp_stats()["replies_processed"], 0)


class TestReplyEffects(ReplyCase):
    def test_sender_with_an_internal_user_acts_as_themself(self):
        action = self._notify()
        calls = self._spy("action_start_progress")
        self._write(MANAGER_WA, "OK")
        self.assertEqual(calls, [(action.ids, self.user_manager.id)])
        self.assertEqual(action.write_uid, self.user_manager)
        note = action.message_ids.filtered(lambda m: "WhatsApp reply" in (m.body or ""))
        self.assertEqual(len(note), 1)
        self.assertIn("Paula Manager", note.body)
        self.assertIn("OK", note.body)
        self.assertEqual(note.author_id, self.user_manager.partner_id)

    def test_sender_without_a_user_acts_through_the_bot(self):
        contractor = self.env["res.partner"].create(
            {"name": "Carlos Contratista", "mobile": "+56 9 4444 4444"}
        )
        action = self._notify(whatsapp_recipient_ids=[(6, 0, contractor.ids)])
        calls = self._spy("action_mark_completed")
        self._write(CONTRACTOR_WA, "Terminado")
        self.assertEqual(action.status, "completed")
        self.assertEqual(calls, [(action.ids, self.bot.id)])
        self.assertEqual(action.write_uid, self.bot)
        note = action.message_ids.filtered(lambda m: "WhatsApp reply" in (m.body or ""))
        self.assertEqual(len(note), 1)
        self.assertIn("Carlos Contratista", note.body)
        self.assertEqual(note.author_id, self.bot.partner_id)

    def test_the_history_holds_each_reply_once_with_the_status_change(self):
        action = self._notify()
        # Status tracking on, as in production (the test classes turn it off).
        self.env = self.env(context=dict(self.env.context, tracking_disable=False))
        action = action.with_env(self.env)
        self._write(MANAGER_WA, "OK")
        self._write(MANAGER_WA, "OK")  # nothing to change the second time
        self.env.flush_all()
        self.env.cr.flush()  # the tracking is written before the commit
        notes = action.message_ids.filtered(lambda m: "WhatsApp reply" in (m.body or ""))
        self.assertEqual(len(notes), 2)
        applied, unchanged = notes.sorted("id")
        # The reply that moved the action and its status change are one entry, signed
        # by the sender's user; no one was notified of it.
        self.assertIn("Paula Manager", applied.body)
        self.assertEqual(applied.tracking_value_ids.field.name, "status")
        self.assertEqual(len(applied.tracking_value_ids), 1)
        self.assertEqual(applied.author_id, self.user_manager.partner_id)
        self.assertFalse(applied.notification_ids)
        # The one that changed nothing is logged on its own, without a status change.
        self.assertFalse(unchanged.tracking_value_ids)
        self.assertEqual(unchanged.author_id, self.user_manager.partner_id)
        status_changes = action.message_ids.tracking_value_ids.filtered(
            lambda t: t.field.name == "status"
        )
        self.assertEqual(len(status_changes), 1)

    def test_processed_reply_counts_and_notifies_the_dashboard(self):
        action = self._notify()
        stats = self.Message.get_whatsapp_stats()
        self.assertEqual(stats["replies_processed"], 0)
        channel = json_dump(channel_with_db(self.env.cr.dbname, self.company))
        Bus = self.env["bus.bus"].sudo()
        before = Bus.search([("channel", "=", channel)])
        self._write(MANAGER_WA, "Completado")
        self.assertEqual(action.status, "completed")
        stats = self.Message.get_whatsapp_stats()
        self.assertEqual(stats["replies_processed"], 1)
        self.assertGreaterEqual(stats["received_today"], 1)
        notifications = [
            json.loads(row.message) for row in Bus.search([("channel", "=", channel)]) - before
        ]
        updates = [n for n in notifications if n["type"] == "ofitec_whatsapp/updated"]
        self.assertEqual(len(updates), 1)
        self.assertEqual(updates[0]["payload"]["action_ids"], action.ids)
        self.assertEqual(updates[0]["payload"]["config_id"], self.config.id)
        # A status-only webhook still refreshes dashboards (no action changed).
        self._receive(
            meta_payload(
                statuses=[
                    {
                        "id": self._notification(action).whatsapp_message_id,
                        "status": "read",
                        "timestamp": meta_timestamp(),
                    }
                ]
            )
        )
        notifications = [
            json.loads(row.message) for row in Bus.search([("channel", "=", channel)]) - before
        ]
        updates = [n for n in notifications if n["type"] == "ofitec_whatsapp/updated"]
        self.assertEqual(len(updates), 2)
        self.assertEqual(updates[-1]["payload"]["action_ids"], [])


class TestOptOut(ReplyCase):
    def test_stop_opts_out_until_the_user_writes_again(self):
        for word in ("STOP", "baja"):
            with self.subTest(word=word):
                self._check_opt_out(word)

    def _check_opt_out(self, word):
        self.Action.search([]).write({"status": "cancelled"})
        self._notify()
        stop_at = meta_timestamp(minutes=-10)
        inbound = self._write(MANAGER_WA, word, timestamp=stop_at)
        self.assertEqual(inbound.command, "stop")
        contact = self.env["ofitec.whatsapp.contact"].search([("wa_id", "=", MANAGER_WA)])
        self.assertTrue(contact.opted_out)
        # The confirmation is the last message they get.
        confirmation = self._answers(MANAGER)
        self.assertTrue(confirmation.force_send)
        self.assertIn("no te enviaremos más mensajes", confirmation.body)
        self._run_queue()
        self.assertEqual(confirmation.state, "sent")
        sent_before = len(self.gateway.sent_to(MANAGER))
        action = self._create_action(name="Después del STOP")
        self._run_queue()
        notification = self._notification(action)
        self.assertEqual(notification.state, "cancelled")
        self.assertEqual(len(self.gateway.sent_to(MANAGER)), sent_before)
        self.assertEqual(self._notification(action, ASSIGNEE).state, "sent")
        # A message written before the STOP but delivered after it changes nothing.
        self._write(MANAGER_WA, "Hola", timestamp=str(int(stop_at) - 60))
        self.assertTrue(contact.opted_out)
        self._answers(MANAGER).write({"state": "cancelled"})
        # Writing again ends the opt-out.
        self._write(MANAGER_WA, "Hola de nuevo")
        self.assertFalse(contact.opted_out)
        self._answers(MANAGER).write({"state": "cancelled"})
        action = self._create_action(name="Después de volver")
        self._run_queue()
        self.assertEqual(self._notification(action).state, "sent")
        self.assertEqual(self.gateway.sent_to(MANAGER)[-1]["kind"], "interactive")
