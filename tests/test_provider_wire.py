"""What the real Meta client puts on the wire, and the production path of the queue
(batches larger than one message, sent from several threads)."""

import json
from datetime import date

import requests

from odoo.tests import tagged

from .common import RealNetworkCall, WhatsAppCase, meta_error

MANAGER = "+56911111111"
ASSIGNEE = "+56922222222"


@tagged("post_install", "-at_install")
class TestMetaWire(WhatsAppCase):
    def _only_send(self, gateway, number):
        (payload,) = self.assertWhatsAppSent(gateway, number)
        return payload["wire"]

    def test_template_payload(self):
        action = self._create_action(deadline=date(2026, 11, 28))
        with self.mock_whatsapp_gateway() as gateway:
            self.env["ofitec.whatsapp.message"].sudo()._process_queue()
        message = self._messages(action, phone=MANAGER)
        wire = self._only_send(gateway, MANAGER)
        params = [
            "Paula Manager",
            "Edificio Los Robles",
            "Revisar hormigonado losa piso 3",
            "Crítica",
            "28/11/2026",
            "Evitar 2 semanas de atraso.",
        ]
        self.assertEqual(
            wire,
            {
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "to": MANAGER,
                "type": "template",
                "template": {
                    "name": "ofitec_urgent_action",
                    "language": {"code": "es"},
                    "components": [
                        {
                            "type": "body",
                            "parameters": [{"type": "text", "text": p} for p in params],
                        },
                        *[
                            {
                                "type": "button",
                                "sub_type": "quick_reply",
                                "index": str(index),
                                "parameters": [
                                    {"type": "payload", "payload": f"ofitec:{action.id}:{cmd}"}
                                ],
                            }
                            for index, cmd in enumerate(("ok", "completed", "cancel"))
                        ],
                    ],
                },
                "biz_opaque_callback_data": f"ofitec:{message.id}",
            },
        )
        self.assertEqual(message.whatsapp_message_id, gateway.sent_to(MANAGER)[0]["wamid"])

    def test_buttons_payload_inside_the_window(self):
        self._open_window(MANAGER)
        action = self._create_action()
        with self.mock_whatsapp_gateway() as gateway:
            self.env["ofitec.whatsapp.message"].sudo()._process_queue()
        wire = self._only_send(gateway, MANAGER)
        self.assertEqual(wire["type"], "interactive")
        self.assertEqual(wire["to"], MANAGER)
        interactive = wire["interactive"]
        self.assertEqual(interactive["type"], "button")
        self.assertIn("Revisar hormigonado losa piso 3", interactive["body"]["text"])
        self.assertEqual(
            interactive["action"]["buttons"],
            [
                {"type": "reply", "reply": {"id": f"ofitec:{action.id}:{cmd}", "title": title}}
                for cmd, title in (
                    ("ok", "OK"),
                    ("completed", "COMPLETADO"),
                    ("cancel", "CANCELAR"),
                )
            ],
        )

    def test_text_payload(self):
        self._open_window(MANAGER)
        message = (
            self.env["ofitec.whatsapp.message"]
            .sudo()
            .create(
                {
                    "direction": "outbound",
                    "state": "queued",
                    "config_id": self.config.id,
                    "company_id": self.company.id,
                    "phone": MANAGER,
                    "body": "Hola\nmundo",
                }
            )
        )
        with self.mock_whatsapp_gateway() as gateway:
            self.env["ofitec.whatsapp.message"].sudo()._process_queue()
        self.assertEqual(
            self._only_send(gateway, MANAGER),
            {
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "to": MANAGER,
                "type": "text",
                "text": {"preview_url": False, "body": "Hola\nmundo"},
                "biz_opaque_callback_data": f"ofitec:{message.id}",
            },
        )

    def test_token_and_url_on_the_wire(self):
        seen = []
        self._create_action()
        with self.mock_whatsapp_gateway() as gateway:
            meta = gateway.handlers["graph.facebook.com"]

            def spy(request):
                seen.append(request)
                return meta(request)

            gateway.handlers["graph.facebook.com"] = spy
            self.env["ofitec.whatsapp.message"].sudo()._process_queue()
        self.assertEqual(len(seen), 2)
        for request in seen:
            self.assertEqual(request.method, "POST")
            self.assertEqual(
                request.url, "https://graph.facebook.com/v23.0/106540352242922/messages"
            )
            self.assertEqual(request.headers["Authorization"], "Bearer test-access-token")
            self.assertEqual(request.headers["Content-Type"], "application/json")
            json.loads(request.body)

    def test_other_hosts_stay_blocked_inside_the_gateway(self):
        with self.mock_whatsapp_gateway(), self.assertRaises(RealNetworkCall):
            requests.get("https://api.example.com/x", timeout=1)


@tagged("post_install", "-at_install")
class TestQueueProductionPath(WhatsAppCase):
    """Batches larger than one message, HTTP calls from several threads, as in production."""

    def test_batch_of_many_with_threads(self):
        numbers = [f"+5699100{i:04d}" for i in range(9)]
        Message = self.env["ofitec.whatsapp.message"].sudo()
        for number in numbers:
            self._open_window(number)
        messages = Message.create(
            [
                {
                    "direction": "outbound",
                    "state": "queued",
                    "config_id": self.config.id,
                    "company_id": self.company.id,
                    "phone": number,
                    "body": f"Hola {number}",
                }
                for number in numbers
            ]
        )
        with self.mock_whatsapp_gateway() as gateway:
            gateway.fail(numbers[2], meta_error(131026, "Message undeliverable"))
            gateway.fail(numbers[5], meta_error(131000, "Something went wrong", http_status=500))
            handled = Message._process_queue(batch_size=4, threads=3)
        self.assertEqual(handled, 9)
        self.assertEqual(len(gateway.calls), 9)
        self.assertEqual(sorted(c["to"] for c in gateway.calls), sorted(numbers))
        by_number = {m.phone: m for m in messages}
        self.assertEqual(by_number[numbers[2]].state, "failed")
        self.assertEqual(by_number[numbers[2]].error_code, "131026")
        retried = by_number[numbers[5]]
        self.assertEqual((retried.state, retried.retry_count), ("queued", 1))
        sent = messages - by_number[numbers[2]] - retried
        self.assertEqual(set(sent.mapped("state")), {"sent"})
        # Each message got its own answer, whatever thread carried it.
        wamids = {payload["to"]: payload["wamid"] for payload in gateway.sent}
        for message in sent:
            self.assertEqual(message.whatsapp_message_id, wamids[message.phone])
            wire = gateway.sent_to(message.phone)[0]["wire"]
            self.assertEqual(wire["biz_opaque_callback_data"], f"ofitec:{message.id}")
