"""The pure layer must never import odoo, and only import itself relatively."""

import ast
import os
import subprocess
import sys
import textwrap
import unittest

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
TOOLS_DIR = os.path.dirname(TESTS_DIR)
ROOT_DIR = os.path.dirname(TOOLS_DIR)


def _python_files():
    for folder, dirs, files in os.walk(TOOLS_DIR):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for name in sorted(files):
            if name.endswith(".py"):
                yield os.path.join(folder, name)


def _package_depth(path):
    """How many package levels a relative import may climb and stay in tools/:
    1 for tools/x.py, 2 for tools/tests/x.py."""
    relative = os.path.relpath(os.path.dirname(path), TOOLS_DIR)
    return 1 if relative == "." else 1 + len(relative.split(os.sep))


def problems_in_source(source, depth=1, allow_absolute_addon=False):
    """List of problems (strings) in one file's source."""
    problems = []
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.split(".")[0]
                if top == "odoo":
                    problems.append(f"line {node.lineno}: import {alias.name}")
                if top == "pytest":
                    problems.append(f"line {node.lineno}: import pytest")
                if top in ("ofitec_whatsapp", "tools") and not allow_absolute_addon:
                    problems.append(f"line {node.lineno}: absolute import {alias.name}")
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            top = module.split(".")[0]
            if node.level == 0:
                if top == "odoo":
                    problems.append(f"line {node.lineno}: from {module} import ...")
                if top == "pytest":
                    problems.append(f"line {node.lineno}: from pytest import ...")
                if top in ("ofitec_whatsapp", "tools") and not allow_absolute_addon:
                    problems.append(f"line {node.lineno}: absolute import from {module}")
            elif node.level > depth:
                problems.append(
                    f"line {node.lineno}: relative import leaves tools/ "
                    f"({'.' * node.level}{module})"
                )
        elif isinstance(node, ast.Call):
            func = node.func
            name = getattr(func, "id", None) or getattr(func, "attr", None)
            if name in ("__import__", "import_module") and node.args:
                first = node.args[0]
                if (
                    isinstance(first, ast.Constant)
                    and isinstance(first.value, str)
                    and first.value.split(".")[0] == "odoo"
                ):
                    problems.append(f"line {node.lineno}: dynamic import of {first.value}")
    return problems


class TestChecker(unittest.TestCase):
    """The checker itself must catch what it is meant to catch."""

    def test_detects_odoo_imports(self):
        for source in (
            "import odoo",
            "import odoo.tools as t",
            "from odoo import fields",
            "from odoo.addons.mail import x",
            "def f():\n    from odoo import api\n",
            "__import__('odoo')",
            "import importlib\nimportlib.import_module('odoo.models')",
        ):
            with self.subTest(source=source):
                self.assertTrue(problems_in_source(source), source)

    def test_detects_escaping_relative_import(self):
        self.assertTrue(problems_in_source("from .. import models", depth=1))
        self.assertTrue(problems_in_source("from ...models import x", depth=2))
        self.assertFalse(problems_in_source("from ..errors import X", depth=2))
        self.assertFalse(problems_in_source("from .errors import X", depth=1))

    def test_detects_absolute_self_import_and_pytest(self):
        self.assertTrue(problems_in_source("from ofitec_whatsapp.tools import errors"))
        self.assertTrue(problems_in_source("import pytest"))
        self.assertFalse(
            problems_in_source(
                "from ofitec_whatsapp.tools import errors", allow_absolute_addon=True
            )
        )

    def test_clean_source_passes(self):
        source = textwrap.dedent(
            """
            import json
            import requests
            from .errors import WhatsAppError
            odoo_like = "import odoo"
            """
        )
        self.assertEqual(problems_in_source(source), [])


class TestToolsFolder(unittest.TestCase):
    def test_files_found(self):
        names = {os.path.basename(path) for path in _python_files()}
        for expected in ("__init__.py", "errors.py", "cloud_api.py", "webhook.py"):
            self.assertIn(expected, names)

    def test_no_odoo_import_anywhere_in_tools(self):
        report = {}
        for path in _python_files():
            with open(path, encoding="utf-8") as handle:
                source = handle.read()
            in_tests = os.path.commonpath([path, TESTS_DIR]) == TESTS_DIR
            problems = problems_in_source(
                source, depth=_package_depth(path), allow_absolute_addon=in_tests
            )
            if problems:
                report[os.path.relpath(path, ROOT_DIR)] = problems
        self.assertEqual(report, {})

    def test_importing_tools_never_loads_odoo(self):
        """Import the package in a fresh interpreter where importing odoo fails
        loudly, and check nothing tried."""
        script = textwrap.dedent(
            f"""
            import sys, types
            class Block:
                def find_spec(self, name, path=None, target=None):
                    if name == "odoo" or name.startswith("odoo."):
                        raise ImportError("tools imported " + name)
                    return None
            sys.meta_path.insert(0, Block())
            package = types.ModuleType("ofitec_whatsapp")
            package.__path__ = [{ROOT_DIR!r}]
            sys.modules["ofitec_whatsapp"] = package
            import ofitec_whatsapp.tools as tools
            for name in tools.__all__:
                getattr(tools, name)
            assert not any(m == "odoo" or m.startswith("odoo.") for m in sys.modules)
            print("clean")
            """
        )
        completed = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        self.assertEqual(completed.returncode, 0, completed.stderr)
        self.assertEqual(completed.stdout.strip(), "clean")


if __name__ == "__main__":
    unittest.main()
