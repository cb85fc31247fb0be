"""Which allocator a process runs on, and starting children on jemalloc (real processes)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import pytest

from gateway import allocator
from gateway.soak import _gateway_env

ROOT = Path(__file__).resolve().parent.parent


def _need_jemalloc() -> None:
    if allocator.jemalloc_installed():
        return
    if os.environ.get("CI"):  # .ci/setup installs libjemalloc2: CI must run these
        pytest.fail("libjemalloc2 is not installed on the CI machine")
    pytest.skip("libjemalloc2 not installed (bash .ci/setup installs it)")


@contextmanager
def _child(env: Mapping[str, str]) -> Iterator[subprocess.Popen[str]]:
    """A Python child that has started its interpreter and waits on its stdin."""
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; print('up', flush=True); sys.stdin.read()"],
        env=dict(env),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "up\n"
        yield proc
    finally:
        proc.communicate(timeout=10)


def test_with_jemalloc_adds_it_once_beside_other_preloads() -> None:
    env = allocator.with_jemalloc({"LD_PRELOAD": "libfoo.so:libbar.so", "X": "1"})
    assert env == {"LD_PRELOAD": "libfoo.so libbar.so libjemalloc.so.2", "X": "1"}
    assert allocator.with_jemalloc(env)["LD_PRELOAD"] == env["LD_PRELOAD"]
    assert allocator.with_jemalloc({})["LD_PRELOAD"] == "libjemalloc.so.2"


def test_without_jemalloc_keeps_other_preloads() -> None:
    env = {"LD_PRELOAD": "libfoo.so /usr/lib/x86_64-linux-gnu/libjemalloc.so.2", "X": "1"}
    assert allocator.without_jemalloc(env) == {"LD_PRELOAD": "libfoo.so", "X": "1"}
    assert allocator.without_jemalloc({"LD_PRELOAD": "libjemalloc.so.2"}) == {}


def test_a_child_started_with_jemalloc_runs_on_it() -> None:
    _need_jemalloc()
    with _child(allocator.with_jemalloc()) as proc:
        assert allocator.in_use(proc.pid) == "jemalloc"
    with _child(allocator.without_jemalloc()) as proc:
        assert allocator.in_use(proc.pid) == "glibc"


def test_a_process_that_is_gone_is_unknown() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    assert allocator.in_use(int(proc.stdout)) == "unknown"  # gone by now


def test_the_heap_trimmer_stands_down_on_jemalloc() -> None:
    """On glibc the trimmer runs until cancelled; on jemalloc it returns at once."""
    _need_jemalloc()
    script = (
        "import asyncio\n"
        "from gateway.heap import trim_every\n"
        "async def main():\n"
        "    try:\n"
        "        await asyncio.wait_for(trim_every(0.01), 0.5)\n"
        "        print('returned')\n"
        "    except TimeoutError:\n"
        "        print('kept trimming')\n"
        "asyncio.run(main())\n"
    )
    for env, expected in (
        (allocator.with_jemalloc(), "returned"),
        (allocator.without_jemalloc(), "kept trimming"),
    ):
        out = subprocess.run(
            [sys.executable, "-c", script],
            env={**env, "PYTHONPATH": str(ROOT)},
            check=True,
            capture_output=True,
            text=True,
        )
        assert out.stdout.strip() == expected


def test_the_soak_refuses_an_unknown_allocator() -> None:
    with pytest.raises(ValueError, match="allocator: one of auto, jemalloc, glibc"):
        _gateway_env("tcmalloc")


def test_the_soak_starts_its_gateway_like_the_service_unit() -> None:
    _need_jemalloc()
    assert "libjemalloc.so.2" in _gateway_env("auto")["LD_PRELOAD"].split()
    assert "libjemalloc" not in _gateway_env("glibc").get("LD_PRELOAD", "")
