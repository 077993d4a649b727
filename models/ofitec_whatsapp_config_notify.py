"""Which automatic messages a WhatsApp number sends besides the urgent alerts."""

from odoo import fields, models


class OfitecWhatsappConfigNotify(models.Model):
    _inherit = "ofitec.whatsapp.config"

    notify_action_completed = fields.Boolean(
        string="Tell Recipients When Completed",
        default=True,
        help="When an action is completed, the people this number notified about it are "
        "told once (template action_completed); whoever completed it by WhatsApp already "
        "got the answer and is not told again.",
    )
