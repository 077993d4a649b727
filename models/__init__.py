from . import (
    ir_cron,
    ir_websocket,
    ofitec_next_action,
    ofitec_whatsapp_config,
    ofitec_whatsapp_contact,
    ofitec_whatsapp_message,
    ofitec_whatsapp_status,
    ofitec_whatsapp_template,
    ofitec_whatsapp_webhook_event,
    project_project,
)
