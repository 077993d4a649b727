"""Templates at Meta: submission payload, sync, and messages that wait for approval.

The real Cloud API client runs; only the HTTP transport is faked
(``requests.adapters.HTTPAdapter.send``), so every payload builder is exercised.
"""

import json
from contextlib import contextmanager
from unittest.mock import patch

import requests

from odoo import fields
from odoo.exceptions import UserError

from ..models.ofitec_whatsapp_config_setup import TEMPLATE_SYNC_CRONS
from .common import META_WABA_ID, WhatsAppCase, meta_payload

GRAPH = "https://graph.facebook.com/v23.0"
OUTSIDER = "+56977770001"


class FakeGraphTransport:
    """Answers Graph API requests from a list of ``(method, path prefix, status, body)``
    and records each request (method, URL, JSON body)."""

    def __init__(self):
        self.routes = []
        self.requests = []

    def answer(self, method, path, body, status=200):
        self.routes.append((method, path, status, body))

    def send(self, adapter, request, *args, **kwargs):
        body = json.loads(request.body) if request.body else None
        self.requests.append({"method": request.method, "url": request.url, "json": body})
        for index, (method, path, status, answer) in enumerate(self.routes):
            if method == request.method and request.url.startswith(GRAPH + path):
                del self.routes[index]
                response = requests.Response()
                response.status_code = status
                response._content = json.dumps(answer).encode()
                response.url = request.url
                response.request = request
                return response
        raise AssertionError(f"unexpected Graph request {request.method} {request.url}")


class TestTemplateMeta(WhatsAppCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.urgent = cls.env.ref("ofitec_whatsapp.ofitec_whatsapp_template_urgent_action")
        cls.completed = cls.env.ref("ofitec_whatsapp.ofitec_whatsapp_template_action_completed")
        cls.welcome = cls.env.ref("ofitec_whatsapp.ofitec_whatsapp_template_welcome")
        (cls.urgent | cls.completed | cls.welcome).write({"meta_status": False})

    @contextmanager
    def fake_graph(self):
        transport = FakeGraphTransport()

        def send(adapter, request, *args, **kwargs):
            return transport.send(adapter, request, *args, **kwargs)

        with patch.object(requests.adapters.HTTPAdapter, "send", send):
            yield transport

    # Submit ------------------------------------------------------------------
    def test_submission_payload(self):
        with self.fake_graph() as graph:
            graph.answer(
                "POST",
                f"/{META_WABA_ID}/message_templates",
                {"id": "594425479261596", "status": "PENDING", "category": "UTILITY"},
            )
            self.urgent.action_submit_to_meta()
        (request,) = graph.requests
        self.assertEqual(request["url"], f"{GRAPH}/{META_WABA_ID}/message_templates")
        payload = request["json"]
        self.assertEqual(
            (payload["name"], payload["language"], payload["category"]),
            ("ofitec_urgent_action", "es", "UTILITY"),
        )
        body, buttons = payload["components"]
        self.assertEqual(body["type"], "BODY")
        # {{1}}…{{6}} in the order of the parameter keys, each with its sample.
        self.assertEqual(
            body["text"],
            "Hola {{1}}, hay una acción urgente en el proyecto {{2}}: {{3}} (prioridad {{4}}).\n\n"
            "Fecha límite: {{5}}\nImpacto estimado: {{6}}\n\n"
            "Responde con un botón para actualizarla.",
        )
        self.assertEqual(body["example"]["body_text"][0][0], "María González")
        self.assertEqual(len(body["example"]["body_text"][0]), 6)
        self.assertEqual(
            buttons,
            {
                "type": "BUTTONS",
                "buttons": [
                    {"type": "QUICK_REPLY", "text": "OK"},
                    {"type": "QUICK_REPLY", "text": "COMPLETADO"},
                    {"type": "QUICK_REPLY", "text": "CANCELAR"},
                ],
            },
        )
        self.assertEqual(
            (self.urgent.meta_status, self.urgent.meta_template_id, self.urgent.meta_category),
            ("PENDING", "594425479261596", "UTILITY"),
        )
        self.assertFalse(self.urgent.meta_error)

    def test_meta_refusal_is_shown_and_nothing_else_changes(self):
        self.welcome.write({"meta_status": "REJECTED", "meta_template_id": "11"})
        with self.fake_graph() as graph:
            graph.answer(
                "POST",
                f"/{META_WABA_ID}/message_templates",
                {
                    "error": {
                        "message": "Invalid parameter",
                        "type": "OAuthException",
                        "code": 100,
                        "error_user_msg": "Content in this language already exists",
                    }
                },
                status=400,
            )
            self.welcome.action_submit_to_meta()
        self.assertIn("100", self.welcome.meta_error)
        self.assertIn("Invalid parameter", self.welcome.meta_error)
        self.assertEqual(
            (self.welcome.meta_status, self.welcome.meta_template_id), ("REJECTED", "11")
        )

    def test_waba_id_is_required(self):
        self.config.waba_id = False
        self.assertTrue(self.urgent.meta_account_missing)
        with self.fake_graph() as graph, self.assertRaisesRegex(UserError, "Business Account ID"):
            self.urgent.action_submit_to_meta()
        with self.fake_graph() as graph, self.assertRaisesRegex(UserError, "Business Account ID"):
            self.urgent.action_sync_from_meta()
        self.assertFalse(graph.requests)

    # Sync --------------------------------------------------------------------
    def test_sync_reads_every_page_and_every_status(self):
        page2 = f"{GRAPH}/{META_WABA_ID}/message_templates?after=QVFIU2&limit=100"
        with self.fake_graph() as graph:
            graph.answer(
                "GET",
                f"/{META_WABA_ID}/message_templates?",
                {
                    "data": [
                        {
                            "id": "1",
                            "name": "ofitec_urgent_action",
                            "language": "es",
                            "status": "APPROVED",
                            "category": "UTILITY",
                            "quality_score": {"score": "GREEN"},
                        },
                        {
                            "id": "9",
                            "name": "someone_elses",
                            "language": "en_US",
                            "status": "APPROVED",
                        },
                    ],
                    "paging": {"cursors": {"after": "QVFIU2"}, "next": page2},
                },
            )
            graph.answer(
                "GET",
                f"/{META_WABA_ID}/message_templates?after=QVFIU2",
                {
                    "data": [
                        {
                            "id": "2",
                            "name": "ofitec_action_completed",
                            "language": "es",
                            "status": "REJECTED",
                            "category": "UTILITY",
                            "rejected_reason": "INVALID_FORMAT",
                        },
                        {
                            "id": "3",
                            "name": "ofitec_welcome",
                            "language": "es",
                            "status": "SOMETHING_NEW",
                            "category": "MARKETING",
                        },
                    ]
                },
            )
            self.urgent.action_sync_from_meta()
        self.assertEqual(len(graph.requests), 2)
        self.assertEqual(
            (self.urgent.meta_status, self.urgent.meta_quality, self.urgent.meta_template_id),
            ("APPROVED", "GREEN", "1"),
        )
        self.assertFalse(self.urgent.meta_category_changed)
        self.assertEqual(
            (self.completed.meta_status, self.completed.meta_rejected_reason),
            ("REJECTED", "INVALID_FORMAT"),
        )
        # Unknown values are stored as text; Meta moved welcome to MARKETING: a warning.
        self.assertEqual(
            (self.welcome.meta_status, self.welcome.meta_category), ("SOMETHING_NEW", "MARKETING")
        )
        self.assertTrue(self.welcome.meta_category_changed)
        self.assertTrue(self.urgent.meta_synced_at)

    def test_another_name_or_language_forgets_what_meta_said(self):
        """Meta approves a template by its name and language: what it said under the
        old ones does not hold for the new ones. Another name or language leaves the
        template as if never submitted, and the sync cron runs now to read the new one
        (it may be approved already); an empty name has nothing to read. Saving the
        same name and language keeps everything."""
        template = self.urgent
        said = {
            "meta_template_id": "1",
            "meta_status": "APPROVED",
            "meta_category": "UTILITY",
            "meta_quality": "GREEN",
            "meta_rejected_reason": "NONE",
            "meta_error": "Old error",
            "meta_synced_at": fields.Datetime.now(),
        }
        never = dict.fromkeys(said, False)
        Trigger = self.env["ir.cron.trigger"].sudo()
        cron = self.env.ref(TEMPLATE_SYNC_CRONS["meta"])
        Trigger.search([("cron_id", "=", cron.id)]).unlink()
        name = template.meta_template_name
        template.write(said)
        template.write({"meta_template_name": f" {name} ", "meta_language": "es"})
        self.assertEqual(template.read(list(said))[0], dict(said, id=template.id))
        self.assertFalse(Trigger.search([("cron_id", "=", cron.id)]))
        template.meta_language = "es_MX"
        self.assertEqual(template.read(list(said))[0], dict(never, id=template.id))
        self.assertFalse(template._is_approved_for("meta"))
        self.assertTrue(Trigger.search([("cron_id", "=", cron.id)]), "read from Meta now")
        Trigger.search([("cron_id", "=", cron.id)]).unlink()
        template.write(said)
        template.meta_template_name = False
        self.assertEqual(template.read(list(said))[0], dict(never, id=template.id))
        self.assertFalse(Trigger.search([("cron_id", "=", cron.id)]), "nothing to read")
        # A name and its status set together (a sync, an import) are kept as written.
        template.write({"meta_template_name": name, "meta_status": "PENDING"})
        self.assertEqual(template.meta_status, "PENDING")

    @staticmethod
    def _refuse_the_token(graph):
        graph.answer(
            "GET",
            f"/{META_WABA_ID}/message_templates?",
            {"error": {"message": "Error validating access token", "code": 190}},
            status=401,
        )

    def test_sync_failure_is_noted_and_nothing_else_changes(self):
        self.urgent.meta_status = "APPROVED"
        with self.fake_graph() as graph:
            self._refuse_the_token(graph)
            self.env["ofitec.whatsapp.template"]._cron_sync_from_meta()
        self.assertEqual(self.urgent.meta_status, "APPROVED")
        self.assertIn("190", self.urgent.meta_error)
        self.assertTrue(self.config.sending_paused, "an expired token pauses the number")

    def test_a_refused_sync_in_test_mode_pauses_nothing(self):
        """Pressed on a number in test mode (the demo's made-up token): the error is
        shown and the token marked expired, but the number is not paused (its test
        messages need no token: tests/test_token_pause.py)."""
        self.config.test_mode = True
        with self.fake_graph() as graph:
            self._refuse_the_token(graph)
            self.urgent.action_sync_from_meta()
        self.assertIn("190", self.urgent.meta_error)
        self.assertEqual((self.config.sending_paused, self.config.token_status), (False, "expired"))

    def test_cron_leaves_numbers_in_test_mode_and_paused_ones_alone(self):
        """Test mode: nothing leaves Odoo, not even the daily read of the templates
        (the demo's made-up token would pause the demo number); a refused token is not
        offered again every day."""
        self.urgent.meta_status = "APPROVED"
        for vals in ({"test_mode": True}, {"test_mode": False, "sending_paused": True}):
            self.config.write(vals)
            with self.fake_graph() as graph:
                self.env["ofitec.whatsapp.template"]._cron_sync_from_meta()
            self.assertEqual(graph.requests, [], vals)
            self.assertEqual((self.urgent.meta_status, self.urgent.meta_error), ("APPROVED", False))

    def test_leaving_test_mode_syncs_the_templates_at_once(self):
        cron = self.env.ref("ofitec_whatsapp.ir_cron_whatsapp_sync_templates")
        triggers = self.env["ir.cron.trigger"].sudo()
        self.config.test_mode = True
        before = triggers.search_count([("cron_id", "=", cron.id)])
        self.config.name = "Renamed in test mode"
        self.assertEqual(triggers.search_count([("cron_id", "=", cron.id)]), before)
        self.config.test_mode = False
        self.assertEqual(triggers.search_count([("cron_id", "=", cron.id)]), before + 1)

    # Only an approved template is sent ------------------------------------------
    def test_message_waits_for_approval_then_goes(self):
        self.urgent.meta_status = "PENDING"
        self.user_assignee.partner_id.mobile = OUTSIDER
        action = self._create_action()
        with self.mock_whatsapp_gateway() as gateway:
            self._run_queue()
        waiting = self._messages(action, phone=OUTSIDER)
        self.assertEqual(waiting.state, "queued")
        self.assertEqual(waiting.error_code, "template_not_approved")
        self.assertIn("PENDING", waiting.error_message)
        self.assertTrue(waiting.next_attempt, "re-checked later, not in a loop")
        self.assertFalse(gateway.sent_to(OUTSIDER))
        # Meta approves: the status webhook releases the message at once.
        change = {
            "field": "message_template_status_update",
            "value": {
                "event": "APPROVED",
                "message_template_id": 1387,
                "message_template_name": "ofitec_urgent_action",
                "message_template_language": "es",
                "reason": "NONE",
            },
        }
        self._receive(meta_payload(changes=[change]))
        self.assertEqual(self.urgent.meta_status, "APPROVED")
        self.assertFalse(waiting.next_attempt)
        with self.mock_whatsapp_gateway() as gateway:
            self._run_queue()
        self.assertEqual(waiting.state, "sent")
        (payload,) = self.assertWhatsAppSent(gateway, OUTSIDER, kind="template")
        self.assertEqual(payload["name"], "ofitec_urgent_action")
