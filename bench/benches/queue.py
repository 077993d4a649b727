"""(a) queue: drain 1,000 queued notifications against the fake Graph API, once at the
number's rate limit and once unlimited (raw capacity), in `odoo shell` (shell/queue_run.py)."""

import json
from dataclasses import dataclass

from common import (
    PHONE_NUMBER_ID,
    WABA_ID,
    fake_graph_call,
    pick_ports,
    say,
    section,
    start_fake_graph,
)

NAME, LABEL = "queue", "(a) queue"
FAKE_TOKEN = "bench-token-a"  # what the fake Graph API checks


def run(ctx):
    options = ctx.options
    section(
        f"(a) Queue drain: {options.queue_size} queued notifications against the fake Graph API"
    )
    bench = _prepare(ctx)
    say(
        f"  database {bench.db}, fake Graph API on 127.0.0.1:{bench.port}; the send cron is "
        "deactivated, _process_queue(time_budget=None) runs in `odoo shell`"
    )
    say(
        "  path: no contact has an open 24-hour window, so every message goes out as "
        "the approved template 'ofitec_urgent_action' (6 parameters, 3 quick replies)"
    )
    runs = [("limited", options.rate_limit, 56971000000), ("unlimited", 0, 56972000000)]
    figures = {}
    for label, rate, phone_base in runs:
        figures[label] = _drain(ctx, bench, label, rate, phone_base)
    ctx.figures["queue"] = figures
    _report(ctx, figures)


@dataclass
class Bench:
    """The bench database and the fake Graph API it sends to."""

    db: str
    port: int  # the fake Graph API's
    log_file: str  # the fake's request log
    setup: dict  # what shell/setup_db.py returned


def _prepare(ctx):
    """The bench database (a clone of the template, the send cron off) and the fake
    Graph API it sends to."""
    db = f"{ctx.runner.prefix}_queue"
    ctx.ensure_template("wa")
    ctx.runner.clone(ctx.template_db, db)
    port = pick_ports(18610, 18619)
    log_file = ctx.runner.log_path("fake_graph_queue.jsonl")
    start_fake_graph(ctx.runner, port, FAKE_TOKEN, log_file)
    setup = ctx.runner.shell(
        db,
        "setup_db",
        {
            "send_cron_active": False,  # nothing but this script drains the queue
            "api_base_url": f"http://127.0.0.1:{port}",
            "token": FAKE_TOKEN,
            "app_secret": "bench-secret-a",
            "phone_number_id": PHONE_NUMBER_ID,
            "waba_id": WABA_ID,
        },
        "queue_setup",
    )
    return Bench(db, port, log_file, setup)


def _drain(ctx, bench, label, rate, phone_base):
    """One drain of ``queue_size`` fresh messages at ``rate`` (0: unlimited) in its own
    `odoo shell` process (shell/queue_run.py); its figures, and its line printed."""
    result = ctx.runner.shell(
        bench.db,
        "queue_run",
        {
            "config_id": bench.setup["config_id"],
            "project_id": bench.setup["project_id"],
            "rate_limit": rate,
            "count": ctx.options.queue_size,
            "phone_base": phone_base,
            "warmup": 50,
            "warmup_phone_base": phone_base + 500000,
            "fake_reset_url": f"http://127.0.0.1:{bench.port}/__reset",
            "label": label,
        },
        f"queue_{label}",
        timeout=1800,
    )
    stats = fake_graph_call(bench.port, "GET", "/__stats")
    sends = send_times(bench.log_file, result["wall_start"], result["wall_end"])
    entry = _entry(result, rate, stats, sends)
    say(
        f"  rate_limit={rate}: handled {result['handled']} in {entry['elapsed_s']:.2f} s "
        f"-> {entry['msgs_per_s']:.1f} msg/s; states {result['states']}; types "
        f"{result['types']}; fake server got {stats['sends']} sends; the rate "
        f"limiter made the queue wait {result['limiter_wait_s']:.2f} s in all"
    )
    if result["errors"]:
        say(f"  !! errors: {result['errors']}")
    return entry


def _entry(result, rate, stats, sends):
    """The figures of one drain, from what the shell returned, the fake server's
    counters and the times of the sends it logged."""
    elapsed = result["elapsed"]
    rate_measured = result["handled"] / elapsed if elapsed else float("nan")
    entry = {
        "rate_limit": rate,
        "handled": result["handled"],
        "elapsed_s": elapsed,
        "msgs_per_s": rate_measured,
        "states": result["states"],
        "types": result["types"],
        "server_sends": stats["sends"],
        "server_ok": stats["sends_ok"],
        "limiter_wait_s": result["limiter_wait_s"],
        "errors": result["errors"],
    }
    if rate:
        burst = rate  # the token bucket starts full: one second of tokens
        if len(sends) > burst + 1:
            steady = (len(sends) - 1 - burst) / (sends[-1] - sends[burst])
            entry["steady_msgs_per_s"] = steady
        entry["ratio_to_limit"] = rate_measured / rate
    return entry


def _report(ctx, figures):
    """The summary lines of both drains."""
    limited, unlimited = figures["limited"], figures["unlimited"]
    rate = ctx.options.rate_limit
    ctx.note(
        f"(a) queue, rate_limit={rate}: {limited['handled']} messages in "
        f"{limited['elapsed_s']:.2f} s = {limited['msgs_per_s']:.1f} msg/s, "
        f"{limited['ratio_to_limit']:.2f}x the {rate}/s limit "
        f"(target 0.90-1.10x); the limiter waited {limited['limiter_wait_s']:.2f} s"
    )
    if "steady_msgs_per_s" in limited:
        ctx.note(
            f"    after the initial one-second burst of {rate} tokens: "
            f"{limited['steady_msgs_per_s']:.1f} msg/s "
            f"({limited['steady_msgs_per_s'] / rate:.2f}x the limit)"
        )
    ctx.note(
        f"(a) queue, rate_limit=0 (raw capacity): {unlimited['handled']} messages in "
        f"{unlimited['elapsed_s']:.2f} s = {unlimited['msgs_per_s']:.1f} msg/s "
        f"({unlimited['msgs_per_s'] / rate:.2f}x the {rate}/s limit)"
    )
    if unlimited["msgs_per_s"] < rate * 1.1:
        ctx.note(
            f"    note: the raw capacity measured now ({unlimited['msgs_per_s']:.1f} msg/s) "
            f"is not clearly above {rate}/s, so the limited run shows this machine's "
            "capacity rather than the rate limiter"
        )
    for label in ("limited", "unlimited"):
        entry = figures[label]
        if entry["states"].get("sent", 0) != entry["handled"]:
            ctx.note(f"    !! {label}: not all messages went to 'sent': {entry['states']}")


def send_times(log_file, wall_start, wall_end):
    """Times of the sends the fake server logged between wall_start and wall_end."""
    times = []
    try:
        with open(log_file, encoding="utf-8") as handle:
            for line in handle:
                try:
                    item = json.loads(line)
                except ValueError:
                    continue
                if (
                    item.get("method") == "POST"
                    and item.get("path", "").endswith("/messages")
                    and wall_start - 1 <= item.get("ts", 0) <= wall_end + 1
                ):
                    times.append(item["ts"])
    except OSError:
        pass
    return sorted(times)
