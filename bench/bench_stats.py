#!/usr/bin/env python3
"""Dashboard statistics on a million messages (figures only, never assertions).

A database with the addon (no demo data), two companies with a WhatsApp user each, and
``--messages`` rows (1,000,000 by default) inserted by SQL: spread over 30 days, 25 %
inbound, outbound mostly delivered or read, 10 % in company B. Then, in ``odoo shell``,
``get_whatsapp_stats()`` as each user, against the previous implementation (one count
per figure) on the same data in the same process: median, p90, SQL queries, the ratio,
and whether both give the same numbers. A fixed CPU loop timed before and after tells
how noisy the machine was.

Run with Odoo's Python: ``bench/run_benchmarks.sh --only stats`` or
``python bench/bench_stats.py --odoo PATH``.
"""

import json
import os
import sys
import time

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH_DIR)

from common import bench_parser, run_alone, say  # noqa: E402

# Spread over 30 days, 25 % inbound; outbound: 10 % sent, 1 % failed, the rest delivered
# or read; one in 500 a test message; one in ten in company B.
INSERT = """
INSERT INTO ofitec_whatsapp_message
  (company_id, direction, state, message_type, whatsapp_message_id, phone, body, is_test,
   reply_processed, sent_date, create_date, write_date, create_uid, write_uid)
SELECT CASE WHEN i %% 10 = 7 THEN %(company_b)s ELSE %(company_a)s END,
       CASE WHEN i %% 4 = 0 THEN 'inbound' ELSE 'outbound' END,
       CASE WHEN i %% 4 = 0 THEN 'received'
            WHEN i %% 97 = 1 THEN 'failed'
            WHEN i %% 10 = 1 THEN 'sent'
            WHEN i %% 10 < 6 THEN 'delivered'
            ELSE 'read' END,
       'text', 'wamid.BENCH.' || i, '+569' || lpad((i %% 100000000)::text, 8, '0'),
       'Mensaje de prueba ' || i, i %% 500 = 3, i %% 12 = 0,
       CASE WHEN i %% 4 = 0 THEN NULL ELSE ts END, ts, ts + interval '2 minutes', 1, 1
  FROM (SELECT i, (now() at time zone 'UTC') - (i * interval '30 days' / %(count)s) AS ts
          FROM generate_series(1, %(count)s) AS i) AS s
"""


def parse_args(argv=None):
    parser = bench_parser(__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=15, help="timed calls per variant")
    return parser.parse_args(argv)


def main(argv=None):
    options = parse_args(argv)
    title = f"stats: get_whatsapp_stats on {options.messages:,} messages"
    return run_alone(options, "bench_stats.py", title, lambda runner: _run(runner, options))


def two_companies(runner, db, label):
    """``db`` with the addon, a second company and a WhatsApp user in each (the
    ``stats_setup`` shell): (company A's id, company B's id)."""
    runner.install(db, "ofitec_whatsapp")
    company_b = runner.shell(db, "stats_setup", {}, label)["company_b"]
    (company_a,) = runner.run_sql(db, "SELECT id FROM res_company ORDER BY id LIMIT 1")
    return company_a, company_b


def _run(runner, options):
    db = f"{runner.prefix}_stats"
    company_a, company_b = two_companies(runner, db, "stats_setup")
    started = time.monotonic()
    params = {"company_a": company_a, "company_b": company_b, "count": options.messages}
    runner.run_sql(
        db,
        (INSERT, params),
        "VACUUM ANALYZE ofitec_whatsapp_message",
        "VACUUM ANALYZE ofitec_whatsapp_stats_hour",
    )
    say(f"  {options.messages:,} messages inserted in {time.monotonic() - started:.0f} s")
    args = {"logins": ["bench_a", "bench_b"], "repeat": options.repeat}
    figures = runner.shell(db, "stats", args, "stats")
    lines = []
    for login in args["logins"]:
        item = figures[login]
        new, old = item["new"], item["counted"]
        lines.append(
            f"stats ({login}): {new['median_ms']:.1f} ms median (p90 {new['p90_ms']:.1f}), "
            f"{new['queries']} SQL queries (target < 50 ms, hard limit 100 ms); "
            f"counting the messages: {old['median_ms']:.0f} ms, {old['queries']} queries; "
            f"ratio {item['ratio']:.3f}; same numbers: {item['same_numbers']}"
        )
        lines.append(f"    figures: {new['result']}")
    lines.append(f"    (users' time zone {figures['tz']}: late in its day, so 'today' is full)")
    for key in ("noise_before", "noise_after"):
        noise = figures[key]
        lines.append(
            f"noise ({key}): CPU loop {noise['min_ms']:.1f} ms min, median/min "
            f"{noise['median_over_min']:.2f}, max/min {noise['max_over_min']:.2f}; "
            "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())
        )
    if options.json:
        with open(options.json, "w", encoding="utf-8") as handle:
            json.dump(figures, handle, indent=2, default=str)
    return lines


if __name__ == "__main__":
    sys.exit(main())
