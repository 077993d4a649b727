from . import ofitec_whatsapp_simulate_reply
