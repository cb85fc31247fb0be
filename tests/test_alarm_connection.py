"""Alarms travel on a second MQTT connection of their own, and fall back to the main one."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

import aiomqtt
from support import RecordingUplink, Subscriber, alarm_ids, spo2_alarm, wait_until

from gateway.broker import LocalBroker
from gateway.buffer import Buffer
from gateway.config import MqttConfig
from gateway.sync import UplinkWorker
from gateway.uplink import MqttUplink, Uplink
from gateway.urgent_link import UrgentLink


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def both_connections(
    buf: Buffer,
    broker: LocalBroker,
    urgent_connect: Callable[[], Uplink],
    on_main: list[tuple[str, bytes]],
) -> tuple[UrgentLink, UplinkWorker]:
    """The main connection (its publishes noted in ``on_main``) with an alarm connection."""
    wake = asyncio.Event()
    urgent = UrgentLink(buf, urgent_connect, site="lab", gateway_id="gw", on_failure=wake.set)
    cfg = MqttConfig(port=broker.port)
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
    return urgent, worker


async def run_worker(
    tmp_path: Path,
    broker: LocalBroker,
    urgent_cfg: MqttConfig,
    alarms: int,
    after_up: object,
) -> tuple[list[tuple[str, bytes]], UrgentLink, Buffer]:
    buf = await Buffer.open(tmp_path / "b.sqlite3", "gw", "lab")
    on_main: list[tuple[str, bytes]] = []
    urgent, worker = both_connections(
        buf, broker, lambda: MqttUplink(urgent_cfg, "gw", "lab", lane="urgent"), on_main
    )
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


class SignalOnPuback(RecordingUplink):
    """Our real MqttUplink, setting a thread event once a publish's PUBACK was read (a test
    hook: the alarm connection runs on a thread of its own)."""

    def __init__(self, inner: MqttUplink, acked: threading.Event) -> None:
        super().__init__(inner, [])
        self.acked = acked

    async def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> int | None:
        acked_ns = await super().publish(topic, payload, retain=retain)
        self.acked.set()
        return acked_ns


async def test_an_alarm_is_acknowledged_while_the_gateway_loop_is_busy(
    tmp_path: Path, broker: LocalBroker, subscriber: Subscriber
) -> None:
    buf = await Buffer.open(tmp_path / "b.sqlite3", "gw", "lab")
    puback = threading.Event()
    cfg = MqttConfig(port=broker.port)
    on_main: list[tuple[str, bytes]] = []
    urgent, worker = both_connections(
        buf,
        broker,
        lambda: SignalOnPuback(MqttUplink(cfg, "gw", "lab", lane="urgent"), puback),
        on_main,
    )
    acked: list[int] = []
    worker.on_acked = lambda _row, ns: acked.append(ns)
    run = asyncio.create_task(worker.run())
    try:
        await wait_until(lambda: worker.idle.is_set() and urgent.up, what="both connections up")
        commit = asyncio.create_task(buf.commit_urgent([spo2_alarm(7)], lambda _: "p-1"))
        await asyncio.sleep(0)  # the commit is handed to the urgent lane's thread
        # the gateway's event loop is now stuck (as in a long batch step): the alarm must
        # still be committed, published and acknowledged by the broker meanwhile
        seen = puback.wait(10)
        stuck_until = time.monotonic_ns()
        assert seen, "no PUBACK while the gateway's loop was busy"
        await commit
        await wait_until(lambda: len(acked) == 1, what="the acknowledgement recorded")
        assert acked[0] < stuck_until  # read on the alarm connection's thread
        await wait_until(lambda: not urgent.inflight, what="the row acknowledged in the buffer")
        await wait_until(lambda: len(subscriber.samples(".alarms")) == 1, what="delivered")
        worker.wake.set()  # the main connection reads the outbox again: nothing left for it
        await wait_until(worker.idle.is_set, what="main connection idle")
    finally:
        worker.stop()
        await run
        await buf.close()
    assert urgent.acked_rows == urgent.published_rows == 1
    assert alarm_ids(on_main) == []
