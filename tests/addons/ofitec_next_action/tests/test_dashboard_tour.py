from odoo.tests import HttpCase, tagged


@tagged("post_install", "-at_install")
class TestNextActionDashboardTour(HttpCase):
    def test_dashboard_tour(self):
        """The dashboard client action renders its cards and urgent rows (browser)."""
        project = self.env["project.project"].create({"name": "Tour project"})
        self.env["ofitec.next.action"].create(
            {
                "name": "Tour urgent action",
                "description": "Created for the dashboard tour",
                "action_type": "immediate",
                "priority": "1",
                "category": "risk",
                "project_id": project.id,
                "user_id": self.env.ref("base.user_admin").id,
            }
        )
        self.start_tour("/web", "ofitec_next_action_dashboard_tour", login="admin")
