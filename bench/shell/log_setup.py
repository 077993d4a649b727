"""log: two WhatsApp numbers in test mode, each with its own webhook log limit."""


def run(env, args):
    Config = env["ofitec.whatsapp.config"]
    configs = Config.create(
        [
            {
                "name": f"Bench log {n}",
                "phone_number_id": f"90010{n}",
                "test_mode": True,
                "webhook_log_days": days,
            }
            for n, days in enumerate(args["days"])
        ]
    )
    env.cr.commit()
    return {"configs": configs.ids, "company": configs[0].company_id.id}
