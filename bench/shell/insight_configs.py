"""(f) insight: two WhatsApp numbers per company, for the per-number breakdowns."""


def run(env, args):
    configs = {}
    for company in env["res.company"].search([]):
        for n in (1, 2):
            config = env["ofitec.whatsapp.config"].create(
                {
                    "name": f"{company.name} {n}",
                    "phone_number_id": f"{company.id}{n}",
                    "company_id": company.id,
                    "test_mode": True,
                }
            )
            configs.setdefault(str(company.id), []).append(config.id)
    env.cr.commit()
    return configs
