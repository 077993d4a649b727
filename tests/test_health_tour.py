from odoo.tests import tagged

from .common import WhatsAppHttpCase, meta_error


@tagged("post_install", "-at_install")
class TestWhatsappHealthTour(WhatsAppHttpCase):
    """Browser test: the health panel of a number, then the Dashboard's graph and pivot."""

    def test_health_panel_and_dashboard_tour(self):
        self.config.name = "Health tour number"
        templates = self.env["ofitec.whatsapp.template"].search(
            [("meta_template_name", "!=", False)], order="id"
        )
        templates.write({"meta_status": "PENDING"})
        templates[0].meta_status = "APPROVED"
        templates[1].meta_status = "REJECTED"
        templates[2].meta_status = False  # never submitted
        number = "+56955550002"
        self._open_window(number)
        message = self.env["ofitec.whatsapp.message"].create(
            {"config_id": self.config.id, "phone": number, "body": "Hola"}
        )
        with self.mock_whatsapp_gateway() as gateway:
            gateway.fail(number, meta_error(131026, "Message undeliverable"))
            self._run_queue()
            self.config.action_test_connection()
        self.assertEqual(message.state, "failed")
        self.start_tour("/web", "ofitec_whatsapp_health_tour", login="admin")
