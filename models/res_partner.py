"""'Send WhatsApp welcome' on partners."""

from odoo import _, models

from .ofitec_whatsapp_message_compose import WhatsAppInputError


class ResPartner(models.Model):
    _inherit = "res.partner"

    def action_send_whatsapp_welcome(self):
        """Queue the welcome to these partners' WhatsApp numbers (Action menu), from
        the company's default number."""
        Message = self.env["ofitec.whatsapp.message"]
        Message._check_welcome_access()
        Message = Message.sudo()
        messages, problems = Message, []
        for partner in self:
            try:
                messages |= Message._queue_outbound(partner=partner, template_code="welcome")
            except WhatsAppInputError as error:
                problems.append(_("%(who)s: %(why)s", who=partner.display_name, why=error.args[0]))
        return Message._welcome_notification(messages._settle_manual_welcome(), problems)
