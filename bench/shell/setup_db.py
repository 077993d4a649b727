"""A bench database's number and, optionally, sent messages with known wamids."""

from odoo import fields

from .common import make_actions, setup_number


def run(env, args):
    config, project = setup_number(env, args)
    template = env["ofitec.whatsapp.template"]._get_by_code("urgent_action")
    created = {}
    Message = env["ofitec.whatsapp.message"]
    now = fields.Datetime.now()
    for group, count in args.get("sent_messages", {}).items():
        base = args["phone_bases"][group]
        actions = make_actions(env, project, (count + 1) // 2, group)
        vals_list = []
        for i in range(count):
            number = f"+{base + i}"
            action = actions[i // 2]
            vals_list.append(
                {
                    "direction": "outbound",
                    "state": "sent",
                    "message_type": "template",
                    "config_id": config.id,
                    "company_id": config.company_id.id,
                    "phone": number,
                    "wa_id": number[1:],
                    "whatsapp_message_id": f"wamid.bench.{group}.{i}",
                    "next_action_id": action.id,
                    "template_id": template.id,
                    "body": "bench",
                    "sent_date": now,
                }
            )
        for start in range(0, len(vals_list), 500):
            Message.create(vals_list[start : start + 500])
        created[group] = count
    env.cr.commit()
    return {
        "config_id": config.id,
        "project_id": project.id,
        "company_id": config.company_id.id,
        "sent_messages": created,
    }
