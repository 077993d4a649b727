"""Set-up shared by the `odoo shell` modules: the bench's WhatsApp number, actions and
queued notifications."""

import json
from datetime import timedelta

from odoo import fields


def setup_number(env, args):
    """One active WhatsApp number (the only one), a project and a non-urgent action."""
    env.ref("ofitec_whatsapp.ir_cron_whatsapp_send_queue").active = args["send_cron_active"]
    Config = env["ofitec.whatsapp.config"].with_context(active_test=False)
    Config.search([]).write({"active": False})
    config = Config.create(
        {
            "name": "Bench number",
            "api_base_url": args["api_base_url"],
            "access_token": args["token"],
            "app_secret": args["app_secret"],
            "phone_number_id": args["phone_number_id"],
            "waba_id": args["waba_id"],
            "test_mode": False,
            "rate_limit": args.get("rate_limit", 80),
        }
    )
    # As after a sync with Meta (the fake Graph API lists the three as approved): a
    # template Meta has not approved holds its messages in the queue.
    env["ofitec.whatsapp.template"].search([]).write({"meta_status": "APPROVED"})
    project = env["project.project"].create({"name": "Edificio Los Robles (bench)"})
    return config, project


def make_actions(env, project, count, label):
    """``count`` non-urgent actions (creating them queues nothing). Each bench message
    belongs to one of them, two messages per action (manager and assignee), as
    notifications do: the action's stored ``whatsapp_sent`` is recomputed from its
    messages whenever one changes state, so piling every message on one action would
    measure that recomputation instead of the queue."""
    deadline = fields.Date.today() + timedelta(days=3)
    return env["ofitec.next.action"].create(
        [
            {
                "name": f"Revisar hormigonado losa piso 3 ({label} {i})",
                "description": "El laboratorio reporta resistencia bajo lo especificado.",
                "action_type": "planned",
                "priority": "3",
                "category": "quality",
                "project_id": project.id,
                "deadline": deadline,
                "expected_benefits": "Evitar atraso de 2 semanas en la obra gruesa.",
            }
            for i in range(count)
        ]
    )


def queue_messages(env, config, project, label, base, count):
    """``count`` queued template notifications to distinct numbers, committed."""
    template = env["ofitec.whatsapp.template"]._get_by_code("urgent_action")
    numbers = [f"+{base + i}" for i in range(count)]
    actions = make_actions(env, project, (count + 1) // 2, label)
    partners = env["res.partner"].create(
        [{"name": f"Bench {label} {i}", "mobile": n} for i, n in enumerate(numbers)]
    )
    vals_list = []
    for index, (partner, number) in enumerate(zip(partners, numbers, strict=True)):
        action = actions[index // 2]
        prepared = action._prepare_whatsapp_message(partner)
        vals_list.append(
            {
                "direction": "outbound",
                "state": "queued",
                "config_id": config.id,
                "company_id": config.company_id.id,
                "partner_id": partner.id,
                "phone": number,
                "next_action_id": action.id,
                "template_id": template.id,
                "body": prepared["body"],
                "template_params": json.dumps(prepared["template_params"]),
            }
        )
    messages = env["ofitec.whatsapp.message"].create(vals_list)
    env.cr.commit()
    return messages
