"""Composing queued outbound messages: the one place the API and the actions build one."""

import json

from odoo import _, api, models
from odoo.exceptions import UserError

from ..tools import phone


class WhatsAppInputError(UserError):
    """A message cannot be queued because of the input ``field`` (the API maps it to 4xx)."""

    def __init__(self, message, field):
        super().__init__(message)
        self.field = field


class OfitecWhatsappMessageCompose(models.Model):
    _inherit = "ofitec.whatsapp.message"

    @api.model
    def _prepare_queued_vals(
        self, config, partner, number, action=None, template_code=None, body=None
    ):
        """Values of one queued message from ``config`` to ``partner`` / ``number``:
        the free text ``body``, or the template ``template_code`` rendered about
        ``action`` (through its public hook ``_prepare_whatsapp_message``) or, without an
        action, for the recipient alone."""
        vals = {
            "direction": "outbound",
            "state": "queued",
            "config_id": config.id,
            "company_id": config.company_id.id,
            "partner_id": partner.id if partner else False,
            "phone": number,
            "next_action_id": action.id if action else False,
        }
        if body is not None:
            vals["body"] = body
            return vals
        if action:
            prepared = action._prepare_whatsapp_message(partner or None, template_code)
            template, text = prepared.get("template"), prepared["body"]
            params = prepared.get("template_params") or []
        else:
            template = self.env["ofitec.whatsapp.template"]._get_by_code(
                template_code, config.company_id
            )
            values = {"recipient_name": (partner.name if partner else "") or ""}
            text, params = template._render_body(values), template._get_template_params(values)
        vals.update(
            body=text,
            template_id=template.id if template else False,
            template_params=json.dumps(params),
        )
        return vals

    @api.model
    def _queue_outbound(
        self, partner=None, number=None, body=None, template_code=None, action=None, config=None
    ):
        """Queue one message to ``partner`` (its WhatsApp number) or ``number``.

        Raises WhatsAppInputError naming the field at fault. The number, the default
        number of the company and the rendering follow the same rules as an action's
        notifications (ofitec.whatsapp.config helpers, ``_prepare_queued_vals``).
        """
        Config = self.env["ofitec.whatsapp.config"]
        company = (action.company_id if action else False) or self.env.company
        if partner:
            normalized = Config._get_partner_number(partner, company)
            if not normalized:
                raise WhatsAppInputError(
                    _("This partner has no usable mobile or phone number."), "partner_id"
                )
        else:
            normalized = phone.normalize_phone(number, Config._get_company_region(company))
            if not normalized:
                raise WhatsAppInputError(_("phone is not a valid phone number."), "phone")
        if not config:
            config = (
                Config._get_config_for_action(action)
                if action
                else Config._get_default_config(company)
            )
            if not config:
                raise WhatsAppInputError(_("No active WhatsApp configuration."), "config_id")
        if template_code:
            template = self.env["ofitec.whatsapp.template"]._get_by_code(template_code, company)
            if not template:
                raise WhatsAppInputError(
                    _("Unknown template_code %s.", template_code), "template_code"
                )
        vals = self._prepare_queued_vals(config, partner, normalized, action, template_code, body)
        return self.create(vals)
