"""What the WhatsApp › Dashboard's graph and pivot views group and measure.

Delivery rate, read rate and time to read are PostgreSQL generated columns: the
database computes them from the row on every insert and update, whichever path writes
it (the ORM, the status batch's SQL, a manual fix). So they are never stale, they cost
no Python and no trigger on message writes, and adding them fills every existing row
in one table rewrite at install or upgrade (``init``). PostgreSQL keeps a generated
column's expression until the column is dropped, so ``init`` also rebuilds a column
whose expression is not the one of ``GENERATED_COLUMNS`` any more (a database made by
an earlier version): a change below reaches existing databases at their upgrade. Odoo
sees ordinary stored, read-only fields it can group and aggregate.

The rates are 100 or 0 per message and empty (NULL) where they do not apply, so their
average is the rate over the messages it concerns, whatever the filters. Odoo has no
median aggregate: ``read_group`` computes ``time_to_read_median`` with PostgreSQL's
``percentile_cont(0.5)`` per group, within the same domain and record rules, so every
cell of a pivot and every bar of a graph shows the true median of its own messages.
"""

from psycopg2 import sql

from odoo import api, fields, models
from odoo.tools import OrderedSet

from ..tools import commands
from ..tools.status import RATE_STATES, REACHED_STATES, REAL_OUTBOUND_SQL, sql_in

_OUTBOUND_REAL = REAL_OUTBOUND_SQL
# A test message never reached anyone: it has no time to read (a simulated read).
_MINUTES_TO_READ = (
    f"CASE WHEN {_OUTBOUND_REAL} AND read_date IS NOT NULL AND sent_date IS NOT NULL"
    " THEN GREATEST(EXTRACT(EPOCH FROM (read_date - sent_date))::float8, 0) / 60 END"
)
#: Column -> (SQL type, expression). One home for what each figure counts.
GENERATED_COLUMNS = {
    # Of the real messages the provider accepted or refused: did it reach the phone?
    "delivery_rate": (
        "int4",
        f"CASE WHEN {_OUTBOUND_REAL} AND {sql_in('state', RATE_STATES)}"
        f" THEN CASE WHEN {sql_in('state', REACHED_STATES)} THEN 100 ELSE 0 END END",
    ),
    # Of the real messages that reached the phone: was it read?
    "read_rate": (
        "int4",
        f"CASE WHEN {_OUTBOUND_REAL} AND {sql_in('state', REACHED_STATES)}"
        " THEN CASE WHEN state = 'read' THEN 100 ELSE 0 END END",
    ),
    "time_to_read": ("float8", _MINUTES_TO_READ),
    # The same minutes, aggregated as a median by read_group below.
    "time_to_read_median": ("float8", _MINUTES_TO_READ),
    "reply_command": (
        "varchar",
        "CASE WHEN direction = 'inbound' THEN COALESCE(command, 'other') END",
    ),
}
#: The columns the generated ones are computed from.
SOURCE_FIELDS = ("direction", "state", "is_test", "sent_date", "read_date", "command")
_MEDIAN = "time_to_read_median"
# Read only when asked for (views, reports), not with every message the ORM loads.
_PREFETCH = "insight"
_MEDIAN_KEY = "__median_key"

#: What each figure of the Next-Best-Action dashboard opens: its filters, and the
#: graph and pivot laid out for it (Odoo's graph_*/pivot_* context keys).
_FIGURE_CONTEXTS = {
    "sent_today": {
        "graph_measure": "__count",
        "search_default_filter_outbound": 1,
        "search_default_filter_sent_today": 1,
        "graph_groupbys": ["config_id", "state"],
        "pivot_row_groupby": ["config_id"],
        "pivot_column_groupby": ["state"],
        "pivot_measures": ["__count"],
    },
    "received_today": {
        "graph_measure": "__count",
        "search_default_filter_inbound": 1,
        "search_default_filter_today": 1,
        "graph_groupbys": ["reply_command", "config_id"],
        "pivot_row_groupby": ["config_id"],
        "pivot_column_groupby": ["reply_command"],
        "pivot_measures": ["__count"],
    },
    "delivery_rate": {
        "search_default_filter_outbound": 1,
        "search_default_filter_sent_last_30_days": 1,
        "graph_measure": "delivery_rate",
        "graph_mode": "line",
        "graph_stacked": False,
        "graph_groupbys": ["sent_date:day"],
        "pivot_row_groupby": ["sent_date:day"],
        "pivot_column_groupby": [],
        "pivot_measures": ["__count", "delivery_rate", "read_rate", _MEDIAN],
    },
    "replies_processed": {
        "graph_measure": "__count",
        "search_default_filter_inbound": 1,
        "search_default_filter_today": 1,
        "search_default_filter_reply_processed": 1,
        "graph_groupbys": ["reply_command"],
        "pivot_row_groupby": ["reply_command"],
        "pivot_column_groupby": ["config_id"],
        "pivot_measures": ["__count"],
    },
    "failed": {
        "graph_measure": "__count",
        "search_default_filter_failed": 1,
        "search_default_filter_last_30_days": 1,
        # Group-bys the user sees (and can remove) in the search bar.
        "search_default_group_error_code": 1,
        "search_default_group_error_title": 1,
        "pivot_column_groupby": ["config_id"],
        "pivot_measures": ["__count"],
    },
}


_PROBE_TABLE = "ofitec_whatsapp_message_generated_probe"
# Each generated column of a table: its type and its expression, as PostgreSQL shows them.
_GENERATED_SQL = """
    SELECT a.attname, format_type(a.atttypid, a.atttypmod), pg_get_expr(d.adbin, d.adrelid)
      FROM pg_attribute AS a
      JOIN pg_attrdef AS d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
     WHERE a.attrelid = %s::regclass AND a.attgenerated = 's' AND NOT a.attisdropped
"""


def _generated_definitions(cr, table):
    """{column: (type, expression)} of the generated columns of ``table``."""
    cr.execute(_GENERATED_SQL, [table])
    return {name: (column_type, expression) for name, column_type, expression in cr.fetchall()}


def _add_generated_clauses(names):
    """``ADD COLUMN … GENERATED ALWAYS AS (…) STORED`` of these GENERATED_COLUMNS."""
    return [
        sql.SQL("ADD COLUMN {} {} GENERATED ALWAYS AS ({}) STORED").format(
            sql.Identifier(name),
            sql.SQL(GENERATED_COLUMNS[name][0]),
            sql.SQL(GENERATED_COLUMNS[name][1]),
        )
        for name in names
    ]


class OfitecWhatsappMessageInsight(models.Model):
    _inherit = "ofitec.whatsapp.message"

    delivery_rate = fields.Integer(
        string="Delivered (%)",
        readonly=True,
        copy=False,
        prefetch=_PREFETCH,
        group_operator="avg",
        help="100 when this real outbound message reached the phone (delivered or read), "
        "0 when it was sent or failed without reaching it; empty for queued, cancelled, "
        "test and inbound messages. Averaged, it is the delivery rate.",
    )
    read_rate = fields.Integer(
        string="Read (%)",
        readonly=True,
        copy=False,
        prefetch=_PREFETCH,
        group_operator="avg",
        help="100 when this real outbound message that reached the phone was read, 0 when "
        "it was only delivered; empty otherwise. Averaged, it is the read rate of the "
        "messages that reached the phone.",
    )
    time_to_read = fields.Float(
        string="Time to Read (min)",
        readonly=True,
        copy=False,
        prefetch=_PREFETCH,
        group_operator="avg",
        help="Minutes from the send to the read receipt of a real outbound message; empty "
        "for test messages.",
    )
    time_to_read_median = fields.Float(
        string="Median Time to Read (min)",
        readonly=True,
        copy=False,
        prefetch=_PREFETCH,
        group_operator="avg",
        help="Minutes from the send to the read receipt of a real outbound message; grouped, "
        "the median of its group.",
    )
    reply_command = fields.Selection(
        [*commands.COMMAND_WORDS.items(), ("other", "Other")],
        string="Reply",
        readonly=True,
        copy=False,
        prefetch=_PREFETCH,
        help="For a received message: the command it carried, or Other.",
    )
    error_title = fields.Char(
        readonly=True, copy=False, help="The provider's title of the error (with its code)."
    )

    def init(self):
        res = super().init()
        self._create_generated_columns()
        return res

    @api.model
    def _create_generated_columns(self):
        """Make each column of GENERATED_COLUMNS a generated one, as defined there: one
        that Odoo's ``_auto_init`` has just created as a plain column (it was missing),
        and one generated from another expression (``_stale_generated_columns``). One
        ALTER TABLE: one rewrite of the table, which fills every existing message; none
        when every column is as defined."""
        stale = self._stale_generated_columns()
        if not stale:
            return
        clauses = [sql.SQL("DROP COLUMN IF EXISTS {}").format(sql.Identifier(n)) for n in stale]
        clauses += _add_generated_clauses(stale)
        self.env.cr.execute(
            sql.SQL("ALTER TABLE {} {}").format(
                sql.Identifier(self._table), sql.SQL(", ").join(clauses)
            )
        )

    @api.model
    def _stale_generated_columns(self):
        """The columns of GENERATED_COLUMNS that are not generated, or generated by
        another expression or as another type, in the database."""
        current = _generated_definitions(self.env.cr, self._table)
        wanted = self._wanted_generated_definitions()
        return [name for name in GENERATED_COLUMNS if current.get(name) != wanted[name]]

    @api.model
    def _wanted_generated_definitions(self):
        """GENERATED_COLUMNS as PostgreSQL writes them back (``pg_get_expr`` normalises
        an expression: casts, parentheses), from an empty temporary table with the
        source columns of the messages' table (their types decide the casts)."""
        cr = self.env.cr
        probe = sql.Identifier(_PROBE_TABLE)
        cr.execute(
            sql.SQL("CREATE TEMPORARY TABLE {} AS SELECT {} FROM {} LIMIT 0").format(
                probe,
                sql.SQL(", ").join(map(sql.Identifier, SOURCE_FIELDS)),
                sql.Identifier(self._table),
            )
        )
        try:
            cr.execute(
                sql.SQL("ALTER TABLE {} {}").format(
                    probe, sql.SQL(", ").join(_add_generated_clauses(GENERATED_COLUMNS))
                )
            )
            return _generated_definitions(cr, _PROBE_TABLE)
        finally:
            cr.execute(sql.SQL("DROP TABLE {}").format(probe))

    # ------------------------------------------------------------------
    # The ORM's cache: the database computes these columns, not the ORM
    # ------------------------------------------------------------------
    @api.model_create_multi
    def create(self, vals_list):
        messages = super().create(vals_list)
        # The ORM put "empty" in cache for the fields it did not insert.
        messages.invalidate_recordset(list(GENERATED_COLUMNS), flush=False)
        return messages

    def write(self, vals):
        if "error_code" in vals and "error_title" not in vals:
            # A title belongs to its code: a new code without one (a retry, a send,
            # a hold) clears the old title.
            vals = dict(vals, error_title=False)
        res = super().write(vals)
        if not vals.keys().isdisjoint(SOURCE_FIELDS):
            self.invalidate_recordset(list(GENERATED_COLUMNS), flush=False)
        return res

    def _read(self, field_names):
        if not set(GENERATED_COLUMNS).isdisjoint(field_names):
            # Pending writes of their sources reach the database first.
            self.flush_recordset(list(SOURCE_FIELDS))
        return super()._read(field_names)

    # ------------------------------------------------------------------
    # The median, per group
    # ------------------------------------------------------------------
    @api.model
    def read_group(self, domain, fields, groupby, offset=0, limit=None, orderby=False, lazy=True):
        wanted = [spec for spec in fields or [] if spec.split(":")[0] == _MEDIAN]
        if not wanted:
            return super().read_group(domain, fields, groupby, offset, limit, orderby, lazy)
        # Each group is known by its smallest id, in Odoo's grouping and in ours.
        others = [spec for spec in fields if spec not in wanted] + [f"{_MEDIAN_KEY}:min(id)"]
        result = super().read_group(domain, others, groupby, offset, limit, orderby, lazy)
        medians = self._read_group_medians(domain, groupby, lazy)
        for group in result:
            key = group.pop(_MEDIAN_KEY, None)
            group[_MEDIAN] = medians.get(key, False)
        return result

    @api.model
    def _read_group_medians(self, domain, groupby, lazy):
        """{smallest id of a group: median minutes to read} for read_group's groups."""
        query = self._where_calc(domain)
        self._apply_ir_rules(query, "read")
        groupby = [groupby] if isinstance(groupby, str) else list(OrderedSet(groupby or []))
        groupby = groupby[:1] if lazy else groupby
        terms = [self._read_group_process_groupby(gb, query)["qualified_field"] for gb in groupby]
        self._flush_search(domain, fields=[_MEDIAN] + [gb.split(":")[0] for gb in groupby])
        from_clause, where_clause, params = query.get_sql()
        table = self._table
        sql = (
            f'SELECT min("{table}".id), percentile_cont(0.5) WITHIN GROUP'
            f' (ORDER BY "{table}"."{_MEDIAN}") FROM {from_clause}'
        )
        if where_clause:
            sql += f" WHERE {where_clause}"
        if terms:
            sql += f" GROUP BY {', '.join(terms)}"
        self.env.cr.execute(sql, params)
        return {
            key: round(value, 2) if value is not None else False
            for key, value in self.env.cr.fetchall()
        }

    # ------------------------------------------------------------------
    # Links from the Next-Best-Action dashboard's figures
    # ------------------------------------------------------------------
    @api.model
    def action_open_insight(self, figure, test=False):
        """The WhatsApp › Dashboard action showing what a dashboard figure counts.

        ``figure`` is a key of ``get_whatsapp_stats()``; ``test`` is its
        ``delivery_test`` (the rate then counts test messages)."""
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "ofitec_whatsapp.ofitec_whatsapp_message_action_analysis"
        )
        context = _FIGURE_CONTEXTS.get(figure)
        if context is None:
            return action
        context = dict(context)
        if figure == "delivery_rate":
            context["search_default_filter_test" if test else "search_default_filter_real"] = 1
        action["context"] = context
        return action
