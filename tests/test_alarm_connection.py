"""Alarms travel on a second MQTT connection of their own, and fall back to the main one."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import aiomqtt
from support import RecordingUplink, Subscriber, alarm_ids, spo2_alarm, wait_until

from gateway.broker import LocalBroker
from gateway.buffer import Buffer
from gateway.config import MqttConfig
from gateway.sync import UplinkWorker
from gateway.uplink import MqttUplink
from gateway.urgent_link import UrgentLink


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def run_worker(
    tmp_path: Path,
    broker: LocalBroker,
    urgent_cfg: MqttConfig,
    alarms: int,
    after_up: object,
) -> tuple[list[tuple[str, bytes]], UrgentLink, Buffer]:
    buf = await Buffer.open(tmp_path / "b.sqlite3", "gw", "lab")
    on_main: list[tuple[str, bytes]] = []
    cfg = MqttConfig(port=broker.port)
    wake = asyncio.Event()
    urgent = UrgentLink(
        buf,
        lambda: MqttUplink(urgent_cfg, "gw", "lab", lane="urgent"),
        site="lab",
        gateway_id="gw",
        on_failure=wake.set,
    )
    worker = UplinkWorker(
        buf,
        lambda: RecordingUplink(MqttUplink(cfg, "gw", "lab"), on_main),
        site="lab",
        gateway_id="gw",
        window=8,
        wake=wake,
        urgent=urgent,
    )
    buf.on_urgent = worker.send_now
    run = asyncio.create_task(worker.run())
    try:
        await wait_until(worker.idle.is_set, what="main connection idle")
        assert callable(after_up)
        await after_up(urgent, buf)
        for i in range(alarms):
            await buf.commit_urgent([spo2_alarm(i)], lambda _: "p-1")
        await wait_until(lambda: worker.idle.is_set() and not urgent.inflight, what="all sent")
    finally:
        worker.stop()
        await run
        await buf.close()
    return on_main, urgent, buf


async def test_alarms_travel_on_their_own_connection_once_each(
    tmp_path: Path, broker: LocalBroker, subscriber: Subscriber
) -> None:
    async def up(urgent: UrgentLink, _buf: Buffer) -> None:
        await wait_until(lambda: urgent.up, what="alarm connection up")

    on_main, urgent, _ = await run_worker(tmp_path, broker, MqttConfig(port=broker.port), 5, up)
    await wait_until(lambda: len(subscriber.samples(".alarms")) >= 5, what="5 alarms")
    assert [s["alarm_id"] for s in subscriber.samples(".alarms")] == [f"a{i}" for i in range(5)]
    assert alarm_ids(on_main) == []  # none of them on the main connection
    assert urgent.acked_rows == urgent.published_rows == 5


async def test_without_the_alarm_connection_alarms_take_the_main_one(
    tmp_path: Path, broker: LocalBroker, subscriber: Subscriber
) -> None:
    async def refused(urgent: UrgentLink, _buf: Buffer) -> None:
        await wait_until(lambda: urgent.failures >= 1, what="alarm connection refused")

    nowhere = MqttConfig(port=free_port())  # nothing listens there: a real refusal
    on_main, urgent, _ = await run_worker(tmp_path, broker, nowhere, 5, refused)
    await wait_until(lambda: len(subscriber.samples(".alarms")) >= 5, what="5 alarms")
    assert sorted(alarm_ids(on_main)) == [f"a{i}" for i in range(5)]
    assert urgent.published_rows == 0


async def test_a_taken_over_alarm_connection_loses_no_alarm(
    tmp_path: Path, broker: LocalBroker, subscriber: Subscriber
) -> None:
    cfg = MqttConfig(port=broker.port, client_id="gw-client")

    async def take_over(urgent: UrgentLink, buf: Buffer) -> None:
        await wait_until(lambda: urgent.up, what="alarm connection up")
        # another client with the alarm connection's id: the broker drops ours
        async with aiomqtt.Client(
            broker.host, broker.port, identifier="gw-client-urgent", clean_session=True
        ):
            await wait_until(lambda: urgent.failures >= 1, what="alarm connection dropped")
            for i in range(100, 110):  # while it is down
                await buf.commit_urgent([spo2_alarm(i)], lambda _: "p-1")
        await wait_until(lambda: urgent.connects >= 2, what="alarm connection back")

    _, urgent, _ = await run_worker(tmp_path, broker, cfg, 20, take_over)
    expected = {f"a{i}" for i in [*range(20), *range(100, 110)]}
    await wait_until(lambda: len(subscriber.samples(".alarms")) >= 30, what="30 alarms")
    assert {s["alarm_id"] for s in subscriber.samples(".alarms")} == expected
    assert urgent.acked_rows >= 20  # the ones after its return went on it again
