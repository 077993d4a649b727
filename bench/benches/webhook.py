"""(c) webhook: signed status webhooks (one status per POST) on the running Odoo against
the framework floor GET /web/health on the same server, then a diagnostic pass with the
processing cron paused."""

import json

from common import PHONE_NUMBER_ID, percentile, say, section
from httpload import run_load, status_payload

NAME, LABEL = "webhook", "(c) webhook"


def sent_messages(options):
    """Sent messages whose statuses the POSTs carry: warm-up, timed, paused pass."""
    threads, per_thread = options.threads, options.requests
    return {
        "warm": (threads * 4, 56973000000),
        "c": (threads * per_thread * options.rounds, 56974000000),
        "paused": (threads * (per_thread // 2), 56976000000),
        "profile": (2 * options.profile_requests + 5, 56977000000),
    }


def cpu_snapshot(srv):
    """CPU seconds so far of each process of the Odoo server and of each PostgreSQL
    backend of its database: {pid: seconds}. Connections opened and closed between two
    snapshots (the NOTIFYs to the 'postgres' database) are not seen."""
    import psutil  # Odoo's Python has it

    procs = []
    try:
        master = psutil.Process(srv.proc.pid)
        procs = [master, *master.children(recursive=True)]
    except psutil.Error:
        pass
    for proc in psutil.process_iter(["name", "cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if proc.info["name"] == "postgres" and srv.db in cmdline.split():
            procs.append(proc)
    seconds = {}
    for proc in procs:
        try:
            times = proc.cpu_times()
        except psutil.Error:
            continue
        seconds[proc.pid] = times.user + times.system
    return seconds


def cpu_used(before, after):
    """CPU seconds used between two snapshots by the processes alive at the second."""
    return sum(max(0.0, after[pid] - before.get(pid, 0.0)) for pid in after)


def _rate(results):
    """Requests per second of some passes together."""
    elapsed = sum(r[0] for r in results)
    return sum(len(r[1]) for r in results) / elapsed if elapsed else float("nan")


def _webhook_items(srv, group, start, count):
    """Signed POSTs of one status each, for the sent messages ``start`` to
    ``start + count - 1`` of ``group``."""
    items = []
    base = srv.phone_bases[group]
    for i in range(start, start + count):
        body = json.dumps(status_payload([(f"wamid.bench.{group}.{i}", str(base + i))])).encode()
        headers = srv.signed_headers(body, Connection="keep-alive")
        items.append(("POST", srv.webhook_path, body, headers))
    return items


def _health_items(count):
    return [("GET", "/web/health", None, {"Connection": "keep-alive"})] * count


def run(ctx, srv):
    options = ctx.options
    section(
        f"(c) Webhook ingestion: {options.rounds} rounds of {options.threads} threads "
        f"x {options.requests} signed status POSTs vs GET /web/health"
    )
    warm = _warm_up(ctx, srv)
    measures, cpu, lag = _abba_rounds(ctx, srv)
    figures = _figures(ctx, srv, measures, cpu, lag, warm)
    ctx.figures["webhook"] = figures
    _report(ctx, figures)
    cron_paused_pass(ctx, srv, options.requests // 2, figures["health"])
    _report_processing_cpu(ctx, figures)


def _warm_up(ctx, srv):
    """Every worker loads its caches before anything is timed; returns the number of
    webhook POSTs sent."""
    threads = ctx.options.threads
    run_load(srv.port, [_webhook_items(srv, "warm", t * 4, 4) for t in range(threads)], 120)
    run_load(srv.port, [_health_items(4) for _ in range(threads)], 60)
    ctx.wait_backlog(srv.db)
    return threads * 4


# Rounds of ABBA: floor, webhooks, webhooks, floor (half of the requests per pass),
# so that a drift of the background load hits both alike; the ratio pools the
# rounds, which the machine's noise moves much less than any one of them.
ABBA = (("health", 0), ("webhook", 0), ("webhook", 1), ("health", 1))


def _abba_rounds(ctx, srv):
    """The timed passes: each kind's run_load results, each kind's CPU seconds, and
    the seconds the cron took to drain the backlog after each webhook pass."""
    options = ctx.options
    per_thread = options.requests
    half = [per_thread // 2, per_thread - per_thread // 2]
    measures = {"health": [], "webhook": []}
    cpu = {"health": 0.0, "webhook": 0.0}
    next_index = [0] * options.threads
    lag = []
    for _round in range(options.rounds):
        for kind, share in ABBA:
            count = half[share]
            if kind == "health":
                ctx.wait_backlog(srv.db)  # the floor runs without cron work behind
                items = [_health_items(count) for _ in range(options.threads)]
            else:
                items = _next_webhook_items(ctx, srv, next_index, count)
            before = cpu_snapshot(srv)
            measures[kind].append(run_load(srv.port, items, options.max_seconds))
            if kind == "webhook":
                lag.append(ctx.wait_backlog(srv.db))  # the CPU of applying them counts too
            cpu[kind] += cpu_used(before, cpu_snapshot(srv))
    return measures, cpu, lag


def _next_webhook_items(ctx, srv, next_index, count):
    """Each thread's next ``count`` POSTs of group "c", from its own range of messages
    (``next_index``: how many each thread has sent, updated)."""
    options = ctx.options
    items = []
    for t in range(options.threads):
        start = t * options.requests * options.rounds + next_index[t]
        items.append(_webhook_items(srv, "c", start, count))
        next_index[t] += count
    return items


def _pass_figures(results, cpu_seconds):
    """The figures of one kind's passes together."""
    elapsed = sum(r[0] for r in results)
    latencies = [x for r in results for x in r[1]]
    statuses = {}
    for r in results:
        for status, count in r[2].items():
            statuses[str(status)] = statuses.get(str(status), 0) + count
    errors = [e for r in results for e in r[3]]
    return {
        "cpu_ms_per_request": cpu_seconds * 1000 / len(latencies) if latencies else None,
        "requests": len(latencies),
        "elapsed_s": elapsed,
        "rps": len(latencies) / elapsed if elapsed else float("nan"),
        "p50_ms": percentile(latencies, 0.5) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "statuses": statuses,
        "errors": len(errors),
        "error_sample": errors[:3],
    }


def _figures(ctx, srv, measures, cpu, lag, warm):
    """Both routes' figures, their ratio (pooled and per round) and what the cron did."""
    round_ratios = [
        _rate(measures["webhook"][2 * i : 2 * i + 2]) / _rate(measures["health"][2 * i : 2 * i + 2])
        for i in range(ctx.options.rounds)
    ]
    figures = {kind: _pass_figures(measures[kind], cpu[kind]) for kind in ("health", "webhook")}
    db = srv.db
    figures.update(
        ratio=figures["webhook"]["rps"] / figures["health"]["rps"],
        processed_events=ctx.query(
            db, "SELECT count(*) FROM ofitec_whatsapp_webhook_event WHERE state = 'processed'"
        ),
        failed_events=ctx.query(
            db, "SELECT count(*) FROM ofitec_whatsapp_webhook_event WHERE state = 'failed'"
        ),
        delivered=ctx.query(
            db,
            "SELECT count(*) FROM ofitec_whatsapp_message WHERE state = 'delivered' "
            "AND whatsapp_message_id LIKE 'wamid.bench.c.%%'",
        ),
        cron_lag_s=lag,
        round_ratios=round_ratios,
        warmup_posts=warm,
    )
    return figures


def _report(ctx, figures):
    """The lines of both routes and of the cron, then the summary lines."""
    options = ctx.options
    total = options.threads * options.requests * options.rounds
    hook, floor = figures["webhook"], figures["health"]
    for name, item in (("GET /web/health", floor), ("POST webhook", hook)):
        say(
            f"  {name:16s}: {item['requests']} requests in {item['elapsed_s']:.2f} s = "
            f"{item['rps']:.1f} req/s, p50 {item['p50_ms']:.1f} ms, p99 "
            f"{item['p99_ms']:.1f} ms, statuses {item['statuses']}, errors "
            f"{item['errors']} {item['error_sample'] or ''}"
        )
    lag_text = ", ".join("-" if x is None else f"{x:.1f} s" for x in figures["cron_lag_s"])
    say(
        f"  cron: events processed {figures['processed_events']} (failed "
        f"{figures['failed_events']}), messages delivered {figures['delivered']}/{total}; "
        f"backlog left after each webhook pass drained in {lag_text}"
    )
    _summary(ctx, figures, total, lag_text)


def _summary(ctx, figures, total, lag_text):
    hook, floor = figures["webhook"], figures["health"]
    all_ok = (
        hook["statuses"] == {"200": hook["requests"]}
        and not hook["errors"]
        and hook["requests"] == total
    )
    ctx.note(
        f"(c) webhook: {hook['rps']:.1f} req/s (p50 {hook['p50_ms']:.1f} ms, p99 "
        f"{hook['p99_ms']:.1f} ms) vs /web/health floor {floor['rps']:.1f} req/s "
        f"(p50 {floor['p50_ms']:.1f} ms, p99 {floor['p99_ms']:.1f} ms): "
        f"{figures['ratio'] * 100:.0f}% of the floor (target >= 80%); "
        f"all {hook['requests']} answers 200: {'yes' if all_ok else 'NO'}"
    )
    ctx.note(
        "    the ratio in each round: "
        + ", ".join(f"{r * 100:.0f}%" for r in figures["round_ratios"])
        + f" (the figure above pools the {ctx.options.rounds} rounds)"
    )
    ctx.note(
        f"    statuses applied by the cron: {figures['delivered']}/{total}, "
        f"events failed {figures['failed_events']}; cron backlog after the passes drained in "
        f"{lag_text}"
    )
    if not all_ok:
        ctx.note(f"    !! webhook answers: {hook['statuses']}, errors {hook['error_sample']}")


def _report_processing_cpu(ctx, figures):
    """What applying one event costs in CPU: the webhook pass with the cron applying
    against the pass with it paused."""
    hook, floor = figures["webhook"], figures["health"]
    paused = figures.get("cron_paused", {})
    if hook["cpu_ms_per_request"] and paused.get("cpu_ms_per_request"):
        processing = hook["cpu_ms_per_request"] - paused["cpu_ms_per_request"]
        figures["processing_cpu_ms_per_event"] = processing
        ctx.note(
            f"    CPU per request (Odoo processes and the database's backends): /web/health "
            f"{floor['cpu_ms_per_request']:.1f} ms; webhook with the cron applying it "
            f"{hook['cpu_ms_per_request']:.1f} ms; cron paused (the route alone) "
            f"{paused['cpu_ms_per_request']:.1f} ms: processing about {processing:.1f} ms "
            "CPU per one-status event"
        )


def cron_paused_pass(ctx, srv, count, floor):
    """Diagnostic: one more webhook pass with the processing cron paused, which splits
    the route's own cost from the competition of the cron applying statuses meanwhile
    (on a 2-core machine they share the CPUs and PostgreSQL)."""
    (elapsed, latencies, statuses, errors), cpu = _load_with_cron_paused(ctx, srv, count)
    _notify_cron(ctx, srv.db)
    drained = ctx.wait_backlog(srv.db)
    rps = len(latencies) / elapsed if elapsed else float("nan")
    paused = {
        "cpu_ms_per_request": cpu * 1000 / len(latencies) if latencies else None,
        "requests": len(latencies),
        "rps": rps,
        "p50_ms": percentile(latencies, 0.5) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "statuses": {str(k): v for k, v in statuses.items()},
        "errors": len(errors),
        "ratio": rps / floor["rps"],
        "backlog_drained_s": drained,
    }
    ctx.figures["webhook"]["cron_paused"] = paused
    _report_paused(ctx, paused, drained)


def _load_with_cron_paused(ctx, srv, count):
    """``count`` POSTs per thread while the processing crons are inactive: the
    run_load result and the CPU seconds used. The crons are back on afterwards."""
    db = srv.db
    conn = ctx.runner.pg(db)
    try:
        with conn.cursor() as cr:
            cr.execute(
                "SELECT res_id FROM ir_model_data WHERE module = 'ofitec_whatsapp' "
                "AND name LIKE 'ir_cron_whatsapp_process_webhooks%%'"
            )
            cron_ids = [row[0] for row in cr.fetchall()]  # every processing worker
            ctx.wait_backlog(db)
            cr.execute("UPDATE ir_cron SET active = false WHERE id = ANY(%s)", (cron_ids,))
            try:
                threads = ctx.options.threads
                items = [_webhook_items(srv, "paused", t * count, count) for t in range(threads)]
                before = cpu_snapshot(srv)
                result = run_load(srv.port, items, ctx.options.max_seconds)
                cpu = cpu_used(before, cpu_snapshot(srv))
            finally:
                _resume_crons(cr, cron_ids)
    finally:
        conn.close()
    return result, cpu


def _resume_crons(cr, cron_ids):
    """Back on, and woken as _trigger() would (the triggers of the pass were skipped
    while the cron was inactive)."""
    cr.execute("UPDATE ir_cron SET active = true WHERE id = ANY(%s)", (cron_ids,))
    cr.execute(
        "INSERT INTO ir_cron_trigger (cron_id, call_at, create_date, write_date)"
        " SELECT id, now() at time zone 'UTC', now() at time zone 'UTC',"
        " now() at time zone 'UTC' FROM ir_cron WHERE id = ANY(%s)",
        (cron_ids,),
    )


def _notify_cron(ctx, db):
    """Cron workers LISTEN on the 'postgres' database (see ir.cron._notifydb)."""
    conn = ctx.runner.pg("postgres")
    try:
        with conn.cursor() as cr:
            cr.execute("NOTIFY cron_trigger, %s", (db,))
    finally:
        conn.close()


def _report_paused(ctx, paused, drained):
    drained_text = "-" if drained is None else f"{drained:.1f} s"
    say(
        f"  diagnostic, processing cron paused: {paused['requests']} POSTs = "
        f"{paused['rps']:.1f} req/s, p50 {paused['p50_ms']:.1f} ms, p99 "
        f"{paused['p99_ms']:.1f} ms, statuses {paused['statuses']}; their backlog then "
        f"applied in {drained_text}"
    )
    ctx.note(
        f"    diagnostic, same POSTs with the processing cron paused: {paused['rps']:.1f} "
        f"req/s (p50 {paused['p50_ms']:.1f} ms) = {paused['ratio'] * 100:.0f}% of the floor; "
        f"the {paused['requests']} events queued meanwhile were applied in {drained_text}"
    )


def after_stop(ctx, srv):
    """With the server stopped, the same route in `odoo shell` through Odoo's WSGI
    application: SQL queries and time per request beside /web/health, and a profile."""
    count = ctx.options.profile_requests
    if not count:
        return
    result = ctx.runner.shell(
        srv.db,
        "webhook_profile",
        {
            "config_id": srv.config_id,
            "secret": srv.secret,
            "count": count,
            "wamid_prefix": "wamid.bench.profile.",
            "phone_base": srv.phone_bases["profile"],
            "phone_number_id": PHONE_NUMBER_ID,
        },
        "webhook_profile",
    )
    profile_path = ctx.runner.log_path("webhook_profile.txt")
    with open(profile_path, "w", encoding="utf-8") as handle:
        handle.write(result["profile"])
    hook, floor = result["webhook"], result["health"]
    ctx.figures.setdefault("webhook", {})["in_process"] = {
        "webhook": hook,
        "health": floor,
    }
    ctx.note(
        f"    in process (odoo shell, no socket, {count} requests each): webhook "
        f"{hook['median_ms']:.1f} ms median, {hook['queries']} SQL queries per request; "
        f"/web/health {floor['median_ms']:.1f} ms, {floor['queries']} queries; "
        f"answers {hook['statuses']}"
    )
    say(f"  cProfile of the webhook requests (cumulative): {profile_path}")
    for line in result["profile"].splitlines()[:40]:
        say("    " + line)
    cron_processing_profile(ctx, srv)


def cron_processing_profile(ctx, srv):
    """With the server stopped, the cron's side: one-status events (as the passes sent
    them) processed in `odoo shell`, the batch path against the per-event path on the
    same messages, alternated: time and SQL queries per event, and a profile."""
    count = min(300, ctx.options.threads * ctx.options.requests)
    if not ctx.options.profile_requests or not count:
        return
    result = ctx.runner.shell(
        srv.db,
        "status_events",
        {"config_id": srv.config_id, "pattern": "wamid.bench.c.%", "count": count, "rounds": 2},
        "status_events",
    )
    profile_path = ctx.runner.log_path("status_events_profile.txt")
    with open(profile_path, "w", encoding="utf-8") as handle:
        handle.write(result["profile"])
    figures = _figures_by_mode(result)
    ctx.figures.setdefault("webhook", {})["cron_processing"] = figures
    per_event, batched = figures.get("per event"), figures.get("batched")
    text = ", ".join(
        f"{mode} {f['events_per_s']:.0f} events/s ({f['queries_per_event']:.2f} SQL queries "
        f"per event{'' if f['all_delivered'] else ', NOT all delivered'})"
        for mode, f in figures.items()
    )
    ratio = ""
    if per_event and batched:
        ratio = f"; batched/per event {batched['events_per_s'] / per_event['events_per_s']:.1f}x"
    ctx.note(
        f"    cron processing of {result['events']} one-status events alone (odoo shell, "
        f"best of 2 each, alternated): {text}{ratio} (profile: {profile_path})"
    )


def _figures_by_mode(result):
    """Each processing mode's figures: its best time of the rounds, events/s, the SQL
    queries per event of its last round, and whether every round delivered them all."""
    by_mode = {}
    for run in result["runs"]:
        by_mode.setdefault(run["mode"], []).append(run)
    figures = {}
    for mode, runs in by_mode.items():
        best = min(r["elapsed"] for r in runs)
        figures[mode] = {
            "best_s": best,
            "events_per_s": result["events"] / best,
            "queries_per_event": runs[-1]["queries"] / result["events"],
            "all_delivered": all(r["delivered"] == result["events"] for r in runs),
        }
    return figures
