#!/usr/bin/env python3
"""WhatsApp › Dashboard on a million messages (figures only, never assertions).

The stats bench's data (``bench_stats.INSERT``: 30 days, 25 % inbound, two companies),
completed with what the dashboard groups by: two numbers per company, read dates
(1 to 240 minutes after the send), Meta codes and titles on the failures, commands on
the inbound messages. Then, in ``odoo shell`` as company A's WhatsApp user:

- the upgrade: the generated columns dropped and made again, as on an upgrade of a
  database that holds the messages (one ALTER TABLE, one rewrite of the table);
- the cost of a write: inserting and updating 20,000 messages with and without the
  generated columns, alternated (the ratio is the figure);
- the read_group calls the Dashboard's pivot makes (total and per day, with the
  rates and the median), the same without the median, the failures by code and
  title, the replies by command per number.

Run with Odoo's Python: ``python bench/bench_insight.py --odoo PATH [--messages N]``; its
``odoo shell`` parts are ``shell/stats_setup.py``, ``shell/insight_configs.py`` and
``shell/insight.py``.
"""

import os
import sys
import time

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH_DIR)

from bench_stats import INSERT, two_companies  # noqa: E402
from common import bench_parser, run_alone, say  # noqa: E402

# What bench_stats' rows lack: numbers, read dates, errors, commands.
COMPLETE = """
UPDATE ofitec_whatsapp_message AS m
   SET config_id = (%(configs)s::int[])[
           CASE WHEN m.company_id = %(company_b)s THEN 3 ELSE 1 END + (m.id %% 2)],
       read_date = CASE WHEN m.state = 'read'
                        THEN m.sent_date + ((1 + m.id %% 240) * interval '1 minute') END,
       delivered_date = CASE WHEN m.state IN ('delivered', 'read') THEN m.sent_date END,
       error_code = CASE WHEN m.state = 'failed'
                         THEN (ARRAY['131026', '131047', '131049'])[1 + m.id %% 3] END,
       error_title = CASE WHEN m.state = 'failed'
                          THEN (ARRAY['Message undeliverable', 'Re-engagement message',
                                      'Meta chose not to deliver'])[1 + m.id %% 3] END,
       command = CASE WHEN m.direction = 'inbound'
                      THEN (ARRAY['ok', 'completed', 'cancel', NULL, NULL])[1 + m.id %% 5] END
"""


def parse_args(argv=None):
    parser = bench_parser(__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5, help="timed calls per figure")
    return parser.parse_args(argv)


def main(argv=None):
    options = parse_args(argv)
    title = f"insight: WhatsApp › Dashboard on {options.messages:,} messages"
    return run_alone(options, "bench_insight.py", title, lambda runner: _run(runner, options))


def _run(runner, options):
    db = f"{runner.prefix}_insight"
    company_a, company_b = two_companies(runner, db, "insight_setup")
    configs = runner.shell(db, "insight_configs", {}, "insight_configs")
    conn = runner.pg(db)
    try:
        with conn.cursor() as cr:
            started = time.monotonic()
            params = {"company_a": company_a, "company_b": company_b}
            cr.execute(INSERT, dict(params, count=options.messages))
            took = time.monotonic() - started
            say(f"  {options.messages:,} messages inserted in {took:.0f} s")
            started = time.monotonic()
            ids = configs[str(company_a)] + configs[str(company_b)]
            cr.execute(COMPLETE, {"configs": ids, "company_b": company_b})
            say(f"  completed (numbers, reads, errors) in {time.monotonic() - started:.0f} s")
            cr.execute("VACUUM ANALYZE ofitec_whatsapp_message")
    finally:
        conn.close()
    args = {"login": "bench_a", "repeat": options.repeat}
    figures = runner.shell(db, "insight", args, "insight")
    load = "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())
    return [*figures.get("lines", []), load]


if __name__ == "__main__":
    sys.exit(main())
