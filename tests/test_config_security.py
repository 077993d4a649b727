"""Configuration: secrets, access rights, multi-company rules, Test Connection."""

import json
import os
from unittest.mock import patch

import requests
from cryptography.fernet import Fernet

from odoo import tools
from odoo.exceptions import AccessError
from odoo.tests import tagged

from ..models.ofitec_whatsapp_config_secret import KEY_CONFIG_OPTION, KEY_ENV_VARIABLE
from .common import WhatsAppCase, meta_error

MANAGER = "+56911111111"
TOKEN = "EAAG-secret-token-1234567890"
SECRETS = ("access_token", "app_secret", "verify_token")


def _without_key_env():
    env = {key: value for key, value in os.environ.items() if key != KEY_ENV_VARIABLE}
    return patch.dict(os.environ, env, clear=True)


@tagged("post_install", "-at_install")
class TestAccess(WhatsAppCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company_b = cls.env["res.company"].create(
            {"name": "OFITEC Sur", "country_id": cls.env.ref("base.cl").id}
        )
        cls.config_b = cls.env["ofitec.whatsapp.config"].create(
            {"name": "Número Sur", "phone_number_id": "2002", "company_id": cls.company_b.id}
        )
        cls.wa_user = cls._create_user(
            "wauser",
            "Walter Usuario",
            "+56 9 6666 6666",
            groups=("ofitec_whatsapp.group_whatsapp_user",),
        )
        cls.wa_manager = cls._create_user(
            "wamgr",
            "Wanda Manager",
            "+56 9 7777 7777",
            groups=("ofitec_whatsapp.group_whatsapp_manager",),
        )
        cls.plain_user = cls._create_user("plain", "Pedro Plano", "+56 9 8888 8888")
        cls.user_b = cls._create_user(
            "userb",
            "Beatriz Sur",
            "+56 9 9999 9999",
            groups=("ofitec_whatsapp.group_whatsapp_user",),
            company=cls.company_b,
        )
        Message = cls.env["ofitec.whatsapp.message"]
        cls.message_a = Message.create(
            {
                "config_id": cls.config.id,
                "company_id": cls.company.id,
                "phone": MANAGER,
                "body": "Mensaje de A",
                "state": "sent",
            }
        )
        cls.message_b = Message.create(
            {
                "config_id": cls.config_b.id,
                "company_id": cls.company_b.id,
                "phone": "+56955555555",
                "body": "Mensaje de B",
                "state": "sent",
            }
        )

    def test_groups(self):
        self.assertTrue(self.wa_manager.has_group("ofitec_whatsapp.group_whatsapp_user"))
        self.assertFalse(self.wa_user.has_group("ofitec_whatsapp.group_whatsapp_manager"))
        self.assertFalse(self.plain_user.has_group("ofitec_whatsapp.group_whatsapp_user"))

    def test_every_model_has_access_rules(self):
        models = self.env["ir.model"].search([("model", "=like", "ofitec.whatsapp.%")])
        # A mixin (abstract model) has no records to guard.
        models = models.filtered(lambda m: not self.env[m.model]._abstract)
        self.assertGreaterEqual(len(models), 6)
        for model in models:
            with self.subTest(model=model.model):
                self.assertTrue(model.access_ids, f"{model.model} has no access rule")
                self.assertTrue(
                    model.rule_ids.filtered(lambda r: "company_id" in r.domain_force),
                    f"{model.model} has no multi-company record rule",
                )

    def test_other_company_cannot_read(self):
        for model, record_a, record_b in (
            ("ofitec.whatsapp.message", self.message_a, self.message_b),
            ("ofitec.whatsapp.config", self.config, self.config_b),
        ):
            with self.subTest(model=model):
                as_b = self.env[model].with_user(self.user_b)
                found = as_b.search([])
                self.assertIn(record_b, found)
                self.assertNotIn(record_a, found)
                self.assertFalse(as_b.search([("id", "=", record_a.id)]))
                with self.assertRaises(AccessError):
                    as_b.browse(record_a.id).read(["name" if "config" in model else "body"])
                # And the other way round.
                as_a = self.env[model].with_user(self.wa_user)
                self.assertIn(record_a, as_a.search([]))
                self.assertNotIn(record_b, as_a.search([]))

    def test_other_company_stats(self):
        stats = self.env["ofitec.whatsapp.message"].with_user(self.user_b).get_whatsapp_stats()
        stats_a = self.env["ofitec.whatsapp.message"].with_user(self.wa_user).get_whatsapp_stats()
        self.assertEqual(stats["queued"], 0)
        self.message_b.state = "queued"
        self.assertEqual(
            self.env["ofitec.whatsapp.message"]
            .with_user(self.user_b)
            .get_whatsapp_stats()["queued"],
            1,
        )
        self.assertEqual(
            self.env["ofitec.whatsapp.message"]
            .with_user(self.wa_user)
            .get_whatsapp_stats()["queued"],
            stats_a["queued"],
        )

    def test_plain_user_has_no_access(self):
        config = self.config.with_user(self.plain_user)
        for fields_ in (["name"], ["access_token"], ["app_secret"], ["verify_token"]):
            with self.subTest(fields=fields_), self.assertRaises(AccessError):
                config.read(fields_)
        with self.assertRaises(AccessError):
            self.message_a.with_user(self.plain_user).read(["body"])

    def test_whatsapp_user_cannot_read_secrets(self):
        config = self.config.with_user(self.wa_user)
        self.assertEqual(config.read(["name"])[0]["name"], "Test number")
        for fname in SECRETS + ("access_token_stored", "app_secret_stored"):
            with self.subTest(field=fname), self.assertRaises(AccessError):
                config.read([fname])
        # A read of every field does not include them either.
        data = config.read()[0]
        self.assertFalse(set(SECRETS) & set(data))
        self.assertNotIn(TOKEN, json.dumps(data, default=str))
        with self.assertRaises(AccessError):
            config.write({"access_token": "stolen"})
        with self.assertRaises(AccessError):
            config.write({"name": "renamed"})

    def test_manager_reads_secrets(self):
        config = self.config.with_user(self.wa_manager)
        data = config.read(list(SECRETS))[0]
        self.assertEqual(data["access_token"], "test-access-token")
        self.assertEqual(data["app_secret"], "test_app_secret")
        self.assertEqual(data["verify_token"], "test-verify-token")
        config.write({"access_token": "new-token"})
        self.assertEqual(self.config.access_token, "new-token")

    def test_whatsapp_user_sees_messages_not_webhook_events(self):
        self.assertEqual(
            self.env["ofitec.whatsapp.message"]
            .with_user(self.wa_user)
            .search([("id", "=", self.message_a.id)]),
            self.message_a,
        )
        with self.assertRaises(AccessError):
            self.env["ofitec.whatsapp.webhook.event"].with_user(self.wa_user).search([])


@tagged("post_install", "-at_install")
class TestSecretsAtRest(WhatsAppCase):
    def _stored(self, config, fname):
        """What the database holds for secret ``fname`` (the column itself)."""
        self.env.flush_all()
        self.env.cr.execute(
            """
            SELECT access_token_stored, app_secret_stored, verify_token_stored
              FROM ofitec_whatsapp_config WHERE id = %s
            """,
            (config.id,),
        )
        return dict(zip(SECRETS, self.env.cr.fetchone(), strict=True))[fname]

    def test_encrypted_when_a_key_is_set(self):
        key = Fernet.generate_key().decode()
        with patch.dict(tools.config.options, {KEY_CONFIG_OPTION: key}), _without_key_env():
            config = self.env["ofitec.whatsapp.config"].create(
                {
                    "name": "Cifrado",
                    "phone_number_id": "3003",
                    "access_token": TOKEN,
                    "app_secret": "app-secret-xyz",
                }
            )
            self.assertTrue(config.secrets_encrypted)
            for fname, clear in (("access_token", TOKEN), ("app_secret", "app-secret-xyz")):
                stored = self._stored(config, fname)
                self.assertTrue(stored.startswith("enc:v1:"), stored)
                self.assertNotIn(clear, stored)
            verify = self._stored(config, "verify_token")
            self.assertTrue(verify.startswith("enc:v1:"))
            config.invalidate_recordset()
            self.assertEqual(config.access_token, TOKEN)
            self.assertEqual(config.app_secret, "app-secret-xyz")
            self.assertTrue(config.verify_token)
            self.assertFalse(config.verify_token.startswith("enc:"))
            # The client gets the clear token.
            self.assertEqual(config._get_client()._access_token, TOKEN)
        # Without the key the secret cannot be read back (and nothing crashes).
        with _without_key_env(), patch.dict(tools.config.options, {KEY_CONFIG_OPTION: False}):
            config.invalidate_recordset()
            with self.assertLogs("odoo.addons.ofitec_whatsapp", "WARNING"):
                self.assertFalse(config.access_token)

    def test_key_from_environment(self):
        key = Fernet.generate_key().decode()
        with (
            patch.dict(tools.config.options, {KEY_CONFIG_OPTION: False}),
            patch.dict(os.environ, {KEY_ENV_VARIABLE: key}),
        ):
            config = self.env["ofitec.whatsapp.config"].create(
                {"name": "Cifrado env", "phone_number_id": "3004", "access_token": TOKEN}
            )
            self.assertTrue(self._stored(config, "access_token").startswith("enc:v1:"))
            config.invalidate_recordset()
            self.assertEqual(config.access_token, TOKEN)

    def test_clear_without_key(self):
        with patch.dict(tools.config.options, {KEY_CONFIG_OPTION: False}), _without_key_env():
            config = self.env["ofitec.whatsapp.config"].create(
                {"name": "Sin clave", "phone_number_id": "3005", "access_token": TOKEN}
            )
            self.assertFalse(config.secrets_encrypted)
            self.assertEqual(self._stored(config, "access_token"), TOKEN)
            config.invalidate_recordset()
            self.assertEqual(config.access_token, TOKEN)
            # Adding a key later: old clear values still read, new ones are encrypted.
            key = Fernet.generate_key().decode()
            with patch.dict(tools.config.options, {KEY_CONFIG_OPTION: key}):
                config.invalidate_recordset()
                self.assertEqual(config.access_token, TOKEN)
                config.access_token = "rotated-token"
                self.assertTrue(self._stored(config, "access_token").startswith("enc:v1:"))
                config.invalidate_recordset()
                self.assertEqual(config.access_token, "rotated-token")

    def test_secrets_never_logged(self):
        """The real client on the send path: Meta's error even echoes the token."""
        self.config.access_token = TOKEN
        requests_seen = []

        def fake_meta(adapter, request, *args, **kwargs):
            requests_seen.append(request)
            response = requests.Response()
            response.status_code = 401
            response._content = json.dumps(
                {
                    "error": {
                        "message": "Invalid OAuth access token - Cannot parse access token "
                        + TOKEN,
                        "type": "OAuthException",
                        "code": 190,
                        "fbtrace_id": "AbCdEf",
                    }
                }
            ).encode()
            response.headers["Content-Type"] = "application/json"
            response.url = request.url
            response.request = request
            return response

        self.env["ofitec.whatsapp.message"].create(
            {
                "config_id": self.config.id,
                "company_id": self.company.id,
                "phone": MANAGER,
                "body": "Hola",
                "template_id": self.env.ref("ofitec_whatsapp.ofitec_whatsapp_template_welcome").id,
            }
        )
        with (
            patch.object(requests.adapters.HTTPAdapter, "send", fake_meta),
            self.assertLogs("odoo.addons.ofitec_whatsapp", "DEBUG") as logs,
        ):
            self._run_queue()
            result = self.config._test_connection()
        self.assertEqual(len(requests_seen), 2)
        # The token only travels in the Authorization header.
        self.assertEqual(requests_seen[0].headers["Authorization"], f"Bearer {TOKEN}")
        self.assertNotIn(TOKEN, requests_seen[0].url)
        self.assertNotIn(TOKEN, requests_seen[0].body.decode())
        output = "\n".join(logs.output)
        self.assertIn("HTTP 401", output)
        self.assertNotIn(TOKEN, output)
        message = self._messages(phone=MANAGER)
        # An expired token pauses the number: the message waits, it does not fail.
        self.assertEqual(message.state, "queued")
        self.assertEqual(message.error_code, "190")
        self.assertNotIn(TOKEN, message.error_message)
        self.assertFalse(result["ok"])
        self.assertEqual(result["error_code"], 190)
        self.assertNotIn(TOKEN, json.dumps(result, default=str))


@tagged("post_install", "-at_install")
class TestTestConnection(WhatsAppCase):
    def test_success_shows_the_number(self):
        with self.mock_whatsapp_gateway() as gateway:
            action = self.config.action_test_connection()
        self.assertEqual([c["kind"] for c in gateway.calls], ["get_phone_number"])
        params = action["params"]
        self.assertEqual(params["type"], "success")
        self.assertIn("+56 2 2345 6789", params["message"])
        self.assertIn("OFITEC", params["message"])
        self.assertIn("GREEN", params["message"])
        self.assertEqual(self.config.display_phone_number, "+56 2 2345 6789")
        self.assertEqual(self.config.verified_name, "OFITEC")
        self.assertEqual(self.config.quality_rating, "GREEN")

    def test_errors_are_named(self):
        for code, title in ((190, "Invalid OAuth access token"), (100, "Invalid parameter")):
            with self.subTest(code=code):
                with self.mock_whatsapp_gateway() as gateway:
                    gateway.fail("*", meta_error(code, title, http_status=401))
                    result = self.config._test_connection()
                    gateway.fail("*", meta_error(code, title, http_status=401))
                    action = self.config.action_test_connection()
                self.assertFalse(result["ok"])
                self.assertEqual(result["error_code"], code)
                self.assertIn(title, result["message"])
                self.assertIn(str(code), result["message"])
                self.assertEqual(action["params"]["type"], "danger")
                self.assertIn(title, action["params"]["message"])

    def test_not_connected_status(self):
        with self.mock_whatsapp_gateway() as gateway:
            gateway.phone_info["status"] = "FLAGGED"
            result = self.config._test_connection()
        self.assertFalse(result["ok"])
        self.assertIn("FLAGGED", result["message"])

    def test_missing_token(self):
        self.config.access_token = False
        result = self.config._test_connection()
        self.assertFalse(result["ok"])
        self.assertIn("access token", result["message"])

    def test_no_secret_in_the_answer(self):
        with self.mock_whatsapp_gateway():
            result = self.config._test_connection()
        text = json.dumps(result, default=str)
        for secret in ("test-access-token", "test_app_secret", "test-verify-token"):
            self.assertNotIn(secret, text)
