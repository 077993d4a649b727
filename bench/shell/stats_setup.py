"""(e) stats: a second company and one WhatsApp user in each company."""


def run(env, args):
    company_b = env["res.company"].create({"name": "Bench B"})
    group = env.ref("ofitec_whatsapp.group_whatsapp_user")
    for login, company in (("bench_a", env.company), ("bench_b", company_b)):
        env["res.users"].create(
            {
                "name": login,
                "login": login,
                "company_id": company.id,
                "company_ids": [(6, 0, company.ids)],
                "groups_id": [(6, 0, [env.ref("base.group_user").id, group.id])],
            }
        )
    env.cr.commit()
    return {"company_b": company_b.id}
