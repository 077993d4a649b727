{
    "name": "OFITEC WhatsApp",
    "summary": "WhatsApp notifications and replies for OFITEC's Next-Best-Action dashboard",
    "description": """
WhatsApp for OFITEC Next Actions
================================
Urgent next actions (priority 1 or 2) are sent over the WhatsApp Cloud API to the
project manager and the assigned user; their replies (OK, COMPLETADO, CANCELAR)
move the action in Odoo. Outbound messages go through a reliable queue (row locks,
retries with backoff, rate limits, the 24-hour window) and every message, status
and reply is kept as history.
""",
    "version": "16.0.1.0.1",
    "category": "Productivity/Discuss",
    "author": "OFITEC",
    "website": "https://github.com/ofitec/ofitec_whatsapp",
    "license": "LGPL-3",
    "depends": ["base", "mail", "bus", "project", "ofitec_next_action"],
    "external_dependencies": {
        "python": ["requests", "phonenumbers", "cryptography", "twilio"],
    },
    "data": [
        "security/ofitec_whatsapp_security.xml",
        "security/ir.model.access.csv",
        "data/ir_cron_data.xml",
        "data/ofitec_whatsapp_template_data.xml",
        "data/ofitec_whatsapp_reply_data.xml",
        "data/res_users_data.xml",
        "data/mail_activity_type_data.xml",
        "data/ofitec_whatsapp_welcome_actions.xml",
        "wizard/ofitec_whatsapp_simulate_reply_views.xml",
        "views/ofitec_whatsapp_config_views.xml",
        "views/ofitec_whatsapp_template_views.xml",
        "views/ofitec_whatsapp_message_views.xml",
        "views/ofitec_whatsapp_message_analysis_views.xml",
        "views/ofitec_whatsapp_contact_views.xml",
        "views/ofitec_whatsapp_webhook_event_views.xml",
        "views/ofitec_next_action_views.xml",
        "views/project_project_views.xml",
        "views/ofitec_whatsapp_menus.xml",
    ],
    "demo": [
        "demo/ofitec_whatsapp_demo.xml",
    ],
    "assets": {
        "web.assets_backend": [
            "ofitec_whatsapp/static/src/**/*",
        ],
        "web.assets_tests": [
            "ofitec_whatsapp/static/tests/tours/**/*",
        ],
    },
    "application": True,
    "uninstall_hook": "uninstall_hook",
}
