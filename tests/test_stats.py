"""Dashboard statistics from the hourly counters: the same figures as counting the
messages, whatever changes them, within the caller's record rules."""

from datetime import timedelta

from odoo import fields

from ..hooks import uninstall_hook
from .common import WhatsAppCase, meta_payload, meta_status

OUTBOUND = [("direction", "=", "outbound")]
SENT = ("sent", "delivered", "read", "failed")


class TestStats(WhatsAppCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.Message = cls.env["ofitec.whatsapp.message"]
        cls.Counters = cls.env["ofitec.whatsapp.stats.hour"]
        cls.company_b = cls.env["res.company"].create({"name": "OFITEC Sur"})
        cls.user_a = cls._create_user(
            "stats_a",
            "Ana Stats",
            "+56 9 4444 2222",
            groups=("ofitec_whatsapp.group_whatsapp_user",),
        )
        cls.user_b = cls._create_user(
            "stats_b",
            "Beto Stats",
            "+56 9 4444 3333",
            groups=("ofitec_whatsapp.group_whatsapp_user",),
            company=cls.company_b,
        )

    def _expected_rate(self, user, days=30):
        """The delivery rate counted on the messages themselves, as the user sees them."""
        since = fields.Datetime.now() - timedelta(days=days)
        period = OUTBOUND + [("is_test", "=", False), ("sent_date", ">=", since)]
        Message = self.Message.with_user(user)
        sent = Message.search_count(period + [("state", "in", SENT)])
        reached = Message.search_count(period + [("state", "in", ("delivered", "read"))])
        return round(100.0 * reached / sent, 1) if sent else 0.0

    def assertRatesMatch(self):
        for user in (self.user_a, self.user_b):
            with self.subTest(user=user.login):
                stats = self.Message.with_user(user).get_whatsapp_stats()
                self.assertEqual(stats["delivery_rate"], self._expected_rate(user))

    def _message(self, state, sent_date, company=None, **vals):
        return self.Message.create(
            dict(
                {
                    "config_id": self.config.id,
                    "company_id": (company or self.company).id,
                    "phone": "+56955555555",
                    "state": state,
                    "sent_date": sent_date,
                },
                **vals,
            )
        )

    def test_counters_follow_every_change(self):
        now = fields.Datetime.now()
        old = now - timedelta(days=31)
        a = [self._message(s, now - timedelta(hours=h)) for s, h in (("sent", 0), ("read", 5))]
        b = [self._message(s, now, self.company_b) for s in ("delivered", "failed", "sent")]
        self._message("delivered", old)
        test = self._message("sent", now, is_test=True)
        queued = self._message("queued", False)
        self.assertRatesMatch()
        self.assertEqual(
            self.Message.with_user(self.user_b).get_whatsapp_stats()["delivery_rate"], 33.3
        )
        # ORM writes, one by one and together.
        a[0].state = "delivered"
        (b[1] | b[2]).write({"state": "read"})
        self.assertRatesMatch()
        test.is_test = False
        queued.write({"state": "sent", "sent_date": now})
        a[1].sent_date = old
        self.assertRatesMatch()
        # Moving to another company, deleting.
        a[0].company_id = self.company_b
        b[0].unlink()
        self.assertRatesMatch()
        # SQL writes (as the status batch does) are counted too.
        self.env.flush_all()
        self.env.cr.execute(
            "UPDATE ofitec_whatsapp_message SET state = 'failed' WHERE id = %s", [b[2].id]
        )
        self.env.invalidate_all()
        self.assertRatesMatch()
        # Folding the deltas, or rebuilding them, changes nothing.
        before = self.Counters.search_count([])
        self.Counters._compact()
        self.assertLess(self.Counters.search_count([]), before)
        self.assertRatesMatch()
        self.Counters._rebuild()
        self.assertRatesMatch()

    def test_the_period_starts_to_the_second(self):
        # The counters hold whole hours: the first, partial hour comes from the messages.
        now = fields.Datetime.now()
        since = now - timedelta(days=30)
        self._message("delivered", since + timedelta(minutes=2))
        self._message("sent", since + timedelta(hours=2))
        self._message("failed", since - timedelta(minutes=2))
        self._message("failed", since - timedelta(hours=2))
        self.assertEqual(
            self.Message.with_user(self.user_a).get_whatsapp_stats()["delivery_rate"], 50.0
        )
        self.assertRatesMatch()

    def test_a_status_webhook_moves_the_rate(self):
        message = self._message("sent", fields.Datetime.now(), whatsapp_message_id="wamid.ST.1")
        stats = self.Message.with_user(self.user_a)
        self.assertEqual(stats.get_whatsapp_stats()["delivery_rate"], 0.0)
        event = self._receive(meta_payload(statuses=[meta_status("wamid.ST.1", "delivered")]))
        self.assertEqual(event.state, "processed", event.error)
        self.assertEqual(message.state, "delivered")
        self.assertEqual(stats.get_whatsapp_stats()["delivery_rate"], 100.0)

    def test_a_constant_number_of_queries(self):
        Message = self.Message.with_user(self.user_a)
        Message.get_whatsapp_stats()  # warm the caches (rules, time zone)
        with self.assertQueryCount(1):
            Message.get_whatsapp_stats()
        for hours in range(200):
            self._message("read", fields.Datetime.now() - timedelta(hours=hours))
        self.env.flush_all()
        with self.assertQueryCount(1):
            Message.get_whatsapp_stats()

    def test_counters_are_read_within_the_record_rules(self):
        self._message("read", fields.Datetime.now(), self.company_b)
        as_a = self.Counters.with_user(self.user_a)
        self.assertFalse(as_a.search([("company_id", "=", self.company_b.id)]))
        self.assertTrue(self.Counters.with_user(self.user_b).search([]))


class TestModuleFunctions(WhatsAppCase):
    """The PostgreSQL functions of the module: created by ``init()``, dropped on
    uninstall (Odoo drops the tables, not them)."""

    FUNCTIONS = ("ofitec_whatsapp_stats_hour_delta",)

    def _functions(self):
        self.env.cr.execute(
            "SELECT proname FROM pg_proc WHERE proname = ANY(%s) ORDER BY proname",
            (list(self.FUNCTIONS),),
        )
        return [name for (name,) in self.env.cr.fetchall()]

    def _triggers(self):
        self.env.cr.execute(
            "SELECT count(*) FROM pg_trigger WHERE tgname LIKE %s",
            ("ofitec_whatsapp_stats_hour_%",),
        )
        return self.env.cr.fetchone()[0]

    def test_uninstall_drops_them_and_init_creates_them_again(self):
        self.assertEqual((self._functions(), self._triggers()), (list(self.FUNCTIONS), 3))
        uninstall_hook(self.env.cr, self.registry)
        self.assertEqual((self._functions(), self._triggers()), ([], 0))
        self.env["ofitec.whatsapp.stats.hour"].init()
        self.assertEqual((self._functions(), self._triggers()), (list(self.FUNCTIONS), 3))
