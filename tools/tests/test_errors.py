import json
import pickle
import unittest

from ofitec_whatsapp.tools.errors import (
    AuthError,
    InvalidResponseError,
    PermanentError,
    RateLimitedError,
    RetryableError,
    UncertainDeliveryError,
    WhatsAppError,
    WindowClosedError,
    classify_error,
    error_from_response,
    make_error,
)


def envelope(code, message="Something", **extra):
    error = {"message": message, "type": "OAuthException", "code": code}
    error.update(extra)
    return {"error": error}


class TestClassifyByCode(unittest.TestCase):
    TABLE = {
        # retryable
        1: RetryableError,
        2: RetryableError,
        131000: RetryableError,
        131016: RetryableError,
        131057: RetryableError,
        133004: RetryableError,
        # rate limited
        4: RateLimitedError,
        80007: RateLimitedError,
        130429: RateLimitedError,
        131056: RateLimitedError,
        # window closed
        131047: WindowClosedError,
        # auth
        0: AuthError,
        3: AuthError,
        10: AuthError,
        190: AuthError,
        200: AuthError,
        250: AuthError,
        299: AuthError,
        131005: AuthError,
        # permanent
        100: PermanentError,
        33: PermanentError,
        131026: PermanentError,
        131030: PermanentError,
        131048: PermanentError,
        131049: PermanentError,
        131050: PermanentError,
        131051: PermanentError,
        132000: PermanentError,
        132001: PermanentError,
        132018: PermanentError,
        133010: PermanentError,
        368: PermanentError,
        199: PermanentError,
        300: PermanentError,
        999999: PermanentError,
    }

    def test_table(self):
        for code, expected in self.TABLE.items():
            for status in (None, 400, 500):
                with self.subTest(code=code, http_status=status):
                    self.assertIs(classify_error(code, http_status=status), expected)

    def test_code_wins_over_http_status(self):
        # Throttling sent as HTTP 400 is still rate limited; a 500 with a
        # permanent code is still permanent; code 3 arrives as HTTP 500.
        self.assertIs(classify_error(130429, http_status=400), RateLimitedError)
        self.assertIs(classify_error(100, http_status=503), PermanentError)
        self.assertIs(classify_error(3, http_status=500), AuthError)

    def test_code_zero_is_auth_not_temporary(self):
        cls = classify_error(0, http_status=401)
        self.assertIs(cls, AuthError)
        self.assertFalse(cls.retryable)

    def test_is_transient(self):
        self.assertIs(classify_error(100, is_transient=True), RetryableError)
        self.assertIs(classify_error(123456, is_transient=True), RetryableError)
        self.assertIs(classify_error(None, http_status=400, is_transient=True), RetryableError)
        # Needs a human whatever the hint says.
        self.assertIs(classify_error(190, is_transient=True), AuthError)
        self.assertIs(classify_error(131047, is_transient=True), WindowClosedError)
        # Throttling stays throttling.
        self.assertIs(classify_error(130429, is_transient=True), RateLimitedError)

    def test_without_code_http_status_decides(self):
        self.assertIs(classify_error(None), RetryableError)  # no answer at all
        self.assertIs(classify_error(None, 500), RetryableError)
        self.assertIs(classify_error(None, 502), RetryableError)
        self.assertIs(classify_error(None, 503), RetryableError)
        self.assertIs(classify_error(None, 401), AuthError)
        self.assertIs(classify_error(None, 403), AuthError)
        self.assertIs(classify_error(None, 429), RateLimitedError)
        self.assertIs(classify_error(None, 400), PermanentError)
        self.assertIs(classify_error(None, 404), PermanentError)

    def test_bool_is_not_a_code(self):
        self.assertIs(classify_error(True, http_status=400), PermanentError)
        self.assertIs(classify_error(False, http_status=401), AuthError)


class TestHierarchy(unittest.TestCase):
    def test_subclassing(self):
        self.assertTrue(issubclass(RateLimitedError, RetryableError))
        self.assertTrue(issubclass(UncertainDeliveryError, RetryableError))
        self.assertTrue(issubclass(InvalidResponseError, PermanentError))
        for cls in (RetryableError, WindowClosedError, AuthError, PermanentError):
            self.assertTrue(issubclass(cls, WhatsAppError))
        self.assertFalse(issubclass(WindowClosedError, RetryableError))
        self.assertFalse(issubclass(AuthError, RetryableError))

    def test_retryable_flag(self):
        self.assertTrue(RetryableError().retryable)
        self.assertTrue(RateLimitedError().retryable)
        self.assertTrue(UncertainDeliveryError().retryable)
        self.assertFalse(PermanentError().retryable)
        self.assertFalse(AuthError().retryable)
        self.assertFalse(WindowClosedError().retryable)

    def test_pair_limited(self):
        self.assertTrue(make_error(131056, "Pair rate limit").pair_limited)
        for code in (4, 80007, 130429):
            with self.subTest(code=code):
                self.assertFalse(make_error(code, "Rate limit").pair_limited)
        self.assertFalse(RateLimitedError(http_status=429).pair_limited)
        self.assertTrue(RateLimitedError(pair_limited=True).pair_limited)

    def test_attributes(self):
        error = make_error(
            "131030",
            "Recipient not allowed",
            details="Add it",
            http_status=400,
            fbtrace_id="Abc",
            error_subcode=2655007,
        )
        self.assertIsInstance(error, PermanentError)
        self.assertEqual(error.code, 131030)
        self.assertEqual(error.title, "Recipient not allowed")
        self.assertEqual(error.details, "Add it")
        self.assertEqual(error.http_status, 400)
        self.assertEqual(error.fbtrace_id, "Abc")
        self.assertEqual(error.error_subcode, 2655007)
        self.assertFalse(error.is_transient)

    def test_pickle_keeps_attributes(self):
        error = make_error(131056, "Pair", details="slow down", http_status=400)
        copy = pickle.loads(pickle.dumps(error))
        self.assertIsInstance(copy, RateLimitedError)
        self.assertEqual(copy.code, 131056)
        self.assertTrue(copy.pair_limited)
        self.assertEqual(str(copy), str(error))


class TestStr(unittest.TestCase):
    def test_one_liner_with_details(self):
        error = AuthError("Invalid OAuth access token", code=190, details="details")
        self.assertEqual(str(error), "(#190) Invalid OAuth access token: details")

    def test_title_already_prefixed_by_meta(self):
        error = PermanentError("(#131030) Recipient phone number not in allowed list", code=131030)
        self.assertEqual(str(error), "(#131030) Recipient phone number not in allowed list")

    def test_no_code_uses_http_status(self):
        self.assertEqual(
            str(RetryableError("Bad Gateway", http_status=502)), "(HTTP 502) Bad Gateway"
        )
        self.assertEqual(str(RetryableError("Connection error")), "Connection error")

    def test_multiline_input_becomes_one_line(self):
        error = PermanentError("Line one\nline two", code=100, details="a\n\tb")
        self.assertNotIn("\n", str(error))
        self.assertEqual(str(error), "(#100) Line one line two: a b")

    def test_default_titles(self):
        self.assertEqual(str(InvalidResponseError()), "Unexpected response from WhatsApp")
        self.assertEqual(str(WindowClosedError(code=131047)), "(#131047) Re-engagement message")

    def test_text_with_another_title(self):
        """The Odoo layer renders an error with its title in the reader's language."""
        error = WindowClosedError(code=131047, details="More than 24 hours")
        self.assertEqual(
            error.text(title="Mensaje de reinteracción"),
            "(#131047) Mensaje de reinteracción: More than 24 hours",
        )
        self.assertEqual(error.text(), str(error))

    def test_scrub(self):
        token = "EAAJB-secret-token"
        error = AuthError(f"Bad token {token}", code=190, details=f"token={token}")
        error.scrub(token)
        self.assertNotIn(token, str(error))
        self.assertNotIn(token, repr(error))
        self.assertNotIn(token, repr(error.args))
        self.assertIn("***", str(error))

    def test_scrub_empty_secret_is_noop(self):
        error = AuthError("Bad", code=190)
        self.assertIs(error.scrub(""), error)
        self.assertEqual(str(error), "(#190) Bad")


class TestErrorFromResponse(unittest.TestCase):
    def test_spec_envelope(self):
        body = {
            "error": {
                "message": "(#131030) Recipient phone number not in allowed list",
                "type": "OAuthException",
                "code": 131030,
                "error_data": {
                    "messaging_product": "whatsapp",
                    "details": "Recipient phone number not in allowed list: add the number.",
                },
                "error_subcode": 2655007,
                "fbtrace_id": "AbCdEfGhIjKlMnOp",
            }
        }
        for raw in (body, json.dumps(body), json.dumps(body).encode()):
            with self.subTest(kind=type(raw).__name__):
                error = error_from_response(400, raw)
                self.assertIsInstance(error, PermanentError)
                self.assertEqual(error.code, 131030)
                self.assertEqual(
                    error.title, "(#131030) Recipient phone number not in allowed list"
                )
                self.assertEqual(
                    error.details, "Recipient phone number not in allowed list: add the number."
                )
                self.assertEqual(error.fbtrace_id, "AbCdEfGhIjKlMnOp")
                self.assertEqual(error.error_subcode, 2655007)
                self.assertEqual(error.http_status, 400)
                self.assertEqual(
                    str(error),
                    "(#131030) Recipient phone number not in allowed list: "
                    "Recipient phone number not in allowed list: add the number.",
                )

    def test_user_title_preferred(self):
        body = envelope(
            190,
            "Error validating access token",
            error_user_title="Invalid OAuth access token",
            error_user_msg="Ask for a new token",
        )
        error = error_from_response(401, body)
        self.assertIsInstance(error, AuthError)
        self.assertEqual(error.title, "Invalid OAuth access token")
        # No error_data.details: error_user_msg is the best user text.
        self.assertEqual(error.details, "Ask for a new token")
        self.assertEqual(str(error), "(#190) Invalid OAuth access token: Ask for a new token")

    def test_rate_limit_as_400(self):
        error = error_from_response(400, envelope(131056, "(#131056) Pair rate limit hit"))
        self.assertIsInstance(error, RateLimitedError)
        self.assertTrue(error.pair_limited)
        error = error_from_response(429, envelope(130429, "(#130429) Rate limit hit"))
        self.assertIsInstance(error, RateLimitedError)
        self.assertFalse(error.pair_limited)

    def test_window_closed(self):
        error = error_from_response(400, envelope(131047, "Re-engagement message"))
        self.assertIsInstance(error, WindowClosedError)

    def test_is_transient(self):
        body = envelope(100, "Flaky", is_transient=True)
        error = error_from_response(400, body)
        self.assertIsInstance(error, RetryableError)
        self.assertTrue(error.is_transient)
        # Only a real boolean true counts.
        error = error_from_response(400, envelope(100, "x", is_transient="false"))
        self.assertIsInstance(error, PermanentError)

    def test_code_as_string(self):
        error = error_from_response(400, envelope("190", "Bad token"))
        self.assertIsInstance(error, AuthError)
        self.assertEqual(error.code, 190)

    def test_error_data_as_json_string(self):
        body = envelope(100, "Invalid parameter", error_data='{"details": "bad phone"}')
        self.assertEqual(error_from_response(400, body).details, "bad phone")

    def test_non_json_bodies_fall_back_on_status(self):
        cases = {
            500: RetryableError,
            502: RetryableError,
            503: RetryableError,
            401: AuthError,
            403: AuthError,
            429: RateLimitedError,
            400: PermanentError,
            404: PermanentError,
        }
        for status, expected in cases.items():
            for body in (b"<html>Bad gateway</html>", b"", None, "plain text", b"\xff\xfe"):
                with self.subTest(status=status, body=body):
                    error = error_from_response(status, body)
                    self.assertIs(type(error), expected)
                    self.assertIsNone(error.code)
                    self.assertEqual(error.http_status, status)
                    self.assertIn(f"(HTTP {status})", str(error))

    def test_json_without_error_object(self):
        for body in (b'{"foo": 1}', b"[1, 2]", b'{"error": "nope"}', b"null"):
            with self.subTest(body=body):
                error = error_from_response(503, body)
                self.assertIs(type(error), RetryableError)
                self.assertIsNone(error.code)

    def test_envelope_without_code_uses_status(self):
        error = error_from_response(503, {"error": {"message": "Service unavailable"}})
        self.assertIs(type(error), RetryableError)
        self.assertEqual(error.title, "Service unavailable")

    def test_long_html_body_is_cut(self):
        error = error_from_response(502, b"<html>" + b"x" * 5000 + b"</html>")
        self.assertLess(len(str(error)), 300)


if __name__ == "__main__":
    unittest.main()
