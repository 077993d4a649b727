"""The replies bench's timed part, run inside ``odoo shell`` by bench_replies.py.

Whom a reply is from: ``_get_reply_candidates_batch`` for one inbound message at a time
(a person answers a notification) and for a batch of them, with the recipient indexes
and without them (dropped in a savepoint, restored after each block), alternated in the
same process on the same data.
"""

import statistics
import time

from odoo.addons.ofitec_whatsapp.models.ofitec_whatsapp_message_inbound import (
    _RECIPIENT_INDEXES,
)


def _inbound(env, config, senders):
    """An inbound message and its contact for each sender: {message id: contact}."""
    Contact = env["ofitec.whatsapp.contact"]
    Message = env["ofitec.whatsapp.message"]
    contacts = {}
    for number in senders:
        wa_id = number.lstrip("+")
        contact = Contact.create({"config_id": config.id, "wa_id": wa_id, "phone": number})
        message = Message.create(
            {
                "config_id": config.id,
                "direction": "inbound",
                "state": "received",
                "phone": number,
                "wa_id": wa_id,
                "body": "OK",
            }
        )
        contacts[message.id] = contact
    return Message.browse(list(contacts)), contacts


def _time(messages, contacts, repeat, one_by_one):
    timings, found = [], 0
    for _ in range(repeat):
        started = time.perf_counter()
        if one_by_one:
            for message in messages:
                found += len(message._get_reply_candidates_batch(contacts)[message.id])
        else:
            found += sum(len(a) for a in messages._get_reply_candidates_batch(contacts).values())
        timings.append((time.perf_counter() - started) * 1000 / len(messages))
    return statistics.median(timings), found // repeat


def run(env, args):
    config = env["ofitec.whatsapp.config"].browse(args["config"])
    messages, contacts = _inbound(env, config, args["senders"])
    env.flush_all()
    cr = env.cr
    figures = {"with": {"one": [], "batch": []}, "without": {"one": [], "batch": []}}
    found = {}
    for block in range(args["blocks"]):
        for variant in ("with", "without") if block % 2 == 0 else ("without", "with"):
            cr.execute("SAVEPOINT bench_replies")
            if variant == "without":
                for name in _RECIPIENT_INDEXES:
                    cr.execute(f'DROP INDEX "{name}"')
            for mode, one_by_one in (("one", True), ("batch", False)):
                ms, rows = _time(messages, contacts, args["repeat"], one_by_one)
                figures[variant][mode].append(ms)
                found[(variant, mode)] = rows
            cr.execute("ROLLBACK TO SAVEPOINT bench_replies")
    cr.rollback()
    result = {
        variant: {mode: statistics.median(values) for mode, values in modes.items()}
        for variant, modes in figures.items()
    }
    result["actions_found"] = {f"{v}/{m}": n for (v, m), n in found.items()}
    return result
