import unittest

from twilio_fakes import ACCOUNT_SID, AUTH_TOKEN, CONTENT_SID, FROM, fake_session, twilio_error

from ofitec_whatsapp.tools.errors import AuthError, PermanentError
from ofitec_whatsapp.tools.twilio_client import TwilioClient
from ofitec_whatsapp.tools.twilio_content import ContentApproval, parse_approval


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
