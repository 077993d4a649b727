# Odoo only runs the test modules imported here: keep this list complete
# (tests/test_test_modules_imported.py checks it).
from . import test_dashboard_tour
