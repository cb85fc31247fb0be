"""A driver stops when the gateway stops, even if a library swallowed the cancellation."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from support import wait_until

from drivers import registry
from drivers.base import stop_if_cancelled
from gateway.broker import free_port
from gateway.config import parse_config
from gateway.runtime import Gateway


async def test_stop_if_cancelled_raises_only_after_a_cancel_request() -> None:
    swallowed = asyncio.Event()
    raised: list[bool] = []

    async def worker() -> None:
        stop_if_cancelled()  # not cancelled: nothing happens
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            swallowed.set()  # a library ate it
        try:
            stop_if_cancelled()
        except asyncio.CancelledError:
            raised.append(True)
            raise

    task = asyncio.create_task(worker())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert swallowed.is_set() and raised == [True]


async def test_the_gateway_stops_a_driver_whose_library_swallowed_the_cancel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import cancel_swallowing_driver as fake

    monkeypatch.setitem(registry.DRIVER_MODULES, "swallowing-fake", "cancel_swallowing_driver")
    monkeypatch.setattr(fake, "SWALLOWED", 0)
    raw = {
        "gateway": {"id": "gw-test", "site": "lab", "data_dir": str(tmp_path / "data")},
        "mqtt": {"port": free_port()},
        "patients": [{"id": "p-1"}],
        "devices": [{"id": "dev", "kind": "swallowing-fake", "patient": "p-1"}],
    }
    gateway = Gateway(parse_config(raw, "<test>"))
    stop = asyncio.Event()
    run = asyncio.create_task(gateway.run(stop))
    await wait_until(
        lambda: gateway.pipeline is not None and gateway.pipeline.ingested["dev"] >= 5,
        what="records from the fake driver",
    )
    stop.set()
    done, _ = await asyncio.wait({run}, timeout=20)
    if not done:
        run.cancel()  # a second cancel gets through; the first one was lost
        await asyncio.gather(run, return_exceptions=True)
    assert fake.SWALLOWED == 1  # the fake did swallow the gateway's cancel
    assert done, "the gateway did not stop: the driver's swallowed cancel was not noticed"
    run.result()
