from odoo.tests import HttpCase, tagged


@tagged("post_install", "-at_install")
class TestWhatsappDashboardTour(HttpCase):
    """Browser test: the dashboard shows WhatsApp figures and sends reminders."""

    def test_whatsapp_dashboard_tour(self):
        env = self.env
        env.company.country_id = env.ref("base.cl")
        env["ofitec.whatsapp.config"].search([]).write({"active": False})
        env["ofitec.whatsapp.config"].create(
            {"name": "Tour number", "phone_number_id": "1", "test_mode": True}
        )
        admin = env.ref("base.user_admin")
        admin.partner_id.mobile = "+56 9 8765 4321"
        project = env["project.project"].create({"name": "Tour WhatsApp project"})
        action = env["ofitec.next.action"].create(
            {
                "name": "Tour notified action",
                "description": "Created for the WhatsApp dashboard tour",
                "action_type": "urgent",
                "priority": "1",
                "category": "risk",
                "project_id": project.id,
                "user_id": admin.id,
            }
        )
        # Test mode: the queue "sends" locally, so the action shows as sent.
        env["ofitec.whatsapp.message"]._process_queue()
        self.assertTrue(action.whatsapp_sent)
        self.start_tour("/web", "ofitec_whatsapp_dashboard_tour", login="admin")
        reminders = action.whatsapp_message_ids.filtered(lambda m: m.state == "queued")
        self.assertEqual(len(reminders), 1, "the tour's reminder click queued one message")
