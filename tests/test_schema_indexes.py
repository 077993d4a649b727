"""The addon's tables hold no index that another one already provides: every index is
maintained on every write of its table (a status update rewrites a message row in each
of them), and the planner uses the other one for the same look-ups."""

from odoo.tests import common

# (table, index an earlier version created): the upgrade drops them.
SUPERSEDED = [
    ("ofitec_whatsapp_message", "ofitec_whatsapp_message_once_key_index", "once_key"),
    ("ofitec_whatsapp_message", "ofitec_whatsapp_message_config_id_index", "config_id"),
    ("ofitec_whatsapp_status", "ofitec_whatsapp_status_config_id_index", "config_id"),
    ("ofitec_whatsapp_contact", "ofitec_whatsapp_contact_config_id_index", "config_id"),
]


class TestSchemaIndexes(common.TransactionCase):
    def _our_tables(self):
        data = self.env["ir.model.data"].search(
            [("module", "=", "ofitec_whatsapp"), ("model", "=", "ir.model")]
        )
        models = self.env["ir.model"].browse(data.mapped("res_id")).mapped("model")
        return sorted({self.env[m]._table for m in models if m in self.env and self.env[m]._auto})

    def _index_names(self, table):
        self.env.cr.execute("SELECT indexname FROM pg_indexes WHERE tablename = %s", [table])
        return {row[0] for row in self.env.cr.fetchall()}

    def test_no_index_repeats_or_prefixes_another(self):
        tables = self._our_tables()
        self.assertIn("ofitec_whatsapp_message", tables)
        # A plain index whose columns begin another index of the same table (with the
        # same predicate and no expressions) gives the planner nothing the other does
        # not; the same columns twice is the extreme case.
        self.env.cr.execute(
            """
            SELECT c.relname, a.relname, b.relname
              FROM pg_index x
              JOIN pg_index y ON y.indrelid = x.indrelid AND y.indexrelid <> x.indexrelid
              JOIN pg_class c ON c.oid = x.indrelid
              JOIN pg_class a ON a.oid = x.indexrelid
              JOIN pg_class b ON b.oid = y.indexrelid
             WHERE c.relname = ANY(%s)
               AND NOT x.indisunique
               AND x.indexprs IS NULL AND y.indexprs IS NULL
               AND pg_get_expr(x.indpred, x.indrelid) IS NOT DISTINCT FROM
                   pg_get_expr(y.indpred, y.indrelid)
               AND x.indnkeyatts <= y.indnkeyatts
               AND (y.indkey::int2[])[0:x.indnkeyatts - 1]
                   = (x.indkey::int2[])[0:x.indnkeyatts - 1]
             ORDER BY 1, 2, 3
            """,
            [tables],
        )
        self.assertEqual(self.env.cr.fetchall(), [])

    def test_upgrade_drops_the_indexes_of_earlier_versions(self):
        cr = self.env.cr
        for table, index, column in SUPERSEDED:
            cr.execute(f'CREATE INDEX "{index}" ON "{table}" ("{column}")')
            self.assertIn(index, self._index_names(table))
        # What an upgrade runs for these models.
        for model in (
            "ofitec.whatsapp.message",
            "ofitec.whatsapp.status",
            "ofitec.whatsapp.contact",
        ):
            self.env[model].init()
        for table, index, _column in SUPERSEDED:
            self.assertNotIn(index, self._index_names(table))

    def test_the_unique_indexes_stay(self):
        """They are the indexes that the dropped ones left their look-ups to."""
        self.assertIn(
            "ofitec_whatsapp_message_once_key_uniq", self._index_names("ofitec_whatsapp_message")
        )
        self.assertIn(
            "ofitec_whatsapp_message_whatsapp_message_id_uniq",
            self._index_names("ofitec_whatsapp_message"),
        )
        self.assertIn(
            "ofitec_whatsapp_status_status_uniq", self._index_names("ofitec_whatsapp_status")
        )
        self.assertLessEqual(
            {"ofitec_whatsapp_contact_wa_id_uniq", "ofitec_whatsapp_contact_bsuid_uniq"},
            self._index_names("ofitec_whatsapp_contact"),
        )
