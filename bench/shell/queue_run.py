"""(a) queue: drain freshly queued notifications with _process_queue, timed."""

import time
import urllib.request

from odoo.addons.ofitec_whatsapp.models import ofitec_whatsapp_message_send as send_module

from .common import queue_messages


def record_limiter_waits():
    """Wrap the send loop's sleep to record how long the rate limit made the sends wait
    (the per-number slots of ofitec.whatsapp.send.pace); return the list of waits."""
    waits = []
    original = send_module._sleep

    def recording_sleep(seconds):
        waits.append(seconds)
        return original(seconds)

    send_module._sleep = recording_sleep
    return waits


def run(env, args):
    limiter_waits = record_limiter_waits()
    Message = env["ofitec.whatsapp.message"]
    config = env["ofitec.whatsapp.config"].browse(args["config_id"])
    project = env["project.project"].browse(args["project_id"])

    # Warm-up in this process (registry, caches, HTTP session), untimed and unlimited.
    config.rate_limit = 0
    label = args["label"]
    warmup_base, warmup = args["warmup_phone_base"], args["warmup"]
    queue_messages(env, config, project, label + " warm-up", warmup_base, warmup)
    Message._process_queue(time_budget=None)
    env.cr.commit()
    reset = urllib.request.Request(args["fake_reset_url"], data=b"", method="POST")
    urllib.request.urlopen(reset, timeout=10).read()

    config.rate_limit = args["rate_limit"]  # a new token bucket, full
    messages = queue_messages(env, config, project, label, args["phone_base"], args["count"])
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
    return {
        "handled": handled,
        "elapsed": elapsed,
        "wall_start": wall_start,
        "wall_end": wall_end,
        "limiter_wait_s": sum(limiter_waits),
        "limiter_calls": len(limiter_waits),
        "queued_before": queued_before,
        "states": states,
        "types": kinds,
        "errors": errors,
        "contacts": env["ofitec.whatsapp.contact"].search_count([("config_id", "=", config.id)]),
    }
