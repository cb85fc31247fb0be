"""Run every ``test_*.py`` here with unittest, under CPython or MicroPython.

CPython: ``python hil/firmware/tests_portable/run.py`` (exit status 1 on failure).
MicroPython: the Node runner (``tools/run_micropython.mjs``) copies the files into the VM,
puts their folders on ``sys.path`` and calls :func:`main`, which returns the failure count.
"""

import os
import sys
import unittest


def _here() -> str:
    f = __file__
    i = f.rfind("/")
    return f[:i] if i > 0 else "."


def _setup_path(here: str) -> None:
    firmware = here + "/.."
    for p in (here, firmware, firmware + "/../scenarios"):
        if p not in sys.path:
            sys.path.insert(0, p)


def _modules(here: str) -> "list[str]":
    names = [n[:-3] for n in os.listdir(here) if n.startswith("test_") and n.endswith(".py")]
    names.sort()
    return names


def _is_micropython() -> bool:
    return sys.implementation.name == "micropython"


def main(here: "str | None" = None) -> int:
    """Run the tests; return the number of failures and errors."""
    here = here or _here()
    _setup_path(here)
    bad = 0
    for name in _modules(here):
        module = __import__(name)
        if _is_micropython():
            result = unittest.main(module)
            bad += getattr(result, "failuresNum", 0) + getattr(result, "errorsNum", 0)
        else:
            suite = unittest.defaultTestLoader.loadTestsFromModule(module)
            result = unittest.TextTestRunner(verbosity=1).run(suite)
            bad += len(result.failures) + len(result.errors)
    print("portable tests:", "FAILED" if bad else "OK", "(" + sys.implementation.name + ")")
    return bad


if __name__ == "__main__":
    sys.exit(1 if main() else 0)
