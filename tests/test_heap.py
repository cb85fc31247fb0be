"""Freed heap memory goes back to the system (glibc malloc_trim), now and then."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
from support import wait_until

from gateway import heap
from gateway.config import ConfigError, parse_config
from gateway.runtime import Gateway

pytestmark = pytest.mark.skipif(not heap.available(), reason="needs glibc's malloc_trim")


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_trim_returns_pages_a_thread_freed_inside_its_arena() -> None:
    kept: list[bytearray] = []

    def churn() -> None:  # 200 MB in 100 kB blocks; 1 in 20 survives, pinning the arena
        blocks = [bytearray(100_000) for _ in range(2000)]
        kept.extend(blocks[::20])

    worker = threading.Thread(target=churn)
    worker.start()
    worker.join()
    before = rss_mb()
    assert heap.trim()
    after = rss_mb()
    assert before - after > 100, (before, after)  # 190 MB were free but still resident
    assert len(kept) == 100


def config(tmp_path: Path, interval: object) -> dict[str, object]:
    return {
        "gateway": {"id": "gw", "data_dir": str(tmp_path), "heap_trim_interval_s": interval},
        "mqtt": {"enabled": False},
        "patients": [{"id": "p-1"}],
        "devices": [{"id": "sim", "kind": "synthetic", "patient": "p-1"}],
    }


async def test_the_gateway_trims_its_heap_at_the_configured_interval(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    real = heap._TRIM
    assert real is not None

    def counted(pad: int) -> int:  # the real malloc_trim, counted
        calls.append(pad)
        return real(pad)

    monkeypatch.setattr(heap, "_TRIM", counted)
    gateway = Gateway(parse_config(config(tmp_path, 0.05), "<test>"))
    stop = asyncio.Event()
    run = asyncio.create_task(gateway.run(stop))
    await wait_until(lambda: len(calls) >= 3, what="three heap trims")
    stop.set()
    await run


def test_the_trim_interval_is_validated_and_zero_turns_it_off(tmp_path: Path) -> None:
    assert parse_config(config(tmp_path, 0), "<test>").heap_trim_interval_s == 0
    assert parse_config(config(tmp_path, 60), "<test>").heap_trim_interval_s == 60
    with pytest.raises(ConfigError):
        parse_config(config(tmp_path, -1), "<test>")
