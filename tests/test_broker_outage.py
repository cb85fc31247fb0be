"""The broker goes away for a while and comes back, with and without its own persistence.

Nothing is lost: rows stay in the outbox until a PUBACK, and everything unacknowledged is
sent again after the reconnect. The subscriber keeps a persistent MQTT 5 session.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiomqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from support import wait_until

from gateway.broker import LocalBroker, free_port
from gateway.config import parse_config
from gateway.runtime import Gateway
from gateway.uplink import MqttUplink
from hil.pty_port import PtyPort
from hil.sim.masimo_sim import MasimoSimulator

SPO2 = "oxi.150456"


class GatedUplink:
    """Our real MqttUplink, entered only once ``gate`` is set (a test hook, not a fake)."""

    def __init__(self, gate: asyncio.Event, inner: MqttUplink) -> None:
        self.gate = gate
        self.inner = inner

    @property
    def send_quota(self) -> int:
        return self.inner.send_quota

    async def __aenter__(self) -> GatedUplink:
        await self.gate.wait()
        await self.inner.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.inner.__aexit__(*exc)  # type: ignore[arg-type]

    async def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        await self.inner.publish(topic, payload, retain=retain)

    async def subscribe(self, topic: str) -> None:
        await self.inner.subscribe(topic)

    def messages(self) -> AsyncIterator[tuple[str, bytes]]:
        return self.inner.messages()


async def resilient_subscriber(port: int, seqs: list[int], up: asyncio.Event) -> None:
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = 3600
    while True:
        try:
            async with aiomqtt.Client(
                "127.0.0.1",
                port,
                identifier="outage-sub",
                protocol=aiomqtt.ProtocolVersion.V5,
                clean_start=False,
                properties=props,
            ) as client:
                await client.subscribe(f"edgetwin/v1/lab/gw/numeric/{SPO2}", qos=1)
                up.set()
                async for message in client.messages:
                    assert isinstance(message.payload, bytes)
                    seqs.extend(s["seq"] for s in json.loads(message.payload)["samples"])
        except aiomqtt.MqttError:
            up.clear()
            await asyncio.sleep(0.05)


@pytest.mark.parametrize("persistence", [False, True], ids=["no-persistence", "persistence"])
async def test_broker_outage_loses_nothing(tmp_path: Path, persistence: bool) -> None:
    port = free_port()
    pty = PtyPort()
    cfg = parse_config(
        {
            "gateway": {"id": "gw", "site": "lab", "data_dir": str(tmp_path / "data")},
            "mqtt": {"port": port},
            "buffer": {"flush_interval_ms": 20},
            "patients": [{"id": "p-1"}],
            "devices": [{"id": "oxi", "kind": "masimo", "patient": "p-1", "port": pty.path}],
        },
        "<test>",
    )
    broker = LocalBroker(tmp_path / "broker", port=port, persistence=persistence)
    broker.start()
    seqs: list[int] = []
    up = asyncio.Event()
    sub = asyncio.create_task(resilient_subscriber(port, seqs, up))
    # Without broker persistence the subscriber's session dies with the broker; hold the
    # gateway's reconnect until the subscriber has subscribed again, so what is measured is
    # the gateway's guarantee and not the subscriber's race with it.
    gateway = Gateway(
        cfg, uplink_factory=lambda: GatedUplink(up, MqttUplink(cfg.mqtt, "gw", "lab"))
    )
    stop = asyncio.Event()
    run = asyncio.create_task(gateway.run(stop))
    try:
        await wait_until(up.is_set, what="subscriber")
        await wait_until(lambda: gateway.health["oxi"].state == "connected", what="driver")
        sim = MasimoSimulator(pty, seed=9, interval_s=0.003)
        feed = asyncio.create_task(sim.run())
        await wait_until(lambda: len(seqs) >= 50, what="data before the outage")
        broker.stop()  # a clean stop; the gateway only sees the connection drop
        assert gateway.uplink is not None
        uplink = gateway.uplink
        await wait_until(lambda: not uplink.metrics.connected, what="uplink noticed")
        assert gateway.buffer is not None
        buffer = gateway.buffer
        depth = 0

        async def backlog() -> int:
            return (await buffer.stats()).outbox_records

        while depth < 100:  # records pile up in the outbox while the broker is away
            depth = await backlog()
            await asyncio.sleep(0.02)
        broker.start()
        await wait_until(lambda: uplink.metrics.connected, deadline_s=40, what="uplink back")
        feed.cancel()
        await asyncio.gather(feed, return_exceptions=True)
        sent = len(sim.sent)
        await wait_until(lambda: len(set(seqs)) >= sent, deadline_s=40, what="all records")
        stop.set()
        await run
    finally:
        stop.set()
        sub.cancel()
        await asyncio.gather(sub, run, return_exceptions=True)
        broker.stop()
        pty.close()
    assert sorted(set(seqs)) == list(range(1, sent + 1))
    assert uplink.metrics.connects >= 2
