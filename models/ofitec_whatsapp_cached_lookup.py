"""Per-process lookups (``ormcache``) kept right in every worker and server.

A model whose lookup is cached inherits this mixin and names the fields whose change
may alter an answer (``_cached_lookup_fields``). Creating or deleting a record, or
writing one of those fields, calls ``clear_caches``: it moves the registry's cache
sequence, which every process checks before each request and cron job. Creating one
also counts because an id looked up before its record existed is cached as missing.
"""

from odoo import api, models


class OfitecWhatsappCachedLookup(models.AbstractModel):
    _name = "ofitec.whatsapp.cached.lookup"
    _description = "WhatsApp Cached Lookup"

    _cached_lookup_fields = frozenset()

    @api.model_create_multi
    def create(self, vals_list):
        records = super().create(vals_list)
        self.clear_caches()
        return records

    def write(self, vals):
        result = super().write(vals)
        if self._cached_lookup_fields.intersection(vals):
            self.clear_caches()
        return result

    def unlink(self):
        result = super().unlink()
        self.clear_caches()
        return result
