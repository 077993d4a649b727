from datetime import timedelta

from odoo import fields
from odoo.tests import HttpCase, tagged


class WhatsappTourCase(HttpCase):
    """Records for the browser tests: the dashboard shows WhatsApp figures, sends
    reminders and warns when someone could not be reached; the number's form tells
    the truth; WhatsApp › Dashboard measures.

    One tour per class: Odoo keeps one Chrome per class, and the bus's shared worker
    of a finished tour can still send ``GET /websocket`` while the next test of the
    same class writes through the test cursor (seen as "no results to fetch" and
    "savepoint does not exist"). Chrome stops when its class ends.
    """

    def _create_records(self, lang="en_US"):
        env = self.env
        env.company.country_id = env.ref("base.cl")
        env["ofitec.whatsapp.config"].search([]).write({"active": False})
        self.config = env["ofitec.whatsapp.config"].create(
            {"name": "Tour number", "phone_number_id": "1", "test_mode": True}
        )
        admin = env.ref("base.user_admin")
        admin.partner_id.mobile = "+56 9 8765 4321"
        admin.lang = lang
        project = env["project.project"].create(
            {"name": "Tour WhatsApp project", "user_id": admin.id}
        )
        values = {
            "description": "Created for the WhatsApp dashboard tour",
            "action_type": "urgent",
            "priority": "1",
            "category": "risk",
            "project_id": project.id,
        }
        self.action = env["ofitec.next.action"].create(
            dict(values, name="Tour notified action", user_id=admin.id)
        )
        nobody = env["res.users"].create(
            {
                "name": "Tour Sin Número",
                "login": "tour_sin_numero",
                "password": "x" * 12,
                "lang": lang,
            }
        )
        self.unreachable = env["ofitec.next.action"].create(
            dict(values, name="Tour unreachable action", user_id=nobody.id)
        )
        # The notification cron queues, then test mode "sends" locally: shown as sent.
        env["ofitec.next.action"]._whatsapp_process_pending()
        env["ofitec.whatsapp.message"]._process_queue()
        self.assertTrue(self.action.whatsapp_sent)
        self.assertIn("Tour Sin Número", self.unreachable.whatsapp_problem)
        # Saved, its notification not prepared yet: shown as pending from the start.
        self.pending = env["ofitec.next.action"].create(
            dict(values, name="Tour pending action", user_id=admin.id)
        )
        self.assertEqual(self.pending.whatsapp_notify_state, "pending")

    def _create_insight_records(self):
        """Real messages for WhatsApp › Dashboard: read after 2, 4 and 30 minutes, and
        one refused by Meta (131026)."""
        sent = fields.Datetime.now() - timedelta(hours=1)
        Message = self.env["ofitec.whatsapp.message"]
        for minutes in (2, 4, 30):
            Message.create(
                {
                    "config_id": self.config.id,
                    "phone": "+56987654321",
                    "state": "read",
                    "sent_date": sent,
                    "read_date": sent + timedelta(minutes=minutes),
                }
            )
        Message.create(
            {
                "config_id": self.config.id,
                "phone": "+56987654321",
                "state": "failed",
                "sent_date": sent,
                "error_code": "131026",
                "error_title": "Message undeliverable",
            }
        )


@tagged("post_install", "-at_install")
class TestWhatsappDashboardTour(WhatsappTourCase):
    def test_whatsapp_dashboard_tour(self):
        self._create_records()
        self.start_tour("/web", "ofitec_whatsapp_dashboard_tour", login="admin")
        reminders = self.action.whatsapp_message_ids.filtered(lambda m: m.state == "queued")
        self.assertEqual(len(reminders), 1, "the tour's reminder click queued one message")


@tagged("post_install", "-at_install")
class TestWhatsappDashboardTourSpanish(WhatsappTourCase):
    def test_whatsapp_dashboard_tour_in_spanish(self):
        self.env["res.lang"]._activate_lang("es_ES")
        self.env["ir.module.module"].search(
            [("name", "in", ("ofitec_whatsapp", "web", "ofitec_next_action"))]
        )._update_translations(["es_ES"])
        # The people of the actions read Spanish: what is stored for them is Spanish.
        self._create_records(lang="es_ES")
        self.start_tour("/web", "ofitec_whatsapp_dashboard_tour_es", login="admin")


@tagged("post_install", "-at_install")
class TestWhatsappConfigFormTour(WhatsappTourCase):
    def test_whatsapp_config_form_tour(self):
        self._create_records()
        url = f"/web#id={self.config.id}&model=ofitec.whatsapp.config&view_type=form"
        self.start_tour(url, "ofitec_whatsapp_config_tour", login="admin")


@tagged("post_install", "-at_install")
class TestWhatsappInsightTour(WhatsappTourCase):
    def test_whatsapp_insight_tour(self):
        self._create_records()
        self._create_insight_records()
        self.start_tour("/web", "ofitec_whatsapp_insight_tour", login="admin")


@tagged("post_install", "-at_install")
class TestWhatsappInsightEmptyTour(WhatsappTourCase):
    def test_an_empty_chart_shows_its_help(self):
        self._create_records()  # test messages, none failed
        self.assertFalse(self.env["ofitec.whatsapp.message"].search([("state", "=", "failed")]))
        self.start_tour("/web", "ofitec_whatsapp_insight_empty_tour", login="admin")


@tagged("post_install", "-at_install")
class TestWhatsappInsightTourSpanish(WhatsappTourCase):
    def test_whatsapp_insight_tour_in_spanish(self):
        self.env["res.lang"]._activate_lang("es_ES")
        self.env["ir.module.module"].search(
            [("name", "in", ("ofitec_whatsapp", "web", "ofitec_next_action"))]
        )._update_translations(["es_ES"])
        self._create_records(lang="es_ES")
        self._create_insight_records()
        self.start_tour("/web", "ofitec_whatsapp_insight_tour_es", login="admin")
