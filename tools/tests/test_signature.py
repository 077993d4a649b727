import hashlib
import hmac
import os
import unittest
from unittest import mock

from ofitec_whatsapp.tools import signature
from ofitec_whatsapp.tools.signature import meta_signature_header, verify_meta_signature

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
SECRET = "test_app_secret"

# Spec A5: the same JSON value, as escaped-unicode bytes and as raw UTF-8 bytes.
ESCAPED_BODY = b'{"text":{"body":"ol\\u00e1"}}'
ESCAPED_DIGEST = "9f3d35e5e29b9b7d398abb652e8c63d619f8e90f15ed69e274a8dee9c01a1651"
RAW_UTF8_BODY = '{"text":{"body":"olá"}}'.encode()
RAW_UTF8_DIGEST = "a12985ba03699201b633d61f6aaa6c62a7e6c95d83444c81bd61055ec26b8480"

STATUS_DIGEST = "799a4d8ec29777f0be4de0d056c11c4004d03393ca329c061411bf8ccf0717e7"


def status_vector_body():
    with open(os.path.join(FIXTURES, "signature_status_vector.body"), "rb") as handle:
        return handle.read()


class TestSpecVectors(unittest.TestCase):
    def test_escaped_unicode_vs_raw_utf8(self):
        # The bytes really differ although the JSON value is the same.
        self.assertEqual(ESCAPED_BODY.decode("unicode_escape"), RAW_UTF8_BODY.decode())
        self.assertNotEqual(ESCAPED_BODY, RAW_UTF8_BODY)
        self.assertEqual(meta_signature_header(SECRET, ESCAPED_BODY), "sha256=" + ESCAPED_DIGEST)
        self.assertEqual(meta_signature_header(SECRET, RAW_UTF8_BODY), "sha256=" + RAW_UTF8_DIGEST)
        self.assertTrue(verify_meta_signature(SECRET, ESCAPED_BODY, "sha256=" + ESCAPED_DIGEST))
        self.assertTrue(verify_meta_signature(SECRET, RAW_UTF8_BODY, "sha256=" + RAW_UTF8_DIGEST))
        # Re-serialising the body breaks the signature.
        self.assertFalse(verify_meta_signature(SECRET, RAW_UTF8_BODY, "sha256=" + ESCAPED_DIGEST))
        self.assertFalse(verify_meta_signature(SECRET, ESCAPED_BODY, "sha256=" + RAW_UTF8_DIGEST))

    def test_status_vector(self):
        body = status_vector_body()
        self.assertEqual(len(body), 336)
        self.assertFalse(body.endswith(b"\n"))
        self.assertEqual(meta_signature_header(SECRET, body), "sha256=" + STATUS_DIGEST)
        self.assertTrue(verify_meta_signature(SECRET, body, "sha256=" + STATUS_DIGEST))
        self.assertFalse(verify_meta_signature(SECRET, body + b"\n", "sha256=" + STATUS_DIGEST))
        self.assertFalse(verify_meta_signature("other_secret", body, "sha256=" + STATUS_DIGEST))
        tampered = body.replace(b'"read"', b'"sent"')
        self.assertFalse(verify_meta_signature(SECRET, tampered, "sha256=" + STATUS_DIGEST))


class TestHeaderVariants(unittest.TestCase):
    body = status_vector_body()
    good = "sha256=" + STATUS_DIGEST

    def test_bad_headers_are_false_never_exceptions(self):
        for header in (
            None,
            "",
            "   ",
            STATUS_DIGEST,  # no prefix
            "sha1=" + STATUS_DIGEST,
            "sha256=",
            "sha256=" + STATUS_DIGEST[:-1],  # 63 chars
            "sha256=" + STATUS_DIGEST + "0",  # 65 chars
            "sha256=" + "g" * 64,  # not hex
            "sha256=" + STATUS_DIGEST[:-1] + "é",  # non-ASCII
            "sha256=" + STATUS_DIGEST[:32] + " " + STATUS_DIGEST[33:],
            "sha256=" + "0" * 64,
            b"\xff\xfe",
            12345,
        ):
            with self.subTest(header=header):
                self.assertFalse(verify_meta_signature(SECRET, self.body, header))

    def test_accepted_variants(self):
        for header in (
            self.good,
            "sha256=" + STATUS_DIGEST.upper(),
            "  " + self.good + "\n",
            "SHA256=" + STATUS_DIGEST,
            self.good.encode("ascii"),
        ):
            with self.subTest(header=header):
                self.assertTrue(verify_meta_signature(SECRET, self.body, header))

    def test_empty_secret(self):
        header = "sha256=" + hmac.new(b"", self.body, hashlib.sha256).hexdigest()
        self.assertFalse(verify_meta_signature("", self.body, header))
        self.assertFalse(verify_meta_signature(None, self.body, header))

    def test_secret_as_bytes_and_body_types(self):
        self.assertTrue(verify_meta_signature(SECRET.encode(), self.body, self.good))
        self.assertTrue(verify_meta_signature(SECRET, bytearray(self.body), self.good))
        self.assertTrue(verify_meta_signature(SECRET, memoryview(self.body), self.good))

    def test_constant_time_compare_is_used(self):
        with mock.patch.object(
            signature.hmac, "compare_digest", wraps=hmac.compare_digest
        ) as compare:
            self.assertTrue(verify_meta_signature(SECRET, self.body, self.good))
        compare.assert_called_once_with(STATUS_DIGEST, STATUS_DIGEST)


if __name__ == "__main__":
    unittest.main()
