import unittest

from ofitec_whatsapp.tools.phone import (
    display_phone,
    is_bsuid,
    normalize_phone,
    to_wa_id,
    wa_id_variants,
)


class TestNormalizePhone(unittest.TestCase):
    def test_chile_forms(self):
        for given in (
            "+56 9 1234 5678",
            "9 1234 5678",
            "912345678",
            "56912345678",
            "+56912345678",
            "+56 (9) 1234-5678",
            "0056912345678",
            "whatsapp:+56912345678",
            "WhatsApp: +56 9 1234 5678",
            " +56912345678 ",
            56912345678,
        ):
            with self.subTest(given=given):
                self.assertEqual(normalize_phone(given), "+56912345678")

    def test_chile_landline(self):
        self.assertEqual(normalize_phone("+56 2 2345 6789"), "+56223456789")
        self.assertEqual(normalize_phone("2 2345 6789"), "+56223456789")

    def test_unusable(self):
        for given in (
            None,
            False,
            "",
            "   ",
            "abc",
            "123",
            "12345",
            "+56 9 1234 567",  # one digit short
            "+56 9 1234 56789 12",  # far too long
            "+999 123456789",  # no such country code
            "+",
            "whatsapp:",
            "0000000000",
            ["+56912345678"],
        ):
            with self.subTest(given=given):
                self.assertIsNone(normalize_phone(given))

    def test_international_digits_without_plus(self):
        # A wa_id from a webhook is digits only; in CL it is not a national number.
        self.assertEqual(normalize_phone("14155550123"), "+14155550123")
        self.assertEqual(normalize_phone("15550783881"), "+15550783881")  # Meta test number
        self.assertEqual(normalize_phone("+1 555-078-3881"), "+15550783881")

    def test_other_default_region(self):
        self.assertEqual(normalize_phone("(415) 555-0123", "US"), "+14155550123")
        self.assertEqual(normalize_phone("011 15-1234-5678", "AR"), "+5491112345678")
        # The region only matters for national forms.
        self.assertEqual(normalize_phone("+56912345678", "US"), "+56912345678")
        self.assertEqual(normalize_phone("9 1234 5678", None), "+56912345678")

    def test_mexico_old_mobile_prefix(self):
        self.assertEqual(normalize_phone("+52 1 55 1234 5678"), "+525512345678")
        self.assertEqual(normalize_phone("+52 55 1234 5678"), "+525512345678")

    def test_brazil(self):
        self.assertEqual(normalize_phone("+55 11 98765-4321"), "+5511987654321")


class TestWaId(unittest.TestCase):
    def test_to_wa_id(self):
        self.assertEqual(to_wa_id("+56912345678"), "56912345678")
        self.assertEqual(to_wa_id("+56 9 1234 5678"), "56912345678")
        self.assertEqual(to_wa_id("whatsapp:+14155550123"), "14155550123")
        self.assertEqual(to_wa_id("56912345678"), "56912345678")
        for given in (None, "", False, "US.13491208655302741918", "abc"):
            with self.subTest(given=given):
                self.assertIsNone(to_wa_id(given))

    def test_brazil_ninth_digit(self):
        self.assertEqual(wa_id_variants("5592981723241"), {"5592981723241", "559281723241"})
        self.assertEqual(wa_id_variants("559281723241"), {"559281723241", "5592981723241"})
        self.assertEqual(wa_id_variants("5511987654321"), {"5511987654321", "551187654321"})
        # Landline (starts with 2-5): no mobile variant.
        self.assertEqual(wa_id_variants("551132345678"), {"551132345678"})

    def test_mexico(self):
        self.assertEqual(wa_id_variants("5215512345678"), {"5215512345678", "525512345678"})
        self.assertEqual(wa_id_variants("525512345678"), {"525512345678", "5215512345678"})

    def test_argentina(self):
        self.assertEqual(wa_id_variants("5491112345678"), {"5491112345678", "541112345678"})
        self.assertEqual(wa_id_variants("541112345678"), {"541112345678", "5491112345678"})

    def test_no_variant(self):
        self.assertEqual(wa_id_variants("56912345678"), {"56912345678"})
        self.assertEqual(wa_id_variants("14155550123"), {"14155550123"})
        self.assertEqual(wa_id_variants("+56912345678"), {"56912345678"})
        self.assertEqual(wa_id_variants("US.13491208655302741918"), {"US.13491208655302741918"})
        self.assertEqual(wa_id_variants(""), set())
        self.assertEqual(wa_id_variants(None), set())

    def test_always_contains_input(self):
        for wa_id in ("5592981723241", "525512345678", "541112345678", "56912345678", "1"):
            with self.subTest(wa_id=wa_id):
                self.assertIn(wa_id, wa_id_variants(wa_id))


class TestBsuid(unittest.TestCase):
    def test_valid(self):
        for value in (
            "US.13491208655302741918",
            "US.ENT.11815799212886844830",
            "CL.81234567890123456789",
            "ID.4566546130240823",
            "BR.abcDEF123",
            "US." + "9" * 128,
        ):
            with self.subTest(value=value):
                self.assertTrue(is_bsuid(value))

    def test_invalid(self):
        for value in (
            None,
            "",
            13491208655302741918,
            "+56912345678",
            "56912345678",
            "us.13491208655302741918",
            "USA.1349",
            "US.",
            "US..1",
            "US.ENT.",
            "US.1349-1208",
            "US." + "9" * 129,
            " US.1349",
            "US.1349\n",
            "whatsapp:US.1349",
        ):
            with self.subTest(value=value):
                self.assertFalse(is_bsuid(value))


if __name__ == "__main__":
    unittest.main()


class TestDisplayPhone(unittest.TestCase):
    def test_international_format(self):
        self.assertEqual(display_phone("+56912345678"), "+56 912345678")
        self.assertEqual(display_phone("+5491123456789"), "+54 9 11 2345-6789")
        self.assertEqual(display_phone("+14155550199"), "+1 415-555-0199")

    def test_unparsable_is_returned_unchanged(self):
        for value in ("", "abc", False):
            self.assertEqual(display_phone(value), value)
