import unittest

from ofitec_whatsapp.tools.commands import (
    BUTTON_COMMANDS,
    CMD_CANCEL,
    CMD_COMPLETED,
    CMD_OK,
    CMD_STOP,
    COMMAND_WORDS,
    COMMANDS,
    DEFAULT_SYNONYMS,
    ParsedCommand,
    make_button_payload,
    normalize_text,
    parse_button_payload,
    parse_command,
)


class TestNormalizeText(unittest.TestCase):
    def test_examples(self):
        self.assertEqual(normalize_text("  ✅ ¡Completádo! "), "completado")
        self.assertEqual(normalize_text("Ok 👍"), "ok")
        self.assertEqual(normalize_text("OK   #42"), "ok 42")
        self.assertEqual(normalize_text("Sí, DE-ACUERDO."), "si de acuerdo")
        self.assertEqual(normalize_text("ÑANDÚ"), "nandu")
        self.assertEqual(normalize_text("Straße"), "strasse")
        self.assertEqual(normalize_text(None), "")
        self.assertEqual(normalize_text("👍🎉"), "")
        self.assertEqual(normalize_text("ＯＫ"), "ok")  # full-width letters

    def test_default_synonyms_are_normalised(self):
        for word in DEFAULT_SYNONYMS:
            with self.subTest(word=word):
                self.assertEqual(normalize_text(word), word)


class TestParseCommand(unittest.TestCase):
    def test_ok_forms(self):
        for text in (
            "OK",
            " ok!! ",
            "Ok 👍",
            "ok.",
            "Okay",
            "Sí",
            "si",
            "VALE",
            "confirmo",
            "Confirmado",
            "De acuerdo",
            "de   acuerdo!",
        ):
            with self.subTest(text=text):
                self.assertEqual(parse_command(text), ParsedCommand(CMD_OK, None))

    def test_completed_forms(self):
        for text in (
            "✅ COMPLETADO",
            "completádo",
            "Completada",
            "hecho",
            "HECHO!",
            "terminado",
            "Terminada",
        ):
            with self.subTest(text=text):
                self.assertEqual(parse_command(text), (CMD_COMPLETED, None))

    def test_chilean_acknowledgements_are_ok(self):
        """ "listo", "ya", "dale": "ok, understood" in Chile; they never complete."""
        for text in ("LISTO!", "listo", "Ya", "¡Dale!"):
            with self.subTest(text=text):
                self.assertEqual(parse_command(text), (CMD_OK, None))

    def test_cancel_and_stop(self):
        for text in ("CANCELAR", "cancelado", "Anular"):
            with self.subTest(text=text):
                self.assertEqual(parse_command(text).command, CMD_CANCEL)
        for text in ("STOP", "baja", "Baja."):
            with self.subTest(text=text):
                self.assertEqual(parse_command(text).command, CMD_STOP)

    def test_with_action_number(self):
        cases = {
            "OK 42": (CMD_OK, 42),
            "ok #42": (CMD_OK, 42),
            "ok#42": (CMD_OK, 42),
            "OK #  42 ": (CMD_OK, 42),
            "42 ok": (CMD_OK, 42),
            "#42 completado": (CMD_COMPLETED, 42),
            "COMPLETADO 7": (CMD_COMPLETED, 7),
            "cancelar #2147483647": (CMD_CANCEL, 2147483647),
            "de acuerdo 5": (CMD_OK, 5),
        }
        for text, expected in cases.items():
            with self.subTest(text=text):
                self.assertEqual(parse_command(text), expected)
                self.assertIsInstance(parse_command(text).action_ref, int)

    def test_not_commands(self):
        for text in (
            None,
            "",
            "   ",
            "👍",
            "ok gracias, mañana lo reviso con el equipo",
            "No está ok",
            "no",
            "okey dokey",
            "ok42",
            "ok 42 43",
            "ok 0",
            "ok 2147483648",
            "ok 99999999999",
            "42",
            "el trabajo está completado pero falta firma",
            "hola",
        ):
            with self.subTest(text=text):
                result = parse_command(text)
                self.assertEqual(result, ParsedCommand(None, None))
                self.assertFalse(result)

    def test_truthiness_and_unpacking(self):
        command, ref = parse_command("ok 3")
        self.assertEqual((command, ref), ("ok", 3))
        self.assertTrue(parse_command("ok"))
        self.assertFalse(parse_command("hola"))

    def test_extra_synonyms(self):
        extra = {"Dale": CMD_OK, "ya está": CMD_COMPLETED, "No puedo": CMD_CANCEL}
        self.assertEqual(parse_command("dale!", extra), (CMD_OK, None))
        self.assertEqual(parse_command("Ya está 12", extra), (CMD_COMPLETED, 12))
        self.assertEqual(parse_command("no puedo", extra), (CMD_CANCEL, None))
        # Defaults still there, and extras do not leak into later calls.
        self.assertEqual(parse_command("ok", extra), (CMD_OK, None))
        self.assertEqual(parse_command("vamos"), (None, None))

    def test_extra_synonyms_override_and_disable(self):
        self.assertEqual(parse_command("listo", {"listo": CMD_COMPLETED}), (CMD_COMPLETED, None))
        self.assertEqual(parse_command("listo"), (CMD_OK, None))
        self.assertEqual(parse_command("si", {"si": None}), (None, None))
        self.assertEqual(parse_command("si"), (CMD_OK, None))
        self.assertEqual(DEFAULT_SYNONYMS["si"], CMD_OK)

    def test_button_labels(self):
        self.assertEqual(parse_command("OK").command, CMD_OK)
        self.assertEqual(parse_command("COMPLETADO").command, CMD_COMPLETED)
        self.assertEqual(parse_command("CANCELAR").command, CMD_CANCEL)


class TestCommandWords(unittest.TestCase):
    def test_each_word_is_read_back_as_its_command(self):
        self.assertEqual(set(COMMAND_WORDS), set(COMMANDS))
        for command, word in COMMAND_WORDS.items():
            with self.subTest(word=word):
                self.assertEqual(parse_command(word).command, command)

    def test_the_buttons_offer_the_three_action_commands_in_order(self):
        self.assertEqual(BUTTON_COMMANDS, (CMD_OK, CMD_COMPLETED, CMD_CANCEL))
        self.assertEqual(
            [COMMAND_WORDS[c] for c in BUTTON_COMMANDS], ["OK", "COMPLETADO", "CANCELAR"]
        )


class TestButtonPayload(unittest.TestCase):
    def test_round_trip(self):
        for command in (CMD_OK, CMD_COMPLETED, CMD_CANCEL, CMD_STOP):
            with self.subTest(command=command):
                payload = make_button_payload(42, command)
                self.assertEqual(payload, f"ofitec:42:{command}")
                self.assertEqual(parse_button_payload(payload), (command, 42))
        self.assertEqual(make_button_payload("7", CMD_OK), "ofitec:7:ok")

    def test_make_rejects(self):
        for action_id, command in (
            (0, CMD_OK),
            (-1, CMD_OK),
            (None, CMD_OK),
            (True, CMD_OK),
            ("abc", CMD_OK),
            (1.5, CMD_OK),
            (2**31, CMD_OK),
            (1, "explode"),
            (1, "OK"),
        ):
            with self.subTest(action_id=action_id, command=command):
                with self.assertRaises(ValueError):
                    make_button_payload(action_id, command)

    def test_parse_malformed(self):
        for payload in (
            None,
            "",
            42,
            "ofitec",
            "ofitec:42",
            "ofitec:42:",
            "ofitec::ok",
            "ofitec:abc:ok",
            "ofitec:42:explode",
            "ofitec:42:ok:extra",
            "OFITEC:42:ok",
            "odoo:sale.order:42:confirm",
            "ofitec:0:ok",
            "ofitec:-1:ok",
            "ofitec:99999999999:ok",
            "OK",
        ):
            with self.subTest(payload=payload):
                self.assertIsNone(parse_button_payload(payload))

    def test_parse_tolerates_surrounding_spaces(self):
        self.assertEqual(parse_button_payload(" ofitec:5:cancel\n"), (CMD_CANCEL, 5))


if __name__ == "__main__":
    unittest.main()
