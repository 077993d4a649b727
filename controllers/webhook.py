"""Webhook route of every provider: validate, store, answer. No business logic here.

The number's provider (``config._get_webhook_handler()``) checks the signature, parses
the body and says what to answer (see ``tools/provider.py``); this route only reads the
body, maps the outcome to HTTP and stores the event.

``type='http'`` (never ``'json'``: Odoo answers 200 on errors there, so Meta would not
redeliver and bad signatures would look accepted). The signature is checked on the
raw bytes before anything parses the body. Processing comes after the answer, in a
cron; when the cron is a whole batch of texts behind, a POST with inbound messages also
has this worker apply a batch once its 200 is sent (``_after_answer``).

Per request, the database sees only what must be durable before the 200: the event's
INSERT, which commits by itself (one round trip), and the cron's wake-up when no
processing run will look for it (``_store``; the number is looked up in a per-process
cache, see ``models/ofitec_whatsapp_config_webhook.py``). A POST with inbound messages costs its
worker one more short transaction after the answer (the claim that looks for a batch).
"""

import logging

from werkzeug.exceptions import NotFound

from odoo import http
from odoo.http import request

from ..tools.provider import WebhookAnswer, WebhookRequest
from ..tools.webhook import WebhookPayloadError
from .body import BodyTooLarge, body_limit, read_body, too_large_headers

_logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 3 * 1024 * 1024  # Meta's documented maximum payload


def _answer(answer, headers=()):
    """An HTTP response from a provider's :class:`~..tools.provider.WebhookAnswer`."""
    return request.make_response(
        answer.body, headers=[("Content-Type", answer.content_type), *headers], status=answer.status
    )


def _text(body, status, headers=()):
    return _answer(WebhookAnswer(status, body), headers)


def _not_allowed():
    return _text("Method not allowed", 405, [("Allow", "GET, POST")])


def _too_large(error):
    return _text("Payload too large", 413, too_large_headers(error))


def _run_after(response, job):
    """Run ``job`` once ``response`` is sent (werkzeug calls it when it closes the
    response). Under Odoo's test runner it runs before: a test reads the database as
    soon as the answer arrives, through the cursor the request's own is nested in, so a
    job still running then would interleave with the test's statements."""
    if request.registry.in_test_mode():
        job()
    else:
        response.call_on_close(job)


class WhatsappWebhookController(http.Controller):
    @http.route(
        "/webhooks/whatsapp/<int:config_id>",
        type="http",
        # Like /web/health: no user to load (auth="public" would look the public user
        # up on every request); everything below runs as sudo on the cached number.
        auth="none",
        methods=["GET", "POST"],
        csrf=False,
        save_session=False,
        **body_limit(MAX_BODY_BYTES, _too_large),
    )
    def whatsapp_webhook(self, config_id, **_kwargs):
        Config = request.env["ofitec.whatsapp.config"].sudo()
        route = Config._get_webhook_route(config_id)  # cached per process
        if not route:
            raise NotFound()
        company_id, handler = route
        config = Config.browse(config_id)
        method = request.httprequest.method
        if method in ("GET", "HEAD"):  # werkzeug routes HEAD to GET routes
            answer = handler.handshake(request.httprequest.args)
            if answer and answer.status == 200:
                config._record_handshake()
            return _answer(answer) if answer else _not_allowed()
        if method != "POST":  # OPTIONS
            return _not_allowed()
        return self._receive(config, company_id, handler)

    def _receive(self, config, company_id, handler):
        httprequest = request.httprequest
        try:
            raw = read_body(httprequest, MAX_BODY_BYTES)
        except BodyTooLarge as error:
            return _too_large(error)
        query = httprequest.query_string.decode("latin-1")
        if not handler.verify(WebhookRequest(httprequest.headers, raw, httprequest.args, query)):
            config._record_signature_failure()
            _logger.warning(
                "WhatsApp webhook for config %s refused: %s signature",
                config.id,
                "missing" if not httprequest.headers.get(handler.signature_header) else "wrong",
            )
            return _text("Forbidden", 403)
        Event = request.env["ofitec.whatsapp.webhook.event"].sudo()
        try:
            parsed = handler.parse(raw)
        except WebhookPayloadError as error:
            reason = str(error)[:250]
            Event._store_rejected(config, raw, reason)
            # Say what was expected, not only what is wrong.
            expected = getattr(handler, "expected_shape", None)
            text = f"Bad request: {reason}"
            if expected:
                text = f"{text}. Expected: {expected}"
            return _text(text, 400)
        Event._store(config, raw, company_id, parsed)
        response = _answer(handler.acknowledge())
        job = Event._after_answer(parsed)
        if job:
            _run_after(response, job)
        return response
