import json
import unittest

from ofitec_whatsapp.tools.pgtext import loads_storable_json, storable_json, storable_text


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


def _strings(value):
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    if isinstance(value, dict):
        return [s for key, item in value.items() for s in (*_strings(key), *_strings(item))]
    return []


class TestLoadsStorableJson(unittest.TestCase):
    TEXTS = (
        '{"text": {"body": "O\\u0000K"}, "n": 1}',
        '{"a\\u0000": ["x\\ud800y", {"b": "\\uDFFFz"}]}',
        '{"emoji": "\\ud83d\\ude00", "lone": "\\ud83d"}',
        '{"backslash": "\\\\u0000 is text"}',
        '{"accents": "\\u00e9 caf\u00e9 \\u0001", "status": "delivered"}',
        '[1, 2.5, null, true, "plain"]',
    )

    def test_same_value_as_cleaning_every_string(self):
        for text in self.TEXTS:
            with self.subTest(text=text):
                value = loads_storable_json(text)
                self.assertEqual(value, storable_json(json.loads(text)))
                # What is left holds no NUL and always encodes to UTF-8.
                for string in _strings(value):
                    self.assertNotIn("\x00", string)
                    string.encode("utf-8")

    def test_unstorable_characters_are_dropped(self):
        self.assertEqual(loads_storable_json('{"t": "O\\u0000K\\udc00"}'), {"t": "OK"})

    def test_invalid_json_raises_value_error(self):
        with self.assertRaises(ValueError):
            loads_storable_json('{"t": "a\x00b"}')  # a raw NUL is not JSON
