import pickle
import traceback
import unittest

from cryptography.fernet import Fernet

from ofitec_whatsapp.tools.crypto import (
    GENERATE_KEY_COMMAND,
    PREFIX,
    SecretBox,
    SecretKeyError,
    generate_key,
    is_encrypted,
)

KEY = Fernet.generate_key()
OTHER_KEY = Fernet.generate_key()
SECRET = "EAAJBsuper-secret-token-ñ"


class TestSecretBox(unittest.TestCase):
    def test_round_trip(self):
        box = SecretBox(KEY)
        encrypted = box.encrypt(SECRET)
        self.assertTrue(encrypted.startswith(PREFIX))
        self.assertTrue(encrypted.startswith("enc:v1:"))
        self.assertNotIn(SECRET, encrypted)
        self.assertEqual(box.decrypt(encrypted), SECRET)

    def test_key_as_text_with_spaces(self):
        box = SecretBox("  " + KEY.decode() + "\n")
        self.assertEqual(SecretBox(KEY).decrypt(box.encrypt("x")), "x")

    def test_random_iv(self):
        box = SecretBox(KEY)
        self.assertNotEqual(box.encrypt("same"), box.encrypt("same"))

    def test_empty(self):
        box = SecretBox(KEY)
        self.assertEqual(box.encrypt(""), "")
        self.assertEqual(box.encrypt(None), "")
        self.assertEqual(box.encrypt(False), "")
        self.assertEqual(box.decrypt(""), "")
        self.assertEqual(box.decrypt(None), "")
        self.assertEqual(box.decrypt(False), "")

    def test_plain_values_pass_through(self):
        box = SecretBox(KEY)
        for value in ("legacy-plain-token", "enc:v2:something", "ENC:V1:abc"):
            with self.subTest(value=value):
                self.assertEqual(box.decrypt(value), value)

    def test_wrong_key(self):
        encrypted = SecretBox(KEY).encrypt(SECRET)
        with self.assertRaises(SecretKeyError) as caught:
            SecretBox(OTHER_KEY).decrypt(encrypted)
        error = caught.exception
        self.assertIsNone(error.__cause__)
        self.assertTrue(error.__suppress_context__)
        text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        self.assertNotIn(SECRET, text)
        self.assertNotIn(encrypted[len(PREFIX) :], text)
        self.assertNotIn(KEY.decode(), text)
        self.assertNotIn(OTHER_KEY.decode(), text)
        self.assertNotIn("InvalidToken", text)

    def test_corrupted(self):
        box = SecretBox(KEY)
        for value in (PREFIX, PREFIX + "garbage", PREFIX + "é", box.encrypt("x")[:-3]):
            with self.subTest(value=value), self.assertRaises(SecretKeyError):
                box.decrypt(value)

    def test_invalid_keys(self):
        for key in ("", None, "short", "x" * 44, b"not base64!!", 12345, KEY[:-2]):
            with self.subTest(key=key):
                with self.assertRaises(SecretKeyError) as caught:
                    SecretBox(key)
                message = str(caught.exception)
                self.assertIn(GENERATE_KEY_COMMAND, message)
                if key:
                    self.assertNotIn(str(key), message.replace(GENERATE_KEY_COMMAND, ""))
                self.assertIsNone(caught.exception.__cause__)

    def test_generate_command_is_the_documented_one(self):
        self.assertEqual(
            GENERATE_KEY_COMMAND,
            'python3 -c "from cryptography.fernet import Fernet; '
            'print(Fernet.generate_key().decode())"',
        )

    def test_repr_hides_key(self):
        box = SecretBox(KEY)
        self.assertNotIn(KEY.decode(), repr(box))
        self.assertNotIn(KEY.decode(), str(box))

    def test_is_encrypted(self):
        box = SecretBox(KEY)
        self.assertTrue(is_encrypted(box.encrypt("x")))
        self.assertTrue(box.is_encrypted(box.encrypt("x")))
        self.assertTrue(SecretBox.is_encrypted("enc:v1:abc"))
        for value in ("plain", "", None, b"enc:v1:abc", 5):
            with self.subTest(value=value):
                self.assertFalse(is_encrypted(value))

    def test_generate_key(self):
        key = generate_key()
        self.assertIsInstance(key, str)
        self.assertEqual(len(key), 44)
        self.assertEqual(SecretBox(key).decrypt(SecretBox(key).encrypt("z")), "z")

    def test_error_is_picklable(self):
        error = pickle.loads(pickle.dumps(SecretKeyError("msg")))
        self.assertEqual(str(error), "msg")


if __name__ == "__main__":
    unittest.main()
