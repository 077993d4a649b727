import json
import unittest
from unittest import mock

from ofitec_whatsapp.tools import templates
from ofitec_whatsapp.tools.cloud_api import CloudApiClient
from ofitec_whatsapp.tools.errors import PermanentError

SAMPLES = {"recipient_name": "María", "project": "Los Robles", "title": "Revisar losa"}


class TestToPositional(unittest.TestCase):
    def test_keys_become_numbers_in_the_order_of_the_keys(self):
        text = "Acción {{title}} de {{project}} para {{ recipient_name }}."
        self.assertEqual(
            templates.to_positional(text, ["recipient_name", "project", "title"]),
            "Acción {{3}} de {{2}} para {{1}}.",
        )

    def test_unknown_or_unused_keys_are_refused(self):
        with self.assertRaisesRegex(templates.TemplateSubmissionError, "description"):
            templates.to_positional("Hola {{description}}.", ["recipient_name"])
        with self.assertRaisesRegex(templates.TemplateSubmissionError, "project"):
            templates.to_positional("Hola {{recipient_name}}.", ["recipient_name", "project"])
        with self.assertRaisesRegex(templates.TemplateSubmissionError, "twice"):
            templates.to_positional("Hola {{a}}.", ["a", "a"])


class TestBuildTemplateSubmission(unittest.TestCase):
    def test_urgent_action_payload(self):
        payload = templates.build_template_submission(
            "ofitec_urgent_action",
            "es",
            "Hola {{recipient_name}}, en {{project}}: {{title}}. Responde.",
            ["recipient_name", "project", "title"],
            SAMPLES,
            quick_replies=["ok", "completed", "cancel"],
        )
        self.assertEqual(
            payload,
            {
                "name": "ofitec_urgent_action",
                "language": "es",
                "category": "UTILITY",
                "components": [
                    {
                        "type": "BODY",
                        "text": "Hola {{1}}, en {{2}}: {{3}}. Responde.",
                        "example": {"body_text": [["María", "Los Robles", "Revisar losa"]]},
                    },
                    {
                        "type": "BUTTONS",
                        "buttons": [
                            {"type": "QUICK_REPLY", "text": "OK"},
                            {"type": "QUICK_REPLY", "text": "COMPLETADO"},
                            {"type": "QUICK_REPLY", "text": "CANCELAR"},
                        ],
                    },
                ],
            },
        )

    def test_no_parameters_no_example_no_buttons(self):
        payload = templates.build_template_submission("ofitec_x", "es", "Hola.", [], {})
        self.assertEqual(payload["components"], [{"type": "BODY", "text": "Hola."}])

    def test_samples_are_sanitised_and_never_empty(self):
        payload = templates.build_template_submission(
            "ofitec_x", "es", "Hola {{a}} y {{b}}.", ["a", "b"], {"a": "uno\ndos"}
        )
        self.assertEqual(payload["components"][0]["example"]["body_text"], [["uno dos", "-"]])

    def test_bad_input_says_what_is_wrong(self):
        build = templates.build_template_submission
        cases = [
            (("Ofitec X", "es", "Hola.", [], {}), "lowercase"),
            (("ofitec_x", "", "Hola.", [], {}), "language"),
            (("ofitec_x", "es", "{{a}} hola.", ["a"], {}), "starts or ends"),
            (("ofitec_x", "es", "Hola {{a}}", ["a"], {}), "starts or ends"),
            (("ofitec_x", "es", "  ", [], {}), "empty"),
            (("ofitec_x", "es", "x" * 1025, [], {}), "1024"),
        ]
        for args, message in cases:
            with self.subTest(args=args[:3]):
                with self.assertRaisesRegex(templates.TemplateSubmissionError, message):
                    build(*args)
        with self.assertRaisesRegex(templates.TemplateSubmissionError, "quick reply"):
            build("ofitec_x", "es", "Hola.", [], {}, quick_replies=["maybe"])


class TestParseTemplateList(unittest.TestCase):
    def test_known_and_unknown_values_are_kept_as_text(self):
        items = [
            {
                "id": 1387,
                "name": "ofitec_urgent_action",
                "language": "es",
                "status": "APPROVED",
                "category": "UTILITY",
                "quality_score": {"score": "GREEN", "date": 1764065500},
                "rejected_reason": "NONE",
            },
            {
                "id": "2",
                "name": "ofitec_welcome",
                "language": "es",
                "status": "in_appeal_v2",
                "category": "SOMETHING_NEW",
                "quality_score": "YELLOW",
                "rejected_reason": "INVALID_FORMAT",
            },
            {"name": "no_language"},
            "not a dict",
            {"name": "ofitec_bare", "language": "es"},
        ]
        result = templates.parse_template_list(items)
        self.assertEqual(
            sorted(result),
            [("ofitec_bare", "es"), ("ofitec_urgent_action", "es"), ("ofitec_welcome", "es")],
        )
        urgent = result[("ofitec_urgent_action", "es")]
        self.assertEqual(
            (urgent.id, urgent.status, urgent.category, urgent.quality, urgent.rejected_reason),
            ("1387", "APPROVED", "UTILITY", "GREEN", None),
        )
        welcome = result[("ofitec_welcome", "es")]
        self.assertEqual(
            (welcome.status, welcome.category, welcome.quality, welcome.rejected_reason),
            ("IN_APPEAL_V2", "SOMETHING_NEW", "YELLOW", "INVALID_FORMAT"),
        )
        bare = result[("ofitec_bare", "es")]
        self.assertEqual((bare.status, bare.category, bare.quality), (None, None, None))

    def test_nothing_to_parse(self):
        self.assertEqual(templates.parse_template_list(None), {})
        self.assertEqual(templates.parse_template_list([]), {})


def _response(status, data):
    response = mock.Mock()
    response.status_code = status
    response.content = json.dumps(data).encode()
    return response


class TestCreateTemplate(unittest.TestCase):
    def _client(self, session):
        return CloudApiClient("tok", "123", base_url="https://graph.test", session=session)

    def test_posts_the_payload_to_the_waba(self):
        session = mock.Mock()
        session.post.return_value = _response(
            200, {"id": "594425479261596", "status": "PENDING", "category": "UTILITY"}
        )
        data = self._client(session).create_template({"name": "x"}, waba_id="555")
        self.assertEqual(data["status"], "PENDING")
        args, kwargs = session.post.call_args
        self.assertEqual(args[0], "https://graph.test/v23.0/555/message_templates")
        self.assertEqual(kwargs["json"], {"name": "x"})
        self.assertTrue(kwargs["timeout"])

    def test_meta_error_is_raised_with_its_code(self):
        session = mock.Mock()
        session.post.return_value = _response(
            400,
            {
                "error": {
                    "message": "Invalid parameter",
                    "type": "OAuthException",
                    "code": 100,
                    "error_subcode": 2388023,
                    "error_user_title": "Content in this language already exists",
                }
            },
        )
        with self.assertRaises(PermanentError) as caught:
            self._client(session).create_template({"name": "x"}, waba_id="555")
        self.assertEqual(caught.exception.code, 100)

    def test_waba_id_is_required(self):
        with self.assertRaisesRegex(ValueError, "Business Account"):
            self._client(mock.Mock()).create_template({"name": "x"})
