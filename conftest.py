"""Pytest set-up for the pure layer (``tools/tests``); Odoo never imports this file.

The repository root is the Odoo addon ``ofitec_whatsapp``. Its ``__init__.py``
imports odoo, which plain pytest does not have, so it must never run here.
This module registers the root as a *bare* package (a module object whose
``__path__`` is the root, without executing ``__init__.py``) under:

* ``ofitec_whatsapp`` -- the name the tests import (``ofitec_whatsapp.tools.x``);
* the root folder's own name (``main`` in a checkout called ``main``; ``__init__``
  when that name is not an identifier, as pytest then calls it), because
  pytest imports this very file as ``<folder>.conftest``: the root holds an
  ``__init__.py``, so pytest treats the root as a package and would otherwise
  import that package, i.e. run the root ``__init__.py``.

For the second point to work the module must run *before* pytest imports it as
a conftest: ``pyproject.toml`` therefore also loads it early as a plugin
(``pythonpath = ["."]`` and ``addopts = ["-p", "conftest"]``). Registration is
idempotent, so being executed twice (as ``conftest`` and ``<folder>.conftest``)
is harmless. Keep this file free of hooks and fixtures for the same reason.

``collect_ignore`` keeps ``pytest <repo root>`` (an explicit path bypasses
``testpaths``) away from the Odoo tests in ``tests/``, which need the Odoo runner.
"""

import os
import sys
import types

ROOT = os.path.dirname(os.path.abspath(__file__))
ADDON_NAME = "ofitec_whatsapp"

collect_ignore = ["tests"]


def _register_bare_package(name):
    module = sys.modules.get(name)
    if module is not None:
        return module
    module = types.ModuleType(name)
    module.__path__ = [ROOT]
    module.__package__ = name
    sys.modules[name] = module
    return module


_register_bare_package(ADDON_NAME)
# pytest names the root package after its folder; when the folder's name is not an
# identifier (a worktree called "wt-ops"), it imports the root __init__.py as "__init__".
_FOLDER = os.path.basename(ROOT)
_register_bare_package(_FOLDER if _FOLDER.isidentifier() else "__init__")
