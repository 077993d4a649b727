# Odoo only runs the test modules imported here: keep this list complete
# (tests/test_test_modules_imported.py checks it).
from . import (
    test_api,
    test_config_health,
    test_config_security,
    test_dashboard_tour,
    test_menus,
    test_outbound_queue,
    test_provider_cases,
    test_provider_wire,
    test_recipients,
    test_replies,
    test_request_body,
    test_stats,
    test_template_meta,
    test_test_modules_imported,
    test_token_pause,
    test_twilio,
    test_twilio_http,
    test_webhook_http,
    test_webhook_processing,
)
