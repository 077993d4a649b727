"""Which number sends for an action, and to which phone number: the routing rules."""

from odoo import api, fields, models

from ..tools import phone


class OfitecWhatsappConfigRouting(models.Model):
    _inherit = "ofitec.whatsapp.config"

    # The allow-list in E.164, comma separated: what ``_is_allowlisted`` and the queue's
    # claim (in SQL: ``ofitec_whatsapp_message_claim._TEST_ONLY``) compare a number with.
    test_allowlist_numbers = fields.Char(
        string="Test Mode Allow-list (E.164)",
        compute="_compute_test_allowlist_numbers",
        store=True,
        readonly=True,
    )

    @api.depends("test_allowlist", "company_id.partner_id.country_id")
    def _compute_test_allowlist_numbers(self):
        for config in self:
            region = config._get_default_region()
            entries = (config.test_allowlist or "").replace(",", "\n").splitlines()
            numbers = {phone.normalize_phone(entry.strip(), region) for entry in entries}
            config.test_allowlist_numbers = ",".join(sorted(numbers - {None})) or False

    def _is_allowlisted(self, number):
        """True when ``number`` may receive real messages although test mode is on."""
        self.ensure_one()
        if not self.test_allowlist_numbers or not number:
            return False
        normalized = phone.normalize_phone(number, self._get_default_region())
        return normalized in self.test_allowlist_numbers.split(",")

    def _get_default_region(self):
        self.ensure_one()
        return self._get_company_region(self.company_id)

    @api.model
    def _get_company_region(self, company):
        """The default phone region of ``company``: its partner's country, else Chile.
        (res.company.country_id is computed from the partner on every read: go direct.)"""
        return (company.partner_id.country_id.code or "CL").upper()

    @api.model
    def _get_partner_number(self, partner, company):
        """``partner``'s WhatsApp number in E.164, or None: the mobile, else the phone,
        each normalised (in the partner's country, else the company's) before choosing,
        so an unusable mobile does not hide a good phone."""
        partner = partner.sudo()
        region = (partner.country_id.code or self._get_company_region(company)).upper()
        return phone.normalize_phone(partner.mobile, region) or phone.normalize_phone(
            partner.phone, region
        )

    @api.model
    def _get_default_config(self, company):
        """The active number of ``company`` with the lowest sequence (read as superuser:
        whoever queues a message may not read the numbers)."""
        return self.sudo().search([("company_id", "=", company.id)], limit=1)

    @api.model
    def _get_config_for_action(self, action):
        """The number that sends for ``action``.

        Rule: the number tied to the action's project (``project.whatsapp_config_id``)
        when it is active and belongs to the action's company; otherwise the active
        configuration of the action's company with the lowest sequence.
        """
        company = action.company_id or self.env.company
        # Read as superuser: whoever saves the action (any internal user) may not see
        # the project's number (a manager-only field) nor the project itself.
        project_config = action.sudo().project_id.whatsapp_config_id
        if project_config.active and project_config.company_id == company:
            return project_config
        return self._get_default_config(company)
