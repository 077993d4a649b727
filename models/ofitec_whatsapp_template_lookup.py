"""Which template a code names, cached per process.

Every queued message, every answer to an inbound text and every welcome looks its
template up by code. The answer is the same until a template is created, deleted,
archived or changes its code or company, so it is an ``ormcache`` (one copy per
process), cleared in every worker and server by those changes (``clear_caches`` moves
the registry's cache sequence, checked before each request and cron job). A failed
transaction that cleared it clears it again (``Registry.reset_changes``).
"""

from odoo import api, models, tools

# A change to one of these may change which template a code names.
LOOKUP_FIELDS = frozenset({"code", "company_id", "active"})


class OfitecWhatsappTemplateLookup(models.Model):
    _name = "ofitec.whatsapp.template"
    _inherit = ["ofitec.whatsapp.template", "ofitec.whatsapp.cached.lookup"]

    _cached_lookup_fields = LOOKUP_FIELDS

    @api.model
    def _get_by_code(self, code, company=None):
        """The active template ``code`` of ``company``, else the shared one."""
        company = company or self.env.company
        return self.sudo().browse(self._get_id_by_code(code, company.id))

    @api.model
    @tools.ormcache("code", "company_id")
    def _get_id_by_code(self, code, company_id):
        """Id of the active template ``code`` of the company, else of the shared one
        (the company's own first, then the oldest), or an empty tuple."""
        templates = (
            self.sudo()
            .with_context(active_test=True)
            .search([("code", "=", code), ("company_id", "in", [company_id, False])])
        )
        return tuple(templates.sorted(lambda t: not t.company_id)[:1].ids)
