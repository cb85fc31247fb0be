"""Two lanes: alarms overtake any backlog, and live data is not starved while it drains."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiomqtt
from support import RecordingUplink, wait_until

from gateway.broker import LocalBroker
from gateway.buffer import DEEP_BACKLOG_ROWS, Buffer
from gateway.config import MqttConfig
from gateway.model import (
    Alarm,
    AlarmKind,
    AlarmPriority,
    Measurement,
    Quality,
    ReceiveTime,
    Record,
)
from gateway.sync import UplinkWorker
from gateway.uplink import MqttUplink

WINDOW = 16


def numeric(device: str, i: int) -> Measurement:
    return Measurement(device, f"{device}.150456", 150456, "%", 97.0, Quality(0), ReceiveTime(i, i))


async def fill_backlog(buf: Buffer, rows: int) -> None:
    # one row per commit and stream, as a long broker outage leaves them
    for start in range(0, rows, 500):
        batch: list[Record] = [numeric(f"bed{i % 500}", i) for i in range(start, start + 500)]
        await buf.commit(batch, lambda d: "p-1")


async def collect(
    broker: LocalBroker, got: list[tuple[str, dict[str, object]]], ready: asyncio.Event
) -> None:
    async with aiomqtt.Client(broker.host, broker.port, protocol=aiomqtt.ProtocolVersion.V5) as c:
        await c.subscribe("edgetwin/v1/#", qos=1)
        ready.set()
        async for message in c.messages:
            assert isinstance(message.payload, bytes)
            body = json.loads(message.payload)
            if "samples" in body:
                got.append((str(message.topic), body))


async def test_an_alarm_overtakes_a_deep_backlog_and_live_rows_are_not_starved(
    tmp_path: Path, broker: LocalBroker
) -> None:
    buf = await Buffer.open(tmp_path / "b.sqlite3", "gw", "lab")
    backlog = DEEP_BACKLOG_ROWS + 1000
    await fill_backlog(buf, backlog)
    got: list[tuple[str, dict[str, object]]] = []
    ready = asyncio.Event()
    listener = asyncio.create_task(collect(broker, got, ready))
    await wait_until(ready.is_set, what="subscriber")
    wake = asyncio.Event()
    cfg = MqttConfig(port=broker.port, inflight_window=WINDOW)
    started: list[tuple[str, bytes]] = []
    worker = UplinkWorker(
        buf,
        lambda: RecordingUplink(MqttUplink(cfg, "gw", "lab"), started),
        site="lab",
        gateway_id="gw",
        window=WINDOW,
        wake=wake,
    )
    pump = asyncio.create_task(worker.run())
    await wait_until(lambda: len(got) >= 200, what="backlog draining")
    # now a live record and an alarm arrive while the backlog drains
    await buf.commit([numeric("live", 10**9)], lambda d: "p-1")
    alarm = Alarm(
        "p-1.alarms",
        "a1",
        "p-1",
        AlarmPriority.HIGH,
        AlarmKind.PHYSIOLOGICAL,
        "SpO2 below low limit 85",
        1,
        ReceiveTime(1, 1),
    )
    await buf.commit([alarm], lambda d: "p-1")
    committed_at = len(started)
    wake.set()
    await wait_until(lambda: any("/alarm/" in t for t, _ in got), what="alarm upstream")
    await wait_until(lambda: any("/live." in t for t, _ in got), what="live row upstream")
    alarm_at = next(i for i, (t, _) in enumerate(started) if "/alarm/" in t)
    live_at = next(i for i, (t, _) in enumerate(got) if "/live." in t)
    pump.cancel()
    listener.cancel()
    await asyncio.gather(pump, listener, return_exceptions=True)
    await buf.close()
    # after the alarm was stored, at most one window of backlog publishes started before it
    assert alarm_at - committed_at <= WINDOW
    # the live row went out long before the backlog ended (it shares the window)
    assert live_at < backlog // 2
