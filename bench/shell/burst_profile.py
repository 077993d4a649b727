"""(d) burst: the 1,000-status event processed again, alone: time and SQL queries."""

import time


def run(env, args):
    Message = env["ofitec.whatsapp.message"]
    messages = Message.search([("whatsapp_message_id", "=like", args["pattern"])])
    env["ofitec.whatsapp.status"].search(
        [("whatsapp_message_id", "=like", args["pattern"])]
    ).unlink()
    messages.write({"state": "sent", "delivered_date": False})
    Event = env["ofitec.whatsapp.webhook.event"]
    Event.search([("state", "=", "received")]).write({"state": "processed"})
    event = Event.create({"config_id": args["config_id"], "payload": args["payload"]})
    env.cr.commit()
    queries_before = env.cr.sql_log_count
    started = time.monotonic()
    Event._process_pending(limit=1)  # the event alone, not the run's idle linger after it
    elapsed = time.monotonic() - started
    queries = env.cr.sql_log_count - queries_before
    env.cr.commit()
    messages.invalidate_recordset()
    return {
        "elapsed": elapsed,
        "queries": queries,
        "event_state": event.state,
        "delivered": len(messages.filtered(lambda m: m.state == "delivered")),
    }
