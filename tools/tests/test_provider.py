import json
import unittest

from ofitec_whatsapp.tools.meta_webhook import MetaWebhookHandler
from ofitec_whatsapp.tools.provider import (
    Provider,
    WebhookAnswer,
    WebhookHandler,
    WebhookRequest,
    make_callback_data,
    parse_callback_data,
)
from ofitec_whatsapp.tools.signature import meta_signature_header
from ofitec_whatsapp.tools.webhook import WebhookPayloadError

SECRET = "app-secret"
BODY = b'{"object":"whatsapp_business_account","entry":[]}'


class TestCallbackData(unittest.TestCase):
    def test_round_trip(self):
        self.assertEqual(make_callback_data(42), "ofitec:42")
        self.assertEqual(parse_callback_data("ofitec:42"), 42)

    def test_bad_ids_are_refused(self):
        for value in (0, -1, True, "42", None, 4.2):
            with self.subTest(value=value), self.assertRaises(ValueError):
                make_callback_data(value)

    def test_anything_else_is_not_ours(self):
        for value in (
            None,
            "",
            "ofitec:",
            "ofitec:0",
            "ofitec:12a",
            "ofitec:-3",
            "ofitec:٣",  # a non-ASCII digit
            "ofitec:1234567890123456789",
            "other:42",
            42,
        ):
            with self.subTest(value=value):
                self.assertIsNone(parse_callback_data(value))


class TestInterface(unittest.TestCase):
    def test_incomplete_providers_cannot_be_built(self):
        class Half(Provider):
            def send_text(self, to, body, callback_data=None):
                return None

        with self.assertRaises(TypeError):
            Half()

    def test_handler_defaults(self):
        class Minimal(WebhookHandler):
            def verify(self, request):
                return True

            def parse(self, raw_body):
                return None

        handler = Minimal()
        self.assertEqual(handler.acknowledge(), WebhookAnswer(200, "OK"))
        self.assertIsNone(handler.handshake({}))


class TestMetaWebhookHandler(unittest.TestCase):
    def request(self, body=BODY, signature=True, secret=SECRET):
        headers = {}
        if signature is True:
            signature = meta_signature_header(secret, body)
        if signature is not None:
            headers["X-Hub-Signature-256"] = signature
        return WebhookRequest(headers, body)

    def test_verify(self):
        handler = MetaWebhookHandler(SECRET, "token")
        self.assertTrue(handler.verify(self.request()))
        self.assertFalse(handler.verify(self.request(signature=None)))
        self.assertFalse(handler.verify(self.request(secret="other")))
        self.assertFalse(handler.verify(self.request(body=BODY + b" ", signature=None)))

    def test_no_secret_accepts_nothing(self):
        handler = MetaWebhookHandler(None, None)
        self.assertFalse(handler.verify(self.request(secret="")))
        self.assertEqual(handler.handshake({"hub.mode": "subscribe"}).status, 403)

    def test_parse(self):
        handler = MetaWebhookHandler(SECRET)
        self.assertEqual(handler.parse(BODY).object, "whatsapp_business_account")
        for body in (b"", b"{", b"\xff\xfe{}", '{"object": 1}'.encode("utf-16")):
            with self.subTest(body=body), self.assertRaises(WebhookPayloadError):
                handler.parse(body)
        with self.assertRaisesRegex(WebhookPayloadError, "entry must be a list"):
            handler.parse(b'{"object":"whatsapp_business_account"}')

    def test_unstorable_characters_are_dropped(self):
        message = {"from": "56911111111", "id": "wamid.1", "timestamp": "1700000000"}
        message.update(type="text", text={"body": "O\u0000K\ud800"})
        value = {"metadata": {"phone_number_id": "1"}, "messages": [message]}
        payload = {
            "object": "whatsapp_business_account",
            "entry": [{"id": "2", "changes": [{"field": "messages", "value": value}]}],
        }
        body = json.dumps(payload).encode()  # "\\u0000", "\\ud800" on the wire
        parsed = MetaWebhookHandler(SECRET).parse(body)
        self.assertEqual(parsed.messages[0].text, "OK")

    def test_handshake(self):
        handler = MetaWebhookHandler(SECRET, "token")
        args = {"hub.mode": "subscribe", "hub.verify_token": "token", "hub.challenge": "123"}
        self.assertEqual(handler.handshake(args), WebhookAnswer(200, "123"))
        self.assertEqual(handler.handshake(dict(args, **{"hub.verify_token": "x"})).status, 403)
        self.assertEqual(handler.handshake(dict(args, **{"hub.mode": "other"})).status, 403)

    def test_acknowledge(self):
        self.assertEqual(MetaWebhookHandler(SECRET).acknowledge().status, 200)

    def test_repr_hides_secrets(self):
        self.assertNotIn(SECRET, repr(MetaWebhookHandler(SECRET, "token")))
