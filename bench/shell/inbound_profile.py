"""(inbound) processing alone: inbound texts stored as events, then processed by the
cron's method in this process (no server, nothing else running), profiled."""

import cProfile
import io
import json
import pstats
import time


def run(env, args):
    Event = env["ofitec.whatsapp.webhook.event"]
    config = env["ofitec.whatsapp.config"].browse(args["config_id"])
    Event.search([("state", "=", "received")]).write({"state": "processed"})
    for payload in args["payloads"]:
        Event._store(config, json.dumps(payload).encode())
    env.cr.commit()
    queries_before = env.cr.sql_log_count
    profiler = cProfile.Profile()
    started = time.monotonic()
    profiler.enable()
    # Exactly these texts: no idle linger at the end in the time.
    handled = Event._process_pending(limit=len(args["payloads"]))
    profiler.disable()
    elapsed = time.monotonic() - started
    queries = env.cr.sql_log_count - queries_before
    env.cr.commit()
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(60)
    return {"handled": handled, "elapsed": elapsed, "queries": queries, "profile": text.getvalue()}
