"""(f) numbers: waits until the fake server has received ``args["after"]`` sends (A is
draining), then creates one urgent action in B's project and commits; returns the
wall-clock time of that commit, from which B's wait is measured in the fake's log."""

import json
import time
import urllib.request
from datetime import timedelta


def _sends(stats_url):
    with urllib.request.urlopen(stats_url, timeout=5) as response:
        return json.loads(response.read())["sends"]


def run(env, args):
    from odoo import fields

    deadline = time.monotonic() + args["max_wait"]
    while _sends(args["stats_url"]) < args["after"] and time.monotonic() < deadline:
        time.sleep(0.05)
    action = env["ofitec.next.action"].create(
        {
            "name": "Filtración en sala eléctrica (urgente, bench)",
            "description": "Agua sobre el tablero general.",
            "action_type": "planned",
            "priority": "1",
            "category": "quality",
            "project_id": args["project_b"],
            "user_id": env["project.project"].browse(args["project_b"]).user_id.id,
            "deadline": fields.Date.today() + timedelta(days=1),
        }
    )
    env.cr.commit()
    committed = time.time()
    return {"action_id": action.id, "committed": committed}
