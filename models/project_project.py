from odoo import fields, models


class ProjectProject(models.Model):
    _inherit = "project.project"

    whatsapp_config_id = fields.Many2one(
        "ofitec.whatsapp.config",
        string="WhatsApp Number",
        domain="[('company_id', '=', company_id)]",
        groups="ofitec_whatsapp.group_whatsapp_manager",
        help="Number that sends this project's urgent actions. Empty: the company's default.",
    )
