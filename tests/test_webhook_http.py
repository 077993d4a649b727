"""The webhook route: handshake, signature over raw bytes, limits, store-then-process."""

import json
from urllib.parse import urlencode

from odoo.tests import tagged

from ..tools.signature import meta_signature_header
from .common import (
    WhatsAppHttpCase,
    meta_body,
    meta_payload,
    meta_status,
    meta_text,
)

SPEC_VECTOR_BODY = (
    b'{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":'
    b'[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":'
    b'{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},'
    b'"statuses":[{"id":"wamid.TEST","status":"read","timestamp":"1750030073",'
    b'"recipient_id":"16505551234"}]}}]}]}'
)
SPEC_VECTOR_SIGNATURE = "sha256=799a4d8ec29777f0be4de0d056c11c4004d03393ca329c061411bf8ccf0717e7"


@tagged("post_install", "-at_install")
class TestWebhookHandshake(WhatsAppHttpCase):
    def _get(self, config_id=None, **params):
        query = {
            "hub.mode": "subscribe",
            "hub.challenge": "1158201444",
            "hub.verify_token": "test-verify-token",
        }
        query.update(params)
        return self.url_open(f"{self._webhook_url(config_id=config_id)}?{urlencode(query)}")

    def test_good_handshake_echoes_the_challenge_as_plain_text(self):
        response = self._get()
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.content, b"1158201444")
        self.assertTrue(response.headers["Content-Type"].startswith("text/plain"))

    def test_wrong_token_is_forbidden(self):
        response = self._get(**{"hub.verify_token": "not-the-token"})
        self.assertEqual(response.status_code, 403)
        self.assertNotIn(b"1158201444", response.content)

    def test_missing_token_is_forbidden(self):
        response = self._get(**{"hub.verify_token": ""})
        self.assertEqual(response.status_code, 403)

    def test_wrong_mode_is_forbidden(self):
        response = self._get(**{"hub.mode": "unsubscribe"})
        self.assertEqual(response.status_code, 403)
        self.assertNotIn(b"1158201444", response.content)

    def test_a_parameter_named_self_is_just_a_parameter(self):
        """Odoo passes query and form parameters to the route by name: "self" must not
        end the request in a TypeError (a 500 that anyone could cause unsigned)."""
        query = "hub.mode=subscribe&hub.challenge=7&hub.verify_token=test-verify-token&self=1"
        response = self.url_open(f"{self._webhook_url()}?{query}")
        self.assertEqual((response.status_code, response.content), (200, b"7"))
        response = self._post_webhook(
            b"self=1", signature=None, headers={"Content-Type": "application/x-www-form-urlencoded"}
        )
        self.assertEqual(response.status_code, 403)
        response = self.opener.post(
            self.base_url() + self._webhook_url() + "?self=1", data=b"{}", timeout=30
        )
        self.assertEqual(response.status_code, 403)

    def test_head_is_a_get_and_other_methods_are_not_allowed(self):
        url = self.base_url() + self._webhook_url()
        self.assertEqual(self.opener.head(url, timeout=30).status_code, 403)  # no handshake
        response = self.opener.options(url, timeout=30)
        self.assertEqual(response.status_code, 405)
        self.assertEqual(response.headers.get("Allow"), "GET, POST")

    def test_unknown_config_is_not_found(self):
        missing_id = self.env["ofitec.whatsapp.config"].search([], order="id desc", limit=1).id
        response = self._get(config_id=missing_id + 1000)
        self.assertEqual(response.status_code, 404)

    def test_archived_config_is_not_found(self):
        self.config.active = False
        response = self._get()
        self.assertEqual(response.status_code, 404)
        # ... for POSTs too, even correctly signed ones
        response = self._post_webhook(meta_payload(statuses=[meta_status("wamid.X", "sent")]))
        self.assertEqual(response.status_code, 404)
        self.assertFalse(self.env["ofitec.whatsapp.webhook.event"].search([]))


@tagged("post_install", "-at_install")
class TestWebhookPost(WhatsAppHttpCase):
    def setUp(self):
        super().setUp()
        self.Event = self.env["ofitec.whatsapp.webhook.event"]
        self.cron = self.env.ref("ofitec_whatsapp.ir_cron_whatsapp_process_webhooks")

    def _events(self, **domain):
        self.env.invalidate_all()
        return self.Event.search([(k, "=", v) for k, v in domain.items()])

    def _payload(self, text="Hola"):
        return meta_payload(messages=[meta_text("wamid.IN.HTTP1", "56933333333", text)])

    # Signature --------------------------------------------------------------
    def test_valid_body_is_stored_and_processed_only_by_the_cron(self):
        triggers = self.env["ir.cron.trigger"].search_count([("cron_id", "=", self.cron.id)])
        payload = self._payload()  # once: its timestamp is "now", in seconds
        response = self._post_webhook(payload)
        self.assertEqual(response.status_code, 200)
        event = self._events()
        self.assertEqual(len(event), 1)
        self.assertEqual(event.state, "received")
        self.assertEqual(event.config_id, self.config)
        self.assertEqual(json.loads(event.payload), payload)
        # Its sender, from the body the route parsed: one sender's events in order.
        self.assertEqual(event.sender_key, "56933333333")
        # The cron was woken up, but nothing was processed inside the request.
        self.assertEqual(
            self.env["ir.cron.trigger"].search_count([("cron_id", "=", self.cron.id)]),
            triggers + 1,
        )
        Message = self.env["ofitec.whatsapp.message"]
        self.assertFalse(Message.search([("whatsapp_message_id", "=", "wamid.IN.HTTP1")]))
        self.assertEqual(self._process_webhooks(), 1)
        self.assertEqual(event.state, "processed")
        inbound = Message.search([("whatsapp_message_id", "=", "wamid.IN.HTTP1")])
        self.assertEqual(inbound.direction, "inbound")
        self.assertEqual(inbound.body, "Hola")

    def test_non_ascii_body_is_checked_on_the_exact_bytes(self):
        text = "Olá, ¿acción lista? ✅ ñandú"
        for ensure_ascii in (True, False):
            with self.subTest(ensure_ascii=ensure_ascii):
                payload = meta_payload(
                    messages=[meta_text(f"wamid.IN.UTF{ensure_ascii}", "56933333333", text)]
                )
                body = meta_body(payload, ensure_ascii=ensure_ascii)
                self.assertEqual(b"\\u" in body, ensure_ascii)
                response = self._post_webhook(body)
                self.assertEqual(response.status_code, 200)
        self.assertEqual(len(self._events(state="received")), 2)
        self._process_webhooks()
        inbound = self.env["ofitec.whatsapp.message"].search(
            [("whatsapp_message_id", "like", "wamid.IN.UTF%")]
        )
        self.assertEqual(inbound.mapped("body"), [text, text])

    def test_reserialised_body_fails_the_signature(self):
        # Spec A5: the same JSON value, escaped or not, gives different digests.
        self.assertEqual(
            meta_signature_header("test_app_secret", b'{"text":{"body":"ol\\u00e1"}}'),
            "sha256=9f3d35e5e29b9b7d398abb652e8c63d619f8e90f15ed69e274a8dee9c01a1651",
        )
        payload = meta_payload(messages=[meta_text("wamid.IN.RESER", "56933333333", "olá")])
        escaped = meta_body(payload, ensure_ascii=True)
        raw_utf8 = meta_body(payload, ensure_ascii=False)
        self.assertEqual(json.loads(escaped), json.loads(raw_utf8))
        signed_escaped = meta_signature_header("test_app_secret", escaped)
        response = self._post_webhook(raw_utf8, signature=signed_escaped)
        self.assertEqual(response.status_code, 403)
        spaced = json.dumps(payload).encode()  # default separators: spaces
        response = self._post_webhook(spaced, signature=signed_escaped)
        self.assertEqual(response.status_code, 403)
        self.assertFalse(self._events())
        response = self._post_webhook(escaped, signature=signed_escaped)
        self.assertEqual(response.status_code, 200)
        self.assertEqual(len(self._events(state="received")), 1)

    def test_spec_test_vector_is_accepted(self):
        response = self._post_webhook(SPEC_VECTOR_BODY, signature=SPEC_VECTOR_SIGNATURE)
        self.assertEqual(response.status_code, 200)
        event = self._events()
        self.assertEqual(event.state, "received")
        self.assertEqual(event.payload.encode(), SPEC_VECTOR_BODY)

    def test_missing_or_wrong_signature_is_forbidden_and_counted(self):
        self.assertEqual(self.config.signature_failure_count, 0)
        self.assertFalse(self.config.last_signature_failure)
        body = meta_body(self._payload())
        cases = [
            ("missing", None),
            ("wrong digest", "sha256=" + "0" * 64),
            ("other secret", meta_signature_header("another_secret", body)),
            ("no prefix", meta_signature_header("test_app_secret", body)[7:]),
            ("verify token as key", meta_signature_header("test-verify-token", body)),
        ]
        for count, (label, header) in enumerate(cases, start=1):
            with self.subTest(label):
                response = self._post_webhook(body, signature=header)
                self.assertEqual(response.status_code, 403)
                self.config.invalidate_recordset()
                self.assertEqual(self.config.signature_failure_count, count)
        self.assertTrue(self.config.last_signature_failure)
        self.assertFalse(self._events(), "nothing is stored for an unsigned call")
        self.assertFalse(
            self.env["ofitec.whatsapp.message"].search([("direction", "=", "inbound")])
        )

    def test_signature_of_another_number_is_refused(self):
        other = self.env["ofitec.whatsapp.config"].create(
            {
                "name": "Other number",
                "phone_number_id": "999000999",
                "app_secret": "other_app_secret",
                "company_id": self.company.id,
            }
        )
        body = meta_body(self._payload())
        # Signed for ``other`` but sent to our number's URL.
        response = self._post_webhook(
            body, signature=meta_signature_header("other_app_secret", body)
        )
        self.assertEqual(response.status_code, 403)
        response = self._post_webhook(body, config=other)
        self.assertEqual(response.status_code, 200)
        self.assertEqual(self._events().config_id, other)

    # Size and shape -------------------------------------------------------
    def test_body_over_3_mb_is_refused(self):
        filler = "x" * (3 * 1024 * 1024)
        body = meta_body(self._payload(text=filler))
        self.assertGreater(len(body), 3 * 1024 * 1024)
        response = self._post_webhook(body)
        self.assertEqual(response.status_code, 413)
        self.assertFalse(self._events())

    def test_chunked_body_over_3_mb_is_refused(self):
        # Without Content-Length (chunked transfer), the limit still applies.
        body = meta_body(self._payload(text="x" * (3 * 1024 * 1024)))
        signature = meta_signature_header("test_app_secret", body)
        chunks = (body[i : i + 65536] for i in range(0, len(body), 65536))
        response = self._post_webhook(chunks, signature=signature)
        self.assertEqual(response.status_code, 413)
        self.assertFalse(self._events())

    def test_chunked_body_within_the_limit_is_accepted(self):
        body = meta_body(self._payload())
        signature = meta_signature_header("test_app_secret", body)
        chunks = (body[i : i + 50] for i in range(0, len(body), 50))
        response = self._post_webhook(chunks, signature=signature)
        self.assertEqual(response.status_code, 200)
        self.assertEqual(self._events().payload.encode(), body)

    def test_signed_malformed_json_is_a_bad_request(self):
        for body in (b'{"object": "whatsapp_business_account", "entry": [', b"", b"\xff\xfe{}"):
            with self.subTest(body=body[:20]):
                response = self._post_webhook(body)
                self.assertEqual(response.status_code, 400)
        self.assertFalse(self._events(state="received"))

    def test_signed_json_of_the_wrong_shape_is_a_bad_request(self):
        good = self._payload()
        value = good["entry"][0]["changes"][0]["value"]
        bodies = {
            "top level list": [good],
            "top level string": "whatsapp_business_account",
            "object missing": {"entry": good["entry"]},
            "object not a string": {"object": 42, "entry": good["entry"]},
            "entry not a list": {"object": "whatsapp_business_account", "entry": {"id": "1"}},
            "entry item a string": {"object": "whatsapp_business_account", "entry": ["x"]},
            "changes not a list": {
                "object": "whatsapp_business_account",
                "entry": [{"id": "1", "changes": "messages"}],
            },
            "change a list": {
                "object": "whatsapp_business_account",
                "entry": [{"id": "1", "changes": [[value]]}],
            },
            "field not a string": {
                "object": "whatsapp_business_account",
                "entry": [{"id": "1", "changes": [{"field": 3, "value": value}]}],
            },
            "value a string": {
                "object": "whatsapp_business_account",
                "entry": [{"id": "1", "changes": [{"field": "messages", "value": "x"}]}],
            },
            "value null": {
                "object": "whatsapp_business_account",
                "entry": [{"id": "1", "changes": [{"field": "messages", "value": None}]}],
            },
            "utf-16 json": "utf-16",
            "deeply nested": "nested",
        }
        for label, payload in bodies.items():
            with self.subTest(label):
                if payload == "utf-16":
                    body = json.dumps(good).encode("utf-16")
                elif payload == "nested":
                    body = b"[" * 100000 + b"]" * 100000
                else:
                    body = json.dumps(payload).encode()
                response = self._post_webhook(body)
                self.assertEqual(response.status_code, 400, label)
        # A shape error says what is wrong and what was expected.
        response = self._post_webhook(json.dumps({"object": "whatsapp_business_account"}).encode())
        self.assertEqual(response.status_code, 400)
        self.assertIn("entry must be a list", response.text)
        self.assertIn('Expected: {"object": "whatsapp_business_account"', response.text)
        self.assertFalse(self._events(state="received"))
        rejected = self._events(state="rejected")
        self.assertEqual(len(rejected), len(bodies) + 1)
        self.assertTrue(all(rejected.mapped("rejection_reason")))

    def test_other_objects_and_fields_are_acknowledged(self):
        # Meta retries anything but 200 for a week: ignored content still gets 200.
        response = self._post_webhook({"object": "page", "entry": []})
        self.assertEqual(response.status_code, 200)
        response = self._post_webhook(
            {
                "object": "whatsapp_business_account",
                "entry": [
                    {
                        "id": "1",
                        "changes": [{"field": "account_alerts", "value": {"alert": "x"}}],
                    }
                ],
            }
        )
        self.assertEqual(response.status_code, 200)
        # Items for another number of the same app: acknowledged, then ignored.
        response = self._post_webhook(
            meta_payload(
                messages=[meta_text("wamid.IN.OTHERNUM", "56933333333", "OK")],
                phone_number_id="999000999",
            )
        )
        self.assertEqual(response.status_code, 200)
        self._process_webhooks()
        self.assertEqual(self._events().mapped("state"), ["processed"] * 3)
        self.assertFalse(
            self.env["ofitec.whatsapp.message"].search(
                [("whatsapp_message_id", "=", "wamid.IN.OTHERNUM")]
            )
        )

    def test_get_parameters_do_not_bypass_the_signature(self):
        body = meta_body(self._payload())
        response = self.url_open(
            self._webhook_url()
            + "?hub.mode=subscribe&hub.verify_token=test-verify-token&hub.challenge=1",
            data=body,
            headers={"Content-Type": "application/json"},
        )
        self.assertEqual(response.status_code, 403)
        self.assertFalse(self._events())
