"""The Odoo server shared by the HTTP benches: one database holding sent messages with
known wamids, Odoo with --workers=2 --max-cron-threads=1, and the number's app secret."""

from dataclasses import dataclass, field

from common import (
    PHONE_NUMBER_ID,
    WABA_ID,
    load_signature_module,
    pick_ports,
    say,
    section,
    start_fake_graph,
    start_odoo_server,
)

APP_SECRET = "bench-app-secret-c"  # the number's, which signs the webhooks
GRAPH_TOKEN = "bench-token-c"  # what the fake Graph API checks


@dataclass
class Server:
    """What an HTTP bench needs to reach the running server and its database."""

    db: str
    port: int
    config_id: int
    secret: str
    signature: object  # tools/signature.py, loaded on its own
    proc: object  # the Odoo server's Popen
    phone_bases: dict = field(default_factory=dict)

    @property
    def webhook_path(self):
        return f"/webhooks/whatsapp/{self.config_id}"

    def signed_headers(self, body, **extra):
        """Headers of a POST Meta would sign with the number's app secret."""
        return {
            "Content-Type": "application/json",
            "X-Hub-Signature-256": self.signature.meta_signature_header(self.secret, body),
            **extra,
        }


def run_benches(ctx, benches):
    """Prepare the database, start Odoo, run each bench module in order, stop Odoo."""
    section(
        f"HTTP benches: starting Odoo with --workers=2 "
        f"--max-cron-threads={ctx.options.cron_threads}"
        + (", -d only (no --db-filter)" if ctx.options.no_db_filter else ", --db-filter")
    )
    srv = _start(ctx, benches)
    done = []
    try:
        for bench in benches:
            if ctx.guard(bench.LABEL, lambda bench=bench: bench.run(ctx, srv)):
                done.append(bench)
    finally:
        ctx.runner.stop(srv.proc)
    for bench in done:
        after_stop = getattr(bench, "after_stop", None)
        if after_stop:
            ctx.guard(bench.LABEL, lambda after_stop=after_stop: after_stop(ctx, srv))
    errors = ctx.runner.log_errors("odoo_server.log")
    if errors:
        ctx.note(
            f"    !! {len(errors)} ERROR line(s) in the Odoo server log, e.g. {errors[0][:300]}"
        )


def _start(ctx, benches):
    """A clone of the template prepared for ``benches``, and Odoo started on it."""
    ctx.ensure_template("wa")
    db = f"{ctx.runner.prefix}_http"
    ctx.runner.clone(ctx.template_db, db)
    port = pick_ports(18620, 18639, count=2)
    sent_messages, phone_bases = {}, {}
    for bench in benches:
        for group, (count, base) in bench.sent_messages(ctx.options).items():
            sent_messages[group], phone_bases[group] = count, base
    _prepare_db(ctx, db, sent_messages, phone_bases)
    config_id = ctx.config_id(db)
    proc = start_odoo_server(ctx.runner, db, port)
    srv = Server(db, port, config_id, APP_SECRET, load_signature_module(), proc, phone_bases)
    say(
        f"  Odoo on 127.0.0.1:{port} (--workers=2 --max-cron-threads="
        f"{ctx.options.cron_threads}), webhook {srv.webhook_path}"
    )
    return srv


def _prepare_db(ctx, db, sent_messages, phone_bases):
    """The number (its API on a fake Graph API started here) and the sent messages
    whose wamids the benches' statuses and replies refer to."""
    # Statuses send nothing; the answers to inbound texts go to the fake Graph API.
    graph_port = pick_ports(18610, 18619)
    start_fake_graph(
        ctx.runner, graph_port, GRAPH_TOKEN, ctx.runner.log_path("fake_graph_http.jsonl")
    )
    say(f"  preparing {db}: {sum(sent_messages.values())} sent messages with wamids")
    ctx.runner.shell(
        db,
        "setup_db",
        {
            "send_cron_active": True,
            "api_base_url": f"http://127.0.0.1:{graph_port}",
            "token": GRAPH_TOKEN,
            "app_secret": APP_SECRET,
            "phone_number_id": PHONE_NUMBER_ID,
            "waba_id": WABA_ID,
            "sent_messages": sent_messages,
            "phone_bases": phone_bases,
        },
        "http_setup",
    )
