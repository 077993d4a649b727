import copy
import json
import os
import unittest

from ofitec_whatsapp.tools.inbound_payloads import meta_payload, meta_status, meta_text
from ofitec_whatsapp.tools.webhook import (
    ErrorInfo,
    InboundMessage,
    ParsedWebhook,
    StatusUpdate,
    TemplateStatusUpdate,
    WebhookPayloadError,
    parse_meta_payload,
)

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
WABA = "102290129340398"
PHONE_ID = "106540352242922"


def load(name):
    with open(os.path.join(FIXTURES, name), encoding="utf-8") as handle:
        return json.load(handle)


def parse(name):
    return parse_meta_payload(load(name))


class TestText(unittest.TestCase):
    def test_spec_example(self):
        result = parse("text_message.json")
        self.assertIsInstance(result, ParsedWebhook)
        self.assertEqual(result.object, "whatsapp_business_account")
        self.assertFalse(result.ignored_object)
        self.assertEqual(result.invalid_items, [])
        self.assertEqual(result.statuses, [])
        (message,) = result.messages
        self.assertIsInstance(message, InboundMessage)
        self.assertEqual(message.phone_number_id, PHONE_ID)
        self.assertEqual(message.display_phone_number, "15550783881")
        self.assertEqual(message.waba_id, WABA)
        self.assertEqual(
            message.wamid, "wamid.HBgLMTQxNTU1NTAxMjMVAgASGBQzQUI0RkM1QjQ2MTk4RjY0QjA0OQA="
        )
        self.assertEqual(message.from_wa_id, "14155550123")
        self.assertEqual(message.from_user_id, "US.13491208655302741918")
        self.assertEqual(message.sender_key, "US.13491208655302741918")
        self.assertEqual(message.profile_name, "Ana Souza")
        self.assertEqual(message.timestamp, 1764064800)
        self.assertIsInstance(message.timestamp, int)
        self.assertEqual(message.type, "text")
        self.assertEqual(message.text, "Hi, is my order ready?")
        self.assertIsNone(message.payload)
        self.assertIsNone(message.context_id)
        self.assertEqual(message.errors, [])
        self.assertEqual(message.raw["id"], message.wamid)
        (contact,) = result.contacts
        self.assertEqual(contact.wa_id, "14155550123")
        self.assertEqual(contact.user_id, "US.13491208655302741918")
        self.assertEqual(result.phone_number_ids, {PHONE_ID})

    def test_input_not_mutated(self):
        data = load("text_message.json")
        before = copy.deepcopy(data)
        parse_meta_payload(data)
        self.assertEqual(data, before)


class TestMessageTypes(unittest.TestCase):
    def test_template_button(self):
        (message,) = parse("button_message.json").messages
        self.assertEqual(message.type, "button")
        self.assertEqual(message.text, "OK")
        self.assertEqual(message.payload, "ofitec:42:ok")
        self.assertEqual(message.context_id, "wamid.OUT_TEMPLATE_42")
        self.assertEqual(message.context_from, "15550783881")
        self.assertEqual(message.profile_name, "Pedro Rojas")
        self.assertIsNone(message.from_user_id)
        self.assertEqual(message.sender_key, "56912345678")

    def test_interactive(self):
        button, row, flow, unknown = parse("interactive_replies.json").messages
        self.assertEqual(button.type, "interactive")
        self.assertEqual(button.interactive_type, "button_reply")
        self.assertEqual(button.payload, "ofitec:42:completed")
        self.assertEqual(button.text, "COMPLETADO")
        self.assertEqual(button.context_id, "wamid.OUT_BUTTONS_42")

        self.assertEqual(row.interactive_type, "list_reply")
        self.assertEqual(row.payload, "ship:express")
        self.assertEqual(row.text, "Express")
        self.assertEqual(row.context_id, "wamid.OUT_LIST_7")

        self.assertEqual(flow.interactive_type, "nfm_reply")
        self.assertEqual(flow.text, "Sent")
        self.assertEqual(json.loads(flow.payload), {"flow_token": "t"})

        self.assertEqual(unknown.interactive_type, "call_permission_reply")
        self.assertIsNone(unknown.text)
        self.assertIsNone(unknown.payload)
        self.assertEqual(unknown.raw["interactive"]["call_permission_reply"]["response"], "accept")

    def test_reactions(self):
        reaction, removal = parse("reactions.json").messages
        self.assertEqual(reaction.type, "reaction")
        self.assertEqual(reaction.text, "👍")
        self.assertEqual(reaction.reaction_message_id, "wamid.OUT1")
        self.assertFalse(reaction.is_reaction_removal)
        self.assertIsNone(removal.text)
        self.assertEqual(removal.reaction_message_id, "wamid.OUT1")
        self.assertTrue(removal.is_reaction_removal)

    def test_reaction_with_empty_emoji_is_removal(self):
        data = load("reactions.json")
        data["entry"][0]["changes"][0]["value"]["messages"][0]["reaction"]["emoji"] = ""
        self.assertTrue(parse_meta_payload(data).messages[0].is_reaction_removal)

    def test_media(self):
        image, document, audio, video, sticker = parse("media_messages.json").messages
        self.assertEqual(image.type, "image")
        self.assertTrue(image.is_media)
        self.assertEqual(image.media_id, "1003383421387256")
        self.assertEqual(image.media_mime_type, "image/jpeg")
        self.assertEqual(image.media_sha256, "SfInY0gGKTsJlUWbwxC1k+FAD0FZHvzwfpvO0zX0GUI=")
        self.assertEqual(image.text, "Damaged box")
        self.assertIsNone(image.media_filename)
        self.assertIsNone(image.media_url)

        self.assertEqual(document.media_filename, "INV-2026-0042.pdf")
        self.assertEqual(document.media_mime_type, "application/pdf")
        self.assertEqual(document.text, "Invoice")
        self.assertEqual(document.media_id, "1234567890123456")

        self.assertEqual(audio.type, "audio")
        self.assertTrue(audio.media_voice)
        self.assertIsNone(audio.text)
        self.assertTrue(audio.media_url.startswith("https://lookaside.fbsbx.com/"))

        self.assertEqual(video.text, "Site visit")
        self.assertFalse(video.media_voice)
        self.assertEqual(sticker.media_mime_type, "image/webp")
        self.assertEqual(sticker.media_id, "4234567890123456")

    def test_location(self):
        place, current = parse("location_message.json").messages
        self.assertEqual(place.latitude, 37.4421)
        self.assertEqual(place.longitude, -122.1615)
        self.assertEqual(place.text, "Philz Coffee")
        self.assertEqual(place.location_address, "101 Forest Ave, Palo Alto")
        self.assertEqual(place.location_url, "https://example.com")
        self.assertEqual((current.latitude, current.longitude), (-33.4489, -70.6693))
        self.assertIsNone(current.text)
        self.assertFalse(place.is_media)

    def test_unsupported(self):
        (message,) = parse("unsupported_message.json").messages
        self.assertEqual(message.type, "unsupported")
        self.assertEqual(message.unsupported_type, "poll_creation")
        self.assertEqual(
            message.errors,
            [
                ErrorInfo(
                    code=131051,
                    title="Message type unknown",
                    message="Message type unknown",
                    details="Message type is currently not supported.",
                    href=None,
                )
            ],
        )
        self.assertIsNone(message.text)

    def test_system_user_changed_number(self):
        result = parse("system_message.json")
        (message,) = result.messages
        self.assertEqual(message.type, "system")
        self.assertEqual(message.system_type, "user_changed_number")
        self.assertEqual(message.new_wa_id, "14155550199")
        self.assertEqual(message.new_user_id, "US.99991208655302741918")
        self.assertEqual(message.text, "Ana changed from 14155550123 to 14155550199")
        self.assertIsNone(message.profile_name)  # no contacts block in this change

    def test_system_with_wa_id_key(self):
        data = load("system_message.json")
        system = data["entry"][0]["changes"][0]["value"]["messages"][0]["system"]
        del system["new_wa_id"]
        system["wa_id"] = "14155550188"
        self.assertEqual(parse_meta_payload(data).messages[0].new_wa_id, "14155550188")

    def test_contacts_order_unknown_and_forwarded(self):
        contacts, order, unknown, forwarded = parse("other_messages.json").messages
        self.assertEqual(contacts.type, "contacts")
        self.assertEqual(contacts.text, "Juan Pérez, Maria")
        self.assertEqual(len(contacts.raw["contacts"]), 2)
        self.assertEqual(order.type, "order")
        self.assertEqual(order.text, "Please deliver Monday")
        self.assertEqual(unknown.type, "hologram")
        self.assertIsNone(unknown.text)
        self.assertEqual(unknown.raw["hologram"], {"whatever": True})
        self.assertTrue(forwarded.forwarded)
        self.assertEqual(forwarded.timestamp, 1764065430)  # integer timestamp accepted
        self.assertFalse(contacts.forwarded)

    def test_missing_type_is_unknown(self):
        data = load("text_message.json")
        del data["entry"][0]["changes"][0]["value"]["messages"][0]["type"]
        (message,) = parse_meta_payload(data).messages
        self.assertEqual(message.type, "unknown")
        self.assertIsNone(message.text)


class TestBsuid(unittest.TestCase):
    def test_sender_with_only_bsuid(self):
        result = parse("bsuid_only.json")
        self.assertEqual(result.invalid_items, [])
        (message,) = result.messages
        self.assertIsNone(message.from_wa_id)
        self.assertEqual(message.from_user_id, "CL.81234567890123456789")
        self.assertEqual(message.from_parent_user_id, "CL.ENT.11815799212886844830")
        self.assertEqual(message.sender_key, "CL.81234567890123456789")
        self.assertEqual(message.profile_name, "Mystery")
        self.assertEqual(message.profile_username, "@mystery")
        self.assertEqual(message.text, "ok")
        (contact,) = result.contacts
        self.assertIsNone(contact.wa_id)
        self.assertEqual(contact.parent_user_id, "CL.ENT.11815799212886844830")

    def test_status_with_only_recipient_user_id(self):
        (status,) = parse("bsuid_only.json").statuses
        self.assertEqual(status.status, "delivered")
        self.assertIsNone(status.recipient_id)
        self.assertEqual(status.recipient_user_id, "CL.81234567890123456789")


class TestStatuses(unittest.TestCase):
    def test_failed_spec_example(self):
        result = parse("status_failed.json")
        self.assertEqual(result.messages, [])
        (status,) = result.statuses
        self.assertIsInstance(status, StatusUpdate)
        self.assertEqual(
            status.wamid, "wamid.HBgMNTUxMTg3NjU0MzIxFQIAERgSMDlBMjM0QjU2QzdEOEU5RjAxAA=="
        )
        self.assertEqual(status.status, "failed")
        self.assertEqual(status.timestamp, 1764065400)
        self.assertEqual(status.recipient_id, "551187654321")
        self.assertIsNone(status.recipient_user_id)
        self.assertEqual(status.callback_data, "ofitec:1234")
        self.assertEqual(status.phone_number_id, PHONE_ID)
        self.assertEqual(status.waba_id, WABA)
        self.assertEqual(
            status.errors,
            [
                ErrorInfo(
                    code=131047,
                    title="Re-engagement message",
                    message="Re-engagement message",
                    details=(
                        "Message failed to send because more than 24 hours have passed "
                        "since the customer last replied to this number."
                    ),
                    href="/documentation/business-messaging/whatsapp/support/error-codes",
                )
            ],
        )
        self.assertEqual(status.error.code, 131047)
        self.assertTrue(str(status.error).startswith("(#131047) Re-engagement message: "))

    def test_all_statuses(self):
        result = parse("statuses_all.json")
        self.assertEqual(
            [(s.wamid, s.status) for s in result.statuses],
            [
                ("wamid.S1", "sent"),
                ("wamid.S1", "delivered"),
                ("wamid.S1", "read"),
                ("wamid.S2", "played"),
                ("wamid.S3", "deleted"),
            ],
        )
        sent = result.statuses[0]
        self.assertEqual(sent.callback_data, "ofitec:7")
        self.assertEqual(sent.pricing_category, "utility")
        self.assertEqual(sent.recipient_user_id, "US.13491208655302741918")
        self.assertIsNone(sent.error)
        self.assertEqual(
            [s.timestamp for s in result.statuses],
            [1764065400, 1764065410, 1764065420, 1764065430, 1764065440],
        )
        # 2026: statuses carry a contacts block too.
        (contact,) = result.contacts
        self.assertEqual(contact.username, "@ana")

    def test_status_is_lowercased(self):
        result = parse("invalid_items.json")
        good = [s for s in result.statuses if s.wamid == "wamid.S_GOOD"]
        self.assertEqual(good[0].status, "read")
        self.assertEqual(good[0].errors, [])  # "errors" not a list: ignored


class TestOtherFields(unittest.TestCase):
    def test_template_status_update(self):
        result = parse("template_status_update.json")
        (update,) = result.template_updates
        self.assertIsInstance(update, TemplateStatusUpdate)
        self.assertEqual(update.event, "APPROVED")
        self.assertEqual(update.message_template_id, "1387372356726668")
        self.assertIsInstance(update.message_template_id, str)
        self.assertEqual(update.message_template_name, "order_ready_pickup")
        self.assertEqual(update.message_template_language, "en_US")
        self.assertEqual(update.reason, "NONE")
        self.assertEqual(update.waba_id, WABA)
        self.assertEqual(result.messages, [])

    def test_value_level_errors(self):
        result = parse("value_errors.json")
        (item,) = result.errors
        self.assertEqual(item.phone_number_id, PHONE_ID)
        self.assertEqual(item.waba_id, WABA)
        self.assertEqual(item.error.code, 131000)
        self.assertEqual(item.error.details, "Message failed to send due to an unknown error.")
        self.assertEqual(result.phone_number_ids, {PHONE_ID})

    def test_batch(self):
        result = parse("batch.json")
        self.assertEqual(result.invalid_items, [])
        self.assertEqual([m.wamid for m in result.messages], ["wamid.B1", "wamid.B2", "wamid.B4"])
        self.assertEqual([s.wamid for s in result.statuses], ["wamid.B3", "wamid.B5"])
        b1, b2, b4 = result.messages
        # Several senders in one change: names matched by id, not by position.
        self.assertEqual(b1.profile_name, "Pedro Rojas")
        self.assertEqual(b2.profile_name, "Ana Souza")
        self.assertIsNone(b4.profile_name)
        # Routing data comes from each item's own change / entry.
        self.assertEqual((b1.phone_number_id, b1.waba_id), (PHONE_ID, WABA))
        self.assertEqual((b4.phone_number_id, b4.waba_id), ("306540352242922", "302290129340398"))
        self.assertEqual(b4.display_phone_number, "56233333333")
        b3, b5 = result.statuses
        self.assertEqual((b3.phone_number_id, b3.waba_id), ("206540352242922", WABA))
        self.assertEqual((b5.phone_number_id, b5.waba_id), ("306540352242922", "302290129340398"))
        (update,) = result.template_updates
        self.assertEqual((update.event, update.waba_id), ("REJECTED", "302290129340398"))
        self.assertEqual(update.reason, "INCORRECT_CATEGORY")
        self.assertEqual(
            result.other_changes,
            [
                (
                    "phone_number_quality_update",
                    {
                        "display_phone_number": "15550783881",
                        "event": "FLAGGED",
                        "current_limit": "TIER_250",
                    },
                )
            ],
        )
        self.assertEqual(result.phone_number_ids, {PHONE_ID, "206540352242922", "306540352242922"})

    def test_profile_match_by_wa_id_when_no_user_id(self):
        data = load("batch.json")
        value = data["entry"][0]["changes"][0]["value"]
        for contact in value["contacts"]:
            del contact["user_id"]
        del value["messages"][0]["from_user_id"]
        b1, b2 = parse_meta_payload(data).messages[:2]
        self.assertEqual(b1.profile_name, "Pedro Rojas")
        self.assertEqual(b2.profile_name, "Ana Souza")

    def test_single_contact_matches_even_if_wa_id_differs(self):
        data = load("text_message.json")
        data["entry"][0]["changes"][0]["value"]["contacts"][0]["wa_id"] = "999"
        del data["entry"][0]["changes"][0]["value"]["contacts"][0]["user_id"]
        self.assertEqual(parse_meta_payload(data).messages[0].profile_name, "Ana Souza")


class TestInvalidItems(unittest.TestCase):
    def test_bad_items_are_collected_good_ones_parsed(self):
        result = parse("invalid_items.json")
        self.assertEqual([m.wamid for m in result.messages], ["wamid.GOOD", "wamid.GOOD2"])
        self.assertEqual([s.wamid for s in result.statuses], ["wamid.S_GOOD"])
        self.assertIsNone(result.messages[0].text)  # text was not an object
        self.assertEqual(result.messages[1].text, "fine")
        invalid = dict(result.invalid_items)
        base = "entry[0].changes[0].value"
        self.assertEqual(invalid[f"{base}.contacts[0]"], "must be an object")
        self.assertEqual(invalid[f"{base}.messages[0]"], "must be an object")
        self.assertEqual(invalid[f"{base}.messages[1]"], "missing message id")
        self.assertIn("timestamp", invalid[f"{base}.messages[2]"])
        self.assertIn("yesterday", invalid[f"{base}.messages[2]"])
        self.assertIn("sender", invalid[f"{base}.messages[3]"])
        self.assertEqual(invalid[f"{base}.statuses[0]"], "missing status")
        self.assertEqual(invalid[f"{base}.statuses[1]"], "missing message id")
        self.assertIn("timestamp", invalid[f"{base}.statuses[2]"])
        self.assertEqual(invalid[f"{base}.statuses[3]"], "must be an object")
        other = "entry[0].changes[1].value"
        self.assertEqual(invalid[f"{other}.messages"], "must be a list")
        self.assertEqual(invalid[f"{other}.statuses"], "must be a list")
        self.assertEqual(
            invalid["entry[0].changes[2].value"], "missing event or message_template_id"
        )
        self.assertEqual(len(result.invalid_items), 12)
        # The bad contact profile does not break the good contact.
        self.assertEqual(len(result.contacts), 1)
        self.assertIsNone(result.contacts[0].profile_name)

    def test_timestamp_forms(self):
        data = load("text_message.json")
        message = data["entry"][0]["changes"][0]["value"]["messages"][0]
        for raw, expected in (
            ("1764064800", 1764064800),
            (1764064800, 1764064800),
            (1764064800.0, 1764064800),
            (" 1764064800 ", 1764064800),
        ):
            with self.subTest(raw=raw):
                message["timestamp"] = raw
                self.assertEqual(parse_meta_payload(data).messages[0].timestamp, expected)
        for raw in ("1764064800.5", "-5", "", None, [], True, 1.5):
            with self.subTest(raw=raw):
                message["timestamp"] = raw
                result = parse_meta_payload(data)
                self.assertEqual(result.messages, [])
                self.assertEqual(len(result.invalid_items), 1)


class TestEnvelope(unittest.TestCase):
    def assertPayloadError(self, data, message):
        with self.assertRaises(WebhookPayloadError) as caught:
            parse_meta_payload(data)
        self.assertEqual(str(caught.exception), message)

    def test_not_a_dict(self):
        for data in (None, [], "x", 1):
            with self.subTest(data=data):
                self.assertPayloadError(data, "the payload must be a JSON object")

    def test_object(self):
        self.assertPayloadError({}, "object must be a string")
        self.assertPayloadError({"object": 5, "entry": []}, "object must be a string")

    def test_other_object_is_ignored(self):
        result = parse_meta_payload({"object": "page", "entry": "whatever"})
        self.assertTrue(result.ignored_object)
        self.assertEqual(result.object, "page")
        self.assertEqual(
            (result.messages, result.statuses, result.invalid_items, result.other_changes),
            ([], [], [], []),
        )

    def test_entry_and_changes(self):
        obj = "whatsapp_business_account"
        self.assertPayloadError({"object": obj}, "entry must be a list")
        self.assertPayloadError({"object": obj, "entry": {}}, "entry must be a list")
        self.assertPayloadError({"object": obj, "entry": [5]}, "entry[0] must be an object")
        self.assertPayloadError(
            {"object": obj, "entry": [{"id": "1", "changes": []}, {"id": "2"}]},
            "entry[1].changes must be a list",
        )
        self.assertPayloadError(
            {"object": obj, "entry": [{"id": "1", "changes": ["x"]}]},
            "entry[0].changes[0] must be an object",
        )
        self.assertPayloadError(
            {"object": obj, "entry": [{"id": "1", "changes": [{"value": {}}]}]},
            "entry[0].changes[0].field must be a string",
        )
        self.assertPayloadError(
            {
                "object": obj,
                "entry": [
                    {
                        "id": "1",
                        "changes": [
                            {"field": "messages", "value": {}},
                            {"field": "messages", "value": []},
                        ],
                    }
                ],
            },
            "entry[0].changes[1].value must be an object",
        )

    def test_empty_entry_list_is_fine(self):
        result = parse_meta_payload({"object": "whatsapp_business_account", "entry": []})
        self.assertFalse(result.ignored_object)
        self.assertEqual(result.messages, [])

    def test_error_is_a_value_error(self):
        self.assertTrue(issubclass(WebhookPayloadError, ValueError))

    def test_missing_metadata_keeps_items(self):
        data = load("text_message.json")
        del data["entry"][0]["changes"][0]["value"]["metadata"]
        (message,) = parse_meta_payload(data).messages
        self.assertIsNone(message.phone_number_id)
        self.assertEqual(message.waba_id, WABA)


if __name__ == "__main__":
    unittest.main()


class TestSenderKey(unittest.TestCase):
    """The key that keeps one sender's webhooks in order while several workers process."""

    def test_one_sender_several_senders_none(self):
        def key(**kwargs):
            return parse_meta_payload(meta_payload(**kwargs)).sender_key

        self.assertEqual(key(messages=[meta_text("wamid.1", "56911111111", "OK")]), "56911111111")
        self.assertEqual(
            key(
                messages=[
                    meta_text("wamid.1", "56911111111", "OK"),
                    meta_text("wamid.2", "56911111111", "Listo"),
                ]
            ),
            "56911111111",
        )
        self.assertEqual(
            key(
                messages=[
                    meta_text("wamid.1", "56911111111", "OK"),
                    meta_text("wamid.2", "56922222222", "OK"),
                ]
            ),
            "*",
        )
        self.assertEqual(
            key(messages=[meta_text("wamid.1", None, "OK", user_id="CL.123")]), "CL.123"
        )
        self.assertIsNone(key(statuses=[meta_status("wamid.1", "delivered")]))
