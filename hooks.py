"""Module hooks: what uninstalling leaves to drop (Odoo drops the tables, not the
PostgreSQL functions that the models' ``init()`` created)."""

FUNCTIONS = ("ofitec_whatsapp_stats_hour_delta",)


def uninstall_hook(cr, _registry):
    for name in FUNCTIONS:
        cr.execute(f"DROP FUNCTION IF EXISTS {name} CASCADE")  # pylint: disable=sql-injection
