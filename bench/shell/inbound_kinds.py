"""(inbound) the cost of one inbound text by kind: texts of one kind stored as events,
then processed by the cron's method in this process (batches as the cron takes them),
SQL queries and time per event.

Each round uses fresh senders, each sent a notification about its own pending action
(their contact made when the send was recorded, as the send loop does): their OK moves
it, a second OK finds it in progress, COMPLETADO completes it, a plain text gets the
help, the first OK again is a redelivery, and an OK from a number nobody wrote to
changes nothing (a new contact, welcomed).

``args``: ``config_id``, ``phone_base`` (a round adds ``2 * senders``), ``senders``,
``rounds``, ``sql_log`` (keep the statements of the first round's first event of each
kind), ``project_id`` (optional: a project of its own otherwise).
"""

import json
import time

from httpload import inbound_text_payload as _payload  # the bench folder is on sys.path

from odoo import fields

from .common import make_actions

KINDS = (
    ("ok_moves", "OK"),
    ("ok_again", "OK"),
    ("completed", "COMPLETADO"),
    ("text", "Gracias, quedo atento"),
    ("redelivered", None),  # the wamids of ok_moves again
    ("stranger", "OK"),
)


def _senders(env, config, project, base, count, label):
    """``count`` numbers, each sent a notification about its own pending action."""
    actions = make_actions(env, project, count, label)
    template = env["ofitec.whatsapp.template"]._get_by_code("urgent_action")
    now = fields.Datetime.now()
    numbers = [str(base + i) for i in range(count)]
    env["ofitec.whatsapp.message"].create(
        [
            {
                "direction": "outbound",
                "state": "sent",
                "message_type": "template",
                "config_id": config.id,
                "company_id": config.company_id.id,
                "phone": f"+{number}",
                "wa_id": number,
                "whatsapp_message_id": f"wamid.kinds.out.{label}.{i}",
                "next_action_id": action.id,
                "template_id": template.id,
                "body": "bench",
                "sent_date": now,
            }
            for i, (number, action) in enumerate(zip(numbers, actions, strict=True))
        ]
    )
    env["ofitec.whatsapp.contact"].create(
        [{"config_id": config.id, "wa_id": number, "phone": f"+{number}"} for number in numbers]
    )
    env.cr.commit()
    return numbers


class _SqlLog:
    """Records the statements run on ``cr`` while on."""

    def __init__(self, cr):
        self.cr = cr
        self.original = cr.execute
        self.statements = []

    def __enter__(self):
        def execute(query, params=None, log_exceptions=True):
            self.statements.append(" ".join(str(query).split())[:300])
            return self.original(query, params, log_exceptions)

        self.cr.execute = execute
        return self

    def __exit__(self, *exc):
        del self.cr.execute


def _process(env, config, payloads, sql_log):
    Event = env["ofitec.whatsapp.webhook.event"]
    for payload in payloads:
        Event._store(config, json.dumps(payload).encode())
    env.cr.commit()
    statements = []
    queries = env.cr.sql_log_count
    cpu, wall = time.process_time(), time.monotonic()
    handled = 0
    if sql_log:
        with _SqlLog(env.cr) as log:
            handled = Event._process_pending(limit=1, helper=True)
        statements = log.statements
    while handled < len(payloads):
        # helper: no idle linger at the end (wall time is the work's)
        got = Event._process_pending(limit=len(payloads) - handled, helper=True)
        if not got:
            break
        handled += got
    cpu, wall = time.process_time() - cpu, time.monotonic() - wall
    queries = env.cr.sql_log_count - queries
    env.cr.commit()
    return handled, queries, cpu, wall, statements


def run(env, args):
    config = env["ofitec.whatsapp.config"].browse(args["config_id"])
    Project = env["project.project"]
    if args.get("project_id"):
        project = Project.browse(args["project_id"])
    else:
        project = Project.create({"name": "Obra por tipo de texto (bench)"})
    count = args["senders"]
    env["ofitec.whatsapp.webhook.event"].search([("state", "=", "received")]).write(
        {"state": "processed"}
    )
    env.cr.commit()
    figures = {kind: {"events": 0, "queries": 0, "cpu": 0.0, "wall": 0.0} for kind, _t in KINDS}
    sql = {}
    stamp = int(time.time() * 1000)
    for rnd in range(args["rounds"]):
        base = args["phone_base"] + rnd * 2 * count
        label = f"{stamp}.{rnd}"
        numbers = _senders(env, config, project, base, count, label)
        strangers = [str(base + count + i) for i in range(count)]
        for kind, text in KINDS:
            if kind == "redelivered":
                payloads = [
                    _payload(f"wamid.kinds.{label}.ok_moves.{i}", n, "OK")
                    for i, n in enumerate(numbers)
                ]
            else:
                who = strangers if kind == "stranger" else numbers
                payloads = [
                    _payload(f"wamid.kinds.{label}.{kind}.{i}", n, text) for i, n in enumerate(who)
                ]
            handled, queries, cpu, wall, statements = _process(
                env, config, payloads, args.get("sql_log") and rnd == 0
            )
            entry = figures[kind]
            entry["events"] += handled
            entry["queries"] += queries
            entry["cpu"] += cpu
            entry["wall"] += wall
            if statements:
                sql[kind] = statements
    for entry in figures.values():
        events = max(entry["events"], 1)
        entry.update(
            queries_per_event=entry["queries"] / events,
            cpu_ms_per_event=entry["cpu"] * 1000 / events,
            wall_ms_per_event=entry["wall"] * 1000 / events,
        )
    return {"kinds": figures, "sql": sql}
