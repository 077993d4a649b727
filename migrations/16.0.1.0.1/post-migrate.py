"""16.0.1.0.1: "listo" acknowledges instead of completing.

A WhatsApp number whose synonym fields still hold what 16.0.1.0.0 put there gets the new
defaults (``tools.commands.DEFAULT_CONFIG_SYNONYMS``); a number whose words somebody
changed keeps them.
"""

from odoo.addons.ofitec_whatsapp.tools import commands

#: column -> (its command, what 16.0.1.0.0 put there)
FORMER = {
    "synonyms_ok": (commands.CMD_OK, "sí, si, vale, confirmo, de acuerdo"),
    "synonyms_completed": (
        commands.CMD_COMPLETED,
        "hecho, listo, terminado, terminada, completada",
    ),
}


def migrate(cr, version):
    for column, (command, former) in FORMER.items():
        cr.execute(
            f"UPDATE ofitec_whatsapp_config SET {column} = %s WHERE {column} = %s",
            (commands.DEFAULT_CONFIG_SYNONYMS[command], former),
        )
