import json
import unittest

from ofitec_whatsapp.tools.pgtext import storable_json, storable_text


class TestStorableText(unittest.TestCase):
    def test_nul_and_lone_surrogates_are_dropped(self):
        self.assertEqual(storable_text("O\x00K"), "OK")
        self.assertEqual(storable_text("a\ud800b\udfffc"), "abc")
        self.assertEqual(storable_text("\x00"), "")

    def test_everything_else_is_kept(self):
        text = "Hola ¿qué tal? 😀 \t\n\x01\x7f\ufffd\U0010ffff"
        self.assertEqual(storable_text(text), text)
        # What is left always encodes to UTF-8.
        storable_text("x\ud83d").encode("utf-8")

    def test_json_strings_are_cleaned_at_any_depth(self):
        data = json.loads('{"a\\u0000": ["x\\u0000y", {"b": "\\ud800z"}], "n": 1, "t": true}')
        self.assertEqual(storable_json(data), {"a": ["xy", {"b": "z"}], "n": 1, "t": True})

    def test_a_pair_of_surrogates_from_json_is_one_character(self):
        # json.loads joins an escaped pair into one code point: nothing to drop.
        self.assertEqual(storable_json(json.loads('"\\ud83d\\ude00"')), "😀")
