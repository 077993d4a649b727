#!/usr/bin/env python3
"""The webhook log's daily purge, on a million events (figures only, never assertions).

A database with the addon, two WhatsApp numbers that keep ``--days`` days of webhook
log, and ``--events`` signed POSTs as the route stores them, inserted by SQL (1,000,000
by default, 600-byte bodies, spread over twice ``--days`` days, one in a hundred
failed). Then, in ``odoo shell``, the purge Odoo's autovacuum runs
(``_gc_webhook_log``) against a plain DELETE of the same old events by one date, the
least any purge costs, alternated in the same process and each rolled back: seconds,
events deleted and their ratio.

Run with Odoo's Python: ``bench/run_benchmarks.sh log`` or
``python bench/bench_log.py --odoo PATH``.
"""

import os
import sys
import time

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH_DIR)

from common import bench_parser, run_alone, say  # noqa: E402

INSERT = """
INSERT INTO ofitec_whatsapp_webhook_event
  (config_id, company_id, state, payload, status_count, processed_date,
   create_date, write_date, create_uid, write_uid)
SELECT (%(configs)s::int[])[1 + i %% 2], %(company)s,
       CASE WHEN i %% 100 = 0 THEN 'failed' ELSE 'processed' END,
       repeat('x', 600), 1, ts, ts, ts, 1, 1
  FROM (SELECT i, (now() AT TIME ZONE 'UTC') - (i * interval '2 days' * %(days)s / %(count)s) AS ts
          FROM generate_series(1, %(count)s) AS i) AS s
"""


def parse_args(argv=None):
    parser = bench_parser(__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=30, help="each number's limit")
    parser.add_argument("--blocks", type=int, default=4, help="alternated blocks")
    return parser.parse_args(argv)


def main(argv=None):
    options = parse_args(argv)
    title = f"log: the webhook log's daily purge, on {options.events:,} events"
    return run_alone(options, "bench_log.py", title, lambda runner: _run(runner, options))


def _run(runner, options):
    db = f"{runner.prefix}_log"
    runner.install(db, "ofitec_whatsapp")
    setup = runner.shell(db, "log_setup", {"days": [options.days, options.days]}, "log_setup")
    started = time.monotonic()
    params = {
        "configs": setup["configs"],
        "company": setup["company"],
        "days": options.days,
        "count": options.events,
    }
    (size,) = runner.run_sql(
        db,
        (INSERT, params),
        "VACUUM ANALYZE ofitec_whatsapp_webhook_event",
        "SELECT pg_size_pretty(pg_total_relation_size('ofitec_whatsapp_webhook_event'))",
    )
    say(f"  {options.events:,} events inserted in {time.monotonic() - started:.0f} s ({size})")
    args = {"blocks": options.blocks, "baseline_days": options.days}
    figures = runner.shell(db, "log_purge", args, "log_purge")
    purge, base = figures["seconds"]["purge"], figures["seconds"]["baseline"]
    deleted = figures["deleted"]
    return [
        f"log purge: {purge:.2f} s for {deleted['purge']:,} of {options.events:,} events "
        f"({deleted['purge'] / purge:,.0f} per second); a plain DELETE by date "
        f"{base:.2f} s for {deleted['baseline']:,}; ratio {purge / base:.2f} "
        f"(median of {options.blocks} alternated runs each, rolled back; table {size})",
    ]


if __name__ == "__main__":
    sys.exit(main())
