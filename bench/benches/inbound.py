"""Sustained inbound: signed inbound texts at the rate the webhook accepts them for
``--inbound-seconds`` (about 15 s), some of them replies (OK, COMPLETADO) that move the
actions the senders were notified about. Ingestion (requests/s) beside processing
(events/s, messages/s), and the backlog left once the load stops: events not processed
and texts not stored as messages, 5 s after and until none is left."""

import json
import threading
import time

from common import percentile, say, section
from httpload import inbound_text_payload, run_load

NAME, LABEL = "inbound", "sustained inbound"
PHONE_BASE = 56978000000
# What each sender writes, in order (one sender's texts go through one client
# thread, one after the other, so they arrive in this order).
TEXTS = ("OK", "COMPLETADO", "Gracias, quedo atento")
WAMID_PREFIX = "wamid.bench.in."
KINDS_PHONE_BASE = 56979000000
SAMPLE_SECONDS = 0.25


def sent_messages(options):
    """One notification sent to each sender, two per action (manager and assignee)."""
    return {"inbound": (options.inbound_senders, PHONE_BASE)}


def _requests(srv, threads, senders, per_thread):
    """Per client thread: its senders' texts, round-robin over its senders."""
    items_by_thread = []
    for t in range(threads):
        mine = list(range(t, senders, threads))
        items = []
        for k in range(per_thread):
            sender_index = mine[k % len(mine)]
            rank = k // len(mine)
            text = TEXTS[min(rank, len(TEXTS) - 1)]
            sender = str(PHONE_BASE + sender_index)
            wamid = f"{WAMID_PREFIX}{t}.{k}"
            body = json.dumps(inbound_text_payload(wamid, sender, text)).encode()
            items.append(("POST", srv.webhook_path, body, srv.signed_headers(body)))
        items_by_thread.append(items)
    return items_by_thread


class Sampler:
    """Polls the database every SAMPLE_SECONDS: events waiting, texts stored."""

    def __init__(self, ctx, db):
        self.conn = ctx.runner.pg(db)
        self.samples = []  # (monotonic time, events received, events done, texts stored)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def read(self):
        with self.conn.cursor() as cr:
            cr.execute(
                "SELECT count(*) FILTER (WHERE state = 'received'),"
                " count(*) FILTER (WHERE state IN ('processed', 'failed'))"
                " FROM ofitec_whatsapp_webhook_event WHERE payload LIKE %s",
                (f"%{WAMID_PREFIX}%",),
            )
            waiting, done = cr.fetchone()
            cr.execute(
                "SELECT count(*) FROM ofitec_whatsapp_message"
                " WHERE direction = 'inbound' AND whatsapp_message_id LIKE %s",
                (f"{WAMID_PREFIX}%",),
            )
            stored = cr.fetchone()[0]
        sample = (time.monotonic(), waiting, done, stored)
        self.samples.append(sample)
        return sample

    def _run(self):
        while not self.stop.is_set():
            self.read()
            self.stop.wait(SAMPLE_SECONDS)

    def close(self):
        self.stop.set()
        self.thread.join(10)
        self.conn.close()


def run(ctx, srv):
    options = ctx.options
    threads, senders, seconds = options.threads, options.inbound_senders, options.inbound_seconds
    section(
        f"Sustained inbound: {threads} threads of signed inbound texts for {seconds:.0f} s "
        f"from {senders} senders (OK, COMPLETADO, then a text), then the backlog"
    )
    ctx.wait_backlog(srv.db)
    # Enough requests for the time limit at many times the expected rate.
    per_thread = max(len(TEXTS), int(seconds * 40))
    items = _requests(srv, threads, senders, per_thread)
    sampler = Sampler(ctx, srv.db)
    start = sampler.read()
    sampler.thread.start()
    try:
        elapsed, latencies, statuses, errors = run_load(srv.port, items, seconds)
        load_end = time.monotonic()
        after_5s = None
        drained_at = None
        limit = load_end + options.inbound_drain_limit
        while time.monotonic() < limit:
            sample = sampler.samples[-1]
            if after_5s is None and sample[0] >= load_end + 5:
                after_5s = sample
            accepted = statuses.get(200, 0)
            if sample[1] == 0 and sample[3] >= accepted and drained_at is None:
                drained_at = sample[0]
            if drained_at is not None and after_5s is not None:
                break
            time.sleep(SAMPLE_SECONDS)
    finally:
        sampler.close()
    _report(ctx, srv, start, sampler.samples, elapsed, latencies, statuses, errors)
    _report_backlog(ctx, srv, start, sampler.samples, load_end, after_5s, drained_at, statuses)


def _report(ctx, srv, start, samples, elapsed, latencies, statuses, errors):
    accepted = statuses.get(200, 0)
    real_errors = [e for e in errors if e != "time limit reached"]
    during = [s for s in samples if s[0] <= start[0] + elapsed]
    last = during[-1] if during else start
    events_during = last[2] - start[2]
    stored_during = last[3] - start[3]
    figures = {
        "requests": len(latencies),
        "accepted": accepted,
        "statuses": {str(k): v for k, v in statuses.items()},
        "errors": len(real_errors),
        "elapsed_s": elapsed,
        "ingest_rps": accepted / elapsed if elapsed else float("nan"),
        "p50_ms": percentile(latencies, 0.5) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "processed_during_load_per_s": events_during / elapsed if elapsed else float("nan"),
        "stored_during_load_per_s": stored_during / elapsed if elapsed else float("nan"),
    }
    ctx.figures["inbound"] = figures
    say(
        f"  ingestion: {accepted} texts answered 200 in {elapsed:.1f} s = "
        f"{figures['ingest_rps']:.1f} req/s (p50 {figures['p50_ms']:.0f} ms, p99 "
        f"{figures['p99_ms']:.0f} ms); statuses {figures['statuses']}; errors "
        f"{len(real_errors)} {real_errors[:2] or ''}"
    )
    say(
        f"  processing while the load ran: {events_during} events = "
        f"{figures['processed_during_load_per_s']:.1f} events/s, {stored_during} texts stored = "
        f"{figures['stored_during_load_per_s']:.1f} messages/s"
    )


def _report_backlog(ctx, srv, start, samples, load_end, after_5s, drained_at, statuses):
    """The backlog after the load, the processing rates from the first POST until it
    was drained, and what the replies did: added to the figures, then noted."""
    figures = ctx.figures["inbound"]
    accepted = statuses.get(200, 0)
    end = samples[-1]
    moved, replies, failed = _outcome(ctx, srv)
    events_total = end[2] - start[2]
    stored_total = end[3] - start[3]
    span = (drained_at or end[0]) - start[0]
    figures.update(
        backlog_events_5s=after_5s[1] if after_5s else None,
        backlog_texts_5s=(accepted - (after_5s[3] - start[3])) if after_5s else None,
        drained_after_load_s=(drained_at - load_end) if drained_at else None,
        events_per_s=events_total / span if span else float("nan"),
        messages_per_s=stored_total / span if span else float("nan"),
        replies_processed=replies,
        actions_moved=moved,
        failed_events=failed,
    )
    _note_backlog(ctx, figures, accepted, after_5s, drained_at)


def _outcome(ctx, srv):
    """(actions the replies moved, replies processed, events failed)."""
    moved = ctx.query(
        srv.db,
        "SELECT count(*) FROM ofitec_next_action a WHERE a.status IN ('in_progress', 'completed')"
        " AND EXISTS (SELECT 1 FROM ofitec_whatsapp_message m WHERE m.next_action_id = a.id"
        " AND m.whatsapp_message_id LIKE 'wamid.bench.inbound.%%')",
    )
    replies = ctx.query(
        srv.db,
        "SELECT count(*) FROM ofitec_whatsapp_message WHERE direction = 'inbound'"
        " AND whatsapp_message_id LIKE %s AND reply_processed",
        (f"{WAMID_PREFIX}%",),
    )
    failed = ctx.query(
        srv.db,
        "SELECT count(*) FROM ofitec_whatsapp_webhook_event WHERE state = 'failed'"
        " AND payload LIKE %s",
        (f"%{WAMID_PREFIX}%",),
    )
    return moved, replies, failed


def _note_backlog(ctx, figures, accepted, after_5s, drained_at):
    drained = (
        f"{figures['drained_after_load_s']:.1f} s after the load stopped"
        if drained_at
        else f"NOT within {ctx.options.inbound_drain_limit:.0f} s"
    )
    backlog = (
        f"{figures['backlog_events_5s']} events waiting, {figures['backlog_texts_5s']} texts "
        "not stored"
        if after_5s
        else "not sampled"
    )
    met = after_5s and figures["backlog_events_5s"] == 0 and figures["backlog_texts_5s"] <= 0
    ctx.note(
        f"(inbound) sustained: {accepted} signed texts in {figures['elapsed_s']:.1f} s = "
        f"{figures['ingest_rps']:.1f} req/s accepted (p50 {figures['p50_ms']:.0f} ms); "
        f"processing {figures['events_per_s']:.1f} events/s and {figures['messages_per_s']:.1f} "
        f"messages/s from the first POST until drained "
        f"({figures['processed_during_load_per_s']:.1f} events/s while the load ran)"
    )
    ctx.note(
        f"    backlog 5 s after the load stopped: {backlog} (target: none: "
        f"{'MET' if met else 'MISSED'}); all processed {drained}; events failed "
        f"{figures['failed_events']}; replies that moved an action "
        f"{figures['replies_processed']} ({figures['actions_moved']} actions now in progress "
        "or done)"
    )


def after_stop(ctx, srv):
    """With the server stopped, the same kind of texts processed alone in `odoo shell`:
    events/s, SQL queries per event, and a profile (where processing spends its time)."""
    _profile(ctx, srv)
    _report_kinds(ctx, srv)


def _profile(ctx, srv):
    count = ctx.options.inbound_profile_events
    if not count:
        return
    senders = ctx.options.inbound_senders
    payloads = [
        inbound_text_payload(
            f"wamid.bench.inprofile.{i}",
            str(PHONE_BASE + (i % senders)),
            TEXTS[min(i // senders, len(TEXTS) - 1)],
        )
        for i in range(count)
    ]
    result = ctx.runner.shell(
        srv.db, "inbound_profile", {"config_id": srv.config_id, "payloads": payloads}, "inbound"
    )
    path = ctx.runner.log_path("inbound_profile.txt")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(result["profile"])
    rate = result["handled"] / result["elapsed"] if result["elapsed"] else float("nan")
    ctx.figures["inbound"]["in_process"] = {k: v for k, v in result.items() if k != "profile"}
    ctx.note(
        f"    processing alone (odoo shell, server stopped): {result['handled']} inbound texts "
        f"in {result['elapsed']:.2f} s = {rate:.1f} events/s, "
        f"{result['queries'] / max(result['handled'], 1):.0f} SQL queries per event "
        f"(profile: {path})"
    )


def _report_kinds(ctx, srv):
    """The cost of one text by kind (``shell/inbound_kinds.py``): SQL queries and CPU
    milliseconds (the odoo shell process; PostgreSQL's not included) per event."""
    senders = ctx.options.inbound_kinds_senders
    if not senders:
        return
    result = ctx.runner.shell(
        srv.db,
        "inbound_kinds",
        {
            "config_id": srv.config_id,
            "phone_base": KINDS_PHONE_BASE,
            "senders": senders,
            "rounds": 2,
        },
        "inbound_kinds",
    )
    ctx.figures["inbound"]["kinds"] = result["kinds"]
    ctx.note(
        f"    by kind ({senders} senders x 2, processed alone): "
        + "; ".join(
            f"{kind} {v['queries_per_event']:.1f} q {v['cpu_ms_per_event']:.1f} ms CPU"
            for kind, v in result["kinds"].items()
        )
    )
