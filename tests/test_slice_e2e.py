"""The first end-to-end slice on real parts.

Masimo simulator on a pseudo-terminal -> serial driver (pyserial-asyncio-fast) -> twin ->
SQLite outbox (WAL) -> aiomqtt -> a real mosquitto -> a subscriber.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
from support import Subscriber, wait_until

from drivers import registry
from gateway.broker import LocalBroker, free_port
from gateway.config import GatewayConfig, parse_config
from gateway.runtime import BUFFER_FILE, Gateway
from hil.pty_port import PtyPort
from hil.sim.masimo_sim import MasimoSimulator

SPO2 = ".150456"


def config(tmp_path: Path, mqtt_port: int, devices: list[dict[str, Any]]) -> GatewayConfig:
    raw = {
        "gateway": {"id": "gw-test", "site": "lab", "data_dir": str(tmp_path / "data")},
        "mqtt": {"port": mqtt_port},
        "buffer": {"flush_interval_ms": 20},
        "twin": {"snapshot_interval_s": 0.5},
        "patients": [{"id": "p-1"}, {"id": "p-2"}],
        "devices": devices,
    }
    return parse_config(raw, "<test>")


def expected_spo2(sim: MasimoSimulator) -> list[float | None]:
    return [None if s.spo2 is None else float(s.spo2) for s in sim.sent]


async def test_every_simulated_sample_arrives_in_order_without_gaps(
    tmp_path: Path, broker: LocalBroker, subscriber: Subscriber, pty_port: PtyPort
) -> None:
    n = 400
    cfg = config(
        tmp_path,
        broker.port,
        [{"id": "oxi", "kind": "masimo", "patient": "p-1", "port": pty_port.path}],
    )
    gateway = Gateway(cfg)
    stop = asyncio.Event()
    run = asyncio.create_task(gateway.run(stop))
    await wait_until(lambda: gateway.health["oxi"].state == "connected", what="driver connected")
    sim = MasimoSimulator(pty_port, seed=7, interval_s=0.002, count=n)
    await sim.run()
    await wait_until(lambda: len(subscriber.samples("/oxi" + SPO2)) >= n, what=f"{n} SpO2 samples")
    stop.set()
    summary = await run

    samples = subscriber.samples("/oxi" + SPO2)
    assert [s["seq"] for s in samples] == list(range(1, n + 1))
    assert [s["value"] for s in samples] == expected_spo2(sim)
    assert all(s["quality"] for s in samples if s["value"] is None)  # missing says why
    twins = [b for _, b in subscriber.messages if b["stream"] == "p-1.twin"]
    assert twins, "no twin snapshot for p-1"
    spo2_twin = twins[-1]["samples"][-1]["state"]["vitals"]["SpO2"]
    valid = [v for v in expected_spo2(sim) if v is not None]
    assert min(valid) <= spo2_twin["smoothed"] <= max(valid)
    (oxi,) = summary.devices
    assert oxi.parse_errors == 0
    assert oxi.buffered == oxi.ingested == oxi.acked
    assert summary.outbox_records == 0


async def test_buffer_only_without_broker_then_sync_when_one_appears(
    tmp_path: Path, pty_port: PtyPort
) -> None:
    port = free_port()
    cfg = config(
        tmp_path, port, [{"id": "oxi", "kind": "masimo", "patient": "p-1", "port": pty_port.path}]
    )
    gateway = Gateway(cfg)
    stop = asyncio.Event()
    run = asyncio.create_task(gateway.run(stop))
    await wait_until(lambda: gateway.health["oxi"].state == "connected", what="driver connected")
    sim = MasimoSimulator(pty_port, seed=3, interval_s=0.001, count=200)
    await sim.run()
    assert gateway.buffer is not None
    buffer = gateway.buffer

    async def buffered() -> int:
        stats = await buffer.stats()
        return sum(s.committed for s in stats.streams if s.stream_id.endswith(SPO2))

    deadline = asyncio.get_running_loop().time() + 20
    while await buffered() < 200:
        assert asyncio.get_running_loop().time() < deadline, "records not buffered"
        await asyncio.sleep(0.02)
    assert gateway.uplink is not None
    assert not gateway.uplink.metrics.connected

    received: list[int] = []
    with LocalBroker(tmp_path / "late-broker", port=port) as late:
        async with aiomqtt.Client(
            late.host, late.port, protocol=aiomqtt.ProtocolVersion.V5
        ) as client:
            await client.subscribe(f"edgetwin/v1/lab/gw-test/numeric/oxi{SPO2}", qos=1)

            async def collect() -> None:
                import json

                async for message in client.messages:
                    assert isinstance(message.payload, bytes)
                    received.extend(s["seq"] for s in json.loads(message.payload)["samples"])

            collector = asyncio.create_task(collect())
            await wait_until(
                lambda: len(set(received)) >= 200, deadline_s=40, what="backlog synced"
            )
            collector.cancel()
        stop.set()
        await run
    assert sorted(set(received)) == list(range(1, 201))


async def test_a_failing_driver_is_restarted_alone(
    tmp_path: Path, pty_port: PtyPort, monkeypatch: pytest.MonkeyPatch
) -> None:
    import crashing_driver

    monkeypatch.setitem(registry.DRIVER_MODULES, "crashing-fake", "crashing_driver")
    cfg = config(
        tmp_path,
        free_port(),
        [
            {"id": "oxi", "kind": "masimo", "patient": "p-1", "port": pty_port.path},
            {
                "id": "gone",
                "kind": "masimo",
                "patient": "p-2",
                "port": str(tmp_path / "no-such-tty"),
            },
            {"id": "buggy", "kind": "crashing-fake", "patient": "p-2"},
        ],
    )
    gateway = Gateway(cfg)
    stop = asyncio.Event()
    run = asyncio.create_task(gateway.run(stop))
    await wait_until(lambda: gateway.health["oxi"].state == "connected", what="driver connected")
    sim = MasimoSimulator(pty_port, seed=1, interval_s=0.002, count=100)
    await sim.run()
    await wait_until(
        lambda: gateway.health["gone"].restarts >= 2 and gateway.health["buggy"].crashes >= 2,
        what="restarts of the failing drivers",
    )
    await wait_until(
        lambda: gateway.pipeline is not None and gateway.pipeline.ingested["oxi"] >= 101
    )
    stop.set()
    summary = await run
    oxi = next(d for d in summary.devices if d.device_id == "oxi")
    assert oxi.restarts == 0
    assert crashing_driver.OPENED >= 2
    assert "cannot open serial port" in gateway.health["gone"].counters.last_error
    db = sqlite3.connect(cfg.data_dir / BUFFER_FILE)
    (n,) = db.execute(
        "SELECT committed FROM streams WHERE stream_id = ?", ("oxi" + SPO2,)
    ).fetchone()
    assert n == 100
