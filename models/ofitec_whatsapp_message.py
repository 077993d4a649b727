"""The WhatsApp message: outbound queue rows and inbound history, one row each.

Its behaviour is split by concern into ``_inherit`` files: the queue
(``ofitec_whatsapp_message_queue``), contacts and late statuses
(``ofitec_whatsapp_message_contact``), inbound messages and reply routing
(``ofitec_whatsapp_message_inbound``) and the statistics
(``ofitec_whatsapp_message_stats``).
"""

from odoo import api, fields, models

from ..tools import commands
from ..tools.schema import drop_indexes
from ..tools.status import TERMINAL_STATES

STATES = [
    ("queued", "Queued"),
    ("sent", "Sent"),
    ("delivered", "Delivered"),
    ("read", "Read"),
    ("failed", "Failed"),
    ("received", "Received"),
    ("cancelled", "Cancelled"),
]


class OfitecWhatsappMessage(models.Model):
    _name = "ofitec.whatsapp.message"
    _description = "WhatsApp Message"
    _order = "id desc"

    direction = fields.Selection(
        [("outbound", "Outbound"), ("inbound", "Inbound")],
        required=True,
        default="outbound",
        index=True,
    )
    state = fields.Selection(STATES, required=True, default="queued", index=True)
    message_type = fields.Selection(
        [
            ("text", "Text"),
            ("interactive", "Reply Buttons"),
            ("template", "Approved Template"),
            ("other", "Other"),
        ],
        help="Outbound: what was (or will be) sent, decided at send time by the 24-hour "
        "window. Inbound: a text, or a tap on a reply button.",
    )
    whatsapp_message_id = fields.Char(
        string="WhatsApp Message ID", index=True, copy=False, readonly=True
    )
    # Not index=True: the unique (config_id, whatsapp_message_id) index serves it.
    config_id = fields.Many2one("ofitec.whatsapp.config", ondelete="set null")
    company_id = fields.Many2one(
        "res.company", required=True, index=True, default=lambda self: self.env.company
    )
    phone = fields.Char(help="E.164 number.")
    wa_id = fields.Char(string="WhatsApp ID", help="The id Meta uses for this user (digits).")
    bsuid = fields.Char(string="Business-scoped User ID")
    partner_id = fields.Many2one("res.partner", index=True, ondelete="set null")
    body = fields.Text()
    template_id = fields.Many2one("ofitec.whatsapp.template", ondelete="set null")
    template_params = fields.Text(help="JSON list of the approved template's parameters.")
    next_action_id = fields.Many2one("ofitec.next.action", index=True, ondelete="set null")
    error_code = fields.Char(readonly=True)
    error_message = fields.Text(readonly=True)
    retry_count = fields.Integer(readonly=True)
    next_attempt = fields.Datetime(readonly=True)
    sent_date = fields.Datetime(readonly=True)
    delivered_date = fields.Datetime(readonly=True)
    read_date = fields.Datetime(readonly=True)
    is_test = fields.Boolean(
        string="Test Message", readonly=True, help="Created in test mode: it never left Odoo."
    )
    command = fields.Selection(
        [
            (commands.CMD_OK, "OK"),
            (commands.CMD_COMPLETED, "Completed"),
            (commands.CMD_CANCEL, "Cancel"),
            (commands.CMD_STOP, "Stop"),
        ],
        readonly=True,
        help="Command recognised in an inbound reply.",
    )
    reply_processed = fields.Boolean(readonly=True, help="This reply changed an action.")
    config_test_mode = fields.Boolean(
        related="config_id.test_mode", string="Test Mode Number", help="Its number is in test mode."
    )
    force_send = fields.Boolean(
        readonly=True, help="Sent even to an opted-out contact (the opt-out confirmation)."
    )

    _sql_constraints = [
        (
            "whatsapp_message_id_uniq",
            "unique(config_id, whatsapp_message_id)",
            "A WhatsApp message id is stored once per number.",
        ),
    ]

    def init(self):
        drop_indexes(self.env.cr, "ofitec_whatsapp_message_config_id_index")
        # The queue query filters on queued outbound rows only: keep that index small.
        self.env.cr.execute(
            """
            CREATE INDEX IF NOT EXISTS ofitec_whatsapp_message_queue_idx
                ON ofitec_whatsapp_message (next_attempt, id)
             WHERE state = 'queued' AND direction = 'outbound'
            """
        )
        # The health panel's last send error (config_health._last_error_domain): the
        # newest failed send of a number, without reading its other messages (a scan of
        # all of them, 74 ms at 1,000,000, each time a number's form opens).
        self.env.cr.execute(
            """
            CREATE INDEX IF NOT EXISTS ofitec_whatsapp_message_last_error_idx
                ON ofitec_whatsapp_message (config_id, write_date DESC, id DESC)
             WHERE direction = 'outbound' AND error_code IS NOT NULL
            """
        )

    def name_get(self):
        # Translated labels ("Saliente +569…" for a Spanish user).
        labels = dict(self._fields["direction"]._description_selection(self.env))
        return [
            (m.id, f"{labels.get(m.direction, '')} {m.phone or m.wa_id or m.bsuid or ''}".strip())
            for m in self
        ]

    # ------------------------------------------------------------------
    # CRUD
    # ------------------------------------------------------------------
    @api.model_create_multi
    def create(self, vals_list):
        messages = super().create(vals_list)
        if any(m.state == "queued" and m.direction == "outbound" for m in messages):
            self._trigger_queue()
        return messages

    # ------------------------------------------------------------------
    # Actions
    # ------------------------------------------------------------------
    def action_retry(self):
        """Put failed or cancelled outbound messages back in the queue."""
        retriable = self.filtered(
            lambda m: m.direction == "outbound" and m.state in TERMINAL_STATES
        )
        retriable.write(
            {
                "state": "queued",
                "retry_count": 0,
                "next_attempt": False,
                "error_code": False,
                "error_message": False,
            }
        )
        return True

    def action_cancel(self):
        self.filtered(lambda m: m.state == "queued").write({"state": "cancelled"})
        return True
