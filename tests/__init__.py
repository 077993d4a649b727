# Odoo only runs the test modules imported here: keep this list complete
# (tests/test_test_modules_imported.py checks it).
from . import test_api
from . import test_config_security
from . import test_dashboard_tour
from . import test_outbound_queue
from . import test_recipients
from . import test_replies
from . import test_test_modules_imported
from . import test_webhook_http
from . import test_webhook_processing
