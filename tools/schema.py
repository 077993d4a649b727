"""Indexes that earlier versions created and this one no longer declares.

Odoo 16 never drops an index that a field stops declaring (``Registry.check_indexes``
logs "Keep unexpected index" and keeps it), so every write of the table would go on
maintaining it. A model whose field lost ``index=True`` names that index here from its
``init()``, which runs on install and on upgrade.
"""

from psycopg2 import sql

__all__ = ["drop_indexes"]


def drop_indexes(cr, *names):
    """Drop the indexes ``names`` where they exist."""
    for name in names:
        cr.execute(sql.SQL("DROP INDEX IF EXISTS {}").format(sql.Identifier(name)))
