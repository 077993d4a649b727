from odoo import api, fields, models

PRIORITY_SELECTION = [
    ("1", "Crítica"),
    ("2", "Alta"),
    ("3", "Media"),
    ("4", "Baja"),
]
STATUS_SELECTION = [
    ("pending", "Pendiente"),
    ("in_progress", "En progreso"),
    ("completed", "Completada"),
    ("cancelled", "Cancelada"),
]
ACTION_TYPE_SELECTION = [
    ("immediate", "Inmediata"),
    ("urgent", "Urgente"),
    ("planned", "Planificada"),
    ("preventive", "Preventiva"),
]
CATEGORY_SELECTION = [
    ("risk", "Riesgo"),
    ("financial", "Financiera"),
    ("operational", "Operacional"),
    ("quality", "Calidad"),
    ("communication", "Comunicación"),
    ("planning", "Planificación"),
]

# Priorities that count as "urgent" (strings, never integers).
URGENT_PRIORITIES = ("1", "2")
# Statuses of an action that still has to be done.
OPEN_STATUSES = ("pending", "in_progress")


class OfitecNextAction(models.Model):
    """Next-Best-Action recommendation — REFERENCE STAND-IN.

    This is not the customer's model. OFITEC's real ``ofitec_next_action``
    module is private; this class provides exactly the documented contract of
    ``ofitec.next.action`` (see ``next-action-contract.md``) so that
    ``ofitec_whatsapp`` can be tested and demonstrated on a plain Odoo 16.
    Do not add behaviour here that the contract does not promise: code that
    works only against this stand-in would break on the customer's database.

    Contract notes:

    * ``priority`` holds strings: ``"1"`` Crítica, ``"2"`` Alta, ``"3"`` Media,
      ``"4"`` Baja. "Urgent" means ``"1"`` or ``"2"``.
    * ``_order`` is the customer's ``"priority desc, create_date desc"``
      (which, with these keys, lists *Baja* first; kept as published).
    * The transition methods only ``write`` the new status, on any number of
      records, so extending modules can call ``super()`` and react to it.
    """

    _name = "ofitec.next.action"
    _description = "Recomendaciones Inteligentes de Próximas Acciones"
    _inherit = ["mail.thread", "mail.activity.mixin"]
    _order = "priority desc, create_date desc"

    name = fields.Char(string="Title", required=True)
    description = fields.Text(required=True)
    action_type = fields.Selection(ACTION_TYPE_SELECTION, string="Action Type", required=True)
    priority = fields.Selection(PRIORITY_SELECTION, required=True, default="3")
    category = fields.Selection(CATEGORY_SELECTION, required=True)
    project_id = fields.Many2one("project.project", string="Project")
    status = fields.Selection(
        STATUS_SELECTION,
        required=True,
        default="pending",
        tracking=True,
        group_expand="_group_expand_status",
    )
    suggested_date = fields.Date(required=True, default=fields.Date.context_today)
    deadline = fields.Date()
    completed_date = fields.Date()
    confidence_score = fields.Float()
    impact_score = fields.Float()
    urgency_score = fields.Float()
    recommended_actions = fields.Text()
    expected_benefits = fields.Text()
    required_resources = fields.Text()
    created_by_ai = fields.Boolean(string="Created by AI")
    user_id = fields.Many2one("res.users", string="Assigned to", default=lambda self: self.env.user)
    company_id = fields.Many2one(
        "res.company", string="Company", default=lambda self: self.env.company
    )

    def _group_expand_status(self, statuses, domain, order):
        """Show every status column in the kanban view, even when empty."""
        return [key for key, _label in STATUS_SELECTION]

    # ------------------------------------------------------------------
    # Actions (buttons)
    # ------------------------------------------------------------------

    def action_start_progress(self):
        self.write({"status": "in_progress"})
        return True

    def action_mark_completed(self):
        self.write(
            {
                "status": "completed",
                "completed_date": fields.Date.context_today(self),
            }
        )
        return True

    def action_cancel(self):
        self.write({"status": "cancelled"})
        return True

    # ------------------------------------------------------------------
    # Dashboard
    # ------------------------------------------------------------------

    @api.model
    def get_dashboard_data(self):
        """Figures for the ``ofitec_next_action.dashboard`` client action.

        Counts run as the current user (record rules apply, no ``sudo``).
        ``critical`` / ``high`` count open actions (pending or in progress)
        of priority ``"1"`` / ``"2"``; ``urgent_actions`` lists the open
        actions of priority ``"1"`` or ``"2"``, most critical and nearest
        deadline first (at most 10).
        """
        today = fields.Date.context_today(self)
        open_domain = [("status", "in", OPEN_STATUSES)]
        summary = {
            "pending": self.search_count([("status", "=", "pending")]),
            "in_progress": self.search_count([("status", "=", "in_progress")]),
            "completed_today": self.search_count(
                [("status", "=", "completed"), ("completed_date", "=", today)]
            ),
            "critical": self.search_count(open_domain + [("priority", "=", "1")]),
            "high": self.search_count(open_domain + [("priority", "=", "2")]),
        }
        urgent = self.search(
            open_domain + [("priority", "in", URGENT_PRIORITIES)],
            order="priority asc, deadline asc, id desc",
            limit=10,
        )
        urgent_actions = [
            {
                "id": action.id,
                "name": action.name,
                "priority": action.priority,
                "category": action.category,
                "deadline": fields.Date.to_string(action.deadline) if action.deadline else False,
                # The action is visible; its project may not be (private
                # project): only its name is shown, as a many2one would.
                "project": action.project_id.sudo().name or False,
            }
            for action in urgent
        ]
        return {"summary": summary, "urgent_actions": urgent_actions}
