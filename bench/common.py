"""What every bench shares: output, statistics, ports, processes, databases, the
fake Graph API and the Odoo server, and `odoo shell` runs of the modules in shell/.

Standard library only here (psycopg2 is imported where a database is reached), so the
entry point can start under any Python and re-execute itself under Odoo's.
"""

from __future__ import annotations

import argparse
import http.client
import importlib.util
import json
import math
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.request

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH_DIR)
RESULT_MARK = "BENCH_RESULT "
PHONE_NUMBER_ID = "100000000000001"  # the bench configuration's (fake) Meta number id
WABA_ID = "100000000000009"


# ---------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------


def say(text=""):
    print(text, flush=True)


def section(title):
    say()
    say("=" * 78)
    say(title)
    say("=" * 78)


def bench_parser(description):
    """An option parser with the options every bench takes: --odoo, --keep,
    --workdir, --json (a bench adds its own)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--odoo",
        default=os.environ.get("ODOO_BIN") or shutil.which("odoo"),
        help="the Odoo 16 command (default: $ODOO_BIN, else 'odoo' on PATH)",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the databases and the work folder"
    )
    parser.add_argument("--workdir", default="", help="work folder (default: a new temp folder)")
    parser.add_argument("--json", default="", help="also write the figures to this JSON file")
    return parser


def require_odoo(options, script):
    """Stop with a clear message when no Odoo command was given or found."""
    if not options.odoo:
        sys.exit(f"{script}: give --odoo PATH (or put odoo on PATH)")


def fmt_ms(seconds):
    return f"{seconds * 1000:.1f} ms"


def percentile(values, fraction):
    """Nearest-rank percentile of ``values`` (fraction in 0..1)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, math.ceil(fraction * len(ordered)) - 1))
    return ordered[index]


def describe(values):
    return {
        "n": len(values),
        "mean": statistics.fmean(values) if values else float("nan"),
        "median": statistics.median(values) if values else float("nan"),
        "p90": percentile(values, 0.90),
        "p99": percentile(values, 0.99),
        "min": min(values) if values else float("nan"),
        "max": max(values) if values else float("nan"),
    }


def port_is_free(port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def pick_ports(first, last, count=1, avoid=()):
    """The first ``count`` consecutive free ports in [first, last]."""
    for port in range(first, last - count + 2):
        span = range(port, port + count)
        if any(p in avoid for p in span):
            continue
        if all(port_is_free(p) for p in span):
            return port
    raise RuntimeError(f"no {count} free consecutive port(s) between {first} and {last}")


def load_signature_module():
    """tools/signature.py on its own (the addon's package imports odoo)."""
    spec = importlib.util.spec_from_file_location(
        "owa_bench_signature", os.path.join(REPO, "tools", "signature.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def odoo_python_from_command(odoo_bin):
    """The Python that runs Odoo, read from the ``odoo`` command (as install_whatsapp.sh)."""
    try:
        with open(odoo_bin, "rb") as handle:
            head = handle.read(4096).decode("utf-8", errors="replace")
    except OSError:
        return None
    lines = head.splitlines()
    if lines and lines[0].startswith("#!") and "python" in lines[0]:
        candidate = lines[0][2:].strip().split()[0]
        if os.path.basename(candidate) != "env":
            return candidate
    match = re.search(r"(/[^\s\"']*)?python[0-9.]*", head)
    return shutil.which(match.group(0)) if match else None


# What `odoo shell` reads on its standard input (it exec()s it with ``env`` defined):
# import one module of shell/ and print what its run(env, args) returns.
SHELL_LOADER = """
import json as _json
import sys as _sys

_sys.path.insert(0, {bench_dir!r})
from shell import {module} as _bench_module

_result = _bench_module.run(env, _json.loads({args!r}))
print({mark!r} + _json.dumps(_result), flush=True)
"""


# ---------------------------------------------------------------------------
# Processes and databases
# ---------------------------------------------------------------------------


class Runner:
    """Owns every process, database and file the benchmark creates."""

    def __init__(self, options):
        self.options = options
        self.odoo = options.odoo
        self.processes = []  # Popen objects (each leads its own process group)
        self.databases = []
        self.failed = False
        self.work = options.workdir or tempfile.mkdtemp(prefix="owa_bench_")
        os.makedirs(self.work, exist_ok=True)
        addons = os.path.join(self.work, "addons")
        os.makedirs(addons, exist_ok=True)
        link = os.path.join(addons, "ofitec_whatsapp")
        if os.path.islink(link):
            os.unlink(link)
        os.symlink(REPO, link)
        self.prefix = f"owa_bench_{os.getpid()}"
        self.core_path, self.data_dir = self._probe()
        self.addons_path = ",".join([self.core_path, addons, os.path.join(REPO, "tests", "addons")])

    # -- Odoo ----------------------------------------------------------------

    def _probe(self):
        """Odoo's own addons path and data dir, the way run_tests.sh reads them."""
        conf = os.path.join(self.work, "probe.conf")
        port = pick_ports(18690, 18699)
        subprocess.run(
            [self.odoo, "-s", "-c", conf, "--stop-after-init", f"--http-port={port}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=300,
            check=False,
        )
        values = {}
        with open(conf, encoding="utf-8") as handle:
            for line in handle:
                key, sep, value = line.partition("=")
                if sep:
                    values[key.strip()] = value.strip()
        core = values.get("addons_path", "")
        if not core:
            raise RuntimeError("cannot read Odoo's addons_path from `odoo -s -c probe.conf`")
        data_dir = values.get("data_dir") or os.path.expanduser("~/.local/share/Odoo")
        return core, data_dir

    def log_path(self, name):
        return os.path.join(self.work, name)

    def odoo_args(self, db, logname):
        return [
            "-d",
            db,
            f"--addons-path={self.addons_path}",
            "--log-level=warn",
            f"--logfile={self.log_path(logname)}",
        ]

    def install(self, db, module):
        self.drop(db)
        self.databases.append(db)
        log = f"install_{db}.log"
        say(f"  installing {module} into {db} (log {self.log_path(log)})")
        started = time.monotonic()
        command = [
            self.odoo,
            *self.odoo_args(db, log),
            "-i",
            module,
            "--without-demo=all",
            "--stop-after-init",
            "--no-http",
            "--max-cron-threads=0",
        ]
        proc = self.start(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        try:
            rc = proc.wait(timeout=1200)
        finally:
            self.stop(proc)
        if rc != 0:
            raise RuntimeError(f"installing {module} into {db} failed (exit {rc}); see {log}")
        errors = self.log_errors(log)
        if errors:
            say(f"  !! {len(errors)} ERROR line(s) while installing, e.g. {errors[0][:200]}")
        say(f"  installed in {time.monotonic() - started:.0f} s")

    def log_errors(self, logname):
        try:
            with open(self.log_path(logname), encoding="utf-8", errors="replace") as handle:
                return [line.rstrip() for line in handle if re.search(r" (ERROR|CRITICAL) ", line)]
        except OSError:
            return []

    def shell(self, db, module, args, label, timeout=900):
        """Run ``shell/<module>.py``'s ``run(env, args)`` in ``odoo shell`` on ``db``
        (``env``: the superuser environment); return the dict it returns."""
        log = f"shell_{label}.log"
        stderr_path = self.log_path(f"shell_{label}.stderr")
        source = SHELL_LOADER.format(
            bench_dir=BENCH_DIR, module=module, args=json.dumps(args), mark=RESULT_MARK
        )
        command = [
            self.odoo,
            "shell",
            *self.odoo_args(db, log),
            "--no-http",
            "--max-cron-threads=0",
        ]
        with open(stderr_path, "w", encoding="utf-8") as stderr:
            proc = self.start(
                command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, text=True
            )
            try:
                out, _ = proc.communicate(source, timeout=timeout)
            except subprocess.TimeoutExpired:
                self.stop(proc)
                raise RuntimeError(f"odoo shell '{label}' did not finish in {timeout} s") from None
            finally:
                self.stop(proc)
        result = None
        for line in out.splitlines():
            if line.startswith(RESULT_MARK):
                result = json.loads(line[len(RESULT_MARK) :])
        if proc.returncode != 0 or result is None:
            with open(stderr_path, encoding="utf-8", errors="replace") as handle:
                tail = handle.read()[-3000:]
            errors = "\n".join(self.log_errors(log)[-10:])
            raise RuntimeError(
                f"odoo shell '{label}' failed (exit {proc.returncode}).\n{tail}\n{errors}"
            )
        return result

    # -- processes -------------------------------------------------------------

    def start(self, command, **kwargs):
        proc = subprocess.Popen(command, start_new_session=True, **kwargs)
        self.processes.append(proc)
        return proc

    def stop(self, proc, grace=20.0):
        """Stop ``proc`` and its process group (SIGTERM, then SIGKILL)."""
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # leftovers of the group, if any
        except (ProcessLookupError, PermissionError):
            pass
        if proc.poll() is None:
            proc.wait(timeout=10)
        if proc in self.processes:
            self.processes.remove(proc)

    # -- databases -------------------------------------------------------------

    def pg(self, dbname="postgres"):
        import psycopg2

        conn = psycopg2.connect(dbname=dbname, connect_timeout=10)
        conn.autocommit = True
        return conn

    def run_sql(self, db, *statements):
        """Run ``statements`` (SQL, or ``(SQL, params)``) on ``db``, each committed on
        its own (VACUUM needs it): a bench's bulk load. Returns the first row of the last
        statement that returned rows, else None."""
        row = None
        conn = self.pg(db)
        try:
            with conn.cursor() as cr:
                for statement in statements:
                    sql, params = statement if isinstance(statement, tuple) else (statement, None)
                    cr.execute(sql, params)
                    if cr.description:
                        row = cr.fetchone()
        finally:
            conn.close()
        return row

    def admin(self, sql):
        """Run one statement on the maintenance database (CREATE/DROP DATABASE)."""
        conn = self.pg()
        try:
            with conn.cursor() as cr:
                cr.execute(sql)
        finally:
            conn.close()

    def drop(self, db):
        self.admin(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        shutil.rmtree(os.path.join(self.data_dir, "filestore", db), ignore_errors=True)

    def clone(self, source, target):
        """A copy of ``source`` (database and filestore), like Odoo's duplicate."""
        self.drop(target)
        self.databases.append(target)
        self.admin(f'CREATE DATABASE "{target}" ENCODING \'unicode\' TEMPLATE "{source}"')
        src = os.path.join(self.data_dir, "filestore", source)
        if os.path.isdir(src):
            shutil.copytree(src, os.path.join(self.data_dir, "filestore", target))

    def cleanup(self):
        for proc in list(self.processes):
            try:
                self.stop(proc, grace=10)
            except Exception:  # keep cleaning
                traceback.print_exc()
        if self.options.keep:
            say(f"\nKept: databases {', '.join(self.databases) or '-'}; files in {self.work}")
            return
        for db in self.databases:
            try:
                self.drop(db)
            except Exception as error:
                say(f"  could not drop {db}: {error}")
        if self.failed:
            say(f"\nLogs kept in {self.work} (a bench failed)")
        elif not self.options.workdir:
            shutil.rmtree(self.work, ignore_errors=True)


def run_alone(options, script, title, body):
    """The frame of a bench that runs on its own (``stats``, ``insight``, ``replies``, ``log``):
    Odoo checked, a :class:`Runner`, ``body(runner)`` returning the figure lines,
    cleanup whatever happens (``--keep`` keeps), then the lines under "Figures".
    Returns the exit code."""
    require_odoo(options, script)
    runner = Runner(options)
    lines = []
    try:
        section(title)
        lines = body(runner)
    except Exception:
        runner.failed = True
        raise
    finally:
        runner.cleanup()
    section("Figures")
    for line in lines:
        say(line)
    return 1 if runner.failed else 0


# ---------------------------------------------------------------------------
# Fake Graph API and Odoo server
# ---------------------------------------------------------------------------


def start_fake_graph(runner, port, token, log_file):
    command = [
        sys.executable,
        os.path.join(BENCH_DIR, "fake_graph_server.py"),
        "--port",
        str(port),
        "--token",
        token,
        "--log-file",
        log_file,
        "--max-seconds",
        "3600",
        "--quiet",
    ]
    proc = runner.start(
        command, stdout=subprocess.DEVNULL, stderr=open(runner.log_path("fake_graph.stderr"), "a")
    )
    return wait_ready(
        proc,
        lambda: fake_graph_call(port, "GET", "/__stats") is not None,
        20,
        0.1,
        "the fake Graph server",
    )


def wait_ready(proc, probe, seconds, pause, what, log=None):
    """Return ``proc`` once ``probe()`` is true (an OSError counts as not yet); raise
    when it exits first or ``seconds`` pass."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited at start" + (f" (see {log})" if log else ""))
        try:
            if probe():
                return proc
        except OSError:
            pass
        time.sleep(pause)
    raise RuntimeError(f"{what} did not answer in {seconds} s")


def fake_graph_call(port, method, path):
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", method=method, data=b"" if method == "POST" else None
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


def start_odoo_server(runner, db, port):
    log = "odoo_server.log"
    command = [
        runner.odoo,
        *runner.odoo_args(db, log),
        *([] if getattr(runner.options, "no_db_filter", False) else [f"--db-filter=^{db}$"]),
        "--workers=2",
        f"--max-cron-threads={getattr(runner.options, 'cron_threads', 1)}",
        "--http-interface=127.0.0.1",
        f"--http-port={port}",
        f"--gevent-port={port + 1}",
        "--without-demo=all",
    ]
    proc = runner.start(
        command, stdout=subprocess.DEVNULL, stderr=open(runner.log_path("odoo_server.stderr"), "a")
    )

    def healthy():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/web/health")
        response = conn.getresponse()
        response.read()
        conn.close()
        return response.status == 200

    return wait_ready(proc, healthy, 180, 0.5, "Odoo (/web/health)", runner.log_path(log))


# ---------------------------------------------------------------------------
# What the benches of one run share
# ---------------------------------------------------------------------------


class Context:
    """The runner, the options, the template databases and the figures of one run."""

    def __init__(self, runner, options):
        self.runner = runner
        self.options = options
        self.figures = {}  # bench -> dict of figures
        self.lines = []  # the final summary
        self.template_db = f"{runner.prefix}_wa"
        self.ref_db = f"{runner.prefix}_ref"
        self._templates_ready = set()

    def note(self, text):
        """Print ``text`` and keep it for the summary at the end."""
        say("  " + text)
        self.lines.append(text)

    def ensure_template(self, kind):
        """Install the addon ("wa") or the reference module alone ("ref") once per run."""
        if kind in self._templates_ready:
            return
        if kind == "wa":
            self.runner.install(self.template_db, "ofitec_whatsapp")
        else:
            self.runner.install(self.ref_db, "ofitec_next_action")
        self._templates_ready.add(kind)

    def guard(self, label, func):
        """Run one bench; a failure is reported and does not hide the others' figures."""
        try:
            func()
            return True
        except Exception as error:
            self.runner.failed = True
            say(f"  !! {label} failed: {error}")
            traceback.print_exc()
            first = str(error).splitlines()[0] if str(error) else repr(error)
            self.lines.append(f"!! {label} failed: {first}")
            return False

    # -- reading the bench database directly (psycopg2, autocommit) ---------------

    def query(self, db, sql, params=()):
        """The first column of the first row of ``sql`` on ``db``."""
        conn = self.runner.pg(db)
        try:
            with conn.cursor() as cr:
                cr.execute(sql, params)
                return cr.fetchone()[0]
        finally:
            conn.close()

    def config_id(self, db):
        return self.query(db, "SELECT id FROM ofitec_whatsapp_config WHERE active ORDER BY id")

    def wait_backlog(self, db, limit=300.0):
        """Seconds until no webhook event waits for the cron (None on time-out)."""
        started = time.monotonic()
        conn = self.runner.pg(db)
        try:
            with conn.cursor() as cr:
                while time.monotonic() - started < limit:
                    cr.execute(
                        "SELECT count(*) FROM ofitec_whatsapp_webhook_event "
                        "WHERE state = 'received'"
                    )
                    if cr.fetchone()[0] == 0:
                        return time.monotonic() - started
                    time.sleep(0.05)
        finally:
            conn.close()
        return None
