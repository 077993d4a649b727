"""(c) webhook, the cron's side: N one-status events (what Meta sends: one status per
POST) processed by the cron's method in this process, the batch path against the
per-event path (each event in its own savepoint, its own status batch and ORM write:
the processing before batches, kept as the fallback), alternated on the same messages.
Time, SQL queries per event, and a cProfile of the last batched run."""

import cProfile
import io
import json
import pstats
import time

PER_EVENT = "per event"
BATCHED = "batched"


def _per_event_batch(events, notices):
    """The loop body before batches: each event alone in its own savepoint."""
    for event in events:
        with events.env.cr.savepoint():
            event._process(notices)
    return events


def _status_body(wamid, recipient, phone_number_id):
    status = {
        "id": wamid,
        "status": "delivered",
        "timestamp": str(int(time.time())),
        "recipient_id": recipient,
    }
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"phone_number_id": phone_number_id},
        "statuses": [status],
    }
    change = {"field": "messages", "value": value}
    return json.dumps(
        {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [change]}]}
    ).encode()


def _one_run(env, config, messages, mode, profiler=None):
    Event = env["ofitec.whatsapp.webhook.event"]
    Status = env["ofitec.whatsapp.status"]
    Status.search([("whatsapp_message_id", "in", messages.mapped("whatsapp_message_id"))]).unlink()
    messages.write({"state": "sent", "delivered_date": False})
    Event.search([("state", "=", "received")]).write({"state": "processed"})
    for message in messages:
        body = _status_body(
            message.whatsapp_message_id, message.wa_id or message.phone, config.phone_number_id
        )
        Event._store(config, body)
    env.cr.commit()
    env.invalidate_all()
    EventClass = type(Event)
    original = EventClass._process_batch
    if mode == PER_EVENT:
        EventClass._process_batch = _per_event_batch
    queries_before = env.cr.sql_log_count
    started = time.monotonic()
    try:
        if profiler:
            profiler.enable()
        handled = Event._process_pending(limit=len(messages))
        if profiler:
            profiler.disable()
    finally:
        EventClass._process_batch = original
    elapsed = time.monotonic() - started
    queries = env.cr.sql_log_count - queries_before
    env.cr.commit()
    messages.invalidate_recordset()
    return {
        "mode": mode,
        "handled": handled,
        "elapsed": elapsed,
        "queries": queries,
        "delivered": len(messages.filtered(lambda m: m.state == "delivered")),
        "failed_events": Event.search_count([("state", "=", "failed")]),
    }


def run(env, args):
    config = env["ofitec.whatsapp.config"].browse(args["config_id"])
    messages = env["ofitec.whatsapp.message"].search(
        [("whatsapp_message_id", "=like", args["pattern"])], order="id", limit=args["count"]
    )
    runs = []
    profiler = cProfile.Profile()
    modes = [PER_EVENT, BATCHED] * args["rounds"]
    for index, mode in enumerate(modes):
        last_batched = mode == BATCHED and index == len(modes) - 1
        runs.append(_one_run(env, config, messages, mode, profiler if last_batched else None))
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(45)
    return {"events": len(messages), "runs": runs, "profile": text.getvalue()}
