#!/usr/bin/env python3
"""Benchmarks of ofitec_whatsapp on a real Odoo 16 (figures only, never assertions).

  queue    (a) drain 1,000 queued notifications against the fake Graph API
               (bench/fake_graph_server.py), once at the configured rate limit
               (80 msg/s) and once unlimited (raw capacity);
  create   (b) cost added by the addon to creating an urgent next action, against
               the reference module alone (one committed transaction per action);
  webhook  (c) signed status webhooks (one status per POST) on a running Odoo
               (--workers=2, one cron worker) against the framework floor GET
               /web/health on the same server;
  burst    (d) one POST carrying 1,000 statuses: time until all are applied in the
               database, and the peak RSS of the Odoo worker processes meanwhile;
  inbound      signed inbound texts (some of them replies that move actions) for about
               15 s at the rate the webhook accepts them: processing throughput beside
               ingestion, and the backlog left once the load stops.

Each bench is a module of benches/; the code it runs inside ``odoo shell`` is a module
of shell/; what they share is in common.py and httpload.py.

Run ``bench/run_benchmarks.sh`` (or this script with Odoo's Python; with another
Python it re-executes itself with the Python found in the ``odoo`` command).
Everything runs on 127.0.0.1, on ports 18600-18699, in databases named
``owa_bench_<pid>_*`` that are dropped at the end unless ``--keep``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

from benches import burst, create, inbound, queue, server, webhook
from common import Context, Runner, bench_parser, odoo_python_from_command, say, section

# Kept importable from here for bench_stats.py and older callers.
__all__ = ["Runner", "main", "say", "section"]

# In the order they run. HTTP benches share one running Odoo server (benches/server.py).
BENCHES = (queue, create, webhook, burst, inbound)
HTTP_BENCHES = (webhook, burst, inbound)
ALL_BENCHES = tuple(bench.NAME for bench in BENCHES)
ALIASES = {"a": "queue", "b": "create", "c": "webhook", "d": "burst"}


def run(ctx, selected):
    """Run the selected benches in order; the HTTP ones on one server."""
    http = [bench for bench in BENCHES if bench.NAME in selected and bench in HTTP_BENCHES]
    for bench in BENCHES:
        if bench.NAME not in selected:
            continue
        if bench in HTTP_BENCHES:
            if bench is http[0]:
                ctx.guard("HTTP server", lambda: server.run_benches(ctx, http))
            continue
        ctx.guard(bench.LABEL, lambda bench=bench: bench.run(ctx))


def parse_args(argv=None):
    parser = bench_parser(
        "Benchmarks of ofitec_whatsapp on Odoo 16 (queue drain, action creation "
        "cost, webhook ingestion, status burst). Prints figures; asserts nothing.",
    )
    parser.add_argument(
        "--only",
        default=",".join(ALL_BENCHES),
        help="comma-separated benches among queue,create,webhook,burst,inbound (or a,b,c,d); "
        "default: all",
    )
    parser.add_argument(
        "--python",
        default="",
        help="the Python that runs Odoo (default: read from the odoo command)",
    )
    parser.add_argument("--queue-size", type=int, default=1000, help="(a) messages per run")
    parser.add_argument("--rate-limit", type=int, default=80, help="(a) limited run's rate")
    parser.add_argument("--actions", type=int, default=300, help="(b) timed actions per database")
    parser.add_argument("--warmup", type=int, default=20, help="(b) warm-up actions per database")
    parser.add_argument("--threads", type=int, default=8, help="(c) client threads")
    parser.add_argument(
        "--no-db-filter",
        action="store_true",
        help="(c, d, inbound) start their Odoo with -d only: with --db-filter (the default), "
        "Odoo lists the databases, on a new connection to 'postgres', for every request "
        "without a session (every webhook, and /web/health)",
    )
    parser.add_argument(
        "--cron-threads",
        type=int,
        default=1,
        help="(c, d, inbound) Odoo's --max-cron-threads (2: both webhook processing crons)",
    )
    parser.add_argument(
        "--requests",
        type=int,
        default=150,
        help="(c) requests per thread, for each of the two routes, in each round",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=4,
        help="(c) rounds of floor, webhook, webhook, floor passes (the ratio pools them)",
    )
    parser.add_argument(
        "--profile-requests",
        type=int,
        default=100,
        help="(c) requests profiled in process after the server stops (0: none)",
    )
    parser.add_argument("--burst-size", type=int, default=1000, help="(d) statuses in the POST")
    parser.add_argument(
        "--inbound-seconds", type=float, default=15, help="(inbound) seconds of load"
    )
    parser.add_argument(
        "--inbound-senders", type=int, default=240, help="(inbound) distinct senders"
    )
    parser.add_argument(
        "--inbound-profile-events",
        type=int,
        default=60,
        help="(inbound) texts processed in odoo shell after the server stops (0: none)",
    )
    parser.add_argument(
        "--inbound-kinds-senders",
        type=int,
        default=20,
        help="(inbound) senders per kind of text, two rounds, processed alone (0: none)",
    )
    parser.add_argument(
        "--inbound-drain-limit",
        type=float,
        default=120,
        help="(inbound) seconds to wait for the backlog after the load",
    )
    parser.add_argument(
        "--max-seconds", type=float, default=600, help="time limit of each timed loop (default 600)"
    )
    options = parser.parse_args(argv)
    selected = []
    for name in options.only.split(","):
        name = ALIASES.get(name.strip(), name.strip())
        if name not in ALL_BENCHES:
            parser.error(f"unknown bench {name!r}")
        if name not in selected:
            selected.append(name)
    options.selected = selected
    for name in ("queue_size", "actions", "threads", "requests", "rounds", "burst_size"):
        if getattr(options, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be positive")
    if options.requests < 2:
        parser.error("--requests must be at least 2")
    return options


def ensure_odoo_python(options):
    """Re-execute under Odoo's Python when psycopg2/psutil are missing here."""
    try:
        import psutil  # noqa: F401
        import psycopg2  # noqa: F401

        return
    except ImportError:
        pass
    if os.environ.get("OWA_BENCH_REEXEC"):
        sys.exit(
            "bench_queue.py: psycopg2 and psutil are needed (run it with Odoo's Python, "
            "or pass --python)"
        )
    python = options.python or (odoo_python_from_command(options.odoo) if options.odoo else None)
    if not python:
        sys.exit("bench_queue.py: cannot tell which Python runs Odoo: pass --python PATH")
    os.environ["OWA_BENCH_REEXEC"] = "1"
    os.execv(python, [python, os.path.abspath(__file__), *sys.argv[1:]])


def main(argv=None):
    options = parse_args(argv)
    if not options.odoo:
        sys.exit("bench_queue.py: no 'odoo' command on PATH (pass --odoo PATH)")
    options.odoo = os.path.abspath(shutil.which(options.odoo) or options.odoo)
    ensure_odoo_python(options)
    version = subprocess.run(
        [options.odoo, "--version"], capture_output=True, text=True, timeout=120
    ).stdout.strip()
    if "Odoo Server 16." not in version:
        sys.exit(f"bench_queue.py: '{options.odoo}' is not Odoo 16 ({version or 'no answer'})")

    def _terminate(signum, _frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)
    section(f"ofitec_whatsapp benchmarks ({', '.join(options.selected)})")
    runner = Runner(options)
    say(f"  {version} ({options.odoo}), Python {sys.executable}")
    say(f"  addons path: {runner.addons_path}")
    say(
        f"  work folder: {runner.work}; machine: {os.cpu_count()} CPU(s), load average "
        + " ".join(f"{x:.2f}" for x in os.getloadavg())
    )
    ctx = Context(runner, options)
    started = time.monotonic()
    try:
        run(ctx, options.selected)
    except (KeyboardInterrupt, SystemExit):
        say("\nInterrupted: stopping the servers and dropping the bench databases")
        runner.failed = True
        raise
    finally:
        runner.cleanup()
    section(
        f"Figures (total {time.monotonic() - started:.0f} s; load average now "
        + " ".join(f"{x:.2f}" for x in os.getloadavg())
        + ")"
    )
    for line in ctx.lines:
        say(line)
    if options.json:
        with open(options.json, "w", encoding="utf-8") as handle:
            json.dump(ctx.figures, handle, indent=2, default=str)
        say(f"figures written to {options.json}")
    return 1 if runner.failed else 0


if __name__ == "__main__":
    sys.exit(main())
