"""(f) numbers: two active numbers A and B against the fake Graph API (same rate
limit), a project tied to each, and ``args["count"]`` queued notifications for A (two per
non-urgent action, to distinct recipients, as notifications are). Nothing is sent here:
the servers' send cron drains the queue once they start."""

from .common import queue_messages


def _config(env, args, name, phone_number_id):
    return env["ofitec.whatsapp.config"].create(
        {
            "name": name,
            "api_base_url": args["api_base_url"],
            "access_token": args["token"],
            "app_secret": f"bench-secret-{name[-1].lower()}",
            "phone_number_id": phone_number_id,
            "waba_id": args["waba_id"],
            "test_mode": False,
            "rate_limit": args["rate_limit"],
        }
    )


def _person(env, name, mobile):
    return env["res.users"].create(
        {
            "name": name,
            "login": name.lower().replace(" ", "_"),
            "mobile": mobile,
            "groups_id": [(6, 0, [env.ref("base.group_user").id])],
        }
    )


def run(env, args):
    env.ref("ofitec_whatsapp.ir_cron_whatsapp_send_queue").active = True
    Config = env["ofitec.whatsapp.config"].with_context(active_test=False)
    Config.search([]).write({"active": False})
    config_a = _config(env, args, "Bench number A", args["phone_number_ids"][0])
    config_b = _config(env, args, "Bench number B", args["phone_number_ids"][1])
    Project = env["project.project"]
    project_a = Project.create({"name": "Obra A (bench)", "whatsapp_config_id": config_a.id})
    manager_b = _person(env, "Jefe Obra B", "+56990000001")
    project_b = Project.create(
        {"name": "Obra B (bench)", "whatsapp_config_id": config_b.id, "user_id": manager_b.id}
    )
    template = env["ofitec.whatsapp.template"]._get_by_code("urgent_action")
    # Approved at Meta (as the fake's template list says), before the send cron runs.
    template.meta_status = "APPROVED"
    queue_messages(env, config_a, project_a, "A", args["phone_base"], args["count"])
    env.cr.commit()
    return {"config_a": config_a.id, "config_b": config_b.id, "project_b": project_b.id}
