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
               database, and the peak RSS of the Odoo worker processes meanwhile.

Run ``bench/run_benchmarks.sh`` (or this script with Odoo's Python; with another
Python it re-executes itself with the Python found in the ``odoo`` command).
Everything runs on 127.0.0.1, on ports 18600-18699, in databases named
``owa_bench_<pid>_*`` that are dropped at the end unless ``--keep``.
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
import threading
import time
import traceback
import urllib.request

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH_DIR)
RESULT_MARK = "BENCH_RESULT "
ALL_BENCHES = ("queue", "create", "webhook", "burst")
ALIASES = {"a": "queue", "b": "create", "c": "webhook", "d": "burst"}
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

    def shell(self, db, script, args, label, timeout=900):
        """Run ``script`` in ``odoo shell`` on ``db``; return its BENCH_RESULT dict."""
        log = f"shell_{label}.log"
        stderr_path = self.log_path(f"shell_{label}.stderr")
        source = (
            "import json as _json\n"
            f"ARGS = _json.loads({json.dumps(json.dumps(args))})\n"
            f"RESULT_MARK = {RESULT_MARK!r}\n" + SHELL_PRELUDE + script
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

    def drop(self, db):
        conn = self.pg()
        try:
            with conn.cursor() as cr:
                cr.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        finally:
            conn.close()
        shutil.rmtree(os.path.join(self.data_dir, "filestore", db), ignore_errors=True)

    def clone(self, source, target):
        """A copy of ``source`` (database and filestore), like Odoo's duplicate."""
        self.drop(target)
        self.databases.append(target)
        conn = self.pg()
        try:
            with conn.cursor() as cr:
                cr.execute(f'CREATE DATABASE "{target}" ENCODING \'unicode\' TEMPLATE "{source}"')
        finally:
            conn.close()
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


# ---------------------------------------------------------------------------
# Code run inside `odoo shell` (env = superuser environment of the database)
# ---------------------------------------------------------------------------

SHELL_PRELUDE = r'''
import json
import time
from datetime import timedelta

import odoo
from odoo import api, fields


def emit(result):
    print(RESULT_MARK + json.dumps(result), flush=True)


def setup_number(env, args):
    """One active WhatsApp number (the only one), a project and a non-urgent action."""
    env.ref("ofitec_whatsapp.ir_cron_whatsapp_send_queue").active = args["send_cron_active"]
    Config = env["ofitec.whatsapp.config"].with_context(active_test=False)
    Config.search([]).write({"active": False})
    config = Config.create(
        {
            "name": "Bench number",
            "api_base_url": args["api_base_url"],
            "access_token": args["token"],
            "app_secret": args["app_secret"],
            "phone_number_id": args["phone_number_id"],
            "waba_id": args["waba_id"],
            "test_mode": False,
            "rate_limit": args.get("rate_limit", 80),
        }
    )
    project = env["project.project"].create({"name": "Edificio Los Robles (bench)"})
    return config, project


def make_actions(env, project, count, label):
    """``count`` non-urgent actions (creating them queues nothing). Each bench message
    belongs to one of them, two messages per action (manager and assignee), as
    notifications do: the action's stored ``whatsapp_sent`` is recomputed from its
    messages whenever one changes state, so piling every message on one action would
    measure that recomputation instead of the queue."""
    deadline = fields.Date.today() + timedelta(days=3)
    return env["ofitec.next.action"].create(
        [
            {
                "name": "Revisar hormigonado losa piso 3 (%s %d)" % (label, i),
                "description": "El laboratorio reporta resistencia bajo lo especificado.",
                "action_type": "planned",
                "priority": "3",
                "category": "quality",
                "project_id": project.id,
                "deadline": deadline,
                "expected_benefits": "Evitar atraso de 2 semanas en la obra gruesa.",
            }
            for i in range(count)
        ]
    )
'''

SETUP_SCRIPT = r"""
config, project = setup_number(env, ARGS)
template = env["ofitec.whatsapp.template"]._get_by_code("urgent_action")
created = {}
Message = env["ofitec.whatsapp.message"]
now = fields.Datetime.now()
for group, count in ARGS.get("sent_messages", {}).items():
    base = ARGS["phone_bases"][group]
    actions = make_actions(env, project, (count + 1) // 2, group)
    vals_list = []
    for i in range(count):
        number = "+%d" % (base + i)
        action = actions[i // 2]
        vals_list.append(
            {
                "direction": "outbound",
                "state": "sent",
                "message_type": "template",
                "config_id": config.id,
                "company_id": config.company_id.id,
                "phone": number,
                "wa_id": number[1:],
                "whatsapp_message_id": "wamid.bench.%s.%d" % (group, i),
                "next_action_id": action.id,
                "template_id": template.id,
                "body": "bench",
                "sent_date": now,
            }
        )
    for start in range(0, len(vals_list), 500):
        Message.create(vals_list[start:start + 500])
    created[group] = count
env.cr.commit()
emit({"config_id": config.id, "project_id": project.id,
      "company_id": config.company_id.id, "sent_messages": created})
"""

QUEUE_RUN_SCRIPT = r"""
import urllib.request

from odoo.addons.ofitec_whatsapp.tools import ratelimit

# Record how long the token bucket makes the queue wait (acquire returns it).
limiter_waits = []
_original_acquire = ratelimit.TokenBucket.acquire


def _recording_acquire(bucket, tokens=1, timeout=None):
    waited = _original_acquire(bucket, tokens, timeout)
    limiter_waits.append(waited or 0.0)
    return waited


ratelimit.TokenBucket.acquire = _recording_acquire

Message = env["ofitec.whatsapp.message"]
config = env["ofitec.whatsapp.config"].browse(ARGS["config_id"])
project = env["project.project"].browse(ARGS["project_id"])
template = env["ofitec.whatsapp.template"]._get_by_code("urgent_action")


def queue_messages(label, base, count):
    numbers = ["+%d" % (base + i) for i in range(count)]
    actions = make_actions(env, project, (count + 1) // 2, label)
    partners = env["res.partner"].create(
        [{"name": "Bench %s %d" % (label, i), "mobile": n} for i, n in enumerate(numbers)]
    )
    vals_list = []
    for index, (partner, number) in enumerate(zip(partners, numbers)):
        action = actions[index // 2]
        prepared = action._prepare_whatsapp_message(partner)
        vals_list.append(
            {
                "direction": "outbound",
                "state": "queued",
                "config_id": config.id,
                "company_id": config.company_id.id,
                "partner_id": partner.id,
                "phone": number,
                "next_action_id": action.id,
                "template_id": template.id,
                "body": prepared["body"],
                "template_params": json.dumps(prepared["template_params"]),
            }
        )
    messages = Message.create(vals_list)
    env.cr.commit()
    return messages


# Warm-up in this process (registry, caches, HTTP session), untimed and unlimited.
config.rate_limit = 0
queue_messages(ARGS["label"] + " warm-up", ARGS["warmup_phone_base"], ARGS["warmup"])
Message._process_queue(time_budget=None)
env.cr.commit()
reset = urllib.request.Request(ARGS["fake_reset_url"], data=b"", method="POST")
urllib.request.urlopen(reset, timeout=10).read()

config.rate_limit = ARGS["rate_limit"]  # a new token bucket, full
messages = queue_messages(ARGS["label"], ARGS["phone_base"], ARGS["count"])
queued_before = Message.search_count([("state", "=", "queued"), ("direction", "=", "outbound")])
limiter_waits.clear()
wall_start = time.time()
started = time.monotonic()
handled = Message._process_queue(time_budget=None)
elapsed = time.monotonic() - started
wall_end = time.time()
env.cr.commit()
messages.invalidate_recordset()
states, kinds = {}, {}
for message in messages:
    states[message.state] = states.get(message.state, 0) + 1
    kinds[message.message_type or "-"] = kinds.get(message.message_type or "-", 0) + 1
errors = sorted({m.error_message for m in messages if m.error_message})[:5]
emit({"handled": handled, "elapsed": elapsed, "wall_start": wall_start, "wall_end": wall_end,
      "limiter_wait_s": sum(limiter_waits), "limiter_calls": len(limiter_waits),
      "queued_before": queued_before, "states": states, "types": kinds, "errors": errors,
      "contacts": env["ofitec.whatsapp.contact"].search_count([("config_id", "=", config.id)])})
"""

CREATE_SCRIPT = r'''
import requests.adapters
from odoo.modules.registry import Registry

network_calls = []
_original_send = requests.adapters.HTTPAdapter.send


def _counting_send(adapter, request, *args, **kwargs):
    network_calls.append(request.url)
    return _original_send(adapter, request, *args, **kwargs)


requests.adapters.HTTPAdapter.send = _counting_send

registries = {"ref": Registry(ARGS["ref_db"]), "wa": Registry(env.cr.dbname)}


def setup(name, registry):
    with registry.cursor() as cr:
        su = api.Environment(cr, odoo.SUPERUSER_ID, {})
        internal = su.ref("base.group_user")
        users = {}
        for login, label, mobile in (
            ("bench_manager", "María González (manager)", "+56 9 8765 4321"),
            ("bench_assignee", "Juan Pérez (assignee)", "+56 9 1234 5678"),
        ):
            users[login] = su["res.users"].with_context(no_reset_password=True).create(
                {"name": label, "login": login, "mobile": mobile,
                 "groups_id": [(6, 0, [internal.id])]}
            )
        project = su["project.project"].create(
            {"name": "Edificio Los Robles (bench)", "user_id": users["bench_manager"].id}
        )
        config_id = False
        if name == "wa":
            Config = su["ofitec.whatsapp.config"].with_context(active_test=False)
            Config.search([]).write({"active": False})
            config_id = Config.create(
                {
                    "name": "Bench number (nowhere)",
                    "api_base_url": ARGS["api_base_url"],
                    "access_token": "bench-token",
                    "app_secret": "bench-secret",
                    "phone_number_id": ARGS["phone_number_id"],
                    "test_mode": False,
                }
            ).id
        admin = su.ref("base.user_admin")
        return {
            "project_id": project.id,
            "assignee_id": users["bench_assignee"].id,
            "uid": admin.id,
            "context": admin.context_get(),
            "config_id": config_id,
        }


setups = {name: setup(name, registry) for name, registry in registries.items()}
deadline = str(fields.Date.today() + timedelta(days=2))


def create_one(name, index):
    """One urgent action in its own transaction, as the admin user; (seconds, queries)."""
    info = setups[name]
    started = time.perf_counter()
    with registries[name].cursor() as cr:
        env_user = api.Environment(cr, info["uid"], dict(info["context"]))
        env_user["ofitec.next.action"].create(
            {
                "name": "Bench urgent action %d" % index,
                "description": "Grieta en muro de contención, eje B.",
                "action_type": "urgent",
                "priority": "1",
                "category": "risk",
                "project_id": info["project_id"],
                "user_id": info["assignee_id"],
                "deadline": deadline,
                "expected_benefits": "Evitar paralización de la obra.",
            }
        )
        cr.commit()
        queries = cr.sql_log_count
    return time.perf_counter() - started, queries


times = {"ref": [], "wa": []}
queries = {"ref": [], "wa": []}
warmup, count = ARGS["warmup"], ARGS["count"]
time_limit = time.monotonic() + ARGS["max_seconds"]
calls_before = 0
for index in range(warmup + count):
    if time.monotonic() > time_limit:
        break
    if index == warmup:
        calls_before = len(network_calls)
    # Alternate which database goes first, so background load hits both alike.
    order = ("ref", "wa") if index % 2 == 0 else ("wa", "ref")
    for name in order:
        elapsed, nqueries = create_one(name, index)
        if index >= warmup:
            times[name].append(elapsed)
            queries[name].append(nqueries)

with registries["wa"].cursor() as cr:
    su = api.Environment(cr, odoo.SUPERUSER_ID, {})
    actions = su["ofitec.next.action"].search([("name", "like", "Bench urgent action %")])
    msgs = su["ofitec.whatsapp.message"].search([("next_action_id", "in", actions.ids)])
    wa_check = {
        "actions": len(actions),
        "notified": len(actions.filtered("whatsapp_notified")),
        "messages": len(msgs),
        "queued": len(msgs.filtered(lambda m: m.state == "queued")),
    }
emit({"times": times, "queries": queries, "network_calls": len(network_calls),
      "network_calls_timed": len(network_calls) - calls_before, "wa_check": wa_check})
'''


BURST_PROFILE_SCRIPT = r"""
Message = env["ofitec.whatsapp.message"]
messages = Message.search([("whatsapp_message_id", "=like", ARGS["pattern"])])
env["ofitec.whatsapp.status"].search(
    [("whatsapp_message_id", "=like", ARGS["pattern"])]
).unlink()
messages.write({"state": "sent", "delivered_date": False})
Event = env["ofitec.whatsapp.webhook.event"]
Event.search([("state", "=", "received")]).write({"state": "processed"})
event = Event.create({"config_id": ARGS["config_id"], "payload": ARGS["payload"]})
env.cr.commit()
queries_before = env.cr.sql_log_count
started = time.monotonic()
Event._process_pending()
elapsed = time.monotonic() - started
queries = env.cr.sql_log_count - queries_before
env.cr.commit()
messages.invalidate_recordset()
emit({"elapsed": elapsed, "queries": queries, "event_state": event.state,
      "delivered": len(messages.filtered(lambda m: m.state == "delivered"))})
"""


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
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("the fake Graph server exited at start")
        try:
            fake_graph_call(port, "GET", "/__stats")
            return proc
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("the fake Graph server did not answer in 20 s")


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
        f"--db-filter=^{db}$",
        "--workers=2",
        "--max-cron-threads=1",
        "--http-interface=127.0.0.1",
        f"--http-port={port}",
        f"--gevent-port={port + 1}",
        "--without-demo=all",
    ]
    proc = runner.start(
        command, stdout=subprocess.DEVNULL, stderr=open(runner.log_path("odoo_server.stderr"), "a")
    )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"Odoo exited at start (see {runner.log_path(log)})")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/web/health")
            response = conn.getresponse()
            response.read()
            conn.close()
            if response.status == 200:
                return proc
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError("Odoo did not answer /web/health in 180 s")


# ---------------------------------------------------------------------------
# HTTP load client
# ---------------------------------------------------------------------------


class NoDelayHTTPConnection(http.client.HTTPConnection):
    """http.client sends a request's headers and body in two writes: with Nagle on, the
    body waits for the server's delayed ACK of the headers (about 40 ms on Linux), a
    cost of the client that would be charged to every POST. Turn Nagle off."""

    def connect(self):
        super().connect()
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def run_load(port, requests_by_thread, max_seconds):
    """Send each thread's list of (method, path, body, headers) over one keep-alive
    http.client connection (reopened when the server closes it).

    Returns (elapsed seconds, latencies, status counts, errors)."""
    latencies = []
    statuses = {}
    errors = []
    lock = threading.Lock()
    start_gate = threading.Event()
    deadline_holder = {}

    def worker(items):
        conn = NoDelayHTTPConnection("127.0.0.1", port, timeout=30)
        local_lat, local_status, local_err = [], {}, []
        start_gate.wait()
        for method, path, body, headers in items:
            if time.monotonic() > deadline_holder["deadline"]:
                local_err.append("time limit reached")
                break
            began = time.perf_counter()
            try:
                conn.request(method, path, body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException) as error:
                local_err.append(f"{type(error).__name__}: {error}")
                conn.close()
                conn = NoDelayHTTPConnection("127.0.0.1", port, timeout=30)
                continue
            local_lat.append(time.perf_counter() - began)
            local_status[status] = local_status.get(status, 0) + 1
        conn.close()
        with lock:
            latencies.extend(local_lat)
            errors.extend(local_err)
            for status, count in local_status.items():
                statuses[status] = statuses.get(status, 0) + count

    threads = [
        threading.Thread(target=worker, args=(items,), daemon=True) for items in requests_by_thread
    ]
    for thread in threads:
        thread.start()
    started = time.perf_counter()
    deadline_holder["deadline"] = time.monotonic() + max_seconds
    start_gate.set()
    for thread in threads:
        thread.join(max_seconds + 60)
    elapsed = time.perf_counter() - started
    return elapsed, latencies, statuses, errors


def status_payload(wamids_and_recipients, status="delivered"):
    timestamp = str(int(time.time()))
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": WABA_ID,
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": "56223456789",
                                "phone_number_id": PHONE_NUMBER_ID,
                            },
                            "statuses": [
                                {
                                    "id": wamid,
                                    "status": status,
                                    "timestamp": timestamp,
                                    "recipient_id": recipient,
                                    "pricing": {
                                        "billable": True,
                                        "pricing_model": "PMP",
                                        "category": "utility",
                                    },
                                }
                                for wamid, recipient in wamids_and_recipients
                            ],
                        },
                    }
                ],
            }
        ],
    }


# ---------------------------------------------------------------------------
# Benchmarks
# ---------------------------------------------------------------------------


class Benchmarks:
    def __init__(self, runner, options):
        self.runner = runner
        self.options = options
        self.figures = {}  # bench -> dict of figures
        self.lines = []  # the final summary
        self.template_db = f"{runner.prefix}_wa"
        self.ref_db = f"{runner.prefix}_ref"
        self._templates_ready = set()

    def note(self, text):
        say("  " + text)
        self.lines.append(text)

    def ensure_template(self, kind):
        if kind in self._templates_ready:
            return
        if kind == "wa":
            self.runner.install(self.template_db, "ofitec_whatsapp")
        else:
            self.runner.install(self.ref_db, "ofitec_next_action")
        self._templates_ready.add(kind)

    # -- (a) -------------------------------------------------------------------

    def bench_queue(self):
        options = self.options
        section(
            f"(a) Queue drain: {options.queue_size} queued notifications against the fake Graph API"
        )
        self.ensure_template("wa")
        db = f"{self.runner.prefix}_queue"
        self.runner.clone(self.template_db, db)
        port = pick_ports(18610, 18619)
        token = "bench-token-a"
        log_file = self.runner.log_path("fake_graph_queue.jsonl")
        start_fake_graph(self.runner, port, token, log_file)
        setup = self.runner.shell(
            db,
            SETUP_SCRIPT,
            {
                "send_cron_active": False,  # nothing but this script drains the queue
                "api_base_url": f"http://127.0.0.1:{port}",
                "token": token,
                "app_secret": "bench-secret-a",
                "phone_number_id": PHONE_NUMBER_ID,
                "waba_id": WABA_ID,
            },
            "queue_setup",
        )
        say(
            f"  database {db}, fake Graph API on 127.0.0.1:{port}; the send cron is "
            "deactivated, _process_queue(time_budget=None) runs in `odoo shell`"
        )
        say(
            "  path: no contact has an open 24-hour window, so every message goes out as "
            "the approved template 'ofitec_urgent_action' (6 parameters, 3 quick replies)"
        )
        runs = [("limited", options.rate_limit, 56971000000), ("unlimited", 0, 56972000000)]
        figures = {}
        for label, rate, phone_base in runs:
            result = self.runner.shell(
                db,
                QUEUE_RUN_SCRIPT,
                {
                    "config_id": setup["config_id"],
                    "project_id": setup["project_id"],
                    "rate_limit": rate,
                    "count": options.queue_size,
                    "phone_base": phone_base,
                    "warmup": 50,
                    "warmup_phone_base": phone_base + 500000,
                    "fake_reset_url": f"http://127.0.0.1:{port}/__reset",
                    "label": label,
                },
                f"queue_{label}",
                timeout=1800,
            )
            stats = fake_graph_call(port, "GET", "/__stats")
            sends = self._send_times(log_file, result["wall_start"], result["wall_end"])
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
            say(
                f"  rate_limit={rate}: handled {result['handled']} in {elapsed:.2f} s "
                f"-> {rate_measured:.1f} msg/s; states {result['states']}; types "
                f"{result['types']}; fake server got {stats['sends']} sends; the rate "
                f"limiter made the queue wait {result['limiter_wait_s']:.2f} s in all"
            )
            if result["errors"]:
                say(f"  !! errors: {result['errors']}")
            if rate:
                burst = rate  # the token bucket starts full: one second of tokens
                if len(sends) > burst + 1:
                    steady = (len(sends) - 1 - burst) / (sends[-1] - sends[burst])
                    entry["steady_msgs_per_s"] = steady
                entry["ratio_to_limit"] = rate_measured / rate
            figures[label] = entry
        limited, unlimited = figures["limited"], figures["unlimited"]
        rate = options.rate_limit
        self.figures["queue"] = figures
        self.note(
            f"(a) queue, rate_limit={rate}: {limited['handled']} messages in "
            f"{limited['elapsed_s']:.2f} s = {limited['msgs_per_s']:.1f} msg/s, "
            f"{limited['ratio_to_limit']:.2f}x the {rate}/s limit "
            f"(target 0.90-1.10x); the limiter waited {limited['limiter_wait_s']:.2f} s"
        )
        if "steady_msgs_per_s" in limited:
            self.note(
                f"    after the initial one-second burst of {rate} tokens: "
                f"{limited['steady_msgs_per_s']:.1f} msg/s "
                f"({limited['steady_msgs_per_s'] / rate:.2f}x the limit)"
            )
        self.note(
            f"(a) queue, rate_limit=0 (raw capacity): {unlimited['handled']} messages in "
            f"{unlimited['elapsed_s']:.2f} s = {unlimited['msgs_per_s']:.1f} msg/s "
            f"({unlimited['msgs_per_s'] / rate:.2f}x the {rate}/s limit)"
        )
        if unlimited["msgs_per_s"] < rate * 1.1:
            self.note(
                f"    note: the raw capacity measured now ({unlimited['msgs_per_s']:.1f} msg/s) "
                f"is not clearly above {rate}/s, so the limited run shows this machine's "
                "capacity rather than the rate limiter"
            )
        for label in ("limited", "unlimited"):
            entry = figures[label]
            if entry["states"].get("sent", 0) != entry["handled"]:
                self.note(f"    !! {label}: not all messages went to 'sent': {entry['states']}")

    @staticmethod
    def _send_times(log_file, wall_start, wall_end):
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

    # -- (b) -------------------------------------------------------------------

    def bench_create(self):
        options = self.options
        section(
            f"(b) Creating urgent actions: {options.actions} actions, one transaction each, "
            "reference module alone vs with ofitec_whatsapp"
        )
        self.ensure_template("wa")
        self.ensure_template("ref")
        db = f"{self.runner.prefix}_create"
        self.runner.clone(self.template_db, db)
        nowhere = pick_ports(18640, 18649)  # nothing listens there
        say(
            f"  databases {self.ref_db} (ofitec_next_action only) and {db} (with "
            f"ofitec_whatsapp; active number in test_mode False -> http://127.0.0.1:{nowhere}, "
            "where nothing listens)"
        )
        say(
            f"  warm-up {options.warmup} actions per database, then {options.actions} timed; "
            "the two databases alternate, one process, admin user, commit per action"
        )
        result = self.runner.shell(
            db,
            CREATE_SCRIPT,
            {
                "ref_db": self.ref_db,
                "api_base_url": f"http://127.0.0.1:{nowhere}",
                "phone_number_id": PHONE_NUMBER_ID,
                "warmup": options.warmup,
                "count": options.actions,
                "max_seconds": options.max_seconds,
            },
            "create",
            timeout=options.max_seconds + 600,
        )
        ref = describe(result["times"]["ref"])
        wa = describe(result["times"]["wa"])
        qref = statistics.fmean(result["queries"]["ref"]) if result["queries"]["ref"] else 0
        qwa = statistics.fmean(result["queries"]["wa"]) if result["queries"]["wa"] else 0
        figures = {
            "ref": ref,
            "wa": wa,
            "ratio_mean": wa["mean"] / ref["mean"],
            "ratio_median": wa["median"] / ref["median"],
            "queries_ref": qref,
            "queries_wa": qwa,
            "network_calls": result["network_calls"],
            "wa_check": result["wa_check"],
        }
        self.figures["create"] = figures
        for name, stats in (("reference alone", ref), ("with ofitec_whatsapp", wa)):
            say(
                f"  {name:22s}: n={stats['n']} mean {fmt_ms(stats['mean'])}, median "
                f"{fmt_ms(stats['median'])}, p90 {fmt_ms(stats['p90'])}, min "
                f"{fmt_ms(stats['min'])}"
            )
        say(f"  SQL queries per action: {qref:.1f} -> {qwa:.1f}")
        say(
            f"  check: {result['wa_check']}; HTTP calls made by the process: "
            f"{result['network_calls']}"
        )
        self.note(
            f"(b) create urgent action: reference {fmt_ms(ref['median'])} median / "
            f"{fmt_ms(ref['mean'])} mean; with ofitec_whatsapp {fmt_ms(wa['median'])} "
            f"median / {fmt_ms(wa['mean'])} mean; ratio {figures['ratio_median']:.2f}x "
            f"(median), {figures['ratio_mean']:.2f}x (mean) (target <= 1.3x); "
            f"SQL queries {qref:.0f} -> {qwa:.0f}; network calls {result['network_calls']}"
        )
        check = result["wa_check"]
        expected = 2 * check["actions"]
        if check["queued"] != expected or check["notified"] != check["actions"]:
            self.note(
                f"    !! expected {expected} queued messages and every action notified: {check}"
            )

    # -- (c) and (d) -------------------------------------------------------------

    def bench_http(self, run_webhook, run_burst):
        options = self.options
        self.ensure_template("wa")
        db = f"{self.runner.prefix}_http"
        self.runner.clone(self.template_db, db)
        port = pick_ports(18620, 18639, count=2)
        secret = "bench-app-secret-c"
        threads, per_thread = options.threads, options.requests
        sent_messages, phone_bases = {}, {}
        if run_webhook:
            sent_messages.update(
                {
                    "warm": threads * 4,
                    "c": threads * per_thread,
                    "paused": threads * (per_thread // 2),
                }
            )
            phone_bases.update({"warm": 56973000000, "c": 56974000000, "paused": 56976000000})
        if run_burst:
            sent_messages["d"] = options.burst_size
            phone_bases["d"] = 56975000000
        nowhere = pick_ports(18640, 18649)  # never called: statuses send nothing
        say(f"  preparing {db}: {sum(sent_messages.values())} sent messages with wamids")
        self.runner.shell(
            db,
            SETUP_SCRIPT,
            {
                "send_cron_active": True,
                "api_base_url": f"http://127.0.0.1:{nowhere}",
                "token": "bench-token-c",
                "app_secret": secret,
                "phone_number_id": PHONE_NUMBER_ID,
                "waba_id": WABA_ID,
                "sent_messages": sent_messages,
                "phone_bases": phone_bases,
            },
            "http_setup",
        )
        config_id = self._config_id(db)
        server = start_odoo_server(self.runner, db, port)
        say(
            f"  Odoo on 127.0.0.1:{port} (--workers=2 --max-cron-threads=1), webhook "
            f"/webhooks/whatsapp/{config_id}"
        )
        signature = load_signature_module()
        try:
            if run_webhook:
                section(
                    f"(c) Webhook ingestion: {threads} threads x {per_thread} signed status "
                    "POSTs vs GET /web/health"
                )
                self._bench_webhook(db, port, config_id, secret, signature, phone_bases)
            if run_burst:
                section(
                    f"(d) One POST with {options.burst_size} statuses: time until all are "
                    "applied, peak RSS of the workers"
                )
                self._bench_burst(db, port, config_id, secret, signature, server, phone_bases["d"])
        finally:
            self.runner.stop(server)
        if run_burst and "burst" in self.figures:
            self._burst_in_process(db, config_id, phone_bases["d"])
        errors = self.runner.log_errors("odoo_server.log")
        if errors:
            self.note(
                f"    !! {len(errors)} ERROR line(s) in the Odoo server log, e.g. {errors[0][:300]}"
            )

    def _config_id(self, db):
        conn = self.runner.pg(db)
        try:
            with conn.cursor() as cr:
                cr.execute("SELECT id FROM ofitec_whatsapp_config WHERE active ORDER BY id")
                return cr.fetchone()[0]
        finally:
            conn.close()

    def _query(self, db, sql, params=()):
        conn = self.runner.pg(db)
        try:
            with conn.cursor() as cr:
                cr.execute(sql, params)
                return cr.fetchone()[0]
        finally:
            conn.close()

    def _wait_backlog(self, db, limit=300.0):
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

    def _bench_webhook(self, db, port, config_id, secret, signature, phone_bases):
        options = self.options
        threads, per_thread = options.threads, options.requests
        path = f"/webhooks/whatsapp/{config_id}"

        def webhook_items(group, start, count):
            items = []
            base = phone_bases[group]
            for i in range(start, start + count):
                body = json.dumps(
                    status_payload([(f"wamid.bench.{group}.{i}", str(base + i))])
                ).encode()
                headers = {
                    "Content-Type": "application/json",
                    "X-Hub-Signature-256": signature.meta_signature_header(secret, body),
                    "Connection": "keep-alive",
                }
                items.append(("POST", path, body, headers))
            return items

        def health_items(count):
            return [("GET", "/web/health", None, {"Connection": "keep-alive"})] * count

        # Warm-up: every worker loads its caches before anything is timed.
        warm = threads * 4
        run_load(port, [webhook_items("warm", t * 4, 4) for t in range(threads)], 120)
        run_load(port, [health_items(4) for _ in range(threads)], 60)
        self._wait_backlog(db)
        # ABBA: floor, webhooks, webhooks, floor (half of the requests per pass), so
        # that a drift of the background load hits both alike.
        half = [per_thread // 2, per_thread - per_thread // 2]
        measures = {"health": [], "webhook": []}
        next_index = [0] * threads
        lag = []
        for kind, share in (("health", 0), ("webhook", 0), ("webhook", 1), ("health", 1)):
            count = half[share]
            if kind == "health":
                drained = self._wait_backlog(db)  # the floor runs without cron work behind
                items = [health_items(count) for _ in range(threads)]
            else:
                items = []
                for t in range(threads):
                    items.append(webhook_items("c", t * per_thread + next_index[t], count))
                    next_index[t] += count
            result = run_load(port, items, options.max_seconds)
            measures[kind].append(result)
            if kind == "webhook":
                drained = self._wait_backlog(db)
                lag.append(drained)
        figures = {}
        for kind in ("health", "webhook"):
            elapsed = sum(r[0] for r in measures[kind])
            latencies = [x for r in measures[kind] for x in r[1]]
            statuses = {}
            for r in measures[kind]:
                for status, count in r[2].items():
                    statuses[str(status)] = statuses.get(str(status), 0) + count
            errors = [e for r in measures[kind] for e in r[3]]
            figures[kind] = {
                "requests": len(latencies),
                "elapsed_s": elapsed,
                "rps": len(latencies) / elapsed if elapsed else float("nan"),
                "p50_ms": percentile(latencies, 0.5) * 1000,
                "p99_ms": percentile(latencies, 0.99) * 1000,
                "statuses": statuses,
                "errors": len(errors),
                "error_sample": errors[:3],
            }
        hook, floor = figures["webhook"], figures["health"]
        ratio = hook["rps"] / floor["rps"]
        processed = self._query(
            db, "SELECT count(*) FROM ofitec_whatsapp_webhook_event WHERE state = 'processed'"
        )
        failed_events = self._query(
            db, "SELECT count(*) FROM ofitec_whatsapp_webhook_event WHERE state = 'failed'"
        )
        delivered = self._query(
            db,
            "SELECT count(*) FROM ofitec_whatsapp_message WHERE state = 'delivered' "
            "AND whatsapp_message_id LIKE 'wamid.bench.c.%%'",
        )
        figures.update(
            ratio=ratio,
            processed_events=processed,
            failed_events=failed_events,
            delivered=delivered,
            cron_lag_s=lag,
            warmup_posts=warm,
        )
        self.figures["webhook"] = figures
        for name, item in (("GET /web/health", floor), ("POST webhook", hook)):
            say(
                f"  {name:16s}: {item['requests']} requests in {item['elapsed_s']:.2f} s = "
                f"{item['rps']:.1f} req/s, p50 {item['p50_ms']:.1f} ms, p99 "
                f"{item['p99_ms']:.1f} ms, statuses {item['statuses']}, errors "
                f"{item['errors']} {item['error_sample'] or ''}"
            )
        lag_text = ", ".join("-" if x is None else f"{x:.1f} s" for x in lag)
        say(
            f"  cron: events processed {processed} (failed {failed_events}), messages "
            f"delivered {delivered}/{threads * per_thread}; backlog left after each webhook "
            f"pass drained in {lag_text}"
        )
        all_ok = (
            hook["statuses"] == {"200": hook["requests"]}
            and not hook["errors"]
            and hook["requests"] == threads * per_thread
        )
        self.note(
            f"(c) webhook: {hook['rps']:.1f} req/s (p50 {hook['p50_ms']:.1f} ms, p99 "
            f"{hook['p99_ms']:.1f} ms) vs /web/health floor {floor['rps']:.1f} req/s "
            f"(p50 {floor['p50_ms']:.1f} ms, p99 {floor['p99_ms']:.1f} ms): "
            f"{ratio * 100:.0f}% of the floor (target >= 50%); "
            f"all {hook['requests']} answers 200: {'yes' if all_ok else 'NO'}"
        )
        self.note(
            f"    statuses applied by the cron: {delivered}/{threads * per_thread}, "
            f"events failed {failed_events}; cron backlog after the passes drained in "
            f"{lag_text}"
        )
        if not all_ok:
            self.note(f"    !! webhook answers: {hook['statuses']}, errors {hook['error_sample']}")
        self._webhook_cron_paused(db, port, threads, per_thread // 2, webhook_items, floor)

    def _webhook_cron_paused(self, db, port, threads, count, webhook_items, floor):
        """Diagnostic: one more webhook pass with the processing cron paused, which splits
        the route's own cost from the competition of the cron applying statuses meanwhile
        (on a 2-core machine they share the CPUs and PostgreSQL)."""
        conn = self.runner.pg(db)
        try:
            with conn.cursor() as cr:
                cr.execute(
                    "SELECT res_id FROM ir_model_data WHERE module = 'ofitec_whatsapp' "
                    "AND name = 'ir_cron_whatsapp_process_webhooks'"
                )
                cron_id = cr.fetchone()[0]
                self._wait_backlog(db)
                cr.execute("UPDATE ir_cron SET active = false WHERE id = %s", (cron_id,))
                try:
                    items = [webhook_items("paused", t * count, count) for t in range(threads)]
                    elapsed, latencies, statuses, errors = run_load(
                        port, items, self.options.max_seconds
                    )
                finally:
                    # Back on, and woken as _trigger() would (the triggers of the pass
                    # were skipped while the cron was inactive).
                    cr.execute("UPDATE ir_cron SET active = true WHERE id = %s", (cron_id,))
                    cr.execute(
                        "INSERT INTO ir_cron_trigger (cron_id, call_at, create_date, write_date)"
                        " VALUES (%s, now() at time zone 'UTC', now() at time zone 'UTC',"
                        " now() at time zone 'UTC')",
                        (cron_id,),
                    )
        finally:
            conn.close()
        # Cron workers LISTEN on the 'postgres' database (see ir.cron._notifydb).
        conn = self.runner.pg("postgres")
        try:
            with conn.cursor() as cr:
                cr.execute("NOTIFY cron_trigger, %s", (db,))
        finally:
            conn.close()
        drained = self._wait_backlog(db)
        rps = len(latencies) / elapsed if elapsed else float("nan")
        paused = {
            "requests": len(latencies),
            "rps": rps,
            "p50_ms": percentile(latencies, 0.5) * 1000,
            "p99_ms": percentile(latencies, 0.99) * 1000,
            "statuses": {str(k): v for k, v in statuses.items()},
            "errors": len(errors),
            "ratio": rps / floor["rps"],
            "backlog_drained_s": drained,
        }
        self.figures["webhook"]["cron_paused"] = paused
        drained_text = "-" if drained is None else f"{drained:.1f} s"
        say(
            f"  diagnostic, processing cron paused: {paused['requests']} POSTs = {rps:.1f} "
            f"req/s, p50 {paused['p50_ms']:.1f} ms, p99 {paused['p99_ms']:.1f} ms, statuses "
            f"{paused['statuses']}; their backlog then applied in {drained_text}"
        )
        self.note(
            f"    diagnostic, same POSTs with the processing cron paused: {rps:.1f} req/s "
            f"(p50 {paused['p50_ms']:.1f} ms) = {paused['ratio'] * 100:.0f}% of the floor; "
            f"the {paused['requests']} events queued meanwhile were applied in {drained_text}"
        )

    def _bench_burst(self, db, port, config_id, secret, signature, server, phone_base):
        import psutil

        size = self.options.burst_size
        self._wait_backlog(db)
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
        conn_db = self.runner.pg(db)
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
                while time.perf_counter() - started < self.options.max_seconds:
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
        self.figures["burst"] = figures
        say(
            f"  payload {len(body) / 1024:.0f} KiB, answer HTTP {response.status} in "
            f"{answered * 1000:.0f} ms"
        )
        limit = self.options.max_seconds
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
        self.note(
            f"(d) burst: 1 POST of {size} statuses answered {response.status} in "
            f"{answered * 1000:.0f} ms; all applied after {applied_text} (target < 2 s; "
            f"cron pick-up after {pickup}); "
            f"peak RSS of the cron worker {figures['cron_worker_peak_rss_mib'] or 0:.0f} MiB "
            f"(from {figures['cron_worker_baseline_rss_mib'] or 0:.0f}, "
            f"{figures['cron_worker_cpu_s'] or 0:.1f} s CPU), largest child "
            f"{figures['peak_worker_rss_mib'] or 0:.0f} MiB, all {len(peak_proc)} children "
            f"{figures['peak_total_rss_mib']:.0f} MiB peak"
        )

    def _burst_in_process(self, db, config_id, phone_base):
        """The same 1,000-status event processed again in `odoo shell` (server stopped):
        its processing time alone and its SQL query count, which noise does not change."""
        size = self.options.burst_size
        payload = status_payload([(f"wamid.bench.d.{i}", str(phone_base + i)) for i in range(size)])
        result = self.runner.shell(
            db,
            BURST_PROFILE_SCRIPT,
            {
                "config_id": config_id,
                "payload": json.dumps(payload),
                "pattern": "wamid.bench.d.%",
            },
            "burst_profile",
            timeout=self.options.max_seconds + 300,
        )
        figures = self.figures["burst"]
        figures["in_process"] = result
        per_status = result["queries"] / size
        say(
            f"  same event processed in `odoo shell` (no server): {result['elapsed']:.2f} s, "
            f"{result['queries']} SQL queries ({per_status:.2f} per status), "
            f"{result['delivered']}/{size} delivered"
        )
        self.note(
            f"    processing alone (odoo shell, server stopped): {result['elapsed']:.2f} s "
            f"and {result['queries']} SQL queries = {per_status:.2f} per status"
        )

    # -- driver ----------------------------------------------------------------

    def run(self, selected):
        results = {}
        if "queue" in selected:
            results["queue"] = self._guard("(a) queue", self.bench_queue)
        if "create" in selected:
            results["create"] = self._guard("(b) create", self.bench_create)
        run_webhook, run_burst = "webhook" in selected, "burst" in selected
        if run_webhook or run_burst:
            section("(c)/(d) Starting Odoo with --workers=2 --max-cron-threads=1")
            results["http"] = self._guard(
                "(c)/(d) webhook/burst", lambda: self.bench_http(run_webhook, run_burst)
            )
        return results

    def _guard(self, label, func):
        try:
            func()
            return True
        except Exception as error:  # one bench failing must not hide the others' figures
            self.runner.failed = True
            say(f"  !! {label} failed: {error}")
            traceback.print_exc()
            first = str(error).splitlines()[0] if str(error) else repr(error)
            self.lines.append(f"!! {label} failed: {first}")
            return False


# ---------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Benchmarks of ofitec_whatsapp on Odoo 16 (queue drain, action creation "
        "cost, webhook ingestion, status burst). Prints figures; asserts nothing.",
    )
    parser.add_argument(
        "--only",
        default=",".join(ALL_BENCHES),
        help="comma-separated benches among queue,create,webhook,burst (or a,b,c,d); default: all",
    )
    parser.add_argument(
        "--odoo",
        default=os.environ.get("ODOO_BIN") or shutil.which("odoo"),
        help="the Odoo 16 command (default: 'odoo' on PATH)",
    )
    parser.add_argument(
        "--python",
        default="",
        help="the Python that runs Odoo (default: read from the odoo command)",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the databases and the work folder"
    )
    parser.add_argument("--workdir", default="", help="work folder (default: a new temp folder)")
    parser.add_argument("--queue-size", type=int, default=1000, help="(a) messages per run")
    parser.add_argument("--rate-limit", type=int, default=80, help="(a) limited run's rate")
    parser.add_argument("--actions", type=int, default=300, help="(b) timed actions per database")
    parser.add_argument("--warmup", type=int, default=20, help="(b) warm-up actions per database")
    parser.add_argument("--threads", type=int, default=8, help="(c) client threads")
    parser.add_argument(
        "--requests",
        type=int,
        default=150,
        help="(c) requests per thread, for each of the two routes",
    )
    parser.add_argument("--burst-size", type=int, default=1000, help="(d) statuses in the POST")
    parser.add_argument(
        "--max-seconds", type=float, default=600, help="time limit of each timed loop (default 600)"
    )
    parser.add_argument("--json", default="", help="also write the figures to this JSON file")
    options = parser.parse_args(argv)
    selected = []
    for name in options.only.split(","):
        name = ALIASES.get(name.strip(), name.strip())
        if name not in ALL_BENCHES:
            parser.error(f"unknown bench {name!r}")
        if name not in selected:
            selected.append(name)
    options.selected = selected
    for name in ("queue_size", "actions", "threads", "requests", "burst_size"):
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
    bench = Benchmarks(runner, options)
    started = time.monotonic()
    try:
        bench.run(options.selected)
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
    for line in bench.lines:
        say(line)
    if options.json:
        with open(options.json, "w", encoding="utf-8") as handle:
            json.dump(bench.figures, handle, indent=2, default=str)
        say(f"figures written to {options.json}")
    return 1 if runner.failed else 0


if __name__ == "__main__":
    sys.exit(main())
