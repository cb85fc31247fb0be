"""Twin sync: desired state validated, applied once, acknowledged in retained reported state."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
from support import wait_until

from gateway.broker import LocalBroker
from gateway.config import GatewayConfig, parse_config
from gateway.desired import parse_desired
from gateway.runtime import Gateway
from hil.pty_port import PtyPort
from hil.sim.masimo_sim import MasimoSimulator

DESIRED = "edgetwin/v1/lab/gw/desired"
ACK = "edgetwin/v1/lab/gw/twin/gw.desired"
TWIN = "edgetwin/v1/lab/gw/twin/p-1.twin"


def config(tmp_path: Path, port: int, pty: PtyPort) -> GatewayConfig:
    return parse_config(
        {
            "gateway": {"id": "gw", "site": "lab", "data_dir": str(tmp_path / "data")},
            "mqtt": {"port": port},
            "buffer": {"flush_interval_ms": 20},
            "twin": {"snapshot_interval_s": 0.2},
            "patients": [{"id": "p-1", "consciousness": "A", "on_oxygen": False}],
            "devices": [{"id": "oxi", "kind": "masimo", "patient": "p-1", "port": pty.path}],
        },
        "<test>",
    )


async def publish(broker: LocalBroker, doc: dict[str, Any] | bytes) -> None:
    payload = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    async with aiomqtt.Client(broker.host, broker.port) as c:
        await c.publish(DESIRED, payload, qos=1, retain=True)


async def watch(
    broker: LocalBroker, seen: dict[str, list[dict[str, Any]]], ready: asyncio.Event
) -> None:
    async with aiomqtt.Client(broker.host, broker.port, protocol=aiomqtt.ProtocolVersion.V5) as c:
        await c.subscribe(ACK, qos=1)
        await c.subscribe(TWIN, qos=1)
        ready.set()
        async for message in c.messages:
            assert isinstance(message.payload, bytes)
            body = json.loads(message.payload)
            for s in body["samples"]:
                seen.setdefault(str(message.topic), []).append(s["state"])


def test_documents_are_checked_whole() -> None:
    ok = parse_desired(b'{"version": 3, "patients": {"p-1": {"on_oxygen": true}}}', {"p-1"})
    assert ok.patients["p-1"].on_oxygen is True
    for bad, why in [
        (b"{", "not JSON"),
        (b'{"version": 0}', "version"),
        (b'{"version": 1, "patients": {"p-9": {}}}', "not a patient"),
        (b'{"version": 1, "patients": {"p-1": {"consciousness": "X"}}}', "consciousness"),
        (b'{"version": 1, "devices": []}', "cannot change at run time"),
        (b'{"version": 1, "alarm_limits": [{"vital": "spo2", "side": "up"}]}', "side"),
    ]:
        with pytest.raises(ValueError, match=why):
            parse_desired(bad, {"p-1"})


async def test_desired_state_applied_once_acknowledged_and_restored(
    tmp_path: Path, broker: LocalBroker
) -> None:
    pty = PtyPort()
    seen: dict[str, list[dict[str, Any]]] = {}
    ready = asyncio.Event()
    watcher = asyncio.create_task(watch(broker, seen, ready))
    await wait_until(ready.is_set)
    # retained before the gateway starts: a gateway coming back online picks it up
    await publish(
        broker,
        {
            "version": 1,
            "patients": {"p-1": {"consciousness": "V", "on_oxygen": True, "spo2_scale": 2}},
            "alarm_limits": [
                {
                    "vital": "spo2",
                    "side": "low",
                    "threshold": 80,
                    "priority": "high",
                    "onset_delay_s": 5,
                    "clear_delay_s": 5,
                }
            ],
        },
    )
    cfg = config(tmp_path, broker.port, pty)
    gateway = Gateway(cfg)
    stop = asyncio.Event()
    run = asyncio.create_task(gateway.run(stop))
    sim = asyncio.create_task(MasimoSimulator(pty, seed=2, interval_s=0.01).run())

    def acks() -> list[dict[str, Any]]:
        return seen.get(ACK, [])

    await wait_until(lambda: any(a["status"] == "applied" for a in acks()), what="ack of v1")
    assert acks()[-1] == {
        "applied_version": 1,
        "received_version": 1,
        "status": "applied",
        "errors": [],
    }
    await wait_until(
        lambda: any(t["news2"]["scores"]["consciousness"] == 3 for t in seen.get(TWIN, [])),
        what="NEWS2 with the desired consciousness",
    )
    twin = next(t for t in reversed(seen[TWIN]) if t["news2"]["scores"]["consciousness"] == 3)
    assert twin["news2"]["scores"]["air_or_oxygen"] == 2
    assert twin["news2"]["spo2_scale"] == 2
    assert gateway.twins is not None
    assert gateway.twins.alarm_config.threshold[0].tolist() == [80.0]

    await publish(broker, {"version": 2, "patients": {"p-1": {"consciousness": "Z"}}})
    await wait_until(lambda: acks()[-1]["status"] == "rejected", what="rejection of v2")
    assert "consciousness" in acks()[-1]["errors"][0]
    assert acks()[-1]["applied_version"] == 1
    count = len(acks())
    await publish(broker, {"version": 1, "patients": {"p-1": {"consciousness": "A"}}})  # stale
    await publish(broker, {"version": 3, "patients": {"p-1": {"consciousness": "C"}}})
    await wait_until(lambda: acks()[-1].get("received_version") == 3, what="ack of v3")
    assert len(acks()) == count + 1  # the stale v1 was ignored, not acknowledged again
    stop.set()
    await run

    # a restart re-applies the stored document and ignores the retained copy of it
    gateway2 = Gateway(cfg)
    stop2 = asyncio.Event()
    run2 = asyncio.create_task(gateway2.run(stop2))
    await wait_until(lambda: gateway2.twins is not None and gateway2.desired is not None)
    assert gateway2.twins is not None
    assert gateway2.twins.manual["p-1"].consciousness == "C"
    assert gateway2.desired is not None
    assert gateway2.desired.applied_version == 3
    stop2.set()
    await run2
    sim.cancel()
    watcher.cancel()
    await asyncio.gather(sim, watcher, return_exceptions=True)
    pty.close()
