"""(c) webhook, in process: signed status POSTs and GET /web/health through Odoo's WSGI
application (werkzeug's test client, no socket): SQL queries and time per request, and
where the webhook's time goes (cProfile, the functions with the most cumulative time)."""

import cProfile
import io
import json
import pstats
import threading
import time

from werkzeug.test import Client

import odoo
from odoo import http
from odoo.addons.ofitec_whatsapp.tools import signature


def _status_body(wamid, recipient, phone_number_id):
    return json.dumps(
        {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": "1",
                    "changes": [
                        {
                            "field": "messages",
                            "value": {
                                "messaging_product": "whatsapp",
                                "metadata": {"phone_number_id": phone_number_id},
                                "statuses": [
                                    {
                                        "id": wamid,
                                        "status": "delivered",
                                        "timestamp": str(int(time.time())),
                                        "recipient_id": recipient,
                                    }
                                ],
                            },
                        }
                    ],
                }
            ],
        }
    ).encode()


def _timed(client, requests):
    """Send ``requests`` (method, path, body, headers); per request: seconds, queries."""
    times, queries, statuses = [], [], {}
    thread = threading.current_thread()
    for method, path, body, headers in requests:
        started = time.perf_counter()
        response = client.open(path, method=method, data=body, headers=headers)
        times.append(time.perf_counter() - started)
        queries.append(getattr(thread, "query_count", 0))
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
    return times, queries, statuses


def run(env, args):
    env.cr.commit()
    odoo.tools.config["dbfilter"] = f"^{env.cr.dbname}$"  # the one database (monodb)
    client = Client(http.root)
    path = f"/webhooks/whatsapp/{args['config_id']}"

    def hooks(start, count):
        items = []
        for i in range(start, start + count):
            body = _status_body(
                f"{args['wamid_prefix']}{i}", str(args["phone_base"] + i), args["phone_number_id"]
            )
            headers = {
                "Content-Type": "application/json",
                "X-Hub-Signature-256": signature.meta_signature_header(args["secret"], body),
            }
            items.append(("POST", path, body, headers))
        return items

    count = args["count"]
    health = [("GET", "/web/health", None, {})] * count
    _timed(client, hooks(0, 5) + health[:5])  # warm-up: caches, routing map
    result = {}
    for name, items in (("health", health), ("webhook", hooks(5, count))):
        times, queries, statuses = _timed(client, items)
        result[name] = {
            "median_ms": sorted(times)[len(times) // 2] * 1000,
            "queries": max(set(queries), key=queries.count),
            "statuses": {str(k): v for k, v in statuses.items()},
        }
    profiler = cProfile.Profile()
    profiler.enable()
    _timed(client, hooks(5 + count, count))
    profiler.disable()
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(45)
    result["profile"] = text.getvalue()
    return result
