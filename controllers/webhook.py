"""Meta webhook route: validate, store, answer. No business logic here.

``type='http'`` (never ``'json'``: Odoo answers 200 on errors there, so Meta would not
redeliver and bad signatures would look accepted). The signature is checked on the
raw bytes before anything parses the body; processing runs later in a cron.
"""

import hmac
import json
import logging

from werkzeug.exceptions import NotFound

from odoo import http
from odoo.http import request

from ..tools import signature, webhook
from .body import BodyTooLarge, read_body, too_large_headers

_logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 3 * 1024 * 1024  # Meta's documented maximum payload


def _text(body, status, headers=()):
    return request.make_response(
        body, headers=[("Content-Type", "text/plain; charset=utf-8"), *headers], status=status
    )


class WhatsappWebhookController(http.Controller):
    @http.route(
        "/webhooks/whatsapp/<int:config_id>",
        type="http",
        auth="public",
        methods=["GET", "POST"],
        csrf=False,
        save_session=False,
    )
    def whatsapp_webhook(self, config_id, **_kwargs):
        config = request.env["ofitec.whatsapp.config"].sudo().browse(config_id).exists()
        if not config or not config.active:
            raise NotFound()
        if request.httprequest.method == "GET":
            return self._handshake(config)
        return self._receive(config)

    def _handshake(self, config):
        args = request.httprequest.args
        mode = args.get("hub.mode", "")
        token = args.get("hub.verify_token", "")
        challenge = args.get("hub.challenge", "")
        expected = config.verify_token or ""
        if (
            mode == "subscribe"
            and expected
            and hmac.compare_digest(token.encode("utf-8"), expected.encode("utf-8"))
        ):
            return _text(challenge, 200)
        return _text("Forbidden", 403)

    def _receive(self, config):
        httprequest = request.httprequest
        try:
            raw = read_body(httprequest, MAX_BODY_BYTES)
        except BodyTooLarge as error:
            return _text("Payload too large", 413, too_large_headers(error))
        header = httprequest.headers.get("X-Hub-Signature-256")
        if not signature.verify_meta_signature(config.app_secret or "", raw, header):
            config._record_signature_failure()
            _logger.warning(
                "WhatsApp webhook for config %s refused: %s signature",
                config.id,
                "missing" if not header else "wrong",
            )
            return _text("Forbidden", 403)
        Event = request.env["ofitec.whatsapp.webhook.event"].sudo()
        try:
            # JSON on the wire is UTF-8 (RFC 8259): json.loads(bytes) would also
            # accept UTF-16/32, which the event log could not store as text.
            data = json.loads(raw.decode("utf-8"))
        except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
            Event._store_rejected(config, raw, "malformed JSON")
            return _text("Malformed JSON", 400)
        try:
            webhook.parse_meta_payload(data)
        except webhook.WebhookPayloadError as error:
            Event._store_rejected(config, raw, str(error)[:250])
            return _text(f"Unexpected payload: {error}", 400)
        Event._store(config, raw)
        return _text("OK", 200)
