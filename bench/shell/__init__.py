"""Code run inside ``odoo shell`` by the benches (see common.Runner.shell).

Each module has ``run(env, args)``: ``env`` is the superuser environment of the
database, ``args`` the bench's JSON-able arguments; it returns the figures as a dict.
"""
