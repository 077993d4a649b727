"""The stats bench's timed part, run inside ``odoo shell`` by bench_stats.py.

``run(env, args)`` returns the figures as a dict. The baseline, timed in the same run
on the same data, is the previous implementation (one ``search_count`` per figure,
kept here verbatim as ``counted_stats``): the ratio does not depend on how busy the
machine is, and its numbers must equal the new ones.
"""

import statistics
import time
from datetime import timedelta

SENT = ("sent", "delivered", "read", "failed")


def counted_stats(messages, days=30):
    """get_whatsapp_stats as it was: seven counts over the messages."""
    from odoo import fields

    midnight = messages._get_local_midnight()
    since = fields.Datetime.now() - timedelta(days=days)
    outbound = [("direction", "=", "outbound")]
    period = outbound + [("is_test", "=", False), ("sent_date", ">=", since)]
    sent = messages.search_count(period + [("state", "in", SENT)])
    reached = messages.search_count(period + [("state", "in", ("delivered", "read"))])
    inbound_today = [("direction", "=", "inbound"), ("create_date", ">=", midnight)]
    return {
        "sent_today": messages.search_count(outbound + [("sent_date", ">=", midnight)]),
        "received_today": messages.search_count(inbound_today),
        "delivery_rate": round(100.0 * reached / sent, 1) if sent else 0.0,
        "replies_processed": messages.search_count(
            inbound_today + [("reply_processed", "=", True)]
        ),
        "queued": messages.search_count(outbound + [("state", "=", "queued")]),
        "failed_today": messages.search_count(
            outbound + [("state", "=", "failed"), ("write_date", ">=", midnight)]
        ),
        "period_days": days,
    }


def _timed(env, func, repeat):
    times, queries, result = [], 0, None
    for _ in range(repeat):
        env.invalidate_all()
        before = env.cr.sql_log_count
        started = time.perf_counter()
        result = func()
        times.append(time.perf_counter() - started)
        queries = env.cr.sql_log_count - before
    ordered = sorted(times)
    return {
        "median_ms": statistics.median(times) * 1000,
        "p90_ms": ordered[int(0.9 * (len(ordered) - 1))] * 1000,
        "min_ms": ordered[0] * 1000,
        "queries": queries,
        "result": result,
    }


def _noise(repeat=15):
    """A fixed CPU-bound loop, timed: max/min and median/min tell how busy the CPUs were."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        total = 0
        for i in range(200_000):
            total += i * i
        times.append(time.perf_counter() - started)
    return {
        "min_ms": min(times) * 1000,
        "median_over_min": statistics.median(times) / min(times),
        "max_over_min": max(times) / min(times),
    }


def late_evening_tz(now_utc):
    """The Etc/GMT zone where it is latest in the day now: "today" then holds nearly a
    whole day of messages, whatever the hour the bench runs at."""
    best = None
    for offset in range(-12, 15):  # Etc/GMT-14 (UTC+14) .. Etc/GMT+12 (UTC-12)
        hour = (now_utc.hour + offset) % 24
        if best is None or hour > best[0]:
            best = (hour, f"Etc/GMT{-offset:+d}" if offset else "UTC")
    return best[1]


def run(env, args):
    from datetime import datetime, timezone

    repeat = args.get("repeat", 15)
    tz = late_evening_tz(datetime.now(timezone.utc))
    figures = {"noise_before": _noise(), "tz": tz}
    for login in args["logins"]:
        user = env["res.users"].search([("login", "=", login)])
        messages = env["ofitec.whatsapp.message"].with_user(user).with_context(tz=tz)
        messages.get_whatsapp_stats()  # warm-up: caches of rules and fields
        counted_stats(messages)
        new = _timed(env, messages.get_whatsapp_stats, repeat)
        old = _timed(env, lambda m=messages: counted_stats(m), repeat)
        figures[login] = {
            "new": new,
            "counted": old,
            "ratio": new["median_ms"] / old["median_ms"],
            # On the figures both give (the new one may give more, e.g. delivery_test).
            "same_numbers": all(new["result"].get(k) == v for k, v in old["result"].items()),
        }
    figures["noise_after"] = _noise()
    return figures
