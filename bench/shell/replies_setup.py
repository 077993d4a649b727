"""replies: one WhatsApp number in test mode and the actions its notifications are about."""


def run(env, args):
    config = env["ofitec.whatsapp.config"].create(
        {"name": "Bench replies", "phone_number_id": "900001", "test_mode": True}
    )
    # Not urgent (priority 3): nothing is queued for them; the bench inserts the history.
    actions = env["ofitec.next.action"].create(
        [
            {
                "name": f"Bench action {n}",
                "description": "Bench",
                "action_type": "urgent",
                "category": "quality",
                "priority": "3",
            }
            for n in range(args["actions"])
        ]
    )
    env.cr.commit()
    return {"config": config.id, "company": config.company_id.id, "actions": actions.ids}
