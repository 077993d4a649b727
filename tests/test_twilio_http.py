"""Twilio's webhooks on the same route: signed form posts, TwiML answer, bad input."""

import hashlib
import hmac
from urllib.parse import parse_qsl, urlencode

from odoo.tests import common, tagged

from .common import forms_parsed
from .twilio_common import (
    TWILIO_AUTH_TOKEN,
    TwilioMixin,
    twilio_inbound_form,
    twilio_signature,
    twilio_status_form,
)

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


@tagged("post_install", "-at_install")
class TestTwilioWebhookRoute(TwilioMixin, common.HttpCase):
    def setUp(self):
        super().setUp()
        self.env["ir.config_parameter"].sudo().set_param("web.base.url", self.base_url())
        self.Event = self.env["ofitec.whatsapp.webhook.event"]

    def _events(self, **domain):
        self.env.invalidate_all()
        domain = [("config_id", "=", self.twilio_config.id)] + [
            (k, "=", v) for k, v in domain.items()
        ]
        return self.Event.search(domain)

    def _post(self, body, signature=True, signed_url=None, headers=None, query=""):
        """POST ``body`` (form pairs or bytes) to the Twilio config's webhook.

        ``signature``: True signs with the Auth Token over ``signed_url`` (default:
        the Webhook URL shown on the form) and the form; a string is sent as is;
        None sends no header.
        """
        raw = body if isinstance(body, bytes) else urlencode(body).encode()
        url = self.base_url() + f"/webhooks/whatsapp/{self.twilio_config.id}"
        public = signed_url or self.twilio_config.webhook_url
        if query:
            url, public = f"{url}?{query}", f"{public}?{query}"
        all_headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if signature is True:
            pairs = parse_qsl(raw.decode(), keep_blank_values=True)
            signature = twilio_signature(TWILIO_AUTH_TOKEN, public, pairs)
        if signature is not None:
            all_headers["X-Twilio-Signature"] = signature
        all_headers.update(headers or {})
        return self.opener.post(url, data=raw, headers=all_headers, timeout=60)

    def test_a_form_declared_over_the_limit_is_refused_before_odoo_parses_it(self):
        """Odoo parses a form body whole to pass its fields to the route: a form
        declared over 3 MB is refused before that (ir.http), with the route's 413, and
        the client, still sending, receives it. A normal form still goes through."""
        webhook = f"/webhooks/whatsapp/{self.twilio_config.id}"
        big = twilio_status_form("SM" + "c" * 32, "delivered") + [("Body", "x" * 3_200_000)]
        with forms_parsed() as parsed:
            response = self._post(big)
            self.assertEqual((response.status_code, response.text), (413, "Payload too large"))
            self.assertNotEqual(response.headers.get("Connection"), "close")
            self.assertEqual(parsed, [], "the big form was never parsed")
            self.assertFalse(self._events())
            response = self._post(twilio_status_form("SM" + "d" * 32, "delivered"))
            self.assertEqual((response.status_code, response.text), (200, EMPTY_TWIML))
            self.assertEqual(parsed, [webhook])
        self.assertEqual(len(self._events(state="received")), 1)

    def test_signed_status_is_stored_and_answered_with_empty_twiml(self):
        response = self._post(twilio_status_form("SM" + "a" * 32, "delivered"))
        self.assertEqual(response.status_code, 200)
        self.assertTrue(response.headers["Content-Type"].startswith("text/xml"))
        self.assertEqual(response.text, EMPTY_TWIML)
        event = self._events()
        self.assertEqual(event.state, "received")
        self.assertIn("MessageStatus=delivered", event.payload)

    def test_signed_inbound_is_stored(self):
        response = self._post(twilio_inbound_form("SM" + "b" * 32, "+56933333333", "Hola ñandú"))
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.text, EMPTY_TWIML)
        self._process_webhooks()
        inbound = self.env["ofitec.whatsapp.message"].search(
            [("whatsapp_message_id", "=", "SM" + "b" * 32)]
        )
        self.assertEqual(inbound.body, "Hola ñandú")
        self.assertEqual(inbound.config_id, self.twilio_config)

    def test_query_string_is_part_of_the_signed_url(self):
        response = self._post(twilio_status_form("SM" + "c" * 32, "sent"), query="company=1&x=a+b")
        self.assertEqual(response.status_code, 200)

    def test_missing_or_wrong_signature_is_forbidden_and_counted(self):
        before = self.twilio_config.signature_failure_count
        form = twilio_status_form("SM" + "d" * 32, "read")
        for signature in (None, "", "bm90IGEgc2lnbmF0dXJl"):
            with self.subTest(signature=signature):
                response = self._post(form, signature=signature)
                self.assertEqual(response.status_code, 403)
        tampered = urlencode(form).replace("read", "failed").encode()
        signed_original = twilio_signature(TWILIO_AUTH_TOKEN, self.twilio_config.webhook_url, form)
        self.assertEqual(self._post(tampered, signature=signed_original).status_code, 403)
        self.twilio_config.invalidate_recordset()
        self.assertEqual(self.twilio_config.signature_failure_count, before + 4)
        self.assertFalse(self._events())

    def test_behind_a_proxy_the_public_url_is_checked(self):
        """Twilio signs the public URL; Odoo behind a proxy is reached on another one."""
        public = "https://erp.ofitec.cl"
        self.env["ir.config_parameter"].sudo().set_param("web.base.url", public)
        self.twilio_config.invalidate_recordset(["webhook_url"])
        form = twilio_status_form("SM" + "e" * 32, "sent")
        public_url = f"{public}/webhooks/whatsapp/{self.twilio_config.id}"
        self.assertEqual(self._post(form, signed_url=public_url).status_code, 200)
        internal_url = self.base_url() + f"/webhooks/whatsapp/{self.twilio_config.id}"
        self.assertEqual(self._post(form, signed_url=internal_url).status_code, 403)
        # The default port is optional in what Twilio signed.
        with_port = f"https://erp.ofitec.cl:443/webhooks/whatsapp/{self.twilio_config.id}"
        self.assertEqual(self._post(form, signed_url=with_port).status_code, 200)

    def test_json_body_is_a_bad_request(self):
        body = b'{"MessageSid": "SM1", "MessageStatus": "sent"}'
        response = self._post(body, headers={"Content-Type": "application/json"})
        self.assertEqual(response.status_code, 400)
        self.assertEqual(self._events(state="rejected").rejection_reason[:9], "JSON body")

    def test_missing_message_sid_is_a_bad_request(self):
        form = [(k, v) for k, v in twilio_status_form("SM1", "sent") if "Sid" not in k]
        response = self._post(form)
        self.assertEqual(response.status_code, 400)
        self.assertFalse(self._events(state="received"))

    def test_meta_signed_body_on_a_twilio_config_is_forbidden(self):
        body = b'{"object":"whatsapp_business_account","entry":[]}'
        meta = "sha256=" + hmac.new(TWILIO_AUTH_TOKEN.encode(), body, hashlib.sha256).hexdigest()
        response = self._post(
            body,
            signature=None,
            headers={"X-Hub-Signature-256": meta, "Content-Type": "application/json"},
        )
        self.assertEqual(response.status_code, 403)
        self.assertFalse(self._events())

    def test_get_has_no_handshake(self):
        response = self.url_open(f"/webhooks/whatsapp/{self.twilio_config.id}?hub.mode=subscribe")
        self.assertEqual(response.status_code, 405)
