"""(d) burst: one POST carrying 1,000 statuses on the running Odoo: time until all are
applied, the workers' peak RSS, then the same event processed alone in `odoo shell`."""

import json
import threading
import time
from dataclasses import dataclass, field

from common import say, section
from httpload import NoDelayHTTPConnection, status_payload

NAME, LABEL = "burst", "(d) burst"
MIB = 1024 * 1024


def sent_messages(options):
    return {"d": (options.burst_size, 56975000000)}


def _statuses(srv, size):
    """(wamid, recipient) of the burst's statuses: the sent messages of group "d"."""
    phone_base = srv.phone_bases["d"]
    return [(f"wamid.bench.d.{i}", str(phone_base + i)) for i in range(size)]


class RssSampler:
    """A thread that samples the RSS of the Odoo server's children every 20 ms: the
    peak of each, the peak of their total, and what each child is."""

    def __init__(self, master):
        self.master = master  # psutil.Process of the Odoo server
        self.peak_total = 0
        self.peak_proc = {}  # pid -> peak RSS (bytes)
        self.names = {}  # pid -> "worker" or "gevent (websocket)"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self._thread.start()

    def stop(self):
        self._stop.set()
        self._thread.join(5)

    def _run(self):
        while not self._stop.is_set():
            self.sample()
            time.sleep(0.02)

    def sample(self):
        import psutil  # Odoo's Python has it

        total = 0
        try:
            children = self.master.children(recursive=True)
        except psutil.Error:
            children = []
        for child in children:
            try:
                rss = child.memory_info().rss
            except psutil.Error:
                continue
            total += rss
            self.peak_proc[child.pid] = max(self.peak_proc.get(child.pid, 0), rss)
            if child.pid not in self.names:
                self.names[child.pid] = _kind(child)
        self.peak_total = max(self.peak_total, total)


def _kind(child):
    """What a child of the Odoo server is: the gevent (websocket) process or a worker."""
    import psutil

    try:
        gevent = "gevent" in child.cmdline()
    except psutil.Error:
        gevent = False
    return "gevent (websocket)" if gevent else "worker"


def _rss_by_child(master):
    """{pid: RSS} of the Odoo server's children now."""
    import psutil

    rss = {}
    for child in master.children(recursive=True):
        try:
            rss[child.pid] = child.memory_info().rss
        except psutil.Error:
            pass
    return rss


def _cpu_seconds(master):
    """{pid: CPU seconds so far} of the Odoo server's children."""
    import psutil

    result = {}
    for child in master.children(recursive=True):
        try:
            times = child.cpu_times()
            result[child.pid] = times.user + times.system
        except psutil.Error:
            pass
    return result


def _post(srv, body, headers, started):
    """POST the burst (a fresh connection); its HTTP status and the seconds from
    ``started`` to the end of the answer."""
    conn = NoDelayHTTPConnection("127.0.0.1", srv.port, timeout=60)
    conn.request("POST", srv.webhook_path, body=body, headers=headers)
    response = conn.getresponse()
    response.read()
    answered = time.perf_counter() - started
    conn.close()
    return response.status, answered


def _processing_begun(cr):
    """Processing has begun once a backend holds a lock on the status table (read-only
    look: taking a lock would disturb the cron)."""
    cr.execute(
        "SELECT count(*) FROM pg_locks l "
        "JOIN pg_class c ON c.oid = l.relation "
        "JOIN pg_database d ON d.oid = l.database "
        "WHERE c.relname = 'ofitec_whatsapp_status' "
        "AND d.datname = current_database() "
        "AND l.mode = 'RowExclusiveLock'"
    )
    return bool(cr.fetchone()[0])


def _wait_applied(conn_db, size, started, limit):
    """Poll until the ``size`` statuses are applied or ``limit`` seconds pass since
    ``started``: (statuses applied, seconds until processing began, seconds until all
    were applied), a time None when it was not seen."""
    applied, first_at, applied_at = 0, None, None
    with conn_db.cursor() as cr:
        while time.perf_counter() - started < limit:
            cr.execute(
                "SELECT count(*) FROM ofitec_whatsapp_message "
                "WHERE whatsapp_message_id LIKE 'wamid.bench.d.%%' "
                "AND state = 'delivered'"
            )
            applied = cr.fetchone()[0]
            if first_at is None and (_processing_begun(cr) or applied):
                first_at = time.perf_counter() - started
            if applied >= size:
                applied_at = time.perf_counter() - started
                break
            time.sleep(0.01)
    return applied, first_at, applied_at


@dataclass
class Workers:
    """The Odoo server's children over the burst: what the RssSampler saw, their RSS
    before the POST and the CPU seconds each used meanwhile."""

    rss: RssSampler
    baseline: dict  # pid -> RSS before the POST (bytes)
    cpu_used: dict  # pid -> CPU seconds
    busiest: int | None = field(init=False)  # the pid that used the most CPU

    def __post_init__(self):
        # The process that burnt the most CPU meanwhile is the one that applied the
        # statuses: the cron worker.
        cpu = self.cpu_used
        self.busiest = max(cpu, key=cpu.get) if cpu else None
        if self.busiest in self.rss.names:
            self.rss.names[self.busiest] = "busiest: the cron worker"

    def figures(self):
        peak_proc, baseline, busiest = self.rss.peak_proc, self.baseline, self.busiest
        top_pid = max(peak_proc, key=peak_proc.get) if peak_proc else None
        return {
            "peak_worker_rss_mib": peak_proc[top_pid] / MIB if top_pid else None,
            "baseline_worker_rss_mib": baseline.get(top_pid, 0) / MIB if top_pid else None,
            "cron_worker_peak_rss_mib": peak_proc.get(busiest, 0) / MIB if busiest else None,
            "cron_worker_baseline_rss_mib": baseline.get(busiest, 0) / MIB if busiest else None,
            "cron_worker_cpu_s": self.cpu_used.get(busiest) if busiest else None,
            "peak_total_rss_mib": self.rss.peak_total / MIB,
            "baseline_total_rss_mib": sum(baseline.values()) / MIB,
            "processes": len(peak_proc),
        }

    def say_children(self):
        """One line per child, the largest peak first."""
        for pid, peak in sorted(self.rss.peak_proc.items(), key=lambda kv: -kv[1]):
            say(
                f"  child pid {pid}: RSS {self.baseline.get(pid, 0) / MIB:.0f} -> peak "
                f"{peak / MIB:.0f} MiB, CPU {self.cpu_used.get(pid, 0.0):.2f} s  "
                f"({self.rss.names.get(pid, '')})"
            )


def run(ctx, srv):
    section(
        f"(d) One POST with {ctx.options.burst_size} statuses: time until all are "
        "applied, peak RSS of the workers"
    )
    size = ctx.options.burst_size
    ctx.wait_backlog(srv.db)
    body = json.dumps(status_payload(_statuses(srv, size))).encode()
    timing, workers = _measure(ctx, srv, body, size)
    figures = {"payload_bytes": len(body), **timing, **workers.figures()}
    ctx.figures["burst"] = figures
    _report(ctx, size, figures, workers)


def _measure(ctx, srv, body, size):
    """POST the burst and wait until all its statuses are applied, the server's
    children sampled meanwhile: the timing figures and the :class:`Workers`."""
    import psutil  # Odoo's Python has it

    headers = srv.signed_headers(body)
    master = psutil.Process(srv.proc.pid)
    baseline = _rss_by_child(master)
    cpu_before = _cpu_seconds(master)
    sampler = RssSampler(master)
    sampler.start()
    conn_db = ctx.runner.pg(srv.db)
    try:
        started = time.perf_counter()
        status, answered = _post(srv, body, headers, started)
        limit = ctx.options.max_seconds
        applied, first_at, applied_at = _wait_applied(conn_db, size, started, limit)
        time.sleep(0.3)  # a few more samples after the work
    finally:
        sampler.stop()
        conn_db.close()
    cpu_after = _cpu_seconds(master)
    cpu_used = {pid: cpu_after[pid] - cpu_before.get(pid, 0.0) for pid in cpu_after}
    timing = {
        "http_status": status,
        "answer_s": answered,
        "applied": applied,
        "applied_s": applied_at,
        "processing_started_s": first_at,
    }
    return timing, Workers(sampler, baseline, cpu_used)


def _report(ctx, size, figures, workers):
    """The burst's lines, then its summary line."""
    applied, first_at, applied_at = (
        figures["applied"],
        figures["processing_started_s"],
        figures["applied_s"],
    )
    limit = ctx.options.max_seconds
    say(
        f"  payload {figures['payload_bytes'] / 1024:.0f} KiB, answer HTTP "
        f"{figures['http_status']} in {figures['answer_s'] * 1000:.0f} ms"
    )
    if first_at is not None:
        say(
            f"  the cron began writing statuses {first_at:.2f} s after the POST started "
            "(pick-up), the event commits as one transaction"
        )
    if applied_at is not None:
        say(f"  all {size} statuses applied {applied_at:.2f} s after the POST started")
    else:
        say(f"  !! only {applied}/{size} statuses applied after {limit:.0f} s")
    workers.say_children()
    applied_text = (
        f"{applied_at:.2f} s"
        if applied_at is not None
        else f"NOT DONE ({applied}/{size} after {limit:.0f} s)"
    )
    pickup = f"{first_at:.2f} s" if first_at is not None else "?"
    ctx.note(
        f"(d) burst: 1 POST of {size} statuses answered {figures['http_status']} in "
        f"{figures['answer_s'] * 1000:.0f} ms; all applied after {applied_text} (target < 0.5 s; "
        f"cron pick-up after {pickup}); "
        f"peak RSS of the cron worker {figures['cron_worker_peak_rss_mib'] or 0:.0f} MiB "
        f"(from {figures['cron_worker_baseline_rss_mib'] or 0:.0f}, "
        f"{figures['cron_worker_cpu_s'] or 0:.1f} s CPU), largest child "
        f"{figures['peak_worker_rss_mib'] or 0:.0f} MiB, all {figures['processes']} children "
        f"{figures['peak_total_rss_mib']:.0f} MiB peak"
    )


def after_stop(ctx, srv):
    """The same 1,000-status event processed again in `odoo shell` (server stopped):
    its processing time alone and its SQL query count, which noise does not change."""
    if "burst" not in ctx.figures:
        return
    size = ctx.options.burst_size
    payload = status_payload(_statuses(srv, size))
    result = ctx.runner.shell(
        srv.db,
        "burst_profile",
        {
            "config_id": srv.config_id,
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
