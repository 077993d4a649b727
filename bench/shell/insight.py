"""(f) insight: the timed part, run inside ``odoo shell`` by bench_insight.py."""

import statistics
import time

MEASURES = ["__count", "delivery_rate:avg", "read_rate:avg"]
MEDIAN = "time_to_read_median:avg"
COLUMNS = ["delivery_rate", "read_rate", "time_to_read", "time_to_read_median", "reply_command"]


def _timed(env, func, repeat):
    times = []
    result = None
    for _ in range(repeat):
        env.invalidate_all()
        started = time.perf_counter()
        result = func()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000, min(times) * 1000, result


def _upgrade(env):
    """Drop the generated columns and make them again, as an upgrade does."""
    cr = env.cr
    drops = ", ".join(f"DROP COLUMN {name}" for name in COLUMNS)
    cr.execute(f"ALTER TABLE ofitec_whatsapp_message {drops}")
    cr.commit()
    started = time.perf_counter()
    env["ofitec.whatsapp.message"]._create_generated_columns()
    cr.commit()
    return time.perf_counter() - started


def _write_cost(env, rows=20000, rounds=3):
    """Insert then update ``rows`` messages, with and without the generated columns
    (a copy of the table without them), alternated; medians in ms."""
    cr = env.cr
    like = "LIKE ofitec_whatsapp_message INCLUDING DEFAULTS INCLUDING GENERATED"
    cr.execute(
        f"CREATE TABLE bench_plain ({like});"
        f"ALTER TABLE bench_plain {', '.join(f'DROP COLUMN {n}' for n in COLUMNS)};"
        f"CREATE TABLE bench_generated ({like})"
    )
    plain_cols = "company_id, direction, state, sent_date, is_test, create_date"
    insert = f"""
        INSERT INTO {{table}} ({plain_cols})
        SELECT 1, 'outbound', 'sent', now() at time zone 'UTC', false, now() at time zone 'UTC'
          FROM generate_series(1, {rows})
    """
    update = """
        UPDATE {table} SET state = 'read', read_date = sent_date + interval '3 minutes'
    """
    times = {"plain": {"insert": [], "update": []}, "generated": {"insert": [], "update": []}}
    for _ in range(rounds):
        for variant in ("plain", "generated"):
            table = f"bench_{variant}"
            for step, sql in (("insert", insert), ("update", update)):
                started = time.perf_counter()
                cr.execute(sql.format(table=table))
                times[variant][step].append((time.perf_counter() - started) * 1000)
            cr.execute(f"TRUNCATE {table}")
    cr.execute("DROP TABLE bench_plain; DROP TABLE bench_generated")
    cr.commit()
    return {v: {s: statistics.median(t) for s, t in steps.items()} for v, steps in times.items()}


def run(env, args):
    repeat = args["repeat"]
    lines = []
    upgrade_s = _upgrade(env)
    lines.append(
        f"upgrade: the five generated columns added to the filled table in {upgrade_s:.1f} s"
    )
    writes = _write_cost(env)
    for step in ("insert", "update"):
        plain, generated = writes["plain"][step], writes["generated"][step]
        lines.append(
            f"write cost, {step} of 20,000 rows: {plain:.0f} ms without the columns, "
            f"{generated:.0f} ms with them (ratio {generated / plain:.2f})"
        )
    user = env["res.users"].search([("login", "=", args["login"])])
    Message = env["ofitec.whatsapp.message"].with_user(user).with_context(tz="UTC")
    last_30 = [("create_date", ">=", "2000-01-01")]
    calls = {
        # The Dashboard's pivot: the total row, then one row per day.
        "pivot total, rates + median": lambda: Message.read_group(
            last_30, MEASURES + [MEDIAN], [], lazy=False
        ),
        "pivot per day, rates + median": lambda: Message.read_group(
            last_30, MEASURES + [MEDIAN], ["create_date:day"], lazy=False
        ),
        "pivot per day, rates only": lambda: Message.read_group(
            last_30, MEASURES, ["create_date:day"], lazy=False
        ),
        "pivot per day and number, rates + median": lambda: Message.read_group(
            last_30, MEASURES + [MEDIAN], ["create_date:day", "config_id"], lazy=False
        ),
        "failures by code and title": lambda: Message.read_group(
            [("state", "=", "failed")], ["__count"], ["error_code", "error_title"], lazy=False
        ),
        "replies by command and number": lambda: Message.read_group(
            [("direction", "=", "inbound")], ["__count"], ["reply_command", "config_id"], lazy=False
        ),
    }
    figures = {}
    for label, func in calls.items():
        median_ms, min_ms, result = _timed(env, func, repeat)
        figures[label] = {"median_ms": median_ms, "min_ms": min_ms, "groups": len(result)}
        lines.append(f"{label}: {median_ms:.0f} ms median (min {min_ms:.0f}), {len(result)} groups")
    (total,) = Message.read_group(last_30, MEASURES + [MEDIAN], [], lazy=False)
    lines.append(
        f"    company A's total: {total['__count']:,} messages, delivered "
        f"{total['delivery_rate']:.1f} %, read {total['read_rate']:.1f} %, "
        f"median time to read {total['time_to_read_median']} min"
    )
    return {"lines": lines, "upgrade_s": upgrade_s, "writes": writes, "calls": figures}
