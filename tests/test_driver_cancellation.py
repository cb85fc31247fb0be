"""A driver stops when the gateway stops, even if a library swallowed the cancellation."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from support import wait_until

from drivers import registry
from gateway.broker import free_port
from gateway.cancellation import stop_if_cancelled
from gateway.config import parse_config
from gateway.runtime import Gateway


async def test_stop_if_cancelled_raises_only_after_a_cancel_request() -> None:
    waiting, never = asyncio.Event(), asyncio.Event()
    swallowed = asyncio.Event()
    raised: list[bool] = []

    async def worker() -> None:
        stop_if_cancelled()  # not cancelled: nothing happens
        try:
            waiting.set()
            await never.wait()  # until cancelled
        except asyncio.CancelledError:
            swallowed.set()  # a library ate it
        try:
            stop_if_cancelled()
        except asyncio.CancelledError:
            raised.append(True)
            raise

    task = asyncio.create_task(worker())
    await waiting.wait()
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


async def test_the_uplink_stops_when_a_connect_attempt_swallowed_its_cancel(
    tmp_path: Path,
) -> None:
    """The uplink retries refused connects with backoff; a cancel lost inside one attempt
    must not keep it retrying for ever (CI hung 300 s in a refusal test before)."""
    from gateway.backoff import Backoff
    from gateway.buffer import Buffer
    from gateway.config import MqttConfig
    from gateway.sync import UplinkWorker
    from gateway.uplink import MqttUplink

    entered = asyncio.Event()
    swallowed: list[bool] = []

    class CancelSwallowingUplink(MqttUplink):
        """Named fault injection: the first connect eats the cancel, then goes on."""

        async def __aenter__(self) -> CancelSwallowingUplink:
            if not swallowed:
                entered.set()
                try:
                    await asyncio.Event().wait()  # until cancelled
                except asyncio.CancelledError:
                    swallowed.append(True)
            await super().__aenter__()  # nothing listens on the port: refused, retried
            return self

    buf = await Buffer.open(tmp_path / "b.sqlite3", "gw", "lab")
    nowhere = MqttConfig(port=free_port())
    worker = UplinkWorker(
        buf,
        lambda: CancelSwallowingUplink(nowhere, "gw", "lab"),
        site="lab",
        gateway_id="gw",
        window=8,
        wake=asyncio.Event(),
        backoff=Backoff(0.01, 0.05),
    )
    task = asyncio.create_task(worker.run())
    try:
        await wait_until(entered.is_set, what="the first connect attempt")
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=10)
    finally:
        if not task.done():
            task.cancel()  # a second cancel, so that a failing run does not hang
            await asyncio.gather(task, return_exceptions=True)
        await buf.close()
    assert swallowed == [True]
    assert done, "the uplink kept retrying after its cancel was swallowed"
    assert task.cancelled()
