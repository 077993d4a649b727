"""WhatsApp › Dashboard: the stored measures through the real status and inbound
paths, the median per group, the figures' links, and the company rules."""

from datetime import timedelta

from lxml import etree

from odoo import fields
from odoo.tests import tagged

from ..tools.commands import make_button_payload
from ..tools.errors import PermanentError
from .common import WhatsAppCase, meta_button, meta_payload, meta_status, meta_text, meta_timestamp

MANAGER = "+56911111111"
MANAGER_WA = "56911111111"
MEDIAN = "time_to_read_median"


class InsightCase(WhatsAppCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.Message = cls.env["ofitec.whatsapp.message"]

    def _message(self, state="sent", minutes_to_read=None, config=None, company=None, **vals):
        sent = fields.Datetime.now() - timedelta(hours=3)
        values = {
            "direction": "outbound",
            "config_id": (config or self.config).id,
            "company_id": (company or self.company).id,
            "phone": MANAGER,
            "state": state,
            "sent_date": sent if state != "queued" else False,
        }
        if minutes_to_read is not None:
            values.update(state="read", read_date=sent + timedelta(minutes=minutes_to_read))
        values.update(vals)
        return self.Message.create(values)


@tagged("post_install", "-at_install")
class TestInsightFields(InsightCase):
    def setUp(self):
        super().setUp()
        self.gateway = self.enterContext(self.mock_whatsapp_gateway())

    def _sent_notification(self):
        action = self._create_action()
        self._run_queue()
        message = self._messages(action, phone=MANAGER, direction="outbound")
        self.assertEqual(message.state, "sent")
        return message

    def test_delivered_then_read_with_its_time(self):
        message = self._sent_notification()
        self.assertEqual((message.delivery_rate, message.read_rate), (0, 0))
        wamid = message.whatsapp_message_id
        delivered = meta_timestamp(message.sent_date, seconds=20)
        event = self._receive(meta_payload(statuses=[meta_status(wamid, "delivered", delivered)]))
        self.assertEqual(event.state, "processed", event.error)
        self.assertEqual(message.state, "delivered")
        self.assertEqual((message.delivery_rate, message.read_rate), (100, 0))
        self.assertFalse(message.time_to_read)
        read = meta_timestamp(message.sent_date, seconds=90)
        event = self._receive(meta_payload(statuses=[meta_status(wamid, "read", read)]))
        self.assertEqual(event.state, "processed", event.error)
        self.assertEqual(
            (message.state, message.delivery_rate, message.read_rate), ("read", 100, 100)
        )
        self.assertEqual(message.time_to_read, 1.5)
        self.assertEqual(message.time_to_read_median, 1.5)
        # A late "delivered" changes nothing (statuses never go backwards).
        self._receive(meta_payload(statuses=[meta_status(wamid, "delivered", read)]))
        self.assertEqual((message.read_rate, message.time_to_read), (100, 1.5))

    def test_failed_status_keeps_meta_code_and_title(self):
        message = self._sent_notification()
        status = meta_status(
            message.whatsapp_message_id,
            "failed",
            errors=[(131026, "Message undeliverable", "The number is not on WhatsApp.")],
        )
        event = self._receive(meta_payload(statuses=[status]))
        self.assertEqual(event.state, "processed", event.error)
        self.assertEqual(message.state, "failed")
        self.assertEqual(message.error_code, "131026")
        self.assertEqual(message.error_title, "Message undeliverable")
        self.assertEqual((message.delivery_rate, message.read_rate), (0, 0))
        groups = self.Message.read_group(
            [("state", "=", "failed")], ["__count"], ["error_code", "error_title"], lazy=False
        )
        self.assertIn(
            ("131026", "Message undeliverable", 1),
            [(g["error_code"], g["error_title"], g["__count"]) for g in groups],
        )

    def test_refused_send_keeps_its_title_until_retried(self):
        action = self._create_action()
        self.gateway.fail(MANAGER, PermanentError("Message undeliverable", code=131026))
        self._run_queue()
        message = self._messages(action, phone=MANAGER, direction="outbound")
        self.assertEqual(message.state, "failed")
        self.assertEqual(
            (message.error_code, message.error_title), ("131026", "Message undeliverable")
        )
        self.assertEqual(message.delivery_rate, 0)
        message.action_retry()
        self.assertEqual(message.state, "queued")
        self.assertFalse(message.error_title)
        self.assertEqual(message.delivery_rate, 0)  # NULL: a queued message is not counted
        self._run_queue()
        self.assertEqual(message.state, "sent")
        self.assertFalse(message.error_title)

    def test_replies_by_command(self):
        self._sent_notification()
        action = self._messages(phone=MANAGER, direction="outbound")[:1].next_action_id
        inbound = [
            meta_text("wamid.IN.INSIGHT1", MANAGER_WA, "hola"),
            meta_text("wamid.IN.INSIGHT2", MANAGER_WA, "OK"),
            meta_button(
                "wamid.IN.INSIGHT3",
                MANAGER_WA,
                make_button_payload(action.id, "completed"),
                "COMPLETADO",
            ),
        ]
        for item in inbound:
            event = self._receive(meta_payload(messages=[item]))
            self.assertEqual(event.state, "processed", event.error)
        received = self._messages(direction="inbound")
        self.assertEqual(received.mapped("reply_command"), ["other", "ok", "completed"])
        self.assertEqual(action.status, "completed")
        # Outbound messages (the answers among them) are no replies.
        self.assertEqual(set(self._messages(direction="outbound").mapped("reply_command")), {False})
        groups = self.Message.read_group(
            [("direction", "=", "inbound")], ["__count"], ["reply_command"], lazy=False
        )
        self.assertEqual(
            {g["reply_command"]: g["__count"] for g in groups},
            {"other": 1, "ok": 1, "completed": 1},
        )


@tagged("post_install", "-at_install")
class TestInsightMeasures(InsightCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.config_b = cls.config.copy({"name": "Second number", "phone_number_id": "2"})
        cls.company_b = cls.env["res.company"].create({"name": "OFITEC Sur"})
        cls.config_sur = cls.env["ofitec.whatsapp.config"].create(
            {"name": "Sur number", "phone_number_id": "3", "company_id": cls.company_b.id}
        )
        cls.user_a = cls._create_user(
            "insight_a",
            "Ana Insight",
            "+56 9 4444 2222",
            groups=("ofitec_whatsapp.group_whatsapp_user",),
        )
        cls.user_b = cls._create_user(
            "insight_b",
            "Beto Insight",
            "+56 9 4444 3333",
            groups=("ofitec_whatsapp.group_whatsapp_user",),
            company=cls.company_b,
        )

    def setUp(self):
        super().setUp()
        self.Message.search([]).unlink()
        for minutes in (1, 2, 10, 100):
            self._message(minutes_to_read=minutes)
        for minutes in (3, 5, 7):
            self._message(minutes_to_read=minutes, config=self.config_b)
        self._message("delivered")
        self._message("failed", config=self.config_b)
        self._message("queued")
        self._message("sent", is_test=True)
        self._message("received", direction="inbound", sent_date=False)
        for minutes in (40, 60):
            self._message(minutes_to_read=minutes, config=self.config_sur, company=self.company_b)

    def _groups(self, user, groupby, domain=(), lazy=False):
        measures = [
            "__count",
            "delivery_rate:avg",
            "read_rate:avg",
            "time_to_read:avg",
            f"{MEDIAN}:avg",
        ]
        Message = self.Message.with_user(user).with_context(
            allowed_company_ids=user.company_ids.ids
        )
        return Message.read_group(list(domain), measures, groupby, lazy=lazy)

    def test_the_median_of_each_group_and_of_all(self):
        by_config = {g["config_id"][0]: g for g in self._groups(self.user_a, ["config_id"])}
        self.assertEqual(by_config[self.config.id][MEDIAN], 6.0)  # 1 2 | 10 100
        self.assertEqual(by_config[self.config_b.id][MEDIAN], 5.0)
        (total,) = self._groups(self.user_a, [])
        self.assertEqual(total[MEDIAN], 5.0)  # 1 2 3 5 7 10 100; the mean is 18.3
        self.assertEqual(total["__count"], 12)
        # Per day and number (as the pivot asks), and lazily (as a grouped list does).
        cells = self._groups(self.user_a, ["create_date:day", "config_id"])
        self.assertEqual(sorted(c[MEDIAN] for c in cells), [5.0, 6.0])
        (lazy,) = self._groups(self.user_a, ["create_date:day"], lazy=True)
        self.assertEqual(lazy[MEDIAN], 5.0)
        # A group without a read message has no median.
        (failed,) = self._groups(self.user_a, ["state"], [("state", "=", "failed")])
        self.assertIs(failed[MEDIAN], False)

    def test_rates_count_only_the_messages_they_concern(self):
        (total,) = self._groups(self.user_a, [])
        # Reached the phone: 7 read + 1 delivered of 9 sent or failed (queued, test and
        # inbound messages are not counted).
        self.assertEqual(round(total["delivery_rate"], 1), round(100 * 8 / 9, 1))
        self.assertEqual(round(total["read_rate"], 1), round(100 * 7 / 8, 1))

    def test_company_b_sees_only_company_b(self):
        groups = self._groups(self.user_b, ["company_id", "config_id"])
        self.assertEqual([g["config_id"][0] for g in groups], [self.config_sur.id])
        self.assertEqual((groups[0]["__count"], groups[0][MEDIAN]), (2, 50.0))
        (total,) = self._groups(self.user_b, [])
        self.assertEqual((total["__count"], total[MEDIAN]), (2, 50.0))
        # Asking for company A's rows by name changes nothing.
        (total,) = self._groups(self.user_b, [], [("company_id", "=", self.company.id)])
        self.assertEqual((total["__count"], total[MEDIAN]), (0, False))
        (total,) = self._groups(self.user_a, [])
        self.assertEqual(total["__count"], 12)
        self.assertNotIn(
            self.company_b.id,
            [g["company_id"][0] for g in self._groups(self.user_a, ["company_id"])],
        )
        # The dashboard's figure for B counts B's messages only.
        stats = self.Message.with_user(self.user_b).get_whatsapp_stats()
        self.assertEqual(stats["delivery_rate"], 100.0)

    def test_existing_rows_are_filled_at_upgrade(self):
        """As on an upgrade: the columns are missing, the messages are there."""
        self.env.flush_all()
        cr = self.env.cr
        cr.execute(
            "ALTER TABLE ofitec_whatsapp_message DROP COLUMN delivery_rate,"
            " DROP COLUMN time_to_read_median, DROP COLUMN reply_command"
        )
        cr.execute("ALTER TABLE ofitec_whatsapp_message ADD COLUMN delivery_rate int4")
        self.Message._create_generated_columns()
        self.env.invalidate_all()
        (total,) = self._groups(self.user_a, [])
        self.assertEqual(total[MEDIAN], 5.0)
        self.assertEqual(round(total["delivery_rate"], 1), round(100 * 8 / 9, 1))
        inbound = self.Message.search([("direction", "=", "inbound")])
        self.assertEqual(inbound.reply_command, "other")

    def _column_numbers(self):
        self.env.cr.execute(
            "SELECT attname, attnum FROM pg_attribute"
            " WHERE attrelid = 'ofitec_whatsapp_message'::regclass AND NOT attisdropped"
        )
        return dict(self.env.cr.fetchall())

    def test_a_test_message_has_no_time_to_read(self):
        """Test mode reached nobody: a read test message (a simulated read) counts in
        neither the time to read nor its median."""
        test = self._message(minutes_to_read=1000, is_test=True)
        self.assertFalse(test.time_to_read)
        self.assertFalse(test.time_to_read_median)
        (total,) = self._groups(self.user_a, [])
        self.assertEqual(total[MEDIAN], 5.0)  # 1 2 3 5 7 10 100, not 1000

    def test_an_upgrade_rebuilds_a_column_defined_otherwise(self):
        """A database made by an earlier version keeps its generated columns' old
        expression (here, the one that counted test messages): the upgrade's ``init``
        rebuilds them; run again, it changes nothing."""
        self._message(minutes_to_read=1000, is_test=True)
        self.env.flush_all()
        old = (
            "CASE WHEN direction = 'outbound' AND read_date IS NOT NULL"
            " AND sent_date IS NOT NULL THEN GREATEST(EXTRACT(EPOCH FROM"
            " (read_date - sent_date))::float8, 0) / 60 END"
        )
        self.env.cr.execute(
            "ALTER TABLE ofitec_whatsapp_message"
            " DROP COLUMN time_to_read, DROP COLUMN time_to_read_median,"
            f" ADD COLUMN time_to_read float8 GENERATED ALWAYS AS ({old}) STORED,"
            f" ADD COLUMN time_to_read_median float8 GENERATED ALWAYS AS ({old}) STORED"
        )
        self.env.invalidate_all()
        (total,) = self._groups(self.user_a, [])
        self.assertEqual(total[MEDIAN], 6.0, "the old definition counts the test message")
        self.assertEqual(
            self.Message._stale_generated_columns(), ["time_to_read", "time_to_read_median"]
        )
        self.Message._create_generated_columns()  # what init does at the upgrade
        self.env.invalidate_all()
        (total,) = self._groups(self.user_a, [])
        self.assertEqual(total[MEDIAN], 5.0)
        self.assertAlmostEqual(total["time_to_read"], 128 / 7)
        # Idempotent: nothing is stale, and a second run rewrites nothing.
        self.assertEqual(self.Message._stale_generated_columns(), [])
        before = self._column_numbers()
        self.Message._create_generated_columns()
        self.assertEqual(self._column_numbers(), before)


@tagged("post_install", "-at_install")
class TestInsightLinks(InsightCase):
    def test_each_figure_opens_the_dashboard_on_what_it_counts(self):
        search = self.env.ref("ofitec_whatsapp.ofitec_whatsapp_message_view_search")
        arch = etree.fromstring(search.arch)
        filters = {node.get("name") for node in arch.iter("filter")}
        fields_ = self.Message._fields
        stats = self.Message.get_whatsapp_stats()
        for figure in (
            "sent_today",
            "received_today",
            "delivery_rate",
            "replies_processed",
            "failed",
        ):
            with self.subTest(figure=figure):
                self.assertIn(figure if figure != "failed" else "failed_today", stats)
                action = self.Message.action_open_insight(figure)
                self.assertEqual(action["res_model"], "ofitec.whatsapp.message")
                self.assertEqual(action["view_mode"].split(",")[:2], ["graph", "pivot"])
                context = action["context"]
                defaults = [
                    k[len("search_default_") :] for k in context if k.startswith("search_default_")
                ]
                self.assertTrue(defaults)
                self.assertLessEqual(set(defaults), filters)
                groupbys = context.get("graph_groupbys", []) + context.get("pivot_row_groupby", [])
                for spec in groupbys + context["pivot_column_groupby"]:
                    self.assertTrue(fields_[spec.split(":")[0]].store, spec)
                for measure in context["pivot_measures"] + [
                    context.get("graph_measure", "__count")
                ]:
                    self.assertTrue(measure == "__count" or measure in fields_, measure)
        real = self.Message.action_open_insight("delivery_rate")["context"]
        test = self.Message.action_open_insight("delivery_rate", True)["context"]
        self.assertIn("search_default_filter_real", real)
        self.assertIn("search_default_filter_test", test)
