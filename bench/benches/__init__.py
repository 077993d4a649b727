"""One module per bench; bench_queue.py runs them in order (see its BENCHES).

A bench on its own database has ``run(ctx)``. A bench on the shared running Odoo
server (benches/server.py) has ``sent_messages(options)`` (the sent messages with
known wamids it needs, by group: ``{group: (count, phone_base)}``), ``run(ctx, srv)``
while the server runs, and optionally ``after_stop(ctx, srv)`` once it is stopped.
"""
