# Odoo only runs the test modules imported here: import every test_*.py.
from . import test_dashboard_tour, test_next_action
