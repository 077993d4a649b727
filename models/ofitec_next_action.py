import logging

from lxml import etree

from odoo import _, api, fields, models
from odoo.exceptions import UserError

from ..tools.actions import OPEN_STATUSES, URGENT_PRIORITIES
from ..tools.status import LEFT_STATES

_logger = logging.getLogger(__name__)


class OfitecNextAction(models.Model):
    # mail.thread is added here so that reminders and replies can always be logged,
    # whether or not the customer's module already gives the model a chatter; the
    # activity mixin, so that a failure can be given to the responsible user.
    _name = "ofitec.next.action"
    _inherit = ["ofitec.next.action", "mail.thread", "mail.activity.mixin"]

    whatsapp_enabled = fields.Boolean(
        string="WhatsApp Notifications",
        default=True,
        help="Send a WhatsApp message to the recipients when this action is urgent.",
    )
    whatsapp_notified = fields.Boolean(
        readonly=True,
        copy=False,
        help="The automatic urgent notification was asked for (it is sent once).",
    )
    # Not stored on purpose: the queue must never write the action's row when it
    # records a send (a concurrent writer of the action would make that record roll
    # back, and the message would be sent again).
    whatsapp_sent = fields.Boolean(
        string="WhatsApp Sent",
        compute="_compute_whatsapp_sent",
        search="_search_whatsapp_sent",
        help="At least one WhatsApp message about this action left Odoo.",
    )
    whatsapp_message_ids = fields.One2many(
        "ofitec.whatsapp.message", "next_action_id", string="WhatsApp Messages"
    )
    whatsapp_recipient_ids = fields.Many2many(
        "res.partner",
        "ofitec_next_action_whatsapp_partner_rel",
        "action_id",
        "partner_id",
        string="Extra WhatsApp Recipients",
        help="Notified besides the project manager and the assigned user.",
    )

    @api.depends("whatsapp_message_ids.state", "whatsapp_message_ids.direction")
    def _compute_whatsapp_sent(self):
        sent_ids = set(self._whatsapp_sent_ids(self.ids))
        for action in self:
            action.whatsapp_sent = action._origin.id in sent_ids

    def _search_whatsapp_sent(self, operator, value):
        if operator not in ("=", "!="):
            raise UserError(_("Unsupported search on WhatsApp Sent: %s", operator))
        positive = (operator == "=") == bool(value)
        return [("id", "in" if positive else "not in", self._whatsapp_sent_ids())]

    @api.model
    def _whatsapp_sent_ids(self, action_ids=None):
        """Ids of the actions with at least one outbound message that left Odoo."""
        domain = [
            ("next_action_id", "!=", False),
            ("direction", "=", "outbound"),
            ("state", "in", LEFT_STATES),
        ]
        if action_ids is not None:
            if not action_ids:
                return []
            domain.append(("next_action_id", "in", action_ids))
        groups = (
            self.env["ofitec.whatsapp.message"]
            .sudo()
            ._read_group(domain, ["next_action_id"], ["next_action_id"])
        )
        return [group["next_action_id"][0] for group in groups]

    # ------------------------------------------------------------------
    # CRUD
    # ------------------------------------------------------------------
    @api.model_create_multi
    def create(self, vals_list):
        # Urgent actions come out of their INSERT already pending (see
        # ofitec_next_action_notify); this only wakes the cron, once per call, and
        # catches actions that an override made urgent after the defaults.
        actions = super().create(vals_list)
        actions._whatsapp_notify_if_urgent()
        return actions

    def write(self, vals):
        res = super().write(vals)
        if {"priority", "whatsapp_enabled", "status"} & set(vals):
            self._whatsapp_notify_if_urgent()
        return res

    # ------------------------------------------------------------------
    # Views: the customer's view ids are unknown, so the WhatsApp parts are added
    # to whatever form/list the model has, instead of inheriting views by XML id.
    # ------------------------------------------------------------------
    @api.model
    def _get_view(self, view_id=None, view_type="form", **options):
        arch, view = super()._get_view(view_id, view_type, **options)
        if view_type == "form":
            self._whatsapp_patch_form(arch)
        elif view_type == "tree":
            self._whatsapp_patch_tree(arch)
        return arch, view

    @api.model
    def _whatsapp_patch_form(self, arch):
        if arch.xpath("//field[@name='whatsapp_message_ids']"):
            return  # the view already shows them (e.g. the customer added them)
        # The parts live in a view record of their own, so they are translated like
        # any view (its header buttons and notebook pages are copied in).
        parts_view = self.env.ref(
            "ofitec_whatsapp.ofitec_next_action_view_form_whatsapp_parts", raise_if_not_found=False
        )
        if not parts_view:
            return
        parts = etree.fromstring(parts_view.sudo().with_context(lang=self.env.lang).arch)
        header = arch.find(".//header")
        if header is None:
            header = etree.Element("header")
            arch.insert(0, header)
        for button in parts.find("header"):
            header.append(button)
        sheet = arch.find(".//sheet")
        if sheet is None:
            sheet = arch
        notebook = sheet.find(".//notebook")
        if notebook is None:
            notebook = etree.SubElement(sheet, "notebook")
        for page in parts.find(".//notebook"):
            notebook.append(page)

    @api.model
    def _whatsapp_patch_tree(self, arch):
        if not arch.xpath("//field[@name='whatsapp_notify_state']"):
            # From the moment it is saved, an urgent action shows its pending notification.
            etree.SubElement(
                arch,
                "field",
                {
                    "name": "whatsapp_notify_state",
                    "optional": "show",
                    "widget": "badge",
                    "decoration-warning": "whatsapp_notify_state == 'pending'",
                    "decoration-danger": "whatsapp_notify_state == 'failed'",
                    # Queued: prepared; "WhatsApp Sent" and the messages tell the rest.
                    "attrs": "{'invisible': [('whatsapp_notify_state', '=', 'queued')]}",
                },
            )
        if arch.xpath("//field[@name='whatsapp_sent']"):
            return
        etree.SubElement(
            arch,
            "field",
            {"name": "whatsapp_sent", "optional": "show", "widget": "boolean"},
        )

    # ------------------------------------------------------------------
    # Actions
    # ------------------------------------------------------------------
    def action_send_whatsapp_reminder(self):
        """Queue a WhatsApp reminder to the action's recipients (manual button)."""
        messages, failures = self._whatsapp_queue(
            reason="reminder", template_code="action_reminder"
        )
        queued = messages.filtered(lambda m: m.state == "queued")
        complete = queued and queued == messages and not failures
        kind = "success" if complete else ("warning" if queued else "danger")
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": _("WhatsApp reminder"),
                "message": "\n".join(self._whatsapp_reminder_lines(messages, failures)),
                "type": kind,
                "sticky": kind != "success",
                "className": "o_whatsapp_notification",
                # The form shows the queued reminder in its WhatsApp tab at once.
                "next": {"type": "ir.actions.client", "tag": "soft_reload"},
            },
        }

    def _whatsapp_reminder_lines(self, messages, failures):
        """What became of a reminder: each failed action, who it was queued for, and
        each recipient it was not sent to with the reason."""
        lines = [
            _(
                "The WhatsApp reminder of %(action)s could not be queued (%(error)s).",
                action=action.display_name,
                error=error,
            )
            for action, error in failures.items()
        ]
        queued = messages.filtered(lambda m: m.state == "queued")
        if queued:
            lines.append(
                _(
                    "WhatsApp reminder queued for %s.",
                    ", ".join(m._whatsapp_recipient_label() for m in queued),
                )
            )
        for message in messages - queued:
            lines.append(
                _(
                    "Not sent to %(who)s: %(why)s",
                    who=message._whatsapp_recipient_label(),
                    why=message.error_message or "?",
                )
            )
        if not messages and not failures:
            lines.append(_("This action has nobody to send a WhatsApp reminder to."))
        return lines

    # ------------------------------------------------------------------
    # Business methods
    # ------------------------------------------------------------------
    @api.model
    def _whatsapp_notify_demo(self):
        """Demo data: the urgent actions created before this module was installed get
        their notification too, so the demo shows the whole loop."""
        domain = [("priority", "in", URGENT_PRIORITIES), ("status", "in", OPEN_STATUSES)]
        actions = self.search(domain)
        # Prepared at once, not by the cron: the demo must be complete at install.
        actions._whatsapp_notify_if_urgent()
        for action in actions.filtered(lambda a: a.whatsapp_notify_state == "pending"):
            action._whatsapp_notify_pending()
        # A number in test mode "sends" without any network call: do it now, so the
        # demo is complete before Odoo starts (no commit here, unlike the cron).
        queued = self.env["ofitec.whatsapp.message"].search(
            [("next_action_id", "in", actions.ids), ("state", "=", "queued")]
        )
        for message in queued.filtered(lambda m: m.config_id.test_mode):
            message._prepare_send({})  # an allow-listed number stays queued for the cron

    def _whatsapp_queue(self, reason="urgent", template_code="urgent_action"):
        """Create queued WhatsApp messages for these actions; never raises. Returns the
        messages and ``{action: error text}`` of the actions whose queueing failed.

        Only rows in our own table are written (no network call): the cron sends them
        after this transaction commits. Anything going wrong here is logged and kept
        inside a savepoint, so the action itself is always saved.
        """
        Message = self.env["ofitec.whatsapp.message"].sudo()
        messages = Message
        failures = {}
        for action in self:
            try:
                with self.env.cr.savepoint():
                    # Reasons stored on skipped messages are read by the action's
                    # people: written in their language, not the saving user's.
                    messages |= action._whatsapp_in_lang()._whatsapp_queue_one(
                        reason, template_code
                    )
            except Exception as error:
                _logger.exception("WhatsApp: could not queue messages for action %s", action.id)
                failures[action] = f"{type(error).__name__}: {error}"
        return messages, failures

    def _whatsapp_queue_one(self, reason, template_code):
        self.ensure_one()
        # Whoever saves the action (any internal user) triggers the notification: the
        # recipients, the number and the text are read as superuser, since that user
        # may not see the project, its manager or its WhatsApp number.
        action = self.sudo()
        config = self.env["ofitec.whatsapp.config"]._get_config_for_action(action)
        vals_list = [
            action._whatsapp_recipient_vals(config, recipient, template_code)
            for recipient in action._get_whatsapp_recipients()
        ]
        messages = self.env["ofitec.whatsapp.message"].sudo().create(vals_list)
        if reason == "urgent":
            self.write({"whatsapp_notified": True, "whatsapp_notify_state": "queued"})
        self._whatsapp_log_queued(messages, reason)
        return messages

    def _whatsapp_recipient_vals(self, config, recipient, template_code):
        """The message to ``recipient`` (from ``_get_whatsapp_recipients``) about this
        action: queued, or cancelled at once with the reason it cannot be sent."""
        company = self.company_id or self.env.company
        skip_reason = recipient.get("skip_reason")
        if not config:
            skip_reason = _("No active WhatsApp configuration for %s.", company.name)
        elif not skip_reason and self._whatsapp_opted_out(config, recipient["phone"]):
            skip_reason = _("they opted out of WhatsApp messages (STOP/BAJA).")
        if not skip_reason:
            return (
                self.env["ofitec.whatsapp.message"]
                .sudo()
                ._prepare_queued_vals(
                    config,
                    recipient["partner"],
                    recipient["phone"],
                    action=self,
                    template_code=template_code,
                )
            )
        # The template tells later what this was (notification or reminder).
        Template = self.env["ofitec.whatsapp.template"]
        template = Template._get_by_code(template_code, company) or Template._get_by_code(
            "urgent_action", company
        )
        return {
            "direction": "outbound",
            "next_action_id": self.id,
            "partner_id": recipient["partner"].id,
            "phone": recipient["phone"] or False,
            "company_id": company.id,
            "config_id": config.id or False,
            "state": "cancelled",
            "error_message": skip_reason,
            "template_id": template.id or False,
        }
