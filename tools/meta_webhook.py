"""Meta's :class:`~.provider.WebhookHandler`: signature, parsing, handshake (spec A4, A5).

* ``verify``: ``X-Hub-Signature-256`` over the raw bytes with the app secret.
* ``parse``: the body is UTF-8 JSON (RFC 8259; ``json.loads(bytes)`` would also
  accept UTF-16/32, which the event log could not store as text); NUL and lone
  surrogates (valid JSON, not storable in PostgreSQL) are dropped
  (:func:`~.pgtext.loads_storable_json`); then :func:`~.webhook.parse_meta_payload`.
* ``handshake``: the GET subscription check (``hub.mode=subscribe`` and the verify
  token, compared in constant time) answers ``hub.challenge``.
"""

from __future__ import annotations

import hmac

from .pgtext import loads_storable_json
from .provider import WebhookAnswer, WebhookHandler
from .signature import SIGNATURE_HEADER, verify_meta_signature
from .webhook import EXPECTED_SHAPE, WebhookPayloadError, parse_meta_payload

__all__ = ["MetaWebhookHandler"]


class MetaWebhookHandler(WebhookHandler):
    """Webhooks of one Meta number. ``app_secret`` signs the POSTs, ``verify_token``
    answers the GET handshake; either may be empty (then nothing is accepted)."""

    name = "meta"
    signature_header = SIGNATURE_HEADER
    expected_shape = EXPECTED_SHAPE

    def __init__(self, app_secret=None, verify_token=None):
        self._app_secret = app_secret or ""
        self._verify_token = verify_token or ""

    def __repr__(self):
        return "MetaWebhookHandler(app_secret=***, verify_token=***)"

    def verify(self, request):
        return verify_meta_signature(
            self._app_secret, request.raw_body, request.header(SIGNATURE_HEADER)
        )

    def parse(self, raw_body, received_at=None):
        # Meta dates every message and status itself: ``received_at`` is not needed.
        try:
            # Texts may hold characters PostgreSQL cannot store (NUL, lone
            # surrogates): they are dropped before anything reaches the database.
            data = loads_storable_json(bytes(raw_body).decode("utf-8"))
        except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
            raise WebhookPayloadError("malformed JSON") from None
        return parse_meta_payload(data)

    def handshake(self, args):
        mode = args.get("hub.mode", "")
        token = args.get("hub.verify_token", "")
        expected = self._verify_token
        if (
            mode == "subscribe"
            and expected
            and hmac.compare_digest(token.encode("utf-8"), expected.encode("utf-8"))
        ):
            return WebhookAnswer(200, args.get("hub.challenge", ""))
        return WebhookAnswer(403, "Forbidden")
