"""The log bench's timed part, run inside ``odoo shell`` by bench_log.py.

The daily purge (``_gc_webhook_log``: each number's limit, waiting and failed events
and each number's newest processed one kept) against a plain DELETE of the same
table by one date (the baseline: what any purge has to pay), alternated in the same
process, each rolled back to a savepoint so that every run deletes the same rows.
"""

import statistics
import time

BASELINE = """
    DELETE FROM ofitec_whatsapp_webhook_event
     WHERE state IN ('processed', 'rejected')
       AND create_date < %s - make_interval(days => %s)
"""


def _timed(cr, run):
    cr.execute("SAVEPOINT bench_log")
    started = time.perf_counter()
    deleted = run()
    elapsed = time.perf_counter() - started
    cr.execute("ROLLBACK TO SAVEPOINT bench_log")
    return elapsed, deleted


def run(env, args):
    Event = env["ofitec.whatsapp.webhook.event"].sudo()
    cr = env.cr
    now = env.cr.now()

    def purge():
        return Event._gc_webhook_log(now=now)

    def baseline():
        cr.execute(BASELINE, (now, args["baseline_days"]))
        return cr.rowcount

    runs = {"purge": purge, "baseline": baseline}
    times = {name: [] for name in runs}
    deleted = {}
    for block in range(args["blocks"]):
        for name in list(runs) if block % 2 == 0 else reversed(list(runs)):
            elapsed, deleted[name] = _timed(cr, runs[name])
            times[name].append(elapsed)
    cr.rollback()
    return {
        "seconds": {name: statistics.median(values) for name, values in times.items()},
        "deleted": deleted,
    }
