"""(d) burst: one POST carrying 1,000 statuses on the running Odoo: time until all are
applied, the workers' peak RSS, then the same event processed alone in `odoo shell`."""

import json
import threading
import time

from common import say, section
from httpload import NoDelayHTTPConnection, status_payload

NAME, LABEL = "burst", "(d) burst"


def sent_messages(options):
    return {"d": (options.burst_size, 56975000000)}


def run(ctx, srv):
    section(
        f"(d) One POST with {ctx.options.burst_size} statuses: time until all are "
        "applied, peak RSS of the workers"
    )
    db, port, config_id = srv.db, srv.port, srv.config_id
    secret, signature, server, phone_base = (
        srv.secret,
        srv.signature,
        srv.proc,
        srv.phone_bases["d"],
    )
    import psutil

    size = ctx.options.burst_size
    ctx.wait_backlog(db)
    body = json.dumps(
        status_payload([(f"wamid.bench.d.{i}", str(phone_base + i)) for i in range(size)])
    ).encode()
    headers = {
        "Content-Type": "application/json",
        "X-Hub-Signature-256": signature.meta_signature_header(secret, body),
    }
    master = psutil.Process(server.pid)
    samples = {"stop": False, "peak_total": 0, "peak_proc": {}, "names": {}}

    def rss_sampler():
        while not samples["stop"]:
            total = 0
            try:
                children = master.children(recursive=True)
            except psutil.Error:
                children = []
            for child in children:
                try:
                    rss = child.memory_info().rss
                except psutil.Error:
                    continue
                total += rss
                peak = samples["peak_proc"].get(child.pid, 0)
                samples["peak_proc"][child.pid] = max(peak, rss)
                if child.pid not in samples["names"]:
                    try:
                        gevent = "gevent" in child.cmdline()
                    except psutil.Error:
                        gevent = False
                    samples["names"][child.pid] = "gevent (websocket)" if gevent else "worker"
            samples["peak_total"] = max(samples["peak_total"], total)
            time.sleep(0.02)

    def cpu_seconds():
        result = {}
        for child in master.children(recursive=True):
            try:
                times = child.cpu_times()
                result[child.pid] = times.user + times.system
            except psutil.Error:
                pass
        return result

    baseline = {}
    for child in master.children(recursive=True):
        try:
            baseline[child.pid] = child.memory_info().rss
        except psutil.Error:
            pass
    cpu_before = cpu_seconds()
    sampler = threading.Thread(target=rss_sampler, daemon=True)
    sampler.start()
    conn_db = ctx.runner.pg(db)
    applied_at = None
    try:
        started = time.perf_counter()
        conn = NoDelayHTTPConnection("127.0.0.1", port, timeout=60)
        conn.request("POST", f"/webhooks/whatsapp/{config_id}", body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        answered = time.perf_counter() - started
        conn.close()
        applied = 0
        first_at = None
        with conn_db.cursor() as cr:
            while time.perf_counter() - started < ctx.options.max_seconds:
                cr.execute(
                    "SELECT count(*) FROM ofitec_whatsapp_message "
                    "WHERE whatsapp_message_id LIKE 'wamid.bench.d.%%' "
                    "AND state = 'delivered'"
                )
                applied = cr.fetchone()[0]
                if first_at is None:
                    # Processing has begun once a backend holds a lock on the status
                    # table (read-only look: taking a lock would disturb the cron).
                    cr.execute(
                        "SELECT count(*) FROM pg_locks l "
                        "JOIN pg_class c ON c.oid = l.relation "
                        "JOIN pg_database d ON d.oid = l.database "
                        "WHERE c.relname = 'ofitec_whatsapp_status' "
                        "AND d.datname = current_database() "
                        "AND l.mode = 'RowExclusiveLock'"
                    )
                    if cr.fetchone()[0] or applied:
                        first_at = time.perf_counter() - started
                if applied >= size:
                    applied_at = time.perf_counter() - started
                    break
                time.sleep(0.01)
        time.sleep(0.3)  # a few more samples after the work
    finally:
        samples["stop"] = True
        sampler.join(5)
        conn_db.close()
    cpu_after = cpu_seconds()
    cpu_used = {pid: cpu_after[pid] - cpu_before.get(pid, 0.0) for pid in cpu_after}
    # The process that burnt the most CPU meanwhile is the one that applied the
    # statuses: the cron worker.
    busiest = max(cpu_used, key=cpu_used.get) if cpu_used else None
    if busiest in samples["names"]:
        samples["names"][busiest] = "busiest: the cron worker"
    peak_proc = samples["peak_proc"]
    top_pid = max(peak_proc, key=peak_proc.get) if peak_proc else None
    mib = 1024 * 1024
    figures = {
        "payload_bytes": len(body),
        "http_status": response.status,
        "answer_s": answered,
        "applied": applied,
        "applied_s": applied_at,
        "processing_started_s": first_at,
        "peak_worker_rss_mib": peak_proc[top_pid] / mib if top_pid else None,
        "baseline_worker_rss_mib": baseline.get(top_pid, 0) / mib if top_pid else None,
        "cron_worker_peak_rss_mib": peak_proc.get(busiest, 0) / mib if busiest else None,
        "cron_worker_baseline_rss_mib": baseline.get(busiest, 0) / mib if busiest else None,
        "cron_worker_cpu_s": cpu_used.get(busiest) if busiest else None,
        "peak_total_rss_mib": samples["peak_total"] / mib,
        "baseline_total_rss_mib": sum(baseline.values()) / mib,
        "processes": len(peak_proc),
    }
    ctx.figures["burst"] = figures
    say(
        f"  payload {len(body) / 1024:.0f} KiB, answer HTTP {response.status} in "
        f"{answered * 1000:.0f} ms"
    )
    limit = ctx.options.max_seconds
    if first_at is not None:
        say(
            f"  the cron began writing statuses {first_at:.2f} s after the POST started "
            "(pick-up), the event commits as one transaction"
        )
    if applied_at is not None:
        say(f"  all {size} statuses applied {applied_at:.2f} s after the POST started")
    else:
        say(f"  !! only {applied}/{size} statuses applied after {limit:.0f} s")
    for pid, peak in sorted(peak_proc.items(), key=lambda kv: -kv[1]):
        say(
            f"  child pid {pid}: RSS {baseline.get(pid, 0) / mib:.0f} -> peak "
            f"{peak / mib:.0f} MiB, CPU {cpu_used.get(pid, 0.0):.2f} s  "
            f"({samples['names'].get(pid, '')})"
        )
    applied_text = (
        f"{applied_at:.2f} s"
        if applied_at is not None
        else f"NOT DONE ({applied}/{size} after {limit:.0f} s)"
    )
    pickup = f"{first_at:.2f} s" if first_at is not None else "?"
    ctx.note(
        f"(d) burst: 1 POST of {size} statuses answered {response.status} in "
        f"{answered * 1000:.0f} ms; all applied after {applied_text} (target < 0.5 s; "
        f"cron pick-up after {pickup}); "
        f"peak RSS of the cron worker {figures['cron_worker_peak_rss_mib'] or 0:.0f} MiB "
        f"(from {figures['cron_worker_baseline_rss_mib'] or 0:.0f}, "
        f"{figures['cron_worker_cpu_s'] or 0:.1f} s CPU), largest child "
        f"{figures['peak_worker_rss_mib'] or 0:.0f} MiB, all {len(peak_proc)} children "
        f"{figures['peak_total_rss_mib']:.0f} MiB peak"
    )


def after_stop(ctx, srv):
    """The same 1,000-status event processed again in `odoo shell` (server stopped):
    its processing time alone and its SQL query count, which noise does not change."""
    if "burst" not in ctx.figures:
        return
    db, config_id, phone_base = srv.db, srv.config_id, srv.phone_bases["d"]
    size = ctx.options.burst_size
    payload = status_payload([(f"wamid.bench.d.{i}", str(phone_base + i)) for i in range(size)])
    result = ctx.runner.shell(
        db,
        "burst_profile",
        {
            "config_id": config_id,
            "payload": json.dumps(payload),
            "pattern": "wamid.bench.d.%",
        },
        "burst_profile",
        timeout=ctx.options.max_seconds + 300,
    )
    figures = ctx.figures["burst"]
    figures["in_process"] = result
    per_status = result["queries"] / size
    say(
        f"  same event processed in `odoo shell` (no server): {result['elapsed']:.2f} s, "
        f"{result['queries']} SQL queries ({per_status:.2f} per status), "
        f"{result['delivered']}/{size} delivered"
    )
    ctx.note(
        f"    processing alone (odoo shell, server stopped): {result['elapsed']:.2f} s "
        f"and {result['queries']} SQL queries = {per_status:.2f} per status"
    )


# -- driver ----------------------------------------------------------------
