"""Suite-wide fixtures and helpers live in ``support.py``: tests import them with
``from support import ...``, which a sub-folder's own conftest cannot shadow (a module
named ``conftest`` is whichever pytest loaded first)."""

from support import *  # noqa: F403 - the fixtures, found by pytest through this module

pytest_plugins = ["hil.pytest_plugin"]
