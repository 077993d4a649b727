#!/usr/bin/env python3
"""Two numbers, one or two Odoo servers (figures only, never assertions).

Numbers A and B (same rate limit, 80/s by default) against one fake Graph API
(bench/fake_graph_server.py). ``--count`` (1,000) notifications are queued for A; Odoo
servers (``--workers=2``, two cron workers each) start on one database and their send
cron drains the queue; once A is draining, one urgent action is created for B (in
``odoo shell``, committed). From the fake server's request log:

* B's wait: from the commit of B's action to B's first (and last) send;
* A's rate: A's sends over the time from its first to its last send, and the ratio to
  the limit;
* the peak: the most sends of one number in any 1-second window (sliding);
* duplicates: messages (``biz_opaque_callback_data``) sent more than once.

Runs: ``one`` (one server), ``two`` (two servers), ``kill`` (two servers; once A is
draining, the server whose process runs the send job is killed with SIGKILL; afterwards
every message must be sent once or failed with a code). ``--runs one,two,kill``.
``--addon DIR`` benchmarks another checkout of the addon (for a before/after pair).

During each run the backends of the database are sampled in ``pg_stat_activity`` every
50 ms: which Odoo processes ran the queue's queries and what they waited for.

Run with Odoo's Python: ``bench/run_benchmarks.sh numbers`` or
``python bench/bench_numbers.py --odoo PATH``.
"""

import collections
import json
import os
import signal
import subprocess
import sys
import threading
import time

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH_DIR)

from common import (  # noqa: E402
    Runner,
    bench_parser,
    fake_graph_call,
    pick_ports,
    require_odoo,
    say,
    section,
    start_fake_graph,
)

PHONE_NUMBER_IDS = ("100000000000001", "100000000000002")
WABA_ID = "100000000000009"
TOKEN = "bench-token-numbers"


def start_server(runner, db, name, cron_threads, http_port=None):
    """An Odoo server with ``--workers=2`` and its cron workers; HTTP off unless
    ``http_port``: the bench needs only the send cron (and when gevent is incomplete,
    Odoo's long-polling process dies at start and is respawned in a loop)."""
    log = f"odoo_{name}.log"
    http = ["--no-http"]
    if http_port:
        http = [
            "--http-interface=127.0.0.1",
            f"--http-port={http_port}",
            f"--gevent-port={http_port + 1}",
        ]
    command = [
        runner.odoo,
        *runner.odoo_args(db, log),
        f"--db-filter=^{db}$",
        "--workers=2",
        f"--max-cron-threads={cron_threads}",
        *http,
        "--without-demo=all",
        "--log-handler=odoo.addons.base.models.ir_cron:DEBUG",
        "--log-handler=odoo.service.server:INFO",
    ]
    proc = runner.start(
        command, stdout=subprocess.DEVNULL, stderr=open(runner.log_path(f"{name}.stderr"), "a")
    )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"Odoo exited at start (see {runner.log_path(log)})")
        try:
            with open(runner.log_path(log), encoding="utf-8", errors="replace") as handle:
                if "WorkerCron" in handle.read():
                    return proc
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError("Odoo started no cron worker in 180 s")


class Sampler(threading.Thread):
    """Samples the database's backends every 50 ms (read-only, pg_stat_activity)."""

    def __init__(self, runner, db):
        super().__init__(daemon=True)
        self.conn = runner.pg(db)
        self.db = db
        self.stop_event = threading.Event()
        self.queue_pids = collections.Counter()  # Odoo pid -> samples running queue SQL
        self.waits = collections.Counter()  # (wait type, wait event, query head) -> samples
        self.samples = 0

    def run(self):
        with self.conn.cursor() as cr:
            while not self.stop_event.wait(0.05):
                cr.execute(
                    """
                    SELECT application_name, state, wait_event_type, wait_event,
                           left(regexp_replace(query, '\\s+', ' ', 'g'), 70)
                      FROM pg_stat_activity
                     WHERE datname = %s AND pid != pg_backend_pid()
                    """,
                    (self.db,),
                )
                self.samples += 1
                for app, state, wtype, wevent, query in cr.fetchall():
                    if "ofitec_whatsapp_message" in (query or "") and state == "active":
                        self.queue_pids[app] += 1
                    if state == "active" and wtype in ("Lock", "LWLock", "IO", "Client"):
                        self.waits[(wtype, wevent, query)] += 1
        self.conn.close()

    def sending_pid(self, runner, db):
        """The OS pid of the Odoo cron worker running the send job: its job-lock cursor
        (``ir_cron._acquire_one_job``) stays idle in its transaction for the whole run,
        the oldest such transaction on the database."""
        conn = runner.pg(db)
        try:
            with conn.cursor() as cr:
                cr.execute(
                    """
                    SELECT application_name FROM pg_stat_activity
                     WHERE datname = %s AND application_name LIKE 'odoo-%%'
                       AND state = 'idle in transaction'
                       AND query LIKE '%%FOR NO KEY UPDATE SKIP LOCKED%%'
                     ORDER BY xact_start LIMIT 1
                    """,
                    (db,),
                )
                row = cr.fetchone()
        finally:
            conn.close()
        return int(row[0].split("-", 1)[1]) if row else None

    def stop(self):
        self.stop_event.set()
        self.join(10)


def read_sends(log_file):
    """[(ts, phone_number_id, message id or None, recipient)] of successful sends."""
    sends = []
    with open(log_file, encoding="utf-8") as handle:
        for line in handle:
            entry = json.loads(line)
            if entry["method"] != "POST" or not entry["path"].endswith("/messages"):
                continue
            payload = entry.get("payload") or {}
            if payload.get("status") == "read" or entry["status"] != 200:
                continue
            callback = payload.get("biz_opaque_callback_data") or ""
            message_id = callback.split(":", 1)[1] if callback.startswith("ofitec:") else None
            node = entry["path"].rstrip("/").split("/")[-2]
            sends.append((entry["ts"], node, message_id, payload.get("to")))
    return sorted(sends)


def peak_per_second(times):
    """The most events in any window [t, t + 1 s)."""
    best, start = 0, 0
    for end, ts in enumerate(times):
        while ts - times[start] >= 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best


def db_states(runner, db, config_ids):
    conn = runner.pg(db)
    try:
        with conn.cursor() as cr:
            cr.execute(
                """
                SELECT config_id, state, count(*) FROM ofitec_whatsapp_message
                 WHERE direction = 'outbound' AND config_id = ANY(%s)
                 GROUP BY 1, 2
                """,
                (list(config_ids),),
            )
            return {(c, s): n for c, s, n in cr.fetchall()}
    finally:
        conn.close()


class NumbersBench:
    def __init__(self, runner, options):
        self.runner = runner
        self.options = options
        self.template_db = f"{runner.prefix}_wa"
        self.lines = []
        self.figures = {}

    def note(self, text):
        say("  " + text)
        self.lines.append(text)

    def run(self, name):
        options, runner = self.options, self.runner
        servers = 1 if name == "one" else 2
        section(f"numbers/{name}: {servers} server(s), {options.count} queued for A, urgent B")
        db = f"{runner.prefix}_{name}"
        runner.clone(self.template_db, db)
        port = pick_ports(18610, 18619)
        log_file = runner.log_path(f"fake_graph_{name}.jsonl")
        fake = start_fake_graph(runner, port, TOKEN, log_file)
        base_url = f"http://127.0.0.1:{port}"
        setup = self._setup(name, db, base_url)
        sampler = Sampler(runner, db)
        sampler.start()
        procs = self._start_servers(name, db, servers, port)
        # B's urgent action once A is draining (the shell waits for the fake's counter).
        after = min(options.count // 4, 250)
        killed = None
        if name == "kill":
            killed = self._kill_sender(sampler, db, port, procs, after // 2)
        b_result = self._urgent_b(name, db, base_url, setup, after)
        configs = (setup["config_a"], setup["config_b"])
        self._wait_settled(db, configs)
        sampler.stop()
        states = db_states(runner, db, configs)
        for proc in procs:
            runner.stop(proc)
        runner.stop(fake)
        self._report(name, log_file, b_result, states, setup, sampler, killed)

    def _setup(self, name, db, base_url):
        """Numbers A and B on the fake Graph API, ``--count`` messages queued for A
        (shell/numbers_setup.py); what it returns."""
        return self.runner.shell(
            db,
            "numbers_setup",
            {
                "api_base_url": base_url,
                "token": TOKEN,
                "waba_id": WABA_ID,
                "phone_number_ids": PHONE_NUMBER_IDS,
                "rate_limit": self.options.rate_limit,
                "count": self.options.count,
                "phone_base": 56973000000,
            },
            f"numbers_setup_{name}",
        )

    def _start_servers(self, name, db, servers, fake_port):
        """``servers`` Odoo servers on ``db`` (with HTTP on ports of their own when
        ``--http``); their Popen objects."""
        options, runner = self.options, self.runner
        procs, used = [], [fake_port]
        for index in range(servers):
            http_port = None
            if options.http:
                http_port = pick_ports(18620, 18639, count=2, avoid=used)
                used += [http_port, http_port + 1]
            procs.append(
                start_server(runner, db, f"{name}_{index}", options.cron_threads, http_port)
            )
        return procs

    def _urgent_b(self, name, db, base_url, setup, after):
        """B's urgent action, created and committed once A has ``after`` sends
        (shell/numbers_urgent.py); what it returns (when it committed)."""
        return self.runner.shell(
            db,
            "numbers_urgent",
            {
                "stats_url": f"{base_url}/__stats",
                "after": after,
                "max_wait": self.options.max_seconds,
                "project_b": setup["project_b"],
            },
            f"numbers_b_{name}",
        )

    def _wait_settled(self, db, configs):
        """Until every message, A's and B's, is sent, failed or cancelled (or the time
        limit)."""
        expected = self.options.count + 1  # B's action: one recipient (the manager)
        deadline = time.monotonic() + self.options.max_seconds
        settled_states = {"sent", "failed", "cancelled", "delivered", "read"}
        while time.monotonic() < deadline:
            states = db_states(self.runner, db, configs)
            settled = sum(n for (_, s), n in states.items() if s in settled_states)
            if settled >= expected:
                break
            time.sleep(0.5)

    def _kill_sender(self, sampler, db, port, procs, after):
        deadline = time.monotonic() + self.options.max_seconds
        while time.monotonic() < deadline:
            if fake_graph_call(port, "GET", "/__stats")["sends"] >= after:
                break
            time.sleep(0.05)
        pid = sampler.sending_pid(self.runner, db)
        victim = None
        for proc in procs:
            try:
                if pid and os.getpgid(pid) == proc.pid:
                    victim = proc
            except ProcessLookupError:
                pass
        victim = victim or procs[0]
        sends = fake_graph_call(port, "GET", "/__stats")["sends"]
        os.killpg(victim.pid, signal.SIGKILL)
        say(
            f"  SIGKILL to server {procs.index(victim)} (its process {pid} ran the queue) "
            f"after {sends} sends"
        )
        return {"server": procs.index(victim), "pid": pid, "after_sends": sends}

    def _report(self, name, log_file, b_result, states, setup, sampler, killed):
        figures, duplicates = _figures(
            self.options.rate_limit, read_sends(log_file), b_result, states, sampler, killed
        )
        self.figures[name] = figures
        self._note_sends(name, figures)
        a_states = {s: n for (c, s), n in states.items() if c == setup["config_a"]}
        b_states = {s: n for (c, s), n in states.items() if c == setup["config_b"]}
        self.note(f"    states: A {a_states}, B {b_states}")
        if duplicates:
            self.note(f"    duplicated message ids (sends): {dict(list(duplicates.items())[:10])}")
        respawns = self._tracebacks(name)
        if respawns:
            self.note(f"    tracebacks on the servers' stderr (processes dying): {respawns}")
        busy = ", ".join(f"{app} {n}" for app, n in sampler.queue_pids.most_common(6))
        self.note(f"    processes seen running queue SQL (50 ms samples): {busy or '-'}")
        waits = sampler.waits.most_common(4)
        if waits:
            self.note("    most sampled waits: " + "; ".join(f"{k} x{n}" for k, n in waits))

    def _note_sends(self, name, figures):
        """The run's main line: B's wait, A's rate, the peaks and the duplicates."""
        rate = self.options.rate_limit
        label = {"one": "one server", "two": "two servers", "kill": "two servers, SIGKILL"}
        b_text = (
            f"B waited {figures['b_wait_first']:.2f} s from commit to send (target <= 2 s)"
            if "b_wait_first" in figures
            else "B was NOT sent"
        )
        self.note(
            f"numbers/{label[name]}: {b_text}; A {figures['a_sends']} sends at "
            f"{figures['a_rate']:.1f} msg/s = {figures['a_ratio']:.2f}x its {rate}/s limit "
            f"(target >= 0.95x); peak in any 1 s: A {figures['a_peak_1s']}, B "
            f"{figures['b_peak_1s']} (limit {rate}); duplicates {figures['duplicates']}"
        )

    def _tracebacks(self, name):
        """Tracebacks on the run's servers' stderr: processes that died."""
        count = 0
        for index in range(2):
            try:
                with open(self.runner.log_path(f"{name}_{index}.stderr"), errors="replace") as f:
                    count += f.read().count("Traceback")
            except OSError:
                pass
        return count


def _figures(rate, sends, b_result, states, sampler, killed):
    """A run's figures from the fake server's sends, and the duplicated message ids."""
    a_times = [ts for ts, node, _, _ in sends if node == PHONE_NUMBER_IDS[0]]
    b_times = [ts for ts, node, _, _ in sends if node == PHONE_NUMBER_IDS[1]]
    ids = collections.Counter(mid for _, _, mid, _ in sends if mid)
    duplicates = {mid: n for mid, n in ids.items() if n > 1}
    a_rate = (len(a_times) - 1) / (a_times[-1] - a_times[0]) if len(a_times) > 1 else 0.0
    figures = {
        "a_sends": len(a_times),
        "a_rate": a_rate,
        "a_ratio": a_rate / rate if rate else None,
        "a_peak_1s": peak_per_second(a_times),
        "b_peak_1s": peak_per_second(b_times),
        "b_sends": len(b_times),
        "duplicates": len(duplicates),
        "states": {f"{c}:{s}": n for (c, s), n in states.items()},
        "queue_processes": dict(sampler.queue_pids),
        "killed": killed,
    }
    b_waits = [ts - b_result["committed"] for ts in b_times]
    if b_waits:
        figures["b_wait_first"] = min(b_waits)
        figures["b_wait_last"] = max(b_waits)
    return figures, duplicates


def parse_args(argv=None):
    parser = bench_parser(__doc__.split("\n")[0])
    parser.add_argument("--runs", default="one,two,kill")
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--rate-limit", type=int, default=80)
    parser.add_argument("--cron-threads", type=int, default=2, help="cron workers per server")
    parser.add_argument("--max-seconds", type=float, default=300)
    parser.add_argument("--http", action="store_true", help="servers with HTTP and long polling on")
    parser.add_argument("--addon", default="", help="benchmark this checkout of the addon")
    parser.add_argument("--template-db", default="", help="an installed database to clone")
    return parser.parse_args(argv)


def main(argv=None):
    options = parse_args(argv)
    require_odoo(options, "bench_numbers.py")

    def _terminate(signum, _frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, _terminate)
    runner = Runner(options)
    if options.addon:
        link = os.path.join(runner.work, "addons", "ofitec_whatsapp")
        os.unlink(link)
        os.symlink(os.path.abspath(options.addon), link)
    bench = NumbersBench(runner, options)
    say(
        f"  addon {os.path.realpath(os.path.join(runner.work, 'addons', 'ofitec_whatsapp'))}; "
        f"load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())
    )
    try:
        if options.template_db:
            bench.template_db = options.template_db  # installed already (kept from a run)
        else:
            runner.install(bench.template_db, "ofitec_whatsapp")
        for name in options.runs.split(","):
            try:
                bench.run(name.strip())
            except RuntimeError as error:
                runner.failed = True
                say(f"  !! numbers/{name}: {error}")
    except (KeyboardInterrupt, SystemExit):
        runner.failed = True
        raise
    finally:
        runner.cleanup()
    section("Figures (load average now " + " ".join(f"{x:.2f}" for x in os.getloadavg()) + ")")
    for line in bench.lines:
        say(line)
    if options.json:
        with open(options.json, "w", encoding="utf-8") as handle:
            json.dump(bench.figures, handle, indent=2, default=str)
    return 1 if runner.failed else 0


if __name__ == "__main__":
    sys.exit(main())
