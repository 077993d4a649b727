"""Odoo silently skips test modules that tests/__init__.py does not import."""

import ast
import os

from odoo.tests import common


class TestTestModulesImported(common.TransactionCase):
    def test_every_test_module_is_imported(self):
        here = os.path.dirname(__file__)
        on_disk = {
            name[:-3]
            for name in os.listdir(here)
            if name.startswith("test_") and name.endswith(".py")
        }
        with open(os.path.join(here, "__init__.py"), encoding="utf-8") as init:
            tree = ast.parse(init.read())
        imported = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 1 and not node.module:
                imported.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 1 and node.module:
                imported.add(node.module.split(".")[0])
        self.assertIn("test_test_modules_imported", on_disk)
        missing = sorted(on_disk - imported)
        self.assertFalse(missing, f"tests/__init__.py does not import {missing}")
