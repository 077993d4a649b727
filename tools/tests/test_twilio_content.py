import unittest

from twilio_fakes import ACCOUNT_SID, AUTH_TOKEN, CONTENT_SID, FROM, fake_session, twilio_error

from ofitec_whatsapp.tools.errors import AuthError, InvalidResponseError, PermanentError
from ofitec_whatsapp.tools.templates import TemplateSubmissionError
from ofitec_whatsapp.tools.twilio_client import TwilioClient
from ofitec_whatsapp.tools.twilio_content import (
    ContentApproval,
    build_approval_request,
    build_content_request,
    parse_approval,
)

SAMPLES = {"recipient_name": "María", "project": "Los Robles", "title": "Losa\tpiso 3"}
URGENT = "Hola {{recipient_name}}, acción en {{project}}: {{title}}. Responde con un botón."


def approval_answer(status="approved", **whatsapp):
    body = {"name": "ofitec_urgent_action", "category": "UTILITY", "status": status}
    body.update(whatsapp)
    return 200, {
        "sid": CONTENT_SID,
        "account_sid": ACCOUNT_SID,
        "url": f"https://content.twilio.com/v1/Content/{CONTENT_SID}/ApprovalRequests",
        "whatsapp": body,
    }


class TestParseApproval(unittest.TestCase):
    def test_statuses_are_kept_as_text(self):
        for given, expected in (
            ("approved", "approved"),
            ("APPROVED", "approved"),
            ("pending", "pending"),
            ("rejected", "rejected"),
            ("in_appeal", "in_appeal"),
            ("something-new", "something-new"),
        ):
            with self.subTest(given=given):
                approval = parse_approval(CONTENT_SID, {"status": given})
                self.assertEqual(approval.status, expected)
                self.assertEqual(approval.approved, expected == "approved")

    def test_never_submitted(self):
        for whatsapp in (None, {}, "", [], {"status": ""}):
            with self.subTest(whatsapp=whatsapp):
                approval = parse_approval(CONTENT_SID, whatsapp)
                self.assertIsNone(approval.status)
                self.assertFalse(approval.approved)

    def test_fields(self):
        approval = parse_approval(
            CONTENT_SID,
            {"status": "rejected", "category": "marketing", "rejection_reason": "Bad", "name": "x"},
        )
        self.assertEqual(
            approval,
            ContentApproval(CONTENT_SID, "rejected", "MARKETING", "Bad", "x"),
        )


class TestFetchApproval(unittest.TestCase):
    def _client(self, *answers, **kwargs):
        session, adapter = fake_session(*answers)
        return TwilioClient(ACCOUNT_SID, AUTH_TOKEN, FROM, session=session, **kwargs), adapter

    def test_fetch_through_the_sdk(self):
        client, adapter = self._client(approval_answer("pending", rejection_reason=""))
        approval = client.fetch_content_approval(CONTENT_SID)
        self.assertEqual(approval.status, "pending")
        self.assertIsNone(approval.rejection_reason)
        (request,) = adapter.requests
        self.assertEqual(request["method"], "GET")
        self.assertEqual(
            request["url"], f"https://content.twilio.com/v1/Content/{CONTENT_SID}/ApprovalRequests"
        )
        self.assertTrue(request["headers"]["Authorization"].startswith("Basic "))
        self.assertEqual(request["timeout"], 30.0)

    def test_custom_base_url_serves_content_too(self):
        client, adapter = self._client(approval_answer(), base_url="http://127.0.0.1:8999")
        self.assertTrue(client.fetch_content_approval(CONTENT_SID).approved)
        self.assertEqual(
            adapter.requests[0]["url"],
            f"http://127.0.0.1:8999/v1/Content/{CONTENT_SID}/ApprovalRequests",
        )

    def test_errors_are_classified_and_the_token_never_shows(self):
        client, _adapter = self._client(twilio_error(401, 20003, f"Authenticate {AUTH_TOKEN}"))
        with self.assertRaises(AuthError) as caught:
            client.fetch_content_approval(CONTENT_SID)
        self.assertNotIn(AUTH_TOKEN, str(caught.exception))
        client, _adapter = self._client(twilio_error(404, 20404, "Not found"))
        with self.assertRaises(PermanentError) as caught:
            client.fetch_content_approval(CONTENT_SID)
        self.assertEqual(caught.exception.code, 20404)

    def test_not_a_content_sid(self):
        client, adapter = self._client()
        with self.assertRaises(ValueError):
            client.fetch_content_approval("HXnope")
        self.assertFalse(adapter.requests)


class TestBuildContent(unittest.TestCase):
    def test_quick_reply_ids_are_the_variables_after_the_parameters(self):
        request = build_content_request(
            "ofitec_urgent_action",
            "es",
            URGENT,
            ["recipient_name", "project", "title"],
            SAMPLES,
            quick_replies=["ok", "completed", "cancel"],
        )
        self.assertEqual(request["friendly_name"], "ofitec_urgent_action")
        self.assertEqual(request["language"], "es")
        quick = request["types"]["twilio/quick-reply"]
        self.assertEqual(
            quick["body"], "Hola {{1}}, acción en {{2}}: {{3}}. Responde con un botón."
        )
        self.assertEqual(
            quick["actions"],
            [
                {"type": "QUICK_REPLY", "title": "OK", "id": "{{4}}"},
                {"type": "QUICK_REPLY", "title": "COMPLETADO", "id": "{{5}}"},
                {"type": "QUICK_REPLY", "title": "CANCELAR", "id": "{{6}}"},
            ],
        )
        # Every variable has a sample (Twilio requires them), sanitised as sent.
        self.assertEqual(
            request["variables"],
            {
                "1": "María",
                "2": "Los Robles",
                "3": "Losa piso 3",
                "4": "ofitec:42:ok",
                "5": "ofitec:42:completed",
                "6": "ofitec:42:cancel",
            },
        )

    def test_plain_text_without_buttons(self):
        request = build_content_request(
            "ofitec_welcome",
            "es_MX",
            "¡Hola {{recipient_name}}! Bienvenido.",
            ["recipient_name"],
            SAMPLES,
        )
        self.assertEqual(request["types"], {"twilio/text": {"body": "¡Hola {{1}}! Bienvenido."}})
        self.assertEqual(request["variables"], {"1": "María"})
        self.assertEqual(request["language"], "es_MX")

    def test_what_whatsapp_would_refuse_is_refused_here(self):
        cases = [
            (("Bad Name", "es", URGENT, ["recipient_name", "project", "title"]), "lowercase"),
            (("ofitec_x", "", URGENT, ["recipient_name", "project", "title"]), "language"),
            (("ofitec_x", "es", "{{title}} pendiente.", ["title"]), "starts or ends"),
            (
                ("ofitec_x", "es", "Hola {{project}} {{title}}.", ["project", "title"]),
                "side by side",
            ),
            (("ofitec_x", "es", "Hola {{project}}.", ["project", "title"]), "does not use title"),
        ]
        for args, reason in cases:
            with self.subTest(reason=reason), self.assertRaises(TemplateSubmissionError) as caught:
                build_content_request(*args, SAMPLES)
            self.assertIn(reason, str(caught.exception))
        with self.assertRaises(TemplateSubmissionError):
            build_content_request(
                "ofitec_x",
                "es",
                URGENT,
                ["recipient_name", "project", "title"],
                SAMPLES,
                quick_replies=["stop"],
            )

    def test_approval_request(self):
        self.assertEqual(
            build_approval_request("ofitec_welcome"),
            {"name": "ofitec_welcome", "category": "UTILITY"},
        )
        with self.assertRaises(TemplateSubmissionError):
            build_approval_request("Welcome!")


class TestSubmitContent(unittest.TestCase):
    def _client(self, *answers, **kwargs):
        session, adapter = fake_session(*answers)
        return TwilioClient(ACCOUNT_SID, AUTH_TOKEN, FROM, session=session, **kwargs), adapter

    def test_create_then_submit_through_the_sdk(self):
        request = build_content_request(
            "ofitec_welcome",
            "es",
            "¡Hola {{recipient_name}}! Bienvenido.",
            ["recipient_name"],
            SAMPLES,
        )
        client, adapter = self._client(
            (
                201,
                {"sid": CONTENT_SID, "friendly_name": "ofitec_welcome", "types": request["types"]},
            ),
            (201, {"name": "ofitec_welcome", "category": "UTILITY", "status": "received"}),
        )
        self.assertEqual(client.create_content(request), CONTENT_SID)
        approval = client.submit_content_approval(
            CONTENT_SID, build_approval_request("ofitec_welcome")
        )
        self.assertEqual(approval.status, "received")
        self.assertEqual(approval.category, "UTILITY")
        create, submit = adapter.requests
        self.assertEqual(
            (create["method"], create["url"]), ("POST", "https://content.twilio.com/v1/Content")
        )
        self.assertEqual(create["json"]["friendly_name"], "ofitec_welcome")
        self.assertEqual(create["json"]["variables"], {"1": "María"})
        self.assertEqual(
            create["json"]["types"]["twilio/text"], {"body": "¡Hola {{1}}! Bienvenido."}
        )
        self.assertEqual(
            submit["url"],
            f"https://content.twilio.com/v1/Content/{CONTENT_SID}/ApprovalRequests/whatsapp",
        )
        self.assertEqual(submit["json"]["name"], "ofitec_welcome")
        self.assertEqual(submit["json"]["category"], "UTILITY")

    def test_refusals_are_classified_and_the_token_never_shows(self):
        request = build_content_request("ofitec_x", "es", "Hola {{title}}.", ["title"], SAMPLES)
        client, _adapter = self._client(twilio_error(401, 20003, f"Authenticate {AUTH_TOKEN}"))
        with self.assertRaises(AuthError) as caught:
            client.create_content(request)
        self.assertNotIn(AUTH_TOKEN, str(caught.exception))
        client, _adapter = self._client(twilio_error(400, 20001, "Invalid types"))
        with self.assertRaises(PermanentError):
            client.submit_content_approval(CONTENT_SID, build_approval_request("ofitec_x"))
        client, _adapter = self._client((201, {"friendly_name": "ofitec_x"}))
        with self.assertRaises(InvalidResponseError):
            client.create_content(request)
        client, adapter = self._client()
        with self.assertRaises(ValueError):
            client.submit_content_approval("HXnope", build_approval_request("ofitec_x"))
        self.assertFalse(adapter.requests)
