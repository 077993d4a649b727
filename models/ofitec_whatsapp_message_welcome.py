"""The welcome: the first answer to a new WhatsApp contact, and "Send welcome".

A number that writes to us for the first time (its contact is created from that
inbound message) gets the welcome once, ever: its ``once_key`` names the number and
the WhatsApp user, so neither a second message nor a contact created twice by two
workers sends it again. The welcome lists the commands, so the help answer is not
sent on top of it.
"""

import json

from odoo import _, api, models
from odoo.exceptions import AccessError

WELCOME = "welcome"


class OfitecWhatsappMessageWelcome(models.Model):
    _inherit = "ofitec.whatsapp.message"

    @api.model
    def _welcome_key(self, contact):
        return f"{WELCOME}:{contact.config_id.id}:{contact.wa_id or contact.bsuid}"

    @api.model
    def _prepare_welcome_vals(self, contact):
        """A queued welcome to ``contact``, or None when there is no welcome template."""
        config = contact.config_id
        template = self.env["ofitec.whatsapp.template"]._get_by_code(WELCOME, config.company_id)
        if not template:
            return None
        values = {"recipient_name": contact.partner_id.name or contact.profile_name or ""}
        return {
            "direction": "outbound",
            "state": "queued",
            "config_id": config.id,
            "company_id": config.company_id.id,
            "partner_id": contact.partner_id.id or False,
            "phone": contact.phone or False,
            "wa_id": contact.wa_id or False,
            "bsuid": contact.bsuid or False,
            "template_id": template.id,
            "body": template._render_body(values),
            "template_params": json.dumps(template._get_template_params(values)),
        }

    @api.model
    def _queue_first_welcome(self, contact):
        """The welcome of a contact created from its first inbound message (once)."""
        if not (contact.wa_id or contact.bsuid):
            return self.browse()
        vals = self._prepare_welcome_vals(contact)
        if not vals:
            return self.browse()
        vals["once_key"] = self._welcome_key(contact)
        return self.sudo()._create_once([vals])

    def _reply(self, template_code, *args, contact=None, **kwargs):
        if template_code == "reply_help" and self._welcome_waits(contact):
            return self.browse()  # the welcome just queued lists the commands
        return super()._reply(template_code, *args, contact=contact, **kwargs)

    def _welcome_waits(self, contact=None):
        """True when the first welcome of this inbound message's sender is queued
        (``contact``: the sender's contact, looked up when not given)."""
        self.ensure_one()
        contact = contact or self._get_contact()
        if not contact:
            return False
        return bool(
            self.sudo().search_count(
                [("once_key", "=", self._welcome_key(contact)), ("state", "=", "queued")]
            )
        )

    # ------------------------------------------------------------------
    # "Send welcome" (contacts and partners)
    # ------------------------------------------------------------------
    @api.model
    def _check_welcome_access(self):
        if not (
            self.env.is_superuser()
            or self.env.user.has_group("ofitec_whatsapp.group_whatsapp_user")
        ):
            raise AccessError(_("Only WhatsApp users can send the WhatsApp welcome."))

    def _settle_manual_welcome(self):
        """Say at once what will become of these welcomes: an opted-out contact gets
        nothing; outside the 24-hour window a welcome whose template is not approved
        waits in the queue with its reason, exactly as the queue would hold it."""
        for message in self:
            contact = message._in_notes_lang()._get_contact()
            if contact.opted_out:
                message._mark_cancelled(_("The recipient opted out (STOP/BAJA)."))
            elif contact and contact._is_window_open():
                continue
            elif message._has_approved_template() and message._waits_for_approval():
                message._in_notes_lang()._hold_for_template(message.template_id)
        return self

    @api.model
    def _welcome_notification(self, messages, problems):
        """The notification shown after "Send welcome": who gets it, who waits, why."""
        ready = messages.filtered(lambda m: m.state == "queued" and not m.error_code)
        lines = []
        if ready:
            names = ", ".join(m._whatsapp_recipient_label() for m in ready)
            lines.append(_("WhatsApp welcome queued for %s.", names))
        for message in messages - ready:
            lines.append(
                _(
                    "%(who)s: %(why)s",
                    who=message._whatsapp_recipient_label(),
                    why=message.error_message or "?",
                )
            )
        lines.extend(problems)
        trouble = bool(messages - ready) or bool(problems)
        kind = "warning" if ready and trouble else ("danger" if trouble else "success")
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": _("WhatsApp welcome"),
                "message": "\n".join(lines),
                "type": kind,
                "sticky": kind != "success",
            },
        }
