{
    "name": "OFITEC Next Action (reference stand-in)",
    "version": "16.0.1.0.0",
    "summary": "Reference stand-in for OFITEC's Next-Best-Action module (tests and demos only)",
    "description": """
OFITEC Next Action - reference stand-in
========================================

**This is NOT the customer's module.** OFITEC's real ``ofitec_next_action``
(Next-Best-Action recommendations) is private. This addon is a minimal
reference implementation that provides exactly the documented contract of the
model ``ofitec.next.action`` (fields, the three transition methods,
``get_dashboard_data``), list/form/kanban/search views, a menu and the
``ofitec_next_action.dashboard`` OWL client action, so that ``ofitec_whatsapp``
can be tested and demonstrated on a plain Odoo 16.

Do not install it on a database that already has the customer's module.
See README.md and the shared contract ``next-action-contract.md``.
""",
    "author": "OFITEC",
    "category": "Productivity",
    "license": "LGPL-3",
    "depends": ["project", "mail"],
    "data": [
        "security/ir.model.access.csv",
        "security/ofitec_next_action_security.xml",
        "views/ofitec_next_action_views.xml",
        "views/ofitec_next_action_menus.xml",
    ],
    "demo": [
        "data/ofitec_next_action_demo.xml",
    ],
    "assets": {
        "web.assets_backend": [
            "ofitec_next_action/static/src/scss/dashboard.scss",
            "ofitec_next_action/static/src/js/dashboard.js",
            "ofitec_next_action/static/src/xml/dashboard.xml",
        ],
        "web.assets_tests": [
            "ofitec_next_action/static/tests/tours/dashboard_tour.js",
        ],
    },
    "application": True,
}
