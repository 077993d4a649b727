"""(b) create: the cost the addon adds to creating an urgent action, against the reference
module alone, one committed transaction per action and in batches of 100 per ``create``
call (shell/create.py); then what the notification cron takes to queue them."""

import statistics

from common import PHONE_NUMBER_ID, describe, fmt_ms, pick_ports, say, section

NAME, LABEL = "create", "(b) create"
BATCH_SIZE = 100  # actions per create() call, as an import or a scheduled job does
BATCHES = 6  # timed batches per database (after one warm-up batch each)


def run(ctx):
    options = ctx.options
    section(
        f"(b) Creating urgent actions: {options.actions} actions, one transaction each, "
        "reference module alone vs with ofitec_whatsapp"
    )
    db, nowhere = _prepare(ctx)
    result = _measure(ctx, db, nowhere)
    figures = _figures(result)
    ctx.figures["create"] = figures
    _report(ctx, figures)
    batch(ctx, result)
    drain(ctx, result)
    check = result["wa_check"]
    expected = 2 * check["actions"]
    if check["queued"] != expected or check["notified"] != check["actions"]:
        ctx.note(f"    !! expected {expected} queued messages and every action notified: {check}")


def _prepare(ctx):
    """Both databases, and a port where nothing listens for the number's API: (the
    addon's database, that port)."""
    options = ctx.options
    ctx.ensure_template("wa")
    ctx.ensure_template("ref")
    db = f"{ctx.runner.prefix}_create"
    ctx.runner.clone(ctx.template_db, db)
    nowhere = pick_ports(18640, 18649)  # nothing listens there
    say(
        f"  databases {ctx.ref_db} (ofitec_next_action only) and {db} (with "
        f"ofitec_whatsapp; active number in test_mode False -> http://127.0.0.1:{nowhere}, "
        "where nothing listens)"
    )
    say(
        f"  warm-up {options.warmup} actions per database, then {options.actions} timed; "
        "the two databases alternate, one process, admin user, commit per action; then "
        f"1 + {BATCHES} batches of {BATCH_SIZE} actions per create() call, alternating too"
    )
    return db, nowhere


def _measure(ctx, db, nowhere):
    """shell/create.py: the timed creations, one by one then in batches, and the
    notification cron's drain; what it returns."""
    options = ctx.options
    return ctx.runner.shell(
        db,
        "create",
        {
            "ref_db": ctx.ref_db,
            "api_base_url": f"http://127.0.0.1:{nowhere}",
            "phone_number_id": PHONE_NUMBER_ID,
            "warmup": options.warmup,
            "count": options.actions,
            "max_seconds": options.max_seconds,
            "batch_size": BATCH_SIZE,
            "batches": BATCHES,
        },
        "create",
        timeout=options.max_seconds + 600,
    )


def _figures(result):
    """The one-by-one creations: times and SQL queries per action, with and without
    the addon."""
    ref = describe(result["times"]["ref"])
    wa = describe(result["times"]["wa"])
    qref = statistics.fmean(result["queries"]["ref"]) if result["queries"]["ref"] else 0
    qwa = statistics.fmean(result["queries"]["wa"]) if result["queries"]["wa"] else 0
    return {
        "ref": ref,
        "wa": wa,
        "ratio_mean": wa["mean"] / ref["mean"],
        "ratio_median": wa["median"] / ref["median"],
        "queries_ref": qref,
        "queries_wa": qwa,
        "network_calls": result["network_calls"],
        "wa_check": result["wa_check"],
    }


def _report(ctx, figures):
    ref, wa = figures["ref"], figures["wa"]
    qref, qwa = figures["queries_ref"], figures["queries_wa"]
    for name, stats in (("reference alone", ref), ("with ofitec_whatsapp", wa)):
        say(
            f"  {name:22s}: n={stats['n']} mean {fmt_ms(stats['mean'])}, median "
            f"{fmt_ms(stats['median'])}, p90 {fmt_ms(stats['p90'])}, min "
            f"{fmt_ms(stats['min'])}"
        )
    say(f"  SQL queries per action: {qref:.1f} -> {qwa:.1f}")
    say(
        f"  check: {figures['wa_check']}; HTTP calls made by the process: "
        f"{figures['network_calls']}"
    )
    ctx.note(
        f"(b) create urgent action: reference {fmt_ms(ref['median'])} median / "
        f"{fmt_ms(ref['mean'])} mean; with ofitec_whatsapp {fmt_ms(wa['median'])} "
        f"median / {fmt_ms(wa['mean'])} mean; ratio {figures['ratio_median']:.2f}x "
        f"(median), {figures['ratio_mean']:.2f}x (mean) (target <= 1.3x); "
        f"SQL queries {qref:.0f} -> {qwa:.0f}; network calls {figures['network_calls']}"
    )


def batch(ctx, result):
    """Batches of BATCH_SIZE per create() call: per-action times and the ratio."""
    times, queries, size = (
        result["batch_times"],
        result["batch_queries"],
        result["batch_size"],
    )
    if not times["ref"] or not times["wa"]:
        ctx.note("(b) create in batches: not measured (time limit)")
        return
    ref, wa = describe(times["ref"]), describe(times["wa"])
    qref, qwa = statistics.fmean(queries["ref"]), statistics.fmean(queries["wa"])
    ratio = wa["median"] / ref["median"]
    ctx.figures["create_batch"] = {"ref": ref, "wa": wa, "ratio_median": ratio}
    for name, stats in (("reference alone", ref), ("with ofitec_whatsapp", wa)):
        say(
            f"  batches of {size}, {name:22s}: n={stats['n']} per action: median "
            f"{fmt_ms(stats['median'])}, mean {fmt_ms(stats['mean'])}, min {fmt_ms(stats['min'])}"
        )
    say(f"  SQL queries per batch of {size}: {qref:.0f} -> {qwa:.0f}")
    ctx.note(
        f"(b) create in batches of {size}: reference {fmt_ms(ref['median'])} per action "
        f"(median of {ref['n']} batches); with ofitec_whatsapp {fmt_ms(wa['median'])}; ratio "
        f"{ratio:.2f}x (target <= 1.3x); SQL queries per batch {qref:.0f} -> {qwa:.0f}"
    )


def drain(ctx, result):
    """The notification cron's job after the creations (None before issue 10)."""
    all_pending, alone = result.get("drain"), result.get("drain_one")
    if all_pending is None:
        say("  no notification cron: the messages were queued in the user's transaction")
        return
    ctx.figures["create_drain"] = {"all": all_pending, "one": alone}
    per_action = all_pending["seconds"] / max(all_pending["actions"], 1)
    ctx.note(
        f"    the notification cron then queued {all_pending['actions']} actions in "
        f"{all_pending['seconds']:.2f} s ({fmt_ms(per_action)} and "
        f"{all_pending['queries'] / max(all_pending['actions'], 1):.1f} SQL queries per "
        f"action); one action alone: {fmt_ms(alone['seconds'])}, {alone['queries']} queries"
    )
