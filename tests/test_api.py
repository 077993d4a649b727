"""JSON API: /api/whatsapp/send_message, /test_connection, /get_stats."""

import json
from datetime import timedelta
from urllib.parse import urlencode

from odoo import fields
from odoo.tests import tagged

from .common import WhatsAppHttpCase, forms_parsed, meta_error

SEND = "/api/whatsapp/send_message"
TEST_CONNECTION = "/api/whatsapp/test_connection"
STATS = "/api/whatsapp/get_stats"
MANAGER = "+56911111111"


@tagged("post_install", "-at_install")
class TestApi(WhatsAppHttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.api_user = cls._create_user(
            "apiuser",
            "Ana API",
            "+56 9 6666 6666",
            groups=("ofitec_whatsapp.group_whatsapp_user",),
        )
        cls.api_user.password = "apiuser-password"
        cls.plain_user = cls._create_user("apiplain", "Pablo Plano", "+56 9 8888 8888")
        cls.plain_user.password = "apiplain-password"
        cls.partner = cls.user_manager.partner_id
        cls.action = cls.env["ofitec.next.action"].create(
            {
                "name": "Aprobar estado de pago",
                "description": "EP 5",
                "action_type": "planned",
                "category": "financial",
                "priority": "3",
                "project_id": cls.project.id,
                "user_id": cls.user_assignee.id,
            }
        )

    def setUp(self):
        super().setUp()
        self.authenticate(self.api_user.login, "apiuser-password")

    # helpers ---------------------------------------------------------------
    def _post(self, url, body, content_type="application/json"):
        if not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        headers = {"Content-Type": content_type} if content_type else {}
        # url_open would turn an empty body into a GET.
        return self.opener.post(self.base_url() + url, data=body, headers=headers, timeout=30)

    def _send(self, payload, **kwargs):
        return self._post(SEND, payload, **kwargs)

    def assertApiError(self, response, status, field=None):
        self.assertEqual(response.status_code, status, response.text)
        self.assertTrue(response.headers["Content-Type"].startswith("application/json"))
        error = response.json()["error"]
        self.assertTrue(error["message"])
        self.assertNotIn("Traceback", response.text)
        if field:
            self.assertEqual(error.get("field"), field, error)
        return error

    # send_message ---------------------------------------------------------
    def test_partner_number_follows_the_same_rule_as_actions(self):
        """An unusable mobile does not hide a good phone: each is normalised before one
        is chosen, in the partner's country, else the company partner's (as for actions)."""
        partner = self.env["res.partner"].create(
            {"name": "Obra Norte", "mobile": "12", "phone": "9 5555 5555"}
        )
        Config = self.env["ofitec.whatsapp.config"]
        expected = Config._get_partner_number(partner, self.company)
        self.assertEqual(expected, "+56955555555")
        response = self._send({"partner_id": partner.id, "body": "Hola"})
        self.assertEqual(response.status_code, 201, response.text)
        message = self.env["ofitec.whatsapp.message"].browse(response.json()["id"])
        self.assertEqual(message.phone, expected)

    def test_send_text_to_partner(self):
        with self.mock_whatsapp_gateway() as gateway:
            response = self._send({"partner_id": self.partner.id, "body": "Hola Paula"})
            self.assertNoWhatsApp(gateway)
        self.assertEqual(response.status_code, 201, response.text)
        data = response.json()
        self.assertEqual(data["state"], "queued")
        message = self.env["ofitec.whatsapp.message"].browse(data["id"])
        self.assertEqual(message.phone, MANAGER)
        self.assertEqual(message.body, "Hola Paula")
        self.assertEqual(message.partner_id, self.partner)
        self.assertEqual(message.config_id, self.config)
        self.assertEqual(message.direction, "outbound")
        self.assertEqual(message.create_uid, self.api_user)

    def test_send_template_to_phone_about_an_action(self):
        response = self._send(
            {
                "phone": "9 5555 5555",
                "template_code": "urgent_action",
                "next_action_id": self.action.id,
            }
        )
        self.assertEqual(response.status_code, 201, response.text)
        message = self.env["ofitec.whatsapp.message"].browse(response.json()["id"])
        self.assertEqual(message.phone, "+56955555555")
        self.assertEqual(message.next_action_id, self.action)
        self.assertEqual(message.template_id.code, "urgent_action")
        self.assertIn("Aprobar estado de pago", message.body)
        self.assertEqual(json.loads(message.template_params)[2], "Aprobar estado de pago")
        # The queue sends it as the approved template with the action's buttons.
        with self.mock_whatsapp_gateway() as gateway:
            self._run_queue()
        (payload,) = gateway.sent_to("+56955555555")
        self.assertEqual(payload["kind"], "template")
        self.assertEqual(payload["button_payloads"][0], f"ofitec:{self.action.id}:ok")

    def test_send_template_without_action(self):
        response = self._send({"partner_id": self.partner.id, "template_code": "urgent_action"})
        self.assertEqual(response.status_code, 201, response.text)
        message = self.env["ofitec.whatsapp.message"].browse(response.json()["id"])
        with self.mock_whatsapp_gateway() as gateway:
            self._run_queue()
        self.assertEqual(message.state, "sent", message.error_message)
        (payload,) = gateway.sent_to(MANAGER)
        self.assertEqual(payload["kind"], "template")
        self.assertEqual(payload["button_payloads"], [])

    def test_send_with_explicit_config(self):
        response = self._send(
            {"phone": "+56 9 5555 5555", "body": "x", "config_id": self.config.id}
        )
        self.assertEqual(response.status_code, 201, response.text)

    def test_bad_inputs(self):
        archived = self.config.copy({"name": "Archivado", "phone_number_id": "4004"})
        archived.active = False
        partner_without_number = self.env["res.partner"].create({"name": "Sin número"})
        good = {"partner_id": self.partner.id, "body": "Hola"}
        cases = [
            # (body, content type, status, field)
            ("not json at all", "application/json", 400, None),
            (b"", "application/json", 400, "partner_id"),
            ("[1, 2]", "application/json", 400, None),
            (json.dumps(good), "text/plain", 415, None),
            (json.dumps(good), "application/x-www-form-urlencoded", 415, None),
            (json.dumps(good), None, 415, None),
            (
                {"partner_id": str(self.partner.id), "body": "x"},
                "application/json",
                400,
                "partner_id",
            ),
            ({"partner_id": 1.5, "body": "x"}, "application/json", 400, "partner_id"),
            ({"partner_id": True, "body": "x"}, "application/json", 400, "partner_id"),
            ({"partner_id": -3, "body": "x"}, "application/json", 400, "partner_id"),
            ({"partner_id": 99999999, "body": "x"}, "application/json", 404, "partner_id"),
            ({"partner_id": 2**40, "body": "x"}, "application/json", 404, "partner_id"),
            (
                {"partner_id": partner_without_number.id, "body": "x"},
                "application/json",
                400,
                "partner_id",
            ),
            (
                {"partner_id": self.partner.id, "phone": MANAGER, "body": "x"},
                "application/json",
                400,
                "partner_id",
            ),
            ({"body": "x"}, "application/json", 400, "partner_id"),
            ({"phone": "12", "body": "x"}, "application/json", 400, "phone"),
            ({"phone": "hola", "body": "x"}, "application/json", 400, "phone"),
            ({"phone": 56911111111, "body": "x"}, "application/json", 400, "phone"),
            ({"phone": "", "body": "x"}, "application/json", 400, "phone"),
            ({"partner_id": self.partner.id, "body": ""}, "application/json", 400, "body"),
            ({"partner_id": self.partner.id, "body": "   "}, "application/json", 400, "body"),
            ({"partner_id": self.partner.id, "body": ["x"]}, "application/json", 400, "body"),
            ({"partner_id": self.partner.id, "body": "x" * 5000}, "application/json", 400, "body"),
            ({"partner_id": self.partner.id}, "application/json", 400, "body"),
            (
                {"partner_id": self.partner.id, "body": "x", "template_code": "urgent_action"},
                "application/json",
                400,
                "body",
            ),
            (
                {"partner_id": self.partner.id, "template_code": "does_not_exist"},
                "application/json",
                400,
                "template_code",
            ),
            (
                {"partner_id": self.partner.id, "body": "x", "next_action_id": 99999999},
                "application/json",
                404,
                "next_action_id",
            ),
            (
                {"partner_id": self.partner.id, "body": "x", "next_action_id": "1"},
                "application/json",
                400,
                "next_action_id",
            ),
            (
                {"partner_id": self.partner.id, "body": "x", "config_id": archived.id},
                "application/json",
                400,
                "config_id",
            ),
            (
                {"partner_id": self.partner.id, "body": "x", "config_id": 99999999},
                "application/json",
                404,
                "config_id",
            ),
            ({"partner_id": self.partner.id, "body": "O\x00K"}, "application/json", 400, "body"),
            # A misspelt field is refused, not ignored.
            (
                {"partner_id": self.partner.id, "body": "x", "next_action": self.action.id},
                "application/json",
                400,
                "next_action",
            ),
        ]
        count = self.env["ofitec.whatsapp.message"].search_count([])
        for body, content_type, status, field in cases:
            with self.subTest(body=body, content_type=content_type):
                response = self._send(body, content_type=content_type)
                self.assertApiError(response, status, field)
        self.assertEqual(self.env["ofitec.whatsapp.message"].search_count([]), count)

    def test_body_over_the_limit_gets_its_413(self):
        # The client is still sending when the server refuses: the body is read and
        # discarded, so the client receives the answer instead of a connection reset.
        body = json.dumps({"phone": MANAGER, "body": "x" * 3_500_000})
        count = self.env["ofitec.whatsapp.message"].search_count([])
        response = self._send(body)
        self.assertApiError(response, 413)
        self.assertNotEqual(response.headers.get("Connection"), "close")
        self.assertEqual(self.env["ofitec.whatsapp.message"].search_count([]), count)
        # The connection is still usable afterwards.
        self.assertEqual(self._send({"phone": MANAGER, "body": "Hola"}).status_code, 201)

    def test_a_form_over_the_limit_is_refused_before_odoo_parses_it(self):
        """A form body (not JSON) is parsed whole by Odoo before the route runs: one
        declared over the limit gets the API's 413 first, unparsed."""
        count = self.env["ofitec.whatsapp.message"].search_count([])
        body = urlencode({"phone": MANAGER, "body": "x" * 100_000}).encode()
        with forms_parsed() as parsed:
            response = self.url_open(
                SEND, data=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
            )
        self.assertApiError(response, 413)
        self.assertEqual(parsed, [])
        self.assertEqual(self.env["ofitec.whatsapp.message"].search_count([]), count)

    def test_no_active_configuration(self):
        self.config.active = False
        response = self._send({"partner_id": self.partner.id, "body": "x"})
        self.assertApiError(response, 400, "config_id")

    def test_other_company_records_are_not_found(self):
        company_b = self.env["res.company"].create({"name": "OFITEC Sur"})
        config_b = self.env["ofitec.whatsapp.config"].create(
            {"name": "Sur", "phone_number_id": "5005", "company_id": company_b.id}
        )
        response = self._send(
            {"partner_id": self.partner.id, "body": "x", "config_id": config_b.id}
        )
        self.assertApiError(response, 404, "config_id")

    def test_user_without_whatsapp_group(self):
        self.authenticate(self.plain_user.login, "apiplain-password")
        for response in (
            self._send({"partner_id": self.partner.id, "body": "x"}),
            self._post(TEST_CONNECTION, {}),
            self.url_open(STATS),
        ):
            with self.subTest(url=response.url):
                self.assertApiError(response, 403)

    def test_anonymous(self):
        self.authenticate(None, None)
        response = self._send({"partner_id": self.partner.id, "body": "x"})
        self.assertNotEqual(response.status_code, 201)
        self.assertLess(response.status_code, 500)
        self.assertFalse(self.env["ofitec.whatsapp.message"].search([("body", "=", "x")]))

    def test_garbage_never_500(self):
        bodies = [
            b"\xff\xfe\x00garbage",
            b"{" * 1000,
            b"[" * 60000,
            b'{"partner_id": 1e999, "body": "x"}',
            b'{"partner_id": NaN, "body": "x"}',
            b'{"partner_id": 9223372036854775808, "body": "x"}',
            b'{"partner_id": null, "phone": null, "body": null}',
            b'{"phone": {"$ne": 1}, "body": "x"}',
            b'{"phone": "+56 9 1111 1111", "body": "x", "config_id": -0}',
            b'{"phone": "+56 9 1111 1111", "body": "\\ud800"}',
            b'"just a string"',
            b"null",
            b"12",
            json.dumps({"phone": "+" + "9" * 60, "body": "x"}).encode(),
            json.dumps({"phone": "+56 9 1111 1111", "body": "x", "x" * 100: 1}).encode(),
            b"x" * (70 * 1024),
        ]
        with self.mock_whatsapp_gateway():
            for body in bodies:
                for url in (SEND, TEST_CONNECTION):
                    with self.subTest(url=url, body=body[:40]):
                        response = self._post(url, body)
                        self.assertLess(response.status_code, 500, response.text[:300])
                        data = response.json()  # always JSON
                        if url == SEND:
                            self.assertGreaterEqual(response.status_code, 400, response.text)
                            self.assertIn("error", data)

    def test_wrong_methods(self):
        response = self.url_open(SEND)  # GET
        self.assertGreaterEqual(response.status_code, 400)
        self.assertLess(response.status_code, 500)

    # test_connection --------------------------------------------------------
    def test_test_connection(self):
        with self.mock_whatsapp_gateway() as gateway:
            response = self._post(TEST_CONNECTION, {"config_id": self.config.id})
        self.assertEqual(response.status_code, 200, response.text)
        data = response.json()
        self.assertTrue(data["ok"])
        self.assertEqual(data["config_id"], self.config.id)
        self.assertEqual(data["display_phone_number"], "+56 2 2345 6789")
        self.assertEqual(gateway.calls, [{"kind": "get_phone_number"}])
        for secret in ("test-access-token", "test_app_secret", "test-verify-token"):
            self.assertNotIn(secret, response.text)

    def test_test_connection_default_config_and_error(self):
        with self.mock_whatsapp_gateway() as gateway:
            gateway.fail("*", meta_error(190, "Invalid OAuth access token", http_status=401))
            response = self._post(TEST_CONNECTION, b"")
        self.assertEqual(response.status_code, 200, response.text)
        data = response.json()
        self.assertFalse(data["ok"])
        self.assertEqual(data["error_code"], 190)
        self.assertIn("Invalid OAuth access token", data["message"])
        self.assertNotIn("test-access-token", response.text)

    def test_test_connection_bad_input(self):
        self.assertApiError(self._post(TEST_CONNECTION, {"config_id": "1"}), 400, "config_id")
        self.assertApiError(self._post(TEST_CONNECTION, {"config_id": 99999999}), 404, "config_id")
        self.assertApiError(self._post(TEST_CONNECTION, "{}", content_type="text/plain"), 415)

    def test_a_parameter_named_self_is_just_a_parameter(self):
        """Odoo passes query parameters to the route by name: "self" is ignored."""
        response = self.url_open(STATS + "?self=1")
        self.assertEqual(response.status_code, 200)
        self.assertIn("sent_today", response.json())

    # get_stats --------------------------------------------------------------
    def test_get_stats(self):
        company_c = self.env["res.company"].create(
            {"name": "OFITEC Norte", "country_id": self.env.ref("base.cl").id}
        )
        config_c = self.env["ofitec.whatsapp.config"].create(
            {"name": "Norte", "phone_number_id": "6006", "company_id": company_c.id}
        )
        user_c = self._create_user(
            "statsuser",
            "Sara Stats",
            "+56 9 4444 0000",
            groups=("ofitec_whatsapp.group_whatsapp_user",),
            company=company_c,
        )
        user_c.password = "statsuser-password"
        now = fields.Datetime.now()
        Message = self.env["ofitec.whatsapp.message"]
        common = {"config_id": config_c.id, "company_id": company_c.id, "phone": MANAGER}
        outbound = [
            ("sent", now, False),
            ("delivered", now, False),
            ("read", now, False),
            ("read", now - timedelta(days=3), False),
            ("failed", now, False),
            ("sent", now, True),  # test message: not in the delivery rate
            ("queued", False, False),
        ]
        for state, sent_date, is_test in outbound:
            Message.create(dict(common, state=state, sent_date=sent_date, is_test=is_test))
        for processed in (True, True, False):
            Message.create(
                dict(common, direction="inbound", state="received", reply_processed=processed)
            )
        # Another company's messages never count.
        Message.create(
            {
                "config_id": self.config.id,
                "company_id": self.company.id,
                "phone": MANAGER,
                "state": "delivered",
                "sent_date": now,
            }
        )
        self.authenticate(user_c.login, "statsuser-password")
        response = self.url_open(STATS)
        self.assertEqual(response.status_code, 200, response.text)
        stats = response.json()
        self.assertEqual(stats["sent_today"], 5)
        self.assertEqual(stats["received_today"], 3)
        self.assertEqual(stats["replies_processed"], 2)
        # Real messages sent in the period: 5, of which 3 reached the phone.
        self.assertEqual(stats["delivery_rate"], 60.0)
        self.assertEqual(stats["queued"], 1)
        for key in ("sent_today", "received_today", "delivery_rate", "replies_processed"):
            self.assertIsInstance(stats[key], (int, float))

    def test_get_stats_empty(self):
        company_d = self.env["res.company"].create({"name": "OFITEC Vacía"})
        user_d = self._create_user(
            "emptystats",
            "Ema Vacía",
            "+56 9 4444 1111",
            groups=("ofitec_whatsapp.group_whatsapp_user",),
            company=company_d,
        )
        user_d.password = "emptystats-password"
        self.authenticate(user_d.login, "emptystats-password")
        response = self.url_open(STATS)
        self.assertEqual(response.status_code, 200, response.text)
        stats = response.json()
        self.assertEqual(
            {
                k: stats[k]
                for k in ("sent_today", "received_today", "delivery_rate", "replies_processed")
            },
            {"sent_today": 0, "received_today": 0, "delivery_rate": 0.0, "replies_processed": 0},
        )
