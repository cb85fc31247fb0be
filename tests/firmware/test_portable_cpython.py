"""The portable unittest files of ``hil/firmware/tests_portable`` run under CPython too."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import unittest
from pathlib import Path

import pytest

PORTABLE = Path(__file__).resolve().parents[2] / "hil" / "firmware" / "tests_portable"
MODULES = sorted(p.stem for p in PORTABLE.glob("test_*.py"))


def test_there_are_portable_tests() -> None:
    assert {
        "test_engine",
        "test_gatt",
        "test_mder",
        "test_racp",
        "test_frames",
        "test_driver",
    } <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_portable_module(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(PORTABLE))
    # by path, under a name of its own: "test_config" is also a module of the main suite
    spec = importlib.util.spec_from_file_location(f"portable_{name}", PORTABLE / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    suite = unittest.defaultTestLoader.loadTestsFromModule(module)
    assert suite.countTestCases() > 0
    result = unittest.TestResult()
    suite.run(result)
    problems = [f"{case}: {trace}" for case, trace in result.failures + result.errors]
    assert not problems, "\n".join(problems)


def test_runner_script_exit_status() -> None:
    """``run.py`` (used by .ci/firmware) exits 0 when every portable test passes."""
    proc = subprocess.run(
        [sys.executable, str(PORTABLE / "run.py")], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "portable tests: OK (cpython)" in proc.stdout
