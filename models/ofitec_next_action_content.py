"""What is sent about a next action (public extension hook)."""

from odoo import _, models

from ..tools.render import truncate

# The action's free texts are cut, so that a whole notification, its OK / COMPLETADO /
# CANCELAR instructions last, fits the smallest text limit of the providers (Twilio:
# 1,600 characters; a longer text loses its end). The action itself keeps them whole.
TITLE_MAX = 200
FREE_TEXT_MAX = 500


class OfitecNextActionContent(models.Model):
    _inherit = "ofitec.next.action"

    def _prepare_whatsapp_values(self, partner=None):
        """Values for the template placeholders (see ofitec.whatsapp.template)."""
        self.ensure_one()
        priorities = dict(self._fields["priority"]._description_selection(self.env))
        return {
            "recipient_name": (partner.name if partner else "") or "",
            "project": self.project_id.name or "",
            "title": truncate(self.name or "", TITLE_MAX),
            "description": truncate(self.description or "", FREE_TEXT_MAX),
            "priority": priorities.get(self.priority, self.priority or ""),
            "deadline": self.deadline.strftime("%d/%m/%Y") if self.deadline else "",
            "expected_benefits": truncate(self.expected_benefits or "", FREE_TEXT_MAX),
            "action_id": str(self.id),
        }

    def _prepare_whatsapp_message(self, partner=None, template_code="urgent_action"):
        """What is sent about this action to ``partner`` (public extension hook).

        Returns a dict with ``template`` (ofitec.whatsapp.template), ``values`` (the
        placeholder values), ``body`` (the text sent inside the 24-hour window) and
        ``template_params`` (the approved template's parameters, used outside it).
        An ``_inherit`` override may change any of them after calling ``super()``.
        """
        self.ensure_one()
        company = self.company_id or self.env.company
        Template = self.env["ofitec.whatsapp.template"]
        template = Template._get_by_code(template_code, company)
        if not template and template_code == "action_reminder":
            template = Template._get_by_code("urgent_action", company)
        values = self._prepare_whatsapp_values(partner)
        if template:
            body = template._render_body(values)
            params = template._get_template_params(values)
        else:
            body = _("Urgent action: %(title)s", title=values["title"])
            params = []
        return {"template": template, "values": values, "body": body, "template_params": params}
