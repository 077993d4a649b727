"""Who gets the WhatsApp messages about a next action."""

from odoo import _, api, models

from ..tools import phone


class OfitecNextActionRecipients(models.Model):
    _inherit = "ofitec.next.action"

    def _get_whatsapp_recipients(self):
        """Who gets the WhatsApp message about this action.

        The project manager, the assigned user and the extra recipients, once per
        WhatsApp number. Returns a list of dicts ``{'partner', 'phone', 'role'}``;
        people without a usable number come back with a ``skip_reason`` and no phone,
        so the skip can be shown.
        """
        self.ensure_one()
        candidates = []
        if self.project_id.user_id:
            candidates.append((self.project_id.user_id.partner_id, "manager"))
        if self.user_id:
            candidates.append((self.user_id.partner_id, "assignee"))
        for partner in self.whatsapp_recipient_ids:
            candidates.append((partner, "custom"))
        company = self.company_id or self.env.company
        Config = self.env["ofitec.whatsapp.config"]
        recipients, seen_numbers, seen_partners = [], set(), set()
        for partner, role in candidates:
            partner = partner.sudo()
            if partner.id in seen_partners:
                continue
            seen_partners.add(partner.id)
            number = Config._get_partner_number(partner, company)
            if not number:
                recipients.append(
                    {
                        "partner": partner,
                        "phone": False,
                        "role": role,
                        "skip_reason": _("no usable mobile or phone number"),
                    }
                )
                continue
            if number in seen_numbers:
                continue
            seen_numbers.add(number)
            recipients.append({"partner": partner, "phone": number, "role": role})
        return recipients

    @api.model
    def _whatsapp_opted_out(self, config, number):
        """True when the WhatsApp user of ``number`` asked ``config`` to stop."""
        wa_id = phone.to_wa_id(number)
        contact = (
            self.env["ofitec.whatsapp.contact"]
            .sudo()
            ._find(config, wa_id=wa_id, variants=phone.wa_id_variants(wa_id))
        )
        return bool(contact.opted_out)
