"""The cyclic collector's settings while the gateway runs (gateway/gc_tuning.py)."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import wait_until

from gateway import gc_tuning
from gateway.config import ConfigError, parse_config
from gateway.model import Measurement, Quality, ReceiveTime
from gateway.runtime import Gateway


@pytest.fixture
def collections() -> Iterator[list[int]]:
    """Generations of the collections that ran while the test ran."""
    seen: list[int] = []

    def callback(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            seen.append(info["generation"])

    gc.callbacks.append(callback)
    yield seen
    gc.callbacks.remove(callback)


def queue_records(n: int) -> list[Measurement]:
    """``n`` records held at once, as the pipeline's queue and batch hold them."""
    received = ReceiveTime.now()
    return [Measurement("d", "d/1", 1, "1", float(i), Quality(0), received) for i in range(n)]


def test_queued_records_are_walked_by_the_default_collector_but_not_when_tuned(
    collections: list[int],
) -> None:
    assert gc.get_threshold()[0] == 700  # Python's default, outside a running gateway
    held = queue_records(5_000)
    default_runs = len(collections)
    assert default_runs >= 5  # one young collection per 700 records held
    del held
    collections.clear()
    with gc_tuning.tuned(10_000):
        assert gc.get_threshold()[0] == 10_000
        held = queue_records(5_000)
        assert collections == []
        del held
    assert gc.get_threshold()[0] == 700


def test_tuning_is_undone_only_when_the_last_gateway_stops() -> None:
    previous = gc.get_threshold()
    with gc_tuning.tuned(10_000):
        with gc_tuning.tuned(20_000):  # a second gateway in the same process keeps the first's
            assert gc.get_threshold()[0] == 10_000
            gc_tuning.freeze_startup()
            assert gc.get_freeze_count() > 0
        assert gc.get_threshold()[0] == 10_000
        assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == previous
    assert gc.get_freeze_count() == 0


class Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the cyclic collector frees it


def test_garbage_is_collected_before_start_up_is_frozen() -> None:
    garbage = Node()
    alive = Node()
    gone = weakref.ref(garbage)
    del garbage
    with gc_tuning.tuned(10_000):
        gc_tuning.freeze_startup()
        assert gone() is None  # collected, not frozen for the gateway's lifetime
        assert gc.get_freeze_count() > 0
        assert not gc.is_finalized(alive)
    assert gc.get_freeze_count() == 0


def test_zero_keeps_pythons_settings_and_freezes_nothing() -> None:
    previous = gc.get_threshold()
    with gc_tuning.tuned(0):
        assert gc.get_threshold() == previous
        gc_tuning.freeze_startup()
        assert gc.get_freeze_count() == 0
    gc_tuning.freeze_startup()  # outside a running gateway: nothing
    assert gc.get_freeze_count() == 0


def config(tmp_path: Path, threshold: object) -> dict[str, object]:
    return {
        "gateway": {"id": "gw", "data_dir": str(tmp_path), "gc_young_threshold": threshold},
        "mqtt": {"enabled": False},
        "patients": [{"id": "p-1"}],
        "devices": [{"id": "sim", "kind": "synthetic", "patient": "p-1"}],
    }


async def test_a_running_gateway_tunes_the_collector_and_restores_it(tmp_path: Path) -> None:
    previous = gc.get_threshold()
    gateway = Gateway(parse_config(config(tmp_path, 12_345), "<test>"))
    stop = asyncio.Event()
    run = asyncio.create_task(gateway.run(stop))
    await gateway.started.wait()
    await wait_until(lambda: gc.get_freeze_count() > 0, what="start-up objects frozen")
    assert gc.get_threshold()[0] == 12_345
    assert gateway.buffer is not None
    await wait_until(lambda: gateway.buffer.committed_records > 0, what="records committed")
    stop.set()
    await run
    assert gc.get_threshold() == previous
    assert gc.get_freeze_count() == 0


def test_the_threshold_is_validated(tmp_path: Path) -> None:
    assert parse_config(config(tmp_path, 0), "<test>").gc_young_threshold == 0
    default = config(tmp_path, 0)
    default["gateway"] = {"id": "gw", "data_dir": str(tmp_path)}
    assert parse_config(default, "<test>").gc_young_threshold == 10_000
    with pytest.raises(ConfigError, match="gc_young_threshold"):
        parse_config(config(tmp_path, -1), "<test>")
