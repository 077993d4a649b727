import unittest

from ofitec_whatsapp.tools.render import (
    render_text,
    sanitize_template_param,
    to_text,
    truncate,
    whatsapp_to_html,
)


class TestRenderText(unittest.TestCase):
    def test_placeholders(self):
        self.assertEqual(
            render_text(
                "Hola {{recipient_name}}, acción {{ title }} en {{project}}",
                {"recipient_name": "Ana", "title": "Revisar", "project": "Obra 1"},
            ),
            "Hola Ana, acción Revisar en Obra 1",
        )

    def test_non_str_values(self):
        self.assertEqual(
            render_text(
                "{{a}}|{{b}}|{{c}}|{{d}}|{{e}}",
                {"a": 42, "b": None, "c": False, "d": 1.5, "e": 0},
            ),
            "42|||1.5|0",
        )

    def test_unknown_keys_become_empty(self):
        self.assertEqual(render_text("x{{missing}}y", {}), "xy")
        self.assertEqual(render_text("x{{missing}}y", None), "xy")

    def test_whitespace_variants(self):
        self.assertEqual(render_text("{{  project  }}/{{project}}", {"project": "P"}), "P/P")
        self.assertEqual(render_text("{{\tproject\n}}", {"project": "P"}), "P")

    def test_not_recursive_and_literal_braces(self):
        self.assertEqual(render_text("{{a}}", {"a": "{{b}}", "b": "no"}), "{{b}}")
        self.assertEqual(
            render_text("{single} {{1bad}} {{a.b}}", {"a": "x"}), "{single} {{1bad}} {{a.b}}"
        )

    def test_empty_text(self):
        self.assertEqual(render_text(None, {"a": 1}), "")
        self.assertEqual(render_text("", {"a": 1}), "")
        self.assertEqual(render_text("plain", {"a": 1}), "plain")

    def test_to_text(self):
        self.assertEqual(to_text(None), "")
        self.assertEqual(to_text(False), "")
        self.assertEqual(to_text(0), "0")
        self.assertEqual(to_text("x"), "x")


class TestTruncate(unittest.TestCase):
    def test_short_text_untouched(self):
        self.assertEqual(truncate("hola", 4), "hola")
        self.assertEqual(truncate("hola", 10), "hola")

    def test_cut(self):
        self.assertEqual(truncate("abcdefghij", 5), "abcd…")
        self.assertEqual(len(truncate("x" * 5000, 4096)), 4096)
        self.assertEqual(truncate("hello world", 7), "hello…")  # no dangling space

    def test_edge_limits(self):
        self.assertEqual(truncate("abc", 0), "")
        self.assertEqual(truncate("abc", 1), "a")
        self.assertEqual(truncate(None, 3), "")
        self.assertEqual(truncate("abc", None), "abc")
        self.assertEqual(truncate("abcdef", 4, ellipsis="..."), "a...")


class TestSanitizeTemplateParam(unittest.TestCase):
    def test_whitespace(self):
        self.assertEqual(sanitize_template_param("a\nb"), "a b")
        self.assertEqual(sanitize_template_param("a\r\n\r\nb"), "a b")
        self.assertEqual(sanitize_template_param("a\tb"), "a b")
        self.assertEqual(sanitize_template_param("a     b"), "a b")
        self.assertEqual(sanitize_template_param("  a  "), "a")
        self.assertEqual(sanitize_template_param("a\u00a0\u00a0\u00a0\u00a0\u00a0b"), "a b")

    def test_never_empty(self):
        for value in ("", None, False, " \n\t "):
            with self.subTest(value=value):
                self.assertEqual(sanitize_template_param(value), "-")

    def test_values(self):
        self.assertEqual(sanitize_template_param(42), "42")
        self.assertEqual(sanitize_template_param("Revisión ñandú"), "Revisión ñandú")

    def test_max_len(self):
        self.assertEqual(len(sanitize_template_param("x" * 1000, max_len=50)), 50)
        self.assertLessEqual(len(sanitize_template_param("x" * 5000)), 1024)
        self.assertEqual(sanitize_template_param("x" * 10, max_len=None), "x" * 10)

    def test_result_is_always_acceptable(self):
        nasty = "  línea 1\n\n\tlínea 2" + " " * 12 + "fin\r\n"
        result = sanitize_template_param(nasty)
        self.assertNotIn("\n", result)
        self.assertNotIn("\t", result)
        self.assertNotIn("\r", result)
        self.assertNotIn("     ", result)
        self.assertEqual(result, "línea 1 línea 2 fin")


class TestEmptyLinesAndFormatting(unittest.TestCase):
    BODY = (
        "*Acción:* {{title}}\n{{description}}\n\n*Fecha límite:* {{deadline}}\n"
        "*Impacto estimado:* {{benefits}}\n\nResponde *OK*."
    )

    def test_lines_with_only_empty_values_are_left_out(self):
        values = {"title": "Revisar", "description": "", "deadline": None, "benefits": False}
        self.assertEqual(
            render_text(self.BODY, values, drop_empty_lines=True),
            "*Acción:* Revisar\n\nResponde *OK*.",
        )
        # Without the option, nothing changes (other callers keep every line).
        self.assertIn("*Fecha límite:* \n", render_text(self.BODY, values))

    def test_a_line_with_one_value_stays(self):
        values = {"title": "Revisar", "deadline": "01/12/2026"}
        text = render_text(self.BODY, values, drop_empty_lines=True)
        self.assertIn("*Fecha límite:* 01/12/2026", text)
        self.assertNotIn("Impacto", text)

    def test_empty_template_param_word(self):
        self.assertEqual(sanitize_template_param("", empty="sin definir"), "sin definir")
        self.assertEqual(sanitize_template_param(None), "-")
        self.assertEqual(sanitize_template_param(" x ", empty="sin definir"), "x")

    def test_whatsapp_formatting_to_html(self):
        self.assertEqual(
            whatsapp_to_html("*Hola* _Ana_ ~no~\n<b>x</b> a*b*c snake_case"),
            "<b>Hola</b> <i>Ana</i> <s>no</s><br/>\n&lt;b&gt;x&lt;/b&gt; a*b*c snake_case",
        )


if __name__ == "__main__":
    unittest.main()
