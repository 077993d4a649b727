import base64
import hashlib
import hmac
import unittest
from urllib.parse import urlencode

from ofitec_whatsapp.tools.provider import WebhookRequest
from ofitec_whatsapp.tools.twilio_webhook import (
    FormParams,
    TwilioWebhookHandler,
    parse_twilio_form,
    verify_twilio_signature,
)
from ofitec_whatsapp.tools.webhook import WebhookPayloadError

# Spec B4.3 test vector (computed with twilio 9.13.0).
SPEC_TOKEN = "12345"
SPEC_URL = "https://odoo.example.com/whatsapp/twilio/status?company=1"
SPEC_PARAMS = {
    "MessageSid": "SM0123456789abcdef0123456789abcdef",
    "MessageStatus": "delivered",
    "To": "whatsapp:+14155550123",
    "From": "whatsapp:+14155238886",
    "AccountSid": "AC0123456789abcdef0123456789abcdef",
}
SPEC_SIGNATURE = "JLfBVyzmj9hunjmtAcRqCnCZBtA="

TOKEN = "twilio-auth-token-0123456789secret"
PUBLIC_URL = "https://erp.ofitec.cl/webhooks/whatsapp/3"
NOW = 1_780_000_000


def sign(token, url, pairs):
    """Independent implementation of spec B4.1 (with B9's de-duplication)."""
    values = {}
    for key, value in pairs:
        values.setdefault(key, set()).add(value)
    text = url + "".join(key + value for key in sorted(values) for value in sorted(values[key]))
    digest = hmac.new(token.encode(), text.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


class TestSignature(unittest.TestCase):
    def test_spec_vector(self):
        self.assertTrue(verify_twilio_signature(SPEC_TOKEN, SPEC_URL, SPEC_PARAMS, SPEC_SIGNATURE))
        self.assertEqual(sign(SPEC_TOKEN, SPEC_URL, SPEC_PARAMS.items()), SPEC_SIGNATURE)

    def test_valid_from_raw_body(self):
        body = urlencode(SPEC_PARAMS).encode()
        self.assertTrue(verify_twilio_signature(SPEC_TOKEN, SPEC_URL, body, SPEC_SIGNATURE))

    def test_tampered_parameter(self):
        for key in SPEC_PARAMS:
            with self.subTest(key=key):
                params = dict(SPEC_PARAMS, **{key: SPEC_PARAMS[key] + "x"})
                self.assertFalse(
                    verify_twilio_signature(SPEC_TOKEN, SPEC_URL, params, SPEC_SIGNATURE)
                )
        added = dict(SPEC_PARAMS, ErrorCode="63016")
        self.assertFalse(verify_twilio_signature(SPEC_TOKEN, SPEC_URL, added, SPEC_SIGNATURE))

    def test_wrong_url(self):
        for url in (
            SPEC_URL.replace("https://", "http://"),
            SPEC_URL.replace("?company=1", ""),
            SPEC_URL.replace("?company=1", "?company=2"),
            SPEC_URL.replace("odoo.example.com", "odoo.example.org"),
            SPEC_URL.replace("/status", "/inbound"),
        ):
            with self.subTest(url=url):
                self.assertFalse(
                    verify_twilio_signature(SPEC_TOKEN, url, SPEC_PARAMS, SPEC_SIGNATURE)
                )

    def test_default_port_present_or_absent(self):
        with_port = "https://odoo.example.com:443/whatsapp/twilio/status?company=1"
        # Signed without the port, checked with it, and the other way round.
        self.assertTrue(verify_twilio_signature(SPEC_TOKEN, with_port, SPEC_PARAMS, SPEC_SIGNATURE))
        signed_with_port = sign(SPEC_TOKEN, with_port, SPEC_PARAMS.items())
        self.assertTrue(
            verify_twilio_signature(SPEC_TOKEN, SPEC_URL, SPEC_PARAMS, signed_with_port)
        )
        # The SDK also tries the URL without any port (it strips :8443 too): a
        # signature over a non-default port is valid with that port and without it.
        other_port = "https://odoo.example.com:8443/whatsapp/twilio/status?company=1"
        signed_other = sign(SPEC_TOKEN, other_port, SPEC_PARAMS.items())
        self.assertTrue(verify_twilio_signature(SPEC_TOKEN, other_port, SPEC_PARAMS, signed_other))
        self.assertFalse(verify_twilio_signature(SPEC_TOKEN, SPEC_URL, SPEC_PARAMS, signed_other))

    def test_repeated_parameter(self):
        pairs = [
            ("MessageSid", "SM1"),
            ("MediaUrl", "https://b.example/2"),
            ("MediaUrl", "https://a.example/1"),
            ("MediaUrl", "https://a.example/1"),  # identical values count once (B9)
        ]
        signature = sign(TOKEN, PUBLIC_URL, pairs)
        body = urlencode(pairs).encode()
        self.assertTrue(verify_twilio_signature(TOKEN, PUBLIC_URL, body, signature))
        self.assertTrue(verify_twilio_signature(TOKEN, PUBLIC_URL, pairs, signature))
        # Keeping only the first value of a repeated name (a plain dict) breaks it.
        self.assertFalse(verify_twilio_signature(TOKEN, PUBLIC_URL, dict(pairs[:2]), signature))
        # So does dropping one of the distinct values.
        self.assertFalse(verify_twilio_signature(TOKEN, PUBLIC_URL, pairs[:2], signature))

    def test_behind_a_proxy_public_url(self):
        """Twilio signs the public URL; Odoo behind nginx sees another one."""
        pairs = list(SPEC_PARAMS.items())
        signature = sign(TOKEN, PUBLIC_URL, pairs)
        internal = "http://127.0.0.1:8069/webhooks/whatsapp/3"
        self.assertFalse(verify_twilio_signature(TOKEN, internal, pairs, signature))
        self.assertTrue(verify_twilio_signature(TOKEN, PUBLIC_URL, pairs, signature))

    def test_missing_or_bad_inputs_give_false(self):
        for token, url, signature in (
            ("", SPEC_URL, SPEC_SIGNATURE),
            (None, SPEC_URL, SPEC_SIGNATURE),
            (SPEC_TOKEN, SPEC_URL, None),
            (SPEC_TOKEN, SPEC_URL, ""),
            (SPEC_TOKEN, "", SPEC_SIGNATURE),
            ("wrong-token", SPEC_URL, SPEC_SIGNATURE),
            (SPEC_TOKEN, SPEC_URL, "not base64 at all"),
        ):
            with self.subTest(token=token, url=url, signature=signature):
                self.assertFalse(verify_twilio_signature(token, url, SPEC_PARAMS, signature))

    def test_meta_signature_is_not_a_twilio_signature(self):
        body = b'{"object": "whatsapp_business_account", "entry": []}'
        meta = "sha256=" + hmac.new(TOKEN.encode(), body, hashlib.sha256).hexdigest()
        self.assertFalse(verify_twilio_signature(TOKEN, PUBLIC_URL, body, meta))

    def test_unsupported_algorithm_fails(self):
        self.assertFalse(
            verify_twilio_signature(
                SPEC_TOKEN,
                SPEC_URL,
                SPEC_PARAMS,
                SPEC_SIGNATURE,
                settings_header="key=x,algorithm=HMAC_MD5",
            )
        )


class TestFormParams(unittest.TestCase):
    def test_sources(self):
        for data in (
            b"A=1&B=2&B=3",
            "A=1&B=2&B=3",
            [("A", "1"), ("B", "2"), ("B", "3")],
        ):
            with self.subTest(data=data):
                form = FormParams(data)
                self.assertEqual(list(form), ["A", "B"])
                self.assertEqual(form.getlist("B"), ["2", "3"])
                self.assertEqual(form.get("A"), "1")
                self.assertIsNone(form.get("C"))
        self.assertEqual(FormParams({"A": "1"}).getall("A"), ["1"])


INBOUND_BUTTON = (
    "SmsMessageSid=SM8824d91645395b17594d92659b878468&NumMedia=0&ProfileName=Ana"
    "&MessageType=button&SmsSid=SM8824d91645395b17594d92659b878468&WaId=14155550123"
    "&SmsStatus=received&Body=OK&ButtonText=OK&ButtonPayload=ofitec%3A42%3Aok"
    "&To=whatsapp%3A%2B14155238886&NumSegments=1&MessageSid=SM8824d91645395b17594d92659b878468"
    "&AccountSid=AC0123456789abcdef0123456789abcdef"
    "&OriginalRepliedMessageSender=whatsapp%3A%2B14155238886"
    "&OriginalRepliedMessageSid=MM5cc44eecf7dab0d48d4529d0fa4af44d"
    "&From=whatsapp%3A%2B14155550123&ApiVersion=2010-04-01"
)

STATUS_BODY = (
    "MessageSid=SM0123456789abcdef0123456789abcdef&SmsSid=SM0123456789abcdef0123456789abcdef"
    "&MessageStatus={status}&SmsStatus={status}{extra}&AccountSid=AC0123456789abcdef0123456789abcdef"
    "&From=whatsapp%3A%2B14155238886&To=whatsapp%3A%2B14155550123&ApiVersion=2010-04-01"
    "&ChannelPrefix=whatsapp"
)


def status_body(status, extra=""):
    return STATUS_BODY.format(status=status, extra=extra).encode()


class TestParseInbound(unittest.TestCase):
    def test_button_tap(self):
        parsed = parse_twilio_form(INBOUND_BUTTON.encode(), NOW)
        self.assertEqual(parsed.statuses, [])
        (message,) = parsed.messages
        self.assertEqual(message.wamid, "SM8824d91645395b17594d92659b878468")
        self.assertEqual(message.type, "button")
        self.assertEqual(message.payload, "ofitec:42:ok")
        self.assertEqual(message.text, "OK")
        self.assertEqual(message.from_wa_id, "14155550123")
        self.assertEqual(message.profile_name, "Ana")
        self.assertEqual(message.context_id, "MM5cc44eecf7dab0d48d4529d0fa4af44d")
        self.assertEqual(message.context_from, "14155238886")
        self.assertEqual(message.display_phone_number, "14155238886")
        self.assertEqual(message.timestamp, NOW)
        self.assertEqual(message.sender_key, "14155550123")
        self.assertEqual(message.raw["AccountSid"], "AC0123456789abcdef0123456789abcdef")

    def test_plain_text_without_waid_uses_from(self):
        body = urlencode(
            {
                "MessageSid": "SM1",
                "From": "whatsapp:+56912345678",
                "To": "whatsapp:+14155238886",
                "Body": "  completado  ",
            }
        )
        (message,) = parse_twilio_form(body, NOW).messages
        self.assertEqual(message.type, "text")
        self.assertEqual(message.from_wa_id, "56912345678")
        self.assertEqual(message.text, "  completado  ")
        self.assertIsNone(message.payload)
        self.assertIsNone(message.context_id)
        self.assertIsNone(message.profile_name)

    def test_media_and_location(self):
        media = urlencode(
            {
                "MessageSid": "MM1",
                "From": "whatsapp:+56912345678",
                "NumMedia": "1",
                "MediaUrl0": "https://api.twilio.com/media/ME1",
                "MediaContentType0": "image/jpeg",
                "Body": "foto",
            }
        )
        (message,) = parse_twilio_form(media, NOW).messages
        self.assertEqual(message.type, "image")
        self.assertTrue(message.is_media)
        self.assertEqual(message.media_url, "https://api.twilio.com/media/ME1")
        self.assertEqual(message.text, "foto")
        location = urlencode(
            {
                "MessageSid": "SM2",
                "From": "whatsapp:+56912345678",
                "Latitude": "-33.45",
                "Longitude": "-70.66",
                "Label": "Obra",
                "Address": "Santiago",
            }
        )
        (message,) = parse_twilio_form(location, NOW).messages
        self.assertEqual(message.type, "location")
        self.assertEqual((message.latitude, message.longitude), (-33.45, -70.66))
        self.assertEqual(message.text, "Obra")

    def test_missing_message_sid(self):
        for body in (
            b"",
            b"From=whatsapp%3A%2B1&Body=hi",
            b'{"MessageSid": "SM1"}',
            b"MessageSid=SM" + b"0" * 8000 + b"&Body=hi",  # too long for the database
            b"MessageSid=SM1%27%3B--&Body=hi",
        ):
            with self.subTest(body=body), self.assertRaises(WebhookPayloadError):
                parse_twilio_form(body, NOW)

    def test_inbound_without_sender(self):
        with self.assertRaises(WebhookPayloadError):
            parse_twilio_form(b"MessageSid=SM1&Body=hi&SmsStatus=received", NOW)


class TestParseStatus(unittest.TestCase):
    def test_mapping(self):
        cases = {
            "queued": "sent",
            "accepted": "sent",
            "sending": "sent",
            "sent": "sent",
            "delivered": "delivered",
            "read": "read",
            "failed": "failed",
            "undelivered": "failed",
            "canceled": "canceled",
            "Scheduled": "scheduled",
            "something_new": "something_new",
        }
        for given, expected in cases.items():
            with self.subTest(status=given):
                parsed = parse_twilio_form(status_body(given), NOW)
                self.assertEqual(parsed.messages, [])
                (status,) = parsed.statuses
                self.assertEqual(status.status, expected)
                self.assertEqual(status.wamid, "SM0123456789abcdef0123456789abcdef")
                self.assertEqual(status.recipient_id, "14155550123")
                self.assertEqual(status.timestamp, NOW)
                self.assertIsNone(status.error)

    def test_failure_with_error_code(self):
        body = status_body("undelivered", "&ErrorCode=63016&ErrorMessage=Outside+window")
        (status,) = parse_twilio_form(body, NOW).statuses
        self.assertEqual(status.status, "failed")
        self.assertEqual(status.error.code, 63016)
        self.assertEqual(status.error.title, "Outside window")
        self.assertIn("63016", str(status.error))

    def test_known_code_without_message_gets_a_title(self):
        (status,) = parse_twilio_form(status_body("failed", "&ErrorCode=63027"), NOW).statuses
        self.assertEqual(status.error.code, 63027)
        self.assertEqual(status.error.title, "Template does not exist")
        (status,) = parse_twilio_form(status_body("failed", "&ErrorCode=99999"), NOW).statuses
        self.assertIsNone(status.error.title)


class TestHandler(unittest.TestCase):
    def setUp(self):
        self.handler = TwilioWebhookHandler(TOKEN, PUBLIC_URL)
        self.body = status_body("delivered")

    def request(self, url, body=None, query_string="", **headers):
        body = self.body if body is None else body
        pairs = FormParams(body).pairs
        headers.setdefault("X-Twilio-Signature", sign(TOKEN, url, pairs))
        return WebhookRequest(headers, body, {}, query_string)

    def test_verify_against_public_url(self):
        self.assertTrue(self.handler.verify(self.request(PUBLIC_URL)))
        unsigned = WebhookRequest({}, self.body)
        self.assertFalse(self.handler.verify(unsigned))
        signed = self.request(PUBLIC_URL)
        tampered = WebhookRequest(signed.headers, self.body + b"&X=1")
        self.assertFalse(self.handler.verify(tampered))
        internal = "http://localhost:8069/webhooks/whatsapp/3"
        self.assertFalse(self.handler.verify(self.request(internal)))

    def test_verify_with_query_string(self):
        url = PUBLIC_URL + "?company=1&x=a%20b"
        signed = self.request(url, query_string="company=1&x=a%20b")
        self.assertTrue(self.handler.verify(signed))
        for query in ("", "x=a%20b&company=1"):
            with self.subTest(query=query):
                moved = WebhookRequest(signed.headers, self.body, {}, query)
                self.assertFalse(self.handler.verify(moved))

    def test_meta_signed_body_is_refused(self):
        body = b'{"object": "whatsapp_business_account", "entry": []}'
        meta = "sha256=" + hmac.new(TOKEN.encode(), body, hashlib.sha256).hexdigest()
        request = WebhookRequest({"X-Hub-Signature-256": meta}, body)
        self.assertFalse(self.handler.verify(request))

    def test_parse_refuses_json(self):
        for body in (b'{"MessageSid": "SM1"}', b"  [1]"):
            with self.subTest(body=body), self.assertRaises(WebhookPayloadError):
                self.handler.parse(body)
        with self.assertRaises(WebhookPayloadError):
            self.handler.parse(b"")

    def test_parse_drops_what_postgresql_text_cannot_hold(self):
        body = urlencode(
            {
                "MessageSid": "SM1",
                "From": "whatsapp:+56911111111",
                "Body": "O\x00K",
                "ProfileName": "An\x00a",
                "ButtonPayload": "ofitec:7:\x00ok",
            }
        ).encode()
        self.assertIn(b"%00", body)
        (message,) = self.handler.parse(body, received_at=NOW).messages
        self.assertEqual(message.text, "OK")
        self.assertEqual(message.profile_name, "Ana")
        self.assertEqual(message.payload, "ofitec:7:ok")

    def test_parse_uses_received_at(self):
        (status,) = self.handler.parse(self.body, received_at=NOW).statuses
        self.assertEqual(status.timestamp, NOW)

    def test_acknowledge_is_empty_twiml(self):
        answer = self.handler.acknowledge()
        self.assertEqual((answer.status, answer.content_type), (200, "text/xml"))
        self.assertEqual(answer.body, '<?xml version="1.0" encoding="UTF-8"?><Response/>')
        self.assertIsNone(self.handler.handshake({}))
        self.assertNotIn(TOKEN, repr(self.handler))
