"""The WhatsApp app's menus, as the product description names them."""

from odoo.tests import common


class TestWhatsappMenus(common.TransactionCase):
    def _children(self, menu):
        return menu.child_id.sorted("sequence").mapped(lambda m: m.get_external_id()[m.id])

    def test_top_level_and_configuration_menus(self):
        root = self.env.ref("ofitec_whatsapp.ofitec_whatsapp_menu_root")
        prefix = "ofitec_whatsapp.ofitec_whatsapp_menu_"
        self.assertEqual(
            self._children(root),
            [prefix + name for name in ("dashboard", "messages", "contacts", "configuration")],
        )
        configuration = self.env.ref(prefix + "configuration")
        self.assertEqual(
            self._children(configuration),
            [prefix + name for name in ("numbers", "templates", "webhook_events")],
        )
        self.assertEqual(
            configuration.groups_id, self.env.ref("ofitec_whatsapp.group_whatsapp_manager")
        )

    def test_dashboard_opens_the_graph_then_the_pivot(self):
        menu = self.env.ref("ofitec_whatsapp.ofitec_whatsapp_menu_dashboard")
        action = menu.action
        self.assertEqual(action.res_model, "ofitec.whatsapp.message")
        self.assertEqual(action.view_mode.split(",")[:2], ["graph", "pivot"])
        # A WhatsApp user (not only a manager) can read the charts.
        user = self.env["res.users"].create(
            {
                "name": "Chart reader",
                "login": "chart_reader",
                "groups_id": [(6, 0, [self.env.ref("ofitec_whatsapp.group_whatsapp_user").id])],
            }
        )
        self.env["ofitec.whatsapp.message"].create(
            {"direction": "inbound", "state": "received", "phone": "+56911111111"}
        )
        Message = self.env["ofitec.whatsapp.message"].with_user(user)
        groups = Message.read_group(
            [("state", "=", "received")], ["state"], ["create_date:day", "state"], lazy=False
        )
        self.assertGreaterEqual(sum(g["__count"] for g in groups), 1)
        self.assertIn(menu.id, self.env["ir.ui.menu"].with_user(user)._visible_menu_ids())
