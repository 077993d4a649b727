"""16.0.1.0.1: "listo" acknowledges instead of completing.

A WhatsApp number whose synonym fields still hold what 16.0.1.0.0 put there gets the new
defaults (``tools.commands.DEFAULT_CONFIG_SYNONYMS``); a number whose words somebody
changed keeps them.
"""

from odoo.addons.ofitec_whatsapp.tools import commands

FIELDS = {commands.CMD_OK: "synonyms_ok", commands.CMD_COMPLETED: "synonyms_completed"}


def migrate(cr, version):
    for command, former in commands.FORMER_CONFIG_SYNONYMS.items():
        column = FIELDS[command]
        cr.execute(
            f"UPDATE ofitec_whatsapp_config SET {column} = %s WHERE {column} = %s",  # noqa: S608
            (commands.DEFAULT_CONFIG_SYNONYMS[command], former),
        )
