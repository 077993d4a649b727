"""(b) create: urgent actions created one per committed transaction, then in batches of
100 per ``create`` call, in the reference database and in the addon's, alternating;
times, SQL queries and HTTP calls; then the notification cron's job, timed."""

import time
from datetime import timedelta

import requests.adapters

import odoo
from odoo import api, fields
from odoo.modules.registry import Registry

USERS = (
    ("bench_manager", "María González (manager)", "+56 9 8765 4321"),
    ("bench_assignee", "Juan Pérez (assignee)", "+56 9 1234 5678"),
)


def count_network_calls():
    """Wrap requests' transport adapter; return the list of URLs it is asked for."""
    calls = []
    original = requests.adapters.HTTPAdapter.send

    def counting_send(adapter, request, *args, **kwargs):
        calls.append(request.url)
        return original(adapter, request, *args, **kwargs)

    requests.adapters.HTTPAdapter.send = counting_send
    return calls


def setup(name, registry, args):
    """A manager, an assignee, a project (and the number in the addon's database)."""
    with registry.cursor() as cr:
        su = api.Environment(cr, odoo.SUPERUSER_ID, {})
        internal = su.ref("base.group_user")
        users = {}
        for login, label, mobile in USERS:
            users[login] = (
                su["res.users"]
                .with_context(no_reset_password=True)
                .create(
                    {
                        "name": label,
                        "login": login,
                        "mobile": mobile,
                        "groups_id": [(6, 0, [internal.id])],
                    }
                )
            )
        project = su["project.project"].create(
            {
                "name": "Edificio Los Robles (bench)",
                "user_id": users["bench_manager"].id,
            }
        )
        config_id = False
        if name == "wa":
            Config = su["ofitec.whatsapp.config"].with_context(active_test=False)
            Config.search([]).write({"active": False})
            config_id = Config.create(
                {
                    "name": "Bench number (nowhere)",
                    "api_base_url": args["api_base_url"],
                    "access_token": "bench-token",
                    "app_secret": "bench-secret",
                    "phone_number_id": args["phone_number_id"],
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


def action_vals(info, name, deadline):
    return {
        "name": name,
        "description": "Grieta en muro de contención, eje B.",
        "action_type": "urgent",
        "priority": "1",
        "category": "risk",
        "project_id": info["project_id"],
        "user_id": info["assignee_id"],
        "deadline": deadline,
        "expected_benefits": "Evitar paralización de la obra.",
    }


def create_one(registry, info, index, deadline):
    """One urgent action in its own transaction, as the admin user; (seconds, queries)."""
    return create_batch(registry, info, [f"Bench urgent action {index}"], deadline)


def create_batch(registry, info, names, deadline):
    """Urgent actions named ``names`` in one ``create`` call and one transaction, as the
    admin user (an import or a scheduled job); (seconds, queries)."""
    started = time.perf_counter()
    with registry.cursor() as cr:
        env_user = api.Environment(cr, info["uid"], dict(info["context"]))
        env_user["ofitec.next.action"].create([action_vals(info, name, deadline) for name in names])
        cr.commit()
        queries = cr.sql_log_count
    return time.perf_counter() - started, queries


def drain_notifications(registry):
    """Run the notification cron's job as the cron does (it commits per batch); None
    when the addon has no such job (before issue 10 the user's transaction queued)."""
    with registry.cursor() as cr:
        Action = api.Environment(cr, odoo.SUPERUSER_ID, {})["ofitec.next.action"]
        if not hasattr(Action, "_whatsapp_process_pending"):
            return None
        started = time.perf_counter()
        before = cr.sql_log_count
        handled = Action._whatsapp_process_pending()
        cr.commit()
        return {
            "actions": handled,
            "seconds": time.perf_counter() - started,
            "queries": cr.sql_log_count - before,
        }


def check_queued(registry):
    """How many bench actions were notified and how many messages they queued."""
    with registry.cursor() as cr:
        su = api.Environment(cr, odoo.SUPERUSER_ID, {})
        actions = su["ofitec.next.action"].search([("name", "=like", "Bench % action %")])
        msgs = su["ofitec.whatsapp.message"].search([("next_action_id", "in", actions.ids)])
        return {
            "actions": len(actions),
            "notified": len(actions.filtered("whatsapp_notified")),
            "messages": len(msgs),
            "queued": len(msgs.filtered(lambda m: m.state == "queued")),
        }


def run(env, args):
    network_calls = count_network_calls()
    registries = {"ref": Registry(args["ref_db"]), "wa": Registry(env.cr.dbname)}
    setups = {name: setup(name, registry, args) for name, registry in registries.items()}
    deadline = str(fields.Date.today() + timedelta(days=2))
    times = {"ref": [], "wa": []}
    queries = {"ref": [], "wa": []}
    warmup, count = args["warmup"], args["count"]
    time_limit = time.monotonic() + args["max_seconds"]
    calls_before = 0
    for index in range(warmup + count):
        if time.monotonic() > time_limit:
            break
        if index == warmup:
            calls_before = len(network_calls)
        # Alternate which database goes first, so background load hits both alike.
        order = ("ref", "wa") if index % 2 == 0 else ("wa", "ref")
        for name in order:
            elapsed, nqueries = create_one(registries[name], setups[name], index, deadline)
            if index >= warmup:
                times[name].append(elapsed)
                queries[name].append(nqueries)
    # Batches: one warm-up batch per database, then the timed ones (per action).
    size = args["batch_size"]
    batch_times = {"ref": [], "wa": []}
    batch_queries = {"ref": [], "wa": []}
    for batch in range(1 + args["batches"]):
        if time.monotonic() > time_limit:
            break
        names = [f"Bench batch action {batch}.{i}" for i in range(size)]
        order = ("ref", "wa") if batch % 2 == 0 else ("wa", "ref")
        for name in order:
            elapsed, nqueries = create_batch(registries[name], setups[name], names, deadline)
            if batch:
                batch_times[name].append(elapsed / size)
                batch_queries[name].append(nqueries)
    calls_created = len(network_calls) - calls_before
    # What the cron does after those commits: everything pending, then one action alone.
    drain = drain_notifications(registries["wa"])
    drain_one = None
    if drain is not None:
        create_one(registries["wa"], setups["wa"], "alone", deadline)
        drain_one = drain_notifications(registries["wa"])
    return {
        "times": times,
        "queries": queries,
        "batch_times": batch_times,
        "batch_queries": batch_queries,
        "batch_size": size,
        "network_calls": len(network_calls),
        "network_calls_timed": calls_created,
        "drain": drain,
        "drain_one": drain_one,
        "wa_check": check_queued(registries["wa"]),
    }
