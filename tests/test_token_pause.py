"""An expired or revoked token pauses the number; its messages wait, others go on."""

from .common import WhatsAppCase, meta_error

NUMBER_A1 = "+56911110001"
NUMBER_A2 = "+56911110002"
NUMBER_A3 = "+56911110003"
NUMBER_B = "+56922220001"


class TestTokenPause(WhatsAppCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.config_b = cls.env["ofitec.whatsapp.config"].create(
            {
                "name": "Second number",
                "phone_number_id": "206540352242922",
                "access_token": "other-token",
                "app_secret": "other-secret",
                "company_id": cls.company.id,
            }
        )
        cls.wa_manager = cls._create_user(
            "wam",
            "Wanda Manager",
            "+56 9 3333 3333",
            groups=("ofitec_whatsapp.group_whatsapp_manager",),
        )

    def _queue(self, config, number):
        # Inside the window: a plain text, no template involved.
        self._open_window(number, config=config)
        return self.env["ofitec.whatsapp.message"].create(
            {
                "config_id": config.id,
                "company_id": self.company.id,
                "phone": number,
                "body": "Hola",
            }
        )

    def _token_activities(self, config):
        return config.activity_ids.filtered(lambda a: "access token" in (a.summary or ""))

    def test_expired_token_pauses_the_number_and_keeps_its_messages_queued(self):
        first = self._queue(self.config, NUMBER_A1)
        second = self._queue(self.config, NUMBER_A2)
        third = self._queue(self.config, NUMBER_A3)
        other = self._queue(self.config_b, NUMBER_B)
        with self.mock_whatsapp_gateway() as gateway:
            gateway.fail(NUMBER_A1, meta_error(190, "Access token has expired", http_status=401))
            self._run_queue()
        # The refused message is not an attempt that counts: it stays queued.
        self.assertEqual(first.state, "queued")
        self.assertEqual(first.retry_count, 0)
        self.assertEqual(first.error_code, "190")
        self.assertFalse(first.next_attempt)
        # The rest of that number waits without a call; the other number keeps sending.
        self.assertEqual((second.state, third.state), ("queued", "queued"))
        self.assertEqual({c["to"] for c in gateway.calls}, {NUMBER_A1, NUMBER_B})
        self.assertEqual(other.state, "sent")
        self.assertTrue(self.config.sending_paused)
        self.assertEqual(self.config.token_status, "expired")
        self.assertIn("190", self.config.paused_reason)
        self.assertFalse(self.config_b.sending_paused)
        # Managers are told once, with an activity each.
        activities = self._token_activities(self.config)
        self.assertIn(self.wa_manager, activities.user_id)
        self.assertNotIn(self.user_manager, activities.user_id, "not a WhatsApp manager")
        count = len(activities)
        with self.mock_whatsapp_gateway() as gateway:
            self._run_queue()
        self.assertNoWhatsApp(gateway)
        self.assertEqual(len(self._token_activities(self.config)), count)

        # A new token; Test Connection passes: sending resumes by itself.
        self.config.access_token = "fresh-token"
        with self.mock_whatsapp_gateway() as gateway:
            result = self.config.action_test_connection()
            self.assertEqual(result["params"]["type"], "success")
            self.assertFalse(self.config.sending_paused)
            self.assertEqual(self.config.token_status, "valid")
            self.assertFalse(self._token_activities(self.config), "activities are done")
            self._run_queue()
        self.assertEqual((first | second | third).mapped("state"), ["sent"] * 3)
        self.assertFalse(first.error_code)

    def test_a_missing_or_unreadable_token_pauses_like_a_refused_one(self):
        """No token (never entered, or stored under another encryption key): the number
        waits for one, as when Meta refuses it; its urgent alerts are not failed."""
        action = self._create_action()
        alerts = self._messages(action)
        other = self._queue(self.config_b, NUMBER_B)
        self.config.access_token = False
        with self.mock_whatsapp_gateway() as gateway:
            self._run_queue()
        self.assertEqual(alerts.mapped("state"), ["queued", "queued"])
        # The first one met the missing token; the other waits without trying.
        held = alerts.filtered(lambda m: m.error_code == "auth")
        self.assertTrue(held)
        self.assertIn("missing or unreadable", held[0].error_message)
        self.assertEqual({c["to"] for c in gateway.calls}, {NUMBER_B})
        self.assertEqual(other.state, "sent")
        self.assertTrue(self.config.sending_paused)
        self.assertIn("missing or unreadable", self.config.paused_reason)
        self.assertIn(self.wa_manager, self._token_activities(self.config).user_id)
        # The token entered and Test Connection passed: the alerts go.
        self.config.access_token = "fresh-token"
        with self.mock_whatsapp_gateway() as gateway:
            self.assertEqual(self.config.action_test_connection()["params"]["type"], "success")
            self._run_queue()
        self.assertEqual(alerts.mapped("state"), ["sent", "sent"])
        self.assertFalse(self.config.sending_paused)

    def test_every_auth_code_pauses_other_errors_do_not(self):
        for code, paused in (
            (190, True),
            (0, True),
            (10, True),
            (200, True),
            (299, True),
            (131026, False),
        ):
            with self.subTest(code=code):
                self.config.sudo()._resume_sending()
                message = self._queue(self.config, NUMBER_A1)
                with self.mock_whatsapp_gateway() as gateway:
                    gateway.fail(NUMBER_A1, meta_error(code, "Refused"))
                    self._run_queue()
                self.assertEqual(self.config.sending_paused, paused)
                self.assertEqual(message.state, "queued" if paused else "failed")
                message.state = "cancelled"

    def test_test_connection_refused_pauses_too(self):
        with self.mock_whatsapp_gateway() as gateway:
            gateway.fail("*", meta_error(190, "Invalid OAuth access token", http_status=401))
            result = self.config.action_test_connection()
        self.assertEqual(result["params"]["type"], "danger")
        self.assertTrue(self.config.sending_paused)
        self.assertEqual(self.config.token_status, "expired")
        self.assertTrue(self._token_activities(self.config))

    def test_a_number_paused_before_test_mode_sends_its_test_messages(self):
        """Paused, then put in test mode: its test messages go (no token needed); one
        to its allow-list waits for a working token, without a call."""
        self.config.sudo()._pause_sending("(#190) Access token has expired")
        self.config.write({"test_mode": True, "test_allowlist": f"{NUMBER_A2}, +56 9 1111 0003"})
        test_only = self._queue(self.config, NUMBER_A1)
        real = self._queue(self.config, NUMBER_A2)
        also_real = self._queue(self.config, NUMBER_A3)
        with self.mock_whatsapp_gateway() as gateway:
            self._run_queue()
        self.assertEqual((test_only.state, test_only.is_test), ("sent", True))
        self.assertEqual((real.state, also_real.state), ("queued", "queued"))
        self.assertFalse(gateway.sent_to(NUMBER_A2) or gateway.sent_to(NUMBER_A3))
        self.assertTrue(self.config.sending_paused)

    def test_the_allowlist_is_kept_in_e164(self):
        """What the claim's SQL compares numbers with, and ``_is_allowlisted`` too."""
        self.config.write({"test_allowlist": "+56 9 1111 0001, 9 1111 0002\n\nnot a number"})
        self.assertEqual(self.config.test_allowlist_numbers, f"{NUMBER_A1},{NUMBER_A2}")
        self.assertTrue(self.config._is_allowlisted("+56 9 1111 0002"))
        self.assertFalse(self.config._is_allowlisted(NUMBER_A3))
        self.config.test_allowlist = False
        self.assertFalse(self.config.test_allowlist_numbers)
        self.assertFalse(self.config._is_allowlisted(NUMBER_A1))

    def test_in_test_mode_only_a_refused_real_send_pauses(self):
        """A check that finds the token refused does not pause a number in test mode:
        its test messages need no token, and in test mode Test Connection, which
        contacts nobody, could not resume it. A real send to its allow-list does."""
        self.config.write({"test_mode": True, "test_allowlist": NUMBER_A2})
        refused = meta_error(190, "Invalid OAuth access token", http_status=401)
        with self.mock_whatsapp_gateway() as gateway:
            gateway.fail("*", refused, refused)  # the check, then the real send
            result = self.config.action_test_connection_real()
            self.assertEqual(result["params"]["type"], "danger")
            self.assertIn("190", result["params"]["message"])
            self.assertFalse(self.config.sending_paused)
            self.assertEqual(self.config.token_status, "expired", "shown, though not paused")
            test_only = self._queue(self.config, NUMBER_A1)
            self._run_queue()
            self.assertEqual(test_only.state, "sent")
            self.assertFalse(gateway.sent_to(NUMBER_A1))
            real = self._queue(self.config, NUMBER_A2)
            self._run_queue()
        self.assertEqual(real.state, "queued")
        self.assertTrue(self.config.sending_paused)
        self.assertTrue(self._token_activities(self.config))
