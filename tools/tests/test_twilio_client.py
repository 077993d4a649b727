import json
import logging
import os
import unittest
from types import SimpleNamespace
from unittest import mock

import requests
from twilio_fakes import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    CONTENT_SID,
    FROM,
    MESSAGE_SID,
    SERVICE_SID,
    fake_session,
    twilio_account,
    twilio_error,
    twilio_message,
)
from urllib3.exceptions import ProtocolError

from ofitec_whatsapp.tools import twilio_client
from ofitec_whatsapp.tools.errors import (
    AuthError,
    InvalidResponseError,
    PermanentError,
    RateLimitedError,
    RetryableError,
    UncertainDeliveryError,
    WindowClosedError,
)
from ofitec_whatsapp.tools.twilio_client import (
    TwilioClient,
    build_content_params,
    build_content_variables,
    build_text_params,
    channel_address,
    classify_twilio_error,
    make_twilio_error,
    sender_params,
)

CALLBACK = "https://odoo.example.com/webhooks/whatsapp/3"
MESSAGES_PATH = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"


def make_client(*answers, **kwargs):
    session, adapter = fake_session(*answers)
    kwargs.setdefault("status_callback", CALLBACK)
    client = TwilioClient(
        ACCOUNT_SID, AUTH_TOKEN, kwargs.pop("twilio_from", FROM), **kwargs, session=session
    )
    return client, adapter


class TestAddresses(unittest.TestCase):
    def test_channel_address(self):
        for given in ("+56912345678", "56912345678", "whatsapp:+56912345678", "+56 9 1234-5678"):
            with self.subTest(given=given):
                self.assertEqual(channel_address(given), "whatsapp:+56912345678")

    def test_channel_address_refuses(self):
        for bad in ("", None, "whatsapp:", "US.13491208655302741918", "hello", "+12"):
            with self.subTest(bad=bad), self.assertRaises(ValueError):
                channel_address(bad)

    def test_sender(self):
        self.assertEqual(sender_params(FROM), {"from_": FROM})
        self.assertEqual(sender_params(SERVICE_SID), {"messaging_service_sid": SERVICE_SID})
        for bad in ("+14155238886", "MG123", "", None, "whatsapp:abc"):
            with self.subTest(bad=bad), self.assertRaises(ValueError):
                sender_params(bad)


class TestBuilders(unittest.TestCase):
    def test_text(self):
        params = build_text_params("+56912345678", FROM, "Hola", CALLBACK)
        self.assertEqual(
            params,
            {
                "to": "whatsapp:+56912345678",
                "from_": FROM,
                "status_callback": CALLBACK,
                "body": "Hola",
            },
        )

    def test_a_recipient_twilio_cannot_address_is_a_permanent_error(self):
        """Not a ValueError, which the queue would retry as an unknown failure."""
        for bad in ("US.13491208655302741918", "hello"):
            with self.subTest(bad=bad), self.assertRaises(PermanentError) as raised:
                build_text_params(bad, FROM, "Hola")
            self.assertEqual(raised.exception.code, 21211)

    def test_text_cut_to_1600(self):
        params = build_text_params("+56912345678", FROM, "x" * 2000)
        self.assertEqual(len(params["body"]), 1600)
        self.assertNotIn("status_callback", params)
        with self.assertRaises(ValueError):
            build_text_params("+56912345678", FROM, "  ")

    def test_content_variables_list_and_dict(self):
        self.assertEqual(build_content_variables(["Ana", 42]), {"1": "Ana", "2": "42"})
        self.assertEqual(build_content_variables({"name": "Ana"}), {"name": "Ana"})
        self.assertEqual(build_content_variables([None, ""]), {"1": "-", "2": "-"})
        self.assertEqual(build_content_variables(["a\n\tb"]), {"1": "a b"})

    def test_content_variable_over_1600_is_cut_not_refused(self):
        variables = build_content_variables(["y" * 5000])
        self.assertEqual(len(variables["1"]), 1600)
        self.assertTrue(variables["1"].endswith("…"))

    def test_content_params(self):
        params = build_content_params(
            "+56912345678", SERVICE_SID, CONTENT_SID, {"1": "Ana"}, CALLBACK
        )
        self.assertEqual(
            params,
            {
                "to": "whatsapp:+56912345678",
                "messaging_service_sid": SERVICE_SID,
                "status_callback": CALLBACK,
                "content_sid": CONTENT_SID,
                "content_variables": '{"1": "Ana"}',
            },
        )
        for bad in ("", "HX12", "SM" + "0" * 32):
            with self.subTest(bad=bad), self.assertRaises(ValueError):
                build_content_params("+56912345678", FROM, bad, {})


class TestConstruction(unittest.TestCase):
    def test_required_values(self):
        with self.assertRaises(ValueError):
            TwilioClient("AC123", AUTH_TOKEN, FROM)
        with self.assertRaises(ValueError):
            TwilioClient(ACCOUNT_SID, "", FROM)
        with self.assertRaises(ValueError):
            TwilioClient(ACCOUNT_SID, AUTH_TOKEN, "+14155238886")
        with self.assertRaises(ValueError):
            TwilioClient(ACCOUNT_SID, AUTH_TOKEN, FROM, timeout=None)

    def test_sdk_http_client_has_timeout(self):
        client = TwilioClient(ACCOUNT_SID, AUTH_TOKEN, FROM)
        self.assertEqual(client.http_client.timeout, 30.0)
        self.assertIs(client._client.http_client, client.http_client)

    def test_repr_hides_token(self):
        client = TwilioClient(ACCOUNT_SID, AUTH_TOKEN, FROM)
        self.assertNotIn(AUTH_TOKEN, repr(client))
        self.assertIn(ACCOUNT_SID, repr(client))


class TestSend(unittest.TestCase):
    def test_text_on_the_wire(self):
        client, adapter = make_client(twilio_message())
        result = client.send_text("+56 9 1234 5678", "Hola ñandú", callback_data="ofitec:7")
        (request,) = adapter.requests
        self.assertEqual(request["method"], "POST")
        self.assertEqual(request["url"], "https://api.twilio.com" + MESSAGES_PATH)
        self.assertEqual(request["timeout"], 30.0)
        self.assertTrue(request["headers"]["Authorization"].startswith("Basic "))
        self.assertEqual(request["headers"]["Content-Type"], "application/x-www-form-urlencoded")
        self.assertEqual(
            sorted(request["form"]),
            sorted(
                [
                    ("To", "whatsapp:+56912345678"),
                    ("From", FROM),
                    ("Body", "Hola ñandú"),
                    ("StatusCallback", CALLBACK),
                ]
            ),
        )
        self.assertEqual(result.wamid, MESSAGE_SID)
        self.assertEqual(result.message_status, "queued")

    def test_base_url_replaces_twilio_host(self):
        client, adapter = make_client(twilio_message(), base_url="http://127.0.0.1:8799/")
        client.send_text("+56912345678", "x")
        self.assertEqual(adapter.requests[0]["url"], "http://127.0.0.1:8799" + MESSAGES_PATH)

    def test_environment_edge_is_ignored(self):
        with mock.patch.dict(os.environ, {"TWILIO_EDGE": "sydney", "TWILIO_REGION": "au1"}):
            client, adapter = make_client(twilio_message(), base_url="http://127.0.0.1:8799")
        client.send_text("+56912345678", "x")
        self.assertEqual(adapter.requests[0]["url"], "http://127.0.0.1:8799" + MESSAGES_PATH)

    def test_messaging_service_sender(self):
        client, adapter = make_client(twilio_message(status="accepted"), twilio_from=SERVICE_SID)
        result = client.send_text("+56912345678", "x")
        form = adapter.last_form
        self.assertEqual(form["MessagingServiceSid"], SERVICE_SID)
        self.assertNotIn("From", form)
        self.assertEqual(result.message_status, "accepted")

    def test_template(self):
        client, adapter = make_client(twilio_message())
        client.send_template(
            "+56912345678",
            CONTENT_SID,
            ["Ana", "Revisar planos"],
            button_payloads=["ofitec:9:ok", "ofitec:9:completed", "ofitec:9:cancel"],
        )
        form = adapter.last_form
        self.assertEqual(form["ContentSid"], CONTENT_SID)
        self.assertNotIn("Body", form)
        self.assertEqual(form["StatusCallback"], CALLBACK)
        self.assertEqual(
            json.loads(form["ContentVariables"]),
            {
                "1": "Ana",
                "2": "Revisar planos",
                "3": "ofitec:9:ok",
                "4": "ofitec:9:completed",
                "5": "ofitec:9:cancel",
            },
        )

    def test_template_reference_object(self):
        client, adapter = make_client(twilio_message())
        template = SimpleNamespace(name="alerta_urgente", content_sid=CONTENT_SID)
        client.send_template("+56912345678", template, {"nombre": "Ana"})
        form = adapter.last_form
        self.assertEqual(form["ContentSid"], CONTENT_SID)
        self.assertEqual(json.loads(form["ContentVariables"]), {"nombre": "Ana"})
        self.assertTrue(TwilioClient.accepts_template(template))
        self.assertFalse(TwilioClient.accepts_template(SimpleNamespace(content_sid=None)))
        self.assertFalse(TwilioClient.accepts_template("alerta_urgente"))
        self.assertIs(TwilioClient.classify_error("63016"), WindowClosedError)

    def test_template_long_variable_is_cut(self):
        client, adapter = make_client(twilio_message())
        client.send_template("+56912345678", CONTENT_SID, ["z" * 3000])
        self.assertEqual(len(json.loads(adapter.last_form["ContentVariables"])["1"]), 1600)

    def test_buttons_with_quick_reply_content(self):
        client, adapter = make_client(twilio_message(), quick_reply_content_sid=CONTENT_SID)
        buttons = [("ofitec:9:ok", "OK"), ("ofitec:9:completed", "COMPLETADO")]
        client.send_buttons("+56912345678", "Línea 1\nLínea 2", buttons)
        form = adapter.last_form
        self.assertEqual(form["ContentSid"], CONTENT_SID)
        self.assertEqual(
            json.loads(form["ContentVariables"]),
            {"1": "Línea 1\nLínea 2", "2": "ofitec:9:ok", "3": "ofitec:9:completed"},
        )

    def test_buttons_without_content_is_plain_text(self):
        client, adapter = make_client(twilio_message())
        client.send_buttons("+56912345678", "Responda OK", [("ofitec:9:ok", "OK")])
        form = adapter.last_form
        self.assertEqual(form["Body"], "Responda OK")
        self.assertNotIn("ContentSid", form)


class TestErrors(unittest.TestCase):
    def test_classification_by_code(self):
        cases = {
            63016: WindowClosedError,
            63018: RateLimitedError,
            20429: RateLimitedError,
            21211: PermanentError,
            21408: PermanentError,
            63024: PermanentError,
            63032: PermanentError,
            21656: PermanentError,
            63027: PermanentError,
            63028: PermanentError,
            20003: AuthError,
        }
        for code, cls in cases.items():
            with self.subTest(code=code):
                self.assertIs(classify_twilio_error(code, 400), cls)

    def test_classification_by_status_without_code(self):
        self.assertIs(classify_twilio_error(None, None), RetryableError)
        self.assertIs(classify_twilio_error(None, 503), RetryableError)
        self.assertIs(classify_twilio_error(None, 401), AuthError)
        self.assertIs(classify_twilio_error(None, 429), RateLimitedError)
        self.assertIs(classify_twilio_error(None, 400), PermanentError)
        self.assertIs(classify_twilio_error(99999, 400), PermanentError)

    def test_template_errors_name_the_template(self):
        for code in (21656, 63027, 63028):
            with self.subTest(code=code):
                error = make_twilio_error(code, "Template not found", 400, template="alerta_v2")
                self.assertIn("alerta_v2", str(error))
                self.assertIn(f"#{code}", str(error))
        error = make_twilio_error("63024", "Invalid recipient", template="alerta_v2")
        self.assertNotIn("alerta_v2", str(error))
        self.assertEqual(error.code, 63024)

    def test_api_errors_are_raised_as_our_classes(self):
        cases = [
            (twilio_error(400, 21211, "The 'To' number is not valid."), PermanentError, 21211),
            (twilio_error(401, 20003, "Authenticate"), AuthError, 20003),
            (twilio_error(429, 20429, "Too Many Requests"), RateLimitedError, 20429),
            (twilio_error(400, 63016, "Outside the window"), WindowClosedError, 63016),
            ((500, b"<html>oops</html>"), RetryableError, None),
        ]
        for answer, cls, code in cases:
            with self.subTest(code=code):
                client, _adapter = make_client(answer)
                with self.assertRaises(cls) as caught:
                    client.send_text("+56912345678", "x")
                self.assertEqual(caught.exception.code, code)

    def test_exact_twilio_message_kept(self):
        client, _adapter = make_client(twilio_error(400, 21211, "The 'To' number is invalid."))
        with self.assertRaises(PermanentError) as caught:
            client.send_text("+56912345678", "x")
        self.assertEqual(str(caught.exception), "(#21211) The 'To' number is invalid.")

    def test_template_error_names_content_sid(self):
        client, _adapter = make_client(twilio_error(400, 21656, "ContentVariables invalid"))
        with self.assertRaises(PermanentError) as caught:
            client.send_template("+56912345678", CONTENT_SID, ["a"])
        self.assertIn(CONTENT_SID, str(caught.exception))

    def test_token_never_in_errors(self):
        client, _adapter = make_client(twilio_error(401, 20003, f"bad token {AUTH_TOKEN}"))
        with self.assertRaises(AuthError) as caught:
            client.send_text("+56912345678", "x")
        self.assertNotIn(AUTH_TOKEN, str(caught.exception))

    def test_network_errors(self):
        cases = [
            (requests.exceptions.ConnectTimeout("connect"), RetryableError),
            (requests.exceptions.ReadTimeout("read"), UncertainDeliveryError),
            (
                requests.exceptions.ConnectionError(ProtocolError("Connection aborted.")),
                UncertainDeliveryError,
            ),
        ]
        for exc, cls in cases:
            with self.subTest(exc=type(exc).__name__):
                client, _adapter = make_client(exc)
                with self.assertRaises(cls):
                    client.send_text("+56912345678", "x")

    def test_2xx_without_json_or_sid(self):
        client, _adapter = make_client((201, b"not json"))
        with self.assertRaises(InvalidResponseError):
            client.send_text("+56912345678", "x")
        client, _adapter = make_client((201, {"status": "queued"}))
        with self.assertRaises(InvalidResponseError):
            client.send_text("+56912345678", "x")


class TestAccount(unittest.TestCase):
    def test_fetch_account(self):
        client, adapter = make_client(twilio_account())
        account = client.fetch_account()
        self.assertEqual(account["status"], "active")
        self.assertEqual(account["friendly_name"], "OFITEC")
        (request,) = adapter.requests
        self.assertEqual(request["method"], "GET")
        self.assertEqual(request["path"], f"/2010-04-01/Accounts/{ACCOUNT_SID}.json")
        self.assertEqual(request["timeout"], 30.0)

    def test_suspended_account_status_reported(self):
        client, _adapter = make_client(twilio_account(status="suspended"))
        self.assertEqual(client.fetch_account()["status"], "suspended")

    def test_fetch_account_exact_error(self):
        client, _adapter = make_client(twilio_error(401, 20003, "Authenticate"))
        with self.assertRaises(AuthError) as caught:
            client.fetch_account()
        self.assertEqual(str(caught.exception), "(#20003) Authenticate")

    def test_fetch_account_read_timeout_is_retryable_not_uncertain(self):
        client, _adapter = make_client(requests.exceptions.ReadTimeout("read"))
        with self.assertRaises(RetryableError) as caught:
            client.fetch_account()
        self.assertNotIsInstance(caught.exception, UncertainDeliveryError)


class TestNoLogging(unittest.TestCase):
    def test_token_not_logged(self):
        client, _adapter = make_client(twilio_message())
        with self.assertLogs(level=logging.DEBUG) as logs:
            logging.getLogger(twilio_client.__name__).debug("probe")
            client.send_text("+56912345678", "x")
        self.assertNotIn(AUTH_TOKEN, "\n".join(logs.output))
