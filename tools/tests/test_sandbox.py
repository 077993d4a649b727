import http.server
import json
import socket
import threading
import unittest
from urllib.parse import parse_qsl

from ofitec_whatsapp.tools import sandbox
from ofitec_whatsapp.tools.meta_webhook import MetaWebhookHandler
from ofitec_whatsapp.tools.provider import WebhookRequest
from ofitec_whatsapp.tools.twilio_webhook import TwilioWebhookHandler

URL = "http://localhost:8069/webhooks/whatsapp/7"
SECRET = "demo-app-secret"
WAMID = "wamid.HBgLNTY5MTIzNDU2NzgVAgARGBI"
PAYLOAD = "ofitec:42:completed"


def _meta(**kwargs):
    values = {
        "reply_to": WAMID,
        "kind": "template",
        "text": "COMPLETADO",
        "button_payload": PAYLOAD,
        "sender": "56912345678",
        "profile_name": "Marc Demo",
        "phone_number_id": "100000000000001",
        "waba_id": "100000000000002",
        "timestamp": 1_780_000_000,
    }
    values.update(kwargs)
    return sandbox.meta_reply_request(URL, SECRET, **values)


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class TestMetaReply(unittest.TestCase):
    def _parse(self, request):
        handler = MetaWebhookHandler(SECRET, "verify")
        self.assertTrue(handler.verify(WebhookRequest(request.headers, request.body, {}, "")))
        parsed = handler.parse(request.body)
        self.assertEqual(len(parsed.messages), 1)
        return parsed.messages[0]

    def test_template_button_tap_quotes_our_message(self):
        request = _meta()
        message = self._parse(request)
        self.assertEqual(message.type, "button")
        self.assertEqual(message.payload, PAYLOAD)
        self.assertEqual(message.text, "COMPLETADO")
        self.assertEqual(message.context_id, WAMID)
        self.assertEqual(message.from_wa_id, "56912345678")
        self.assertEqual(message.phone_number_id, "100000000000001")
        self.assertEqual(message.wamid, request.message_id)
        self.assertTrue(request.message_id.startswith("wamid."))

    def test_interactive_button_reply(self):
        message = self._parse(_meta(kind="interactive", text="OK", button_payload="ofitec:42:ok"))
        self.assertEqual(message.type, "interactive")
        self.assertEqual(message.payload, "ofitec:42:ok")

    def test_free_text_is_a_quoted_text(self):
        message = self._parse(_meta(kind="text", text="¿A qué hora?", button_payload=None))
        self.assertEqual(message.type, "text")
        self.assertEqual(message.text, "¿A qué hora?")
        self.assertIsNone(message.payload)
        self.assertEqual(message.context_id, WAMID)

    def test_body_is_escaped_json_as_meta_sends(self):
        request = _meta(kind="text", text="ñandú", button_payload=None)
        self.assertIn(b"\\u00f1and\\u00fa", request.body)
        self.assertEqual(json.loads(request.body)["entry"][0]["id"], "100000000000002")

    def test_bsuid_sender(self):
        message = self._parse(_meta(sender=None, user_id="CL.1234567890123456"))
        self.assertEqual(message.from_user_id, "CL.1234567890123456")

    def test_each_reply_gets_its_own_id(self):
        self.assertNotEqual(_meta().message_id, _meta().message_id)

    def test_other_secret_refused(self):
        request = _meta()
        handler = MetaWebhookHandler("another-secret", "verify")
        self.assertFalse(handler.verify(WebhookRequest(request.headers, request.body, {}, "")))


class TestTwilioReply(unittest.TestCase):
    def test_signed_by_the_sdk_and_parsed(self):
        request = sandbox.twilio_reply_request(
            URL,
            "twilio-token",
            reply_to="SM" + "a" * 32,
            text="COMPLETADO",
            sender="+56912345678",
            account_sid="AC" + "0" * 32,
            twilio_from="whatsapp:+14155238886",
            button_payload=PAYLOAD,
        )
        handler = TwilioWebhookHandler("twilio-token", URL)
        self.assertTrue(handler.verify(WebhookRequest(request.headers, request.body, {}, "")))
        self.assertFalse(
            TwilioWebhookHandler("other", URL).verify(
                WebhookRequest(request.headers, request.body, {}, "")
            )
        )
        message = handler.parse(request.body, received_at=1_780_000_000).messages[0]
        self.assertEqual(message.payload, PAYLOAD)
        self.assertEqual(message.context_id, "SM" + "a" * 32)
        self.assertEqual(message.wamid, request.message_id)
        self.assertEqual(dict(parse_qsl(request.body.decode()))["WaId"], "56912345678")


class _Recorder(http.server.BaseHTTPRequestHandler):
    seen = []

    def do_POST(self):  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.seen.append((self.path, dict(self.headers), body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


class TestPost(unittest.TestCase):
    def test_posts_body_and_signature(self):
        server = http.server.HTTPServer(("127.0.0.1", 0), _Recorder)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        url = f"http://127.0.0.1:{server.server_port}/webhooks/whatsapp/7"
        request = sandbox.meta_reply_request(
            url, SECRET, reply_to=WAMID, kind="text", text="OK", sender="56912345678"
        )
        self.assertIsNone(sandbox.probe(url))
        self.assertEqual(sandbox.post(request), (200, None))
        path, headers, body = _Recorder.seen[-1]
        self.assertEqual(path, "/webhooks/whatsapp/7")
        self.assertEqual(body, request.body)
        self.assertEqual(headers["X-Hub-Signature-256"], request.headers["X-Hub-Signature-256"])

    def test_unreachable_says_why(self):
        url = f"http://127.0.0.1:{_free_port()}/webhooks/whatsapp/7"
        self.assertEqual(sandbox.probe(url), "refused")
        request = sandbox.meta_reply_request(
            url, SECRET, reply_to=WAMID, kind="text", text="OK", sender="56912345678"
        )
        with self.assertRaises(sandbox.WebhookUnreachable) as caught:
            sandbox.post(request, timeout=2)
        self.assertEqual(caught.exception.cause, "refused")

    def test_probe_refuses_what_is_not_a_web_address(self):
        self.assertEqual(sandbox.probe("ftp://localhost/x"), "invalid_url")
        self.assertEqual(sandbox.probe(""), "invalid_url")
