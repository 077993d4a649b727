#!/usr/bin/env python3
"""Whom a reply is from, on a million messages (figures only, never assertions).

A database with the addon, one WhatsApp number, ``--actions`` actions and ``--messages``
rows inserted by SQL (1,000,000 by default): three in four are notifications about the
actions, sent to ``--people`` people (delivered, read or sent), one in four inbound
texts from them. Then, in ``odoo shell``, the look-up of a reply's candidate actions
(``_get_reply_candidates_batch``) for 20 of those people, one reply at a time and as
one batch, with the recipient indexes and without them, alternated in the same process:
milliseconds per reply and their ratio.

Run with Odoo's Python: ``bench/run_benchmarks.sh replies`` or
``python bench/bench_replies.py --odoo PATH``.
"""

import os
import sys
import time

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH_DIR)

from common import bench_parser, run_alone, say  # noqa: E402

INSERT = """
INSERT INTO ofitec_whatsapp_message
  (config_id, company_id, direction, state, message_type, whatsapp_message_id, phone,
   wa_id, next_action_id, body, sent_date, create_date, write_date, create_uid, write_uid)
SELECT %(config)s, %(company)s,
       CASE WHEN i %% 4 = 0 THEN 'inbound' ELSE 'outbound' END,
       CASE WHEN i %% 4 = 0 THEN 'received' WHEN i %% 10 = 1 THEN 'sent'
            WHEN i %% 10 < 6 THEN 'delivered' ELSE 'read' END,
       'text', 'wamid.REPLIES.' || i, '+5699' || lpad((i %% %(people)s)::text, 7, '0'),
       '5699' || lpad((i %% %(people)s)::text, 7, '0'),
       CASE WHEN i %% 4 = 0 THEN NULL ELSE (%(actions)s::int[])[1 + i %% %(n_actions)s] END,
       'Bench ' || i, ts, ts, ts, 1, 1
  FROM (SELECT i, (now() at time zone 'UTC') - (i * interval '365 days' / %(count)s) AS ts
          FROM generate_series(1, %(count)s) AS i) AS s
"""


def parse_args(argv=None):
    parser = bench_parser(__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--actions", type=int, default=2_000)
    parser.add_argument("--people", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3, help="timed calls per block")
    parser.add_argument("--blocks", type=int, default=4, help="alternated blocks per variant")
    return parser.parse_args(argv)


def main(argv=None):
    options = parse_args(argv)
    title = f"replies: whom a reply is from, on {options.messages:,} messages"
    return run_alone(options, "bench_replies.py", title, lambda runner: _run(runner, options))


def _run(runner, options):
    db = f"{runner.prefix}_replies"
    runner.install(db, "ofitec_whatsapp")
    setup = runner.shell(db, "replies_setup", {"actions": options.actions}, "replies_setup")
    started = time.monotonic()
    params = {
        "config": setup["config"],
        "company": setup["company"],
        "actions": setup["actions"],
        "n_actions": len(setup["actions"]),
        "people": options.people,
        "count": options.messages,
    }
    runner.run_sql(db, (INSERT, params), "VACUUM ANALYZE ofitec_whatsapp_message")
    say(f"  {options.messages:,} messages inserted in {time.monotonic() - started:.0f} s")
    senders = [f"+5699{k:07d}" for k in range(0, options.people, options.people // 20)][:20]
    args = {
        "config": setup["config"],
        "senders": senders,
        "repeat": options.repeat,
        "blocks": options.blocks,
    }
    figures = runner.shell(db, "replies", args, "replies")
    per_person = options.messages * 3 // 4 // options.people
    lines = []
    for mode, label in (("one", "one reply at a time"), ("batch", "a batch of 20")):
        new, old = figures["with"][mode], figures["without"][mode]
        lines.append(
            f"replies ({label}): {new:.1f} ms per reply with the recipient indexes, "
            f"{old:.1f} ms without; ratio {new / old:.3f} "
            f"(about {per_person:,} notifications per person, "
            f"{options.messages:,} messages)"
        )
    lines.append(f"    actions found per pass: {figures['actions_found']}")
    return lines


if __name__ == "__main__":
    sys.exit(main())
