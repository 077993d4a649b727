"""Health of a number: what an administrator checks first, and a set-up checklist
that ticks itself. Read from the records that already exist (webhook log, messages,
templates) so that nothing on the hot paths writes to the configuration row."""

from odoo import api, fields, models


class OfitecWhatsappConfigHealth(models.Model):
    _inherit = "ofitec.whatsapp.config"

    handshake_seen_at = fields.Datetime(
        string="Webhook Verified On",
        readonly=True,
        copy=False,
        help="When Meta's GET handshake with the right verify token last came in.",
    )
    last_webhook_at = fields.Datetime(
        string="Last Webhook", compute="_compute_health", help="Last signed webhook stored."
    )
    last_error_code = fields.Char(string="Last Send Error Code", compute="_compute_health")
    last_error_message = fields.Char(string="Last Send Error", compute="_compute_health")
    last_error_at = fields.Datetime(string="Last Send Error On", compute="_compute_health")
    templates_approved = fields.Integer(compute="_compute_health")
    templates_pending = fields.Integer(compute="_compute_health")
    templates_rejected = fields.Integer(compute="_compute_health")
    templates_unsubmitted = fields.Integer(compute="_compute_health")
    check_connection = fields.Boolean(string="Connection tested", compute="_compute_health")
    check_webhook_verified = fields.Boolean(string="Webhook verified", compute="_compute_health")
    check_templates_approved = fields.Boolean(
        string="Templates approved", compute="_compute_health"
    )
    check_first_webhook = fields.Boolean(string="First webhook received", compute="_compute_health")

    @api.depends_context("uid")
    def _compute_health(self):
        for config in self:
            config.update(config.sudo()._get_health_values())

    def _get_health_values(self):
        self.ensure_one()
        if not self.id:
            return dict.fromkeys(self._health_fields(), False)
        event = self.env["ofitec.whatsapp.webhook.event"].search(
            [("config_id", "=", self.id), ("state", "!=", "rejected")],
            order="id desc",
            limit=1,
        )
        error = self.env["ofitec.whatsapp.message"].search(
            self._last_error_domain(), order="write_date desc, id desc", limit=1
        )
        counts = self._count_templates()
        return {
            "last_webhook_at": event.create_date or False,
            "last_error_code": error.error_code or False,
            "last_error_message": (error.error_message or "")[:200] or False,
            "last_error_at": error.write_date or False,
            "templates_approved": counts["approved"],
            "templates_pending": counts["pending"],
            "templates_rejected": counts["rejected"],
            "templates_unsubmitted": counts["unsubmitted"],
            "check_connection": self.token_status == "valid",
            "check_webhook_verified": bool(self.handshake_seen_at),
            "check_templates_approved": bool(counts["total"])
            and counts["approved"] == counts["total"],
            "check_first_webhook": bool(event),
        }

    def _last_error_domain(self):
        """The sends of this number that failed; the form shows the newest, read through
        ``ofitec_whatsapp_message_last_error_idx`` (``models/ofitec_whatsapp_message.py``)."""
        return [
            ("config_id", "=", self.id),
            ("direction", "=", "outbound"),
            ("error_code", "!=", False),
            ("error_code", "!=", "template_not_approved"),
        ]

    def _health_fields(self):
        return [name for name, field in self._fields.items() if field.compute == "_compute_health"]

    def _count_templates(self):
        """Templates of this number's company that go to Meta, by Meta's verdict; those
        Meta has no status for were never submitted (a manager must press Submit to
        Meta), not pending."""
        templates = self.env["ofitec.whatsapp.template"].search(
            [
                ("company_id", "in", [self.company_id.id, False]),
                ("meta_template_name", "!=", False),
            ]
        )
        statuses = [(t.meta_status or "").upper() for t in templates]
        return {
            "total": len(statuses),
            "approved": statuses.count("APPROVED"),
            "pending": sum(s in ("PENDING", "IN_APPEAL") for s in statuses),
            "rejected": sum(s in ("REJECTED", "PAUSED", "DISABLED") for s in statuses),
            "unsubmitted": statuses.count(""),
        }

    def _record_handshake(self):
        """Meta's GET handshake succeeded (the route calls this)."""
        self.ensure_one()
        self.sudo().handshake_seen_at = fields.Datetime.now()
