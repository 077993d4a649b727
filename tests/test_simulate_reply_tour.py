from odoo.tests import tagged

from .common import WhatsAppHttpCase
from .test_simulate_reply import SimulateReplyMixin


@tagged("post_install", "-at_install")
class TestSimulateReplyTour(SimulateReplyMixin, WhatsAppHttpCase):
    """Browser test: a manager answers an urgent action's test message with
    Simulate Reply › COMPLETADO and sees the action completed."""

    def test_simulate_reply_tour(self):
        self.action.name = "Tour: revisar moldaje"
        self.user_admin = self.env.ref("base.user_admin")
        self.assertTrue(self.user_admin.has_group("ofitec_whatsapp.group_whatsapp_manager"))
        self.start_tour("/web", "ofitec_whatsapp_simulate_reply_tour", login="admin")
        self.env.invalidate_all()
        self.assertEqual(self.action.status, "completed")
        inbound = self._messages(self.action, direction="inbound")
        self.assertEqual(inbound.command, "completed")
        self.assertTrue(inbound.reply_processed)
