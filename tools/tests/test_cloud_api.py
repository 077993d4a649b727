import json
import logging
import unittest
from unittest import mock

import requests
from requests.adapters import BaseAdapter
from urllib3.exceptions import MaxRetryError, NewConnectionError, ProtocolError

from ofitec_whatsapp.tools import cloud_api
from ofitec_whatsapp.tools.cloud_api import (
    CloudApiClient,
    SendResult,
    build_buttons_payload,
    build_template_payload,
    build_text_payload,
    normalize_api_version,
    parse_send_response,
    recipient_fields,
)
from ofitec_whatsapp.tools.errors import (
    AuthError,
    InvalidResponseError,
    PermanentError,
    RateLimitedError,
    RetryableError,
    UncertainDeliveryError,
    WindowClosedError,
)
from ofitec_whatsapp.tools.provider import Provider, TemplateRef

TOKEN = "EAAJBtestTOKEN1234567890secret"
PHONE_ID = "106540352242922"
WAMID = "wamid.HBgMNTUxMTg3NjU0MzIxFQIAERgSMDlBMjM0QjU2QzdEOEU5RjAxAA=="


class FakeResponse:
    def __init__(self, status_code=200, body=None, content=None):
        self.status_code = status_code
        if content is None:
            content = json.dumps(body).encode() if body is not None else b""
        self.content = content


class FakeSession:
    """Records every call; answers from a queue (responses or exceptions)."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.calls = []

    def _answer(self, method, url, **kwargs):
        self.calls.append({"method": method, "url": url, **kwargs})
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer

    def post(self, url, **kwargs):
        return self._answer("POST", url, **kwargs)

    def get(self, url, **kwargs):
        return self._answer("GET", url, **kwargs)


def ok_send(wa_id="56912345678", input_="+56912345678", **message):
    body = {
        "messaging_product": "whatsapp",
        "contacts": [{"input": input_, "wa_id": wa_id}],
        "messages": [{"id": WAMID, **message}],
    }
    return FakeResponse(200, body)


def graph_error(status, code, message="Error", **extra):
    error = {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "T"}
    error.update(extra)
    return FakeResponse(status, {"error": error})


def make_client(*answers, **kwargs):
    session = FakeSession(*answers)
    client = CloudApiClient(TOKEN, PHONE_ID, session=session, **kwargs)
    return client, session


class TestConstruction(unittest.TestCase):
    def test_api_version_normalised(self):
        for given, expected in (
            ("v23.0", "v23.0"),
            ("23.0", "v23.0"),
            (" V24.0 ", "v24.0"),
            ("25", "v25.0"),
            (23.0, "v23.0"),
        ):
            with self.subTest(given=given):
                self.assertEqual(normalize_api_version(given), expected)
                client = CloudApiClient(TOKEN, PHONE_ID, api_version=given, session=FakeSession())
                self.assertEqual(client.api_version, expected)

    def test_bad_api_version(self):
        for given in ("latest", "", None, "v23.0.1", "v"):
            with self.subTest(given=given), self.assertRaises(ValueError):
                normalize_api_version(given)

    def test_url(self):
        client = CloudApiClient(
            TOKEN, PHONE_ID, api_version="23.0", base_url="https://graph.example.com//"
        )
        self.assertEqual(
            client.url(f"{PHONE_ID}/messages"),
            f"https://graph.example.com/v23.0/{PHONE_ID}/messages",
        )

    def test_defaults(self):
        client = CloudApiClient(TOKEN, PHONE_ID)
        self.assertIsInstance(client.session, requests.Session)
        self.assertEqual(client.timeout, (5, 30))
        self.assertEqual(client.api_version, "v23.0")
        self.assertEqual(client.base_url, "https://graph.facebook.com")

    def test_required_values(self):
        with self.assertRaises(ValueError):
            CloudApiClient("", PHONE_ID)
        with self.assertRaises(ValueError):
            CloudApiClient(None, PHONE_ID)
        for bad in ("", None, "123/../456", "12 34"):
            with self.subTest(phone_number_id=bad), self.assertRaises(ValueError):
                CloudApiClient(TOKEN, bad)
        with self.assertRaises(ValueError):
            CloudApiClient(TOKEN, PHONE_ID, timeout=None)

    def test_repr_hides_token(self):
        client = CloudApiClient(TOKEN, PHONE_ID, session=FakeSession())
        self.assertNotIn(TOKEN, repr(client))
        self.assertNotIn(TOKEN, str(client))
        self.assertIn(PHONE_ID, repr(client))
        self.assertNotIn(TOKEN, repr(vars(client).get("access_token")))


class TestSendText(unittest.TestCase):
    def test_request(self):
        client, session = make_client(ok_send())
        result = client.send_text("+56 9 1234 5678", "Hola", callback_data="ofitec:7")
        (call,) = session.calls
        self.assertEqual(call["method"], "POST")
        self.assertEqual(call["url"], f"https://graph.facebook.com/v23.0/{PHONE_ID}/messages")
        self.assertEqual(call["headers"], {"Authorization": f"Bearer {TOKEN}"})
        self.assertEqual(call["timeout"], (5, 30))
        self.assertEqual(
            call["json"],
            {
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "to": "+56912345678",
                "type": "text",
                "text": {"preview_url": False, "body": "Hola"},
                "biz_opaque_callback_data": "ofitec:7",
            },
        )
        self.assertEqual(
            result,
            SendResult(wamid=WAMID, wa_id="56912345678", input="+56912345678", user_id=None),
        )
        self.assertEqual(result.raw["messages"][0]["id"], WAMID)

    def test_brazil_wa_id_differs(self):
        client, _session = make_client(ok_send(wa_id="551187654321", input_="+5511987654321"))
        result = client.send_text("+5511987654321", "Olá")
        self.assertEqual(result.wa_id, "551187654321")
        self.assertEqual(result.input, "+5511987654321")

    def test_send_to_bsuid(self):
        bsuid = "US.13491208655302741918"
        answer = FakeResponse(
            200,
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": bsuid, "user_id": bsuid}],
                "messages": [{"id": WAMID}],
            },
        )
        client, session = make_client(answer)
        result = client.send_text(bsuid, "Hi")
        payload = session.calls[0]["json"]
        self.assertEqual(payload["recipient"], bsuid)
        self.assertNotIn("to", payload)
        self.assertIsNone(result.wa_id)
        self.assertEqual(result.user_id, bsuid)

    def test_custom_timeout_is_used(self):
        client, session = make_client(ok_send(), timeout=7)
        client.send_text("+56912345678", "x")
        self.assertEqual(session.calls[0]["timeout"], 7)


class TestEveryCallHasTimeout(unittest.TestCase):
    def test_all_public_calls(self):
        templates_page1 = FakeResponse(
            200,
            {
                "data": [{"name": "a"}],
                "paging": {
                    "next": "https://graph.facebook.com/v23.0/555/message_templates?after=X"
                },
            },
        )
        templates_page2 = FakeResponse(200, {"data": [{"name": "b"}]})
        client, session = make_client(
            ok_send(),
            ok_send(),
            ok_send(),
            ok_send(),
            FakeResponse(200, {"id": PHONE_ID, "status": "CONNECTED"}),
            templates_page1,
            templates_page2,
            timeout=(3, 11),
            waba_id="555",
        )
        client.send_text("+56912345678", "x")
        client.send_buttons("+56912345678", "x", [("a", "A")])
        client.send_template("+56912345678", TemplateRef("welcome", "es"), ["x"])
        client.send({"to": "+56912345678", "type": "text", "text": {"body": "x"}})
        client.get_phone_number()
        client.list_templates()
        self.assertEqual(len(session.calls), 7)
        for call in session.calls:
            with self.subTest(url=call["url"]):
                self.assertEqual(call["timeout"], (3, 11))
                self.assertEqual(call["headers"]["Authorization"], f"Bearer {TOKEN}")

    def test_real_session_passes_timeout_to_the_transport(self):
        """End to end through a real requests.Session and a transport adapter."""
        seen = []

        class Adapter(BaseAdapter):
            def send(self, request, **kwargs):
                seen.append((request, kwargs))
                response = requests.Response()
                response.status_code = 200
                response._content = json.dumps({"messages": [{"id": WAMID}]}).encode()
                response.request = request
                response.url = request.url
                return response

            def close(self):
                pass

        session = requests.Session()
        session.mount("https://", Adapter())
        client = CloudApiClient(TOKEN, PHONE_ID, session=session, timeout=(2, 9))
        result = client.send_text("+56912345678", "Hola")
        self.assertEqual(result.wamid, WAMID)
        ((request, kwargs),) = seen
        self.assertEqual(kwargs["timeout"], (2, 9))
        self.assertEqual(request.headers["Authorization"], f"Bearer {TOKEN}")
        self.assertEqual(json.loads(request.body)["text"]["body"], "Hola")


class TestOtherCalls(unittest.TestCase):
    def test_send_buttons(self):
        client, session = make_client(ok_send())
        client.send_buttons(
            "+56912345678",
            "¿Confirmas?",
            [("ofitec:42:ok", "OK"), ("ofitec:42:cancel", "CANCELAR")],
            header="Acción urgente",
            footer="OFITEC",
            callback_data="ofitec:9",
        )
        payload = session.calls[0]["json"]
        self.assertEqual(payload["type"], "interactive")
        self.assertEqual(
            payload["interactive"]["header"], {"type": "text", "text": "Acción urgente"}
        )
        self.assertEqual(payload["biz_opaque_callback_data"], "ofitec:9")

    def test_send_template(self):
        client, session = make_client(ok_send(message_status="accepted"))
        result = client.send_template(
            "+56912345678",
            TemplateRef("urgent_action", "es"),
            ["Ana", "Obra 1"],
            button_payloads=["ofitec:42:ok"],
            callback_data="ofitec:3",
        )
        self.assertEqual(result.message_status, "accepted")
        template = session.calls[0]["json"]["template"]
        self.assertEqual(template["name"], "urgent_action")
        self.assertEqual(template["language"], {"code": "es"})

    def test_send_raw_payload_gets_messaging_product(self):
        client, session = make_client(ok_send())
        payload = {"to": "+56912345678", "type": "text", "text": {"body": "x"}}
        client.send(payload)
        self.assertEqual(session.calls[0]["json"]["messaging_product"], "whatsapp")
        self.assertNotIn("messaging_product", payload)  # caller's dict untouched
        with self.assertRaises(TypeError):
            client.send("not a dict")

    def test_get_phone_number(self):
        answer = {
            "id": PHONE_ID,
            "display_phone_number": "+1 555-078-3881",
            "verified_name": "Lucky Shrub",
            "quality_rating": "GREEN",
            "status": "CONNECTED",
            "whatsapp_business_manager_messaging_limit": "TIER_250",
        }
        client, session = make_client(FakeResponse(200, answer))
        self.assertEqual(client.get_phone_number(), answer)
        call = session.calls[0]
        self.assertEqual(call["method"], "GET")
        self.assertEqual(call["url"], f"https://graph.facebook.com/v23.0/{PHONE_ID}")
        fields = call["params"]["fields"].split(",")
        for name in (
            "display_phone_number",
            "verified_name",
            "quality_rating",
            "status",
            "code_verification_status",
            "name_status",
            "platform_type",
            "throughput",
            "whatsapp_business_manager_messaging_limit",
        ):
            self.assertIn(name, fields)

    def test_list_templates_paginates(self):
        page1 = FakeResponse(
            200,
            {
                "data": [{"name": "a"}, "junk"],
                "paging": {
                    "next": "https://graph.facebook.com/v23.0/777/message_templates?after=Q"
                },
            },
        )
        page2 = FakeResponse(200, {"data": [{"name": "b"}], "paging": {"cursors": {}}})
        client, session = make_client(page1, page2)
        templates = client.list_templates(waba_id="777", status="APPROVED")
        self.assertEqual([t["name"] for t in templates], ["a", "b"])
        self.assertEqual(
            session.calls[0]["url"], "https://graph.facebook.com/v23.0/777/message_templates"
        )
        self.assertEqual(session.calls[0]["params"]["status"], "APPROVED")
        self.assertEqual(session.calls[0]["params"]["limit"], 100)
        self.assertIn("components", session.calls[0]["params"]["fields"])
        self.assertEqual(
            session.calls[1]["url"],
            "https://graph.facebook.com/v23.0/777/message_templates?after=Q",
        )
        self.assertIsNone(session.calls[1]["params"])

    def test_list_templates_never_follows_another_host(self):
        page1 = FakeResponse(
            200,
            {"data": [], "paging": {"next": "https://evil.example.com/steal?after=Q"}},
        )
        client, session = make_client(page1, waba_id="777")
        with self.assertRaises(InvalidResponseError):
            client.list_templates()
        self.assertEqual(len(session.calls), 1)

    def test_list_templates_needs_waba(self):
        client, session = make_client()
        with self.assertRaises(ValueError):
            client.list_templates()
        self.assertEqual(session.calls, [])


class TestErrors(unittest.TestCase):
    def test_graph_errors_are_classified(self):
        cases = (
            (graph_error(401, 190, "Invalid OAuth access token."), AuthError),
            (graph_error(401, 0, "AuthException"), AuthError),
            (graph_error(400, 131047, "Re-engagement message"), WindowClosedError),
            (graph_error(400, 130429, "(#130429) Rate limit hit"), RateLimitedError),
            (graph_error(429, 131056, "Pair rate limit"), RateLimitedError),
            (graph_error(400, 131030, "Not in allowed list"), PermanentError),
            (graph_error(500, 131000, "Something went wrong"), RetryableError),
            (FakeResponse(502, content=b"<html>Bad Gateway</html>"), RetryableError),
            (FakeResponse(503, content=b""), RetryableError),
        )
        for answer, expected in cases:
            with self.subTest(status=answer.status_code):
                client, _session = make_client(answer)
                with self.assertRaises(expected) as caught:
                    client.send_text("+56912345678", "x")
                self.assertEqual(caught.exception.http_status, answer.status_code)

    def test_pair_flag_through_client(self):
        client, _session = make_client(graph_error(400, 131056, "Pair rate limit"))
        with self.assertRaises(RateLimitedError) as caught:
            client.send_text("+56912345678", "x")
        self.assertTrue(caught.exception.pair_limited)
        self.assertEqual(caught.exception.code, 131056)

    def test_str_error_format_and_no_token(self):
        answer = graph_error(
            401,
            190,
            f"Invalid OAuth access token - Cannot parse access token {TOKEN}",
            error_data={"details": f"token {TOKEN} expired"},
        )
        client, _session = make_client(answer)
        with self.assertRaises(AuthError) as caught:
            client.send_text("+56912345678", "x")
        error = caught.exception
        self.assertNotIn(TOKEN, str(error))
        self.assertNotIn(TOKEN, repr(error))
        self.assertNotIn(TOKEN, error.title)
        self.assertNotIn(TOKEN, error.details)
        self.assertTrue(str(error).startswith("(#190) Invalid OAuth access token"))

    def test_200_without_message_id(self):
        for body in ({"messaging_product": "whatsapp"}, {"messages": []}, {"messages": [{}]}):
            with self.subTest(body=body):
                client, _session = make_client(FakeResponse(200, body))
                with self.assertRaises(InvalidResponseError) as caught:
                    client.send_text("+56912345678", "x")
                self.assertIsInstance(caught.exception, PermanentError)
                self.assertFalse(caught.exception.retryable)
                self.assertEqual(caught.exception.http_status, 200)

    def test_200_not_json(self):
        for content in (b"<html>ok</html>", b"", b"[1]"):
            with self.subTest(content=content):
                client, _session = make_client(FakeResponse(200, content=content))
                with self.assertRaises(InvalidResponseError):
                    client.send_text("+56912345678", "x")

    def test_connect_failures_are_retryable(self):
        never_connected = (
            requests.exceptions.ConnectTimeout("connect timed out"),
            requests.exceptions.ConnectionError(
                MaxRetryError(None, "/v23.0/x", NewConnectionError(None, "refused"))
            ),
            requests.exceptions.ConnectionError("boom"),
            requests.exceptions.ConnectionError(),
            requests.exceptions.SSLError(MaxRetryError(None, "/x", None)),
        )
        for exc in never_connected:
            with self.subTest(exc=repr(exc)):
                client, _session = make_client(exc)
                with self.assertRaises(RetryableError) as caught:
                    client.send_text("+56912345678", "x")
                error = caught.exception
                self.assertIs(type(error), RetryableError)
                self.assertIsNone(error.code)
                self.assertEqual(error.title, "Connection error")
                self.assertIsNone(error.__cause__)

    def test_read_timeout_on_send_is_uncertain(self):
        client, _session = make_client(requests.exceptions.ReadTimeout("read timed out"))
        with self.assertRaises(UncertainDeliveryError) as caught:
            client.send_text("+56912345678", "x")
        self.assertTrue(caught.exception.retryable)
        self.assertIsNone(caught.exception.code)

    def test_connection_dropped_after_sending_is_uncertain(self):
        for reason in (
            ProtocolError("Connection aborted.", ConnectionResetError(104, "reset")),
            TimeoutError("timed out"),
        ):
            with self.subTest(reason=repr(reason)):
                client, _session = make_client(requests.exceptions.ConnectionError(reason))
                with self.assertRaises(UncertainDeliveryError):
                    client.send_text("+56912345678", "x")
        client, _session = make_client(requests.exceptions.ChunkedEncodingError("broken"))
        with self.assertRaises(UncertainDeliveryError):
            client.send_text("+56912345678", "x")

    def test_read_timeout_on_get_is_plain_retryable(self):
        for exc in (
            requests.exceptions.ReadTimeout("read timed out"),
            requests.exceptions.ConnectionError(ProtocolError("Connection aborted.")),
        ):
            with self.subTest(exc=repr(exc)):
                client, _session = make_client(exc)
                with self.assertRaises(RetryableError) as caught:
                    client.get_phone_number()
                self.assertNotIsInstance(caught.exception, UncertainDeliveryError)

    def test_invalid_url_is_permanent(self):
        client, _session = make_client(requests.exceptions.InvalidURL("bad url"))
        with self.assertRaises(PermanentError):
            client.get_phone_number()

    def test_logs_never_contain_token(self):
        client, _session = make_client(
            ok_send(), requests.exceptions.ConnectTimeout("x"), graph_error(401, 190, "bad")
        )
        with self.assertLogs(cloud_api._logger, level=logging.DEBUG) as logs:
            client.send_text("+56912345678", "x")
            with self.assertRaises(RetryableError):
                client.send_text("+56912345678", "x")
            with self.assertRaises(AuthError):
                client.send_text("+56912345678", "x")
        self.assertTrue(logs.output)
        for line in logs.output:
            self.assertNotIn(TOKEN, line)


class TestRecipient(unittest.TestCase):
    def test_forms(self):
        self.assertEqual(recipient_fields("+56912345678"), {"to": "+56912345678"})
        self.assertEqual(recipient_fields("56912345678"), {"to": "+56912345678"})
        self.assertEqual(recipient_fields("+56 9 1234-5678"), {"to": "+56912345678"})
        self.assertEqual(recipient_fields("whatsapp:+56912345678"), {"to": "+56912345678"})
        self.assertEqual(
            recipient_fields("US.13491208655302741918"), {"recipient": "US.13491208655302741918"}
        )
        self.assertEqual(
            recipient_fields("US.ENT.11815799212886844830"),
            {"recipient": "US.ENT.11815799212886844830"},
        )
        for empty in ("", None, "  ", False):
            with self.subTest(to=empty), self.assertRaises(ValueError):
                recipient_fields(empty)


class TestTextPayload(unittest.TestCase):
    def test_full(self):
        payload = build_text_payload(
            "+56912345678",
            "Mira https://ofitec.cl",
            preview_url=True,
            context_message_id="wamid.IN1",
            callback_data="ofitec:1",
        )
        self.assertEqual(
            payload,
            {
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "to": "+56912345678",
                "context": {"message_id": "wamid.IN1"},
                "type": "text",
                "text": {"preview_url": True, "body": "Mira https://ofitec.cl"},
                "biz_opaque_callback_data": "ofitec:1",
            },
        )

    def test_body_limit(self):
        body = build_text_payload("+56912345678", "a" * 5000)["text"]["body"]
        self.assertEqual(len(body), 4096)
        self.assertTrue(body.endswith("…"))
        exact = build_text_payload("+56912345678", "b" * 4096)["text"]["body"]
        self.assertEqual(exact, "b" * 4096)

    def test_empty_body(self):
        for body in ("", "   ", None):
            with self.subTest(body=body), self.assertRaises(ValueError):
                build_text_payload("+56912345678", body)

    def test_callback_data(self):
        payload = build_text_payload("+56912345678", "x")
        self.assertNotIn("biz_opaque_callback_data", payload)
        self.assertNotIn("context", payload)
        ok = build_text_payload("+56912345678", "x", callback_data="c" * 512)
        self.assertEqual(len(ok["biz_opaque_callback_data"]), 512)
        with self.assertRaises(ValueError):
            build_text_payload("+56912345678", "x", callback_data="c" * 513)


class TestButtonsPayload(unittest.TestCase):
    def test_shape(self):
        payload = build_buttons_payload(
            "+56912345678",
            "¿Puedes atender la acción?",
            [("ofitec:42:ok", "OK"), ("ofitec:42:completed", "COMPLETADO")],
            header="Acción urgente",
            footer="Responde con un botón",
        )
        self.assertEqual(
            payload["interactive"],
            {
                "type": "button",
                "header": {"type": "text", "text": "Acción urgente"},
                "body": {"text": "¿Puedes atender la acción?"},
                "footer": {"text": "Responde con un botón"},
                "action": {
                    "buttons": [
                        {"type": "reply", "reply": {"id": "ofitec:42:ok", "title": "OK"}},
                        {
                            "type": "reply",
                            "reply": {"id": "ofitec:42:completed", "title": "COMPLETADO"},
                        },
                    ]
                },
            },
        )
        self.assertEqual(payload["type"], "interactive")

    def test_limits(self):
        payload = build_buttons_payload(
            "+56912345678",
            "b" * 2000,
            [("id1", "A very long button title indeed")],
            header="h" * 100,
            footer="f" * 100,
        )
        interactive = payload["interactive"]
        self.assertEqual(len(interactive["body"]["text"]), 1024)
        self.assertEqual(len(interactive["header"]["text"]), 60)
        self.assertEqual(len(interactive["footer"]["text"]), 60)
        title = interactive["action"]["buttons"][0]["reply"]["title"]
        self.assertLessEqual(len(title), 20)
        self.assertEqual(title, "A very long button…")

    def test_button_count(self):
        four = [(f"id{i}", f"T{i}") for i in range(4)]
        with self.assertRaises(ValueError):
            build_buttons_payload("+56912345678", "x", four)
        with self.assertRaises(ValueError):
            build_buttons_payload("+56912345678", "x", [])
        three = build_buttons_payload("+56912345678", "x", four[:3])
        self.assertEqual(len(three["interactive"]["action"]["buttons"]), 3)

    def test_button_ids(self):
        ok = build_buttons_payload("+56912345678", "x", [("i" * 256, "T")])
        self.assertEqual(len(ok["interactive"]["action"]["buttons"][0]["reply"]["id"]), 256)
        with self.assertRaises(ValueError):
            build_buttons_payload("+56912345678", "x", [("i" * 257, "T")])
        with self.assertRaises(ValueError):
            build_buttons_payload("+56912345678", "x", [("", "T")])
        with self.assertRaises(ValueError):
            build_buttons_payload("+56912345678", "x", [("a", "T1"), ("a", "T2")])
        with self.assertRaises(ValueError):
            build_buttons_payload("+56912345678", "x", [("a", "Same"), ("b", "Same")])
        with self.assertRaises(ValueError):
            build_buttons_payload("+56912345678", "x", [("a", "  ")])
        with self.assertRaises(ValueError):
            build_buttons_payload("+56912345678", "x", ["not a pair"])

    def test_dict_buttons_and_no_header(self):
        payload = build_buttons_payload("+56912345678", "x", [{"id": "a", "title": "A"}])
        self.assertNotIn("header", payload["interactive"])
        self.assertNotIn("footer", payload["interactive"])

    def test_empty_body(self):
        with self.assertRaises(ValueError):
            build_buttons_payload("+56912345678", " ", [("a", "A")])


class TestTemplatePayload(unittest.TestCase):
    def test_positional_with_quick_replies(self):
        payload = build_template_payload(
            "+56912345678",
            "urgent_action",
            "es",
            ["Ana", "Obra\nNorte", "  "],
            button_payloads=["ofitec:42:ok", "ofitec:42:completed"],
            callback_data="ofitec:5",
        )
        self.assertEqual(payload["type"], "template")
        self.assertEqual(payload["biz_opaque_callback_data"], "ofitec:5")
        self.assertEqual(
            payload["template"],
            {
                "name": "urgent_action",
                "language": {"code": "es"},
                "components": [
                    {
                        "type": "body",
                        "parameters": [
                            {"type": "text", "text": "Ana"},
                            {"type": "text", "text": "Obra Norte"},
                            {"type": "text", "text": "-"},
                        ],
                    },
                    {
                        "type": "button",
                        "sub_type": "quick_reply",
                        "index": "0",
                        "parameters": [{"type": "payload", "payload": "ofitec:42:ok"}],
                    },
                    {
                        "type": "button",
                        "sub_type": "quick_reply",
                        "index": "1",
                        "parameters": [{"type": "payload", "payload": "ofitec:42:completed"}],
                    },
                ],
            },
        )

    def test_params_are_sanitised(self):
        payload = build_template_payload(
            "+56912345678", "t", "es", ["a\tb     c\r\nd", None, 42, "x" * 5000]
        )
        texts = [p["text"] for p in payload["template"]["components"][0]["parameters"]]
        self.assertEqual(texts[:3], ["a b c d", "-", "42"])
        self.assertLessEqual(len(texts[3]), 1024)
        for text in texts:
            self.assertNotIn("\n", text)
            self.assertNotIn("\t", text)
            self.assertNotIn("     ", text)

    def test_named_params(self):
        payload = build_template_payload(
            "+56912345678", "t", "es", {"first_name": "Ana", "order_number": "S1"}
        )
        self.assertEqual(
            payload["template"]["components"][0]["parameters"],
            [
                {"type": "text", "parameter_name": "first_name", "text": "Ana"},
                {"type": "text", "parameter_name": "order_number", "text": "S1"},
            ],
        )

    def test_skipped_button_keeps_index(self):
        payload = build_template_payload("+56912345678", "t", "es", [], [None, "p2", ""])
        buttons = payload["template"]["components"]
        self.assertEqual(len(buttons), 1)
        self.assertEqual(buttons[0]["index"], "1")

    def test_payload_limit(self):
        build_template_payload("+56912345678", "t", "es", [], ["p" * 256])
        with self.assertRaises(ValueError):
            build_template_payload("+56912345678", "t", "es", [], ["p" * 257])

    def test_no_components(self):
        payload = build_template_payload("+56912345678", "hello_world", "en_US", None)
        self.assertEqual(
            payload["template"], {"name": "hello_world", "language": {"code": "en_US"}}
        )

    def test_header_params(self):
        payload = build_template_payload(
            "+56912345678", "t", "es", ["b"], header_params=["H" * 100]
        )
        header = payload["template"]["components"][0]
        self.assertEqual(header["type"], "header")
        self.assertEqual(len(header["parameters"][0]["text"]), 60)

    def test_required(self):
        with self.assertRaises(ValueError):
            build_template_payload("+56912345678", "", "es", [])
        with self.assertRaises(ValueError):
            build_template_payload("+56912345678", "t", "", [])

    def test_bsuid_recipient(self):
        payload = build_template_payload("CL.81234567890123456789", "t", "es", [])
        self.assertEqual(payload["recipient"], "CL.81234567890123456789")
        self.assertNotIn("to", payload)


class TestProviderInterface(unittest.TestCase):
    def test_the_client_is_a_provider(self):
        client, _session = make_client(ok_send())
        self.assertIsInstance(client, Provider)
        self.assertEqual(client.name, "meta")

    def test_accepts_a_template_by_name(self):
        self.assertTrue(CloudApiClient.accepts_template(TemplateRef("urgent_action", "es")))
        self.assertFalse(CloudApiClient.accepts_template(TemplateRef(content_sid="HX1")))
        self.assertFalse(CloudApiClient.accepts_template(None))

    def test_classifies_meta_codes(self):
        self.assertIs(CloudApiClient.classify_error(131047), WindowClosedError)
        self.assertIs(CloudApiClient.classify_error(131056), RateLimitedError)
        self.assertIs(CloudApiClient.classify_error(190), AuthError)
        self.assertIs(CloudApiClient.classify_error(131026), PermanentError)
        self.assertIs(CloudApiClient.classify_error(None, 503), RetryableError)


class TestSendResult(unittest.TestCase):
    def test_from_response(self):
        result = parse_send_response(
            {
                "contacts": [{"input": "+1", "wa_id": "1", "user_id": "US.1"}],
                "messages": [{"id": "wamid.A", "message_status": "held_for_quality_assessment"}],
            }
        )
        self.assertEqual(result.wamid, "wamid.A")
        self.assertEqual(result.user_id, "US.1")
        self.assertEqual(result.message_status, "held_for_quality_assessment")

    def test_garbage(self):
        for data in (None, [], {"messages": "x"}, {"messages": [{"id": 5}]}):
            with self.subTest(data=data), self.assertRaises(InvalidResponseError):
                parse_send_response(data)


class TestNoSecretInRequestsExceptions(unittest.TestCase):
    def test_network_error_details_do_not_leak_token(self):
        exc = requests.exceptions.ConnectionError(f"weird proxy echo {TOKEN}")
        client, _session = make_client(exc)
        with self.assertRaises(RetryableError) as caught:
            client.send_text("+56912345678", "x")
        self.assertNotIn(TOKEN, str(caught.exception))

    def test_session_mock_spec(self):
        session = mock.create_autospec(requests.Session, instance=True)
        session.post.return_value = FakeResponse(200, {"messages": [{"id": WAMID}]})
        client = CloudApiClient(TOKEN, PHONE_ID, session=session)
        client.send_text("+56912345678", "x")
        session.post.assert_called_once()
        self.assertEqual(session.post.call_args.kwargs["timeout"], (5, 30))


if __name__ == "__main__":
    unittest.main()
