from odoo import models


class IrWebsocket(models.AbstractModel):
    _inherit = "ir.websocket"

    def _build_bus_channel_list(self, channels):
        # WhatsApp users hear about their companies' WhatsApp updates (ids and counts
        # only, no personal data), so open dashboards refresh by themselves.
        channels = list(channels)
        if self.env.uid and self.env.user.has_group("ofitec_whatsapp.group_whatsapp_user"):
            channels.extend(self.env.user.company_ids)
        return super()._build_bus_channel_list(channels)
