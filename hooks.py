"""Module hooks: what uninstalling leaves to drop (Odoo drops the tables, not the
PostgreSQL functions that the models' ``init()`` created)."""

from .models.ofitec_whatsapp_stats_hour import DROP_TRIGGER_FUNCTION


def uninstall_hook(cr, _registry):
    cr.execute(DROP_TRIGGER_FUNCTION)
