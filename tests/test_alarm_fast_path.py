"""Alarms reach the broker straight from their commit, and the write gate lets them first."""

from __future__ import annotations

import asyncio
import sys
import threading
from pathlib import Path

from support import RecordingUplink, Subscriber, alarm_ids, spo2_alarm, wait_until

from gateway.broker import LocalBroker
from gateway.buffer import Buffer, OutboxRow
from gateway.config import MqttConfig, parse_config
from gateway.runtime import Gateway
from gateway.sync import UplinkWorker
from gateway.uplink import MqttUplink
from gateway.write_gate import WriteGate


async def test_alarms_go_out_while_the_outbox_read_is_stuck_and_only_once(
    tmp_path: Path, broker: LocalBroker, subscriber: Subscriber
) -> None:
    buf = await Buffer.open(tmp_path / "b.sqlite3", "gw", "lab")
    publishes: list[tuple[str, bytes]] = []
    unsent = buf.unsent
    reads_open = asyncio.Event()
    reads_open.set()
    stuck = asyncio.Event()

    async def slow_unsent(*args: object, **kwargs: object) -> list[OutboxRow]:
        if not reads_open.is_set():
            stuck.set()
            await reads_open.wait()  # the outbox read hangs (a test hook on the real buffer)
        return await unsent(*args, **kwargs)  # type: ignore[arg-type]

    buf.unsent = slow_unsent  # type: ignore[method-assign]
    cfg = MqttConfig(port=broker.port)
    wake = asyncio.Event()
    worker = UplinkWorker(
        buf,
        lambda: RecordingUplink(MqttUplink(cfg, "gw", "lab"), publishes),
        site="lab",
        gateway_id="gw",
        window=8,
        wake=wake,
    )
    acked: list[tuple[OutboxRow, int]] = []
    worker.on_acked = lambda row, ns: acked.append((row, ns))
    buf.on_urgent = worker.send_now
    pump = asyncio.create_task(worker.run())
    try:
        await wait_until(worker.idle.is_set, what="uplink idle")
        reads_open.clear()
        wake.set()
        await wait_until(stuck.is_set, what="the pump in a stuck outbox read")
        for i in range(5):
            await buf.commit_urgent([spo2_alarm(i)], lambda _: "p-1")
        await wait_until(lambda: len(subscriber.samples(".alarms")) >= 5, what="5 alarms")
        await wait_until(lambda: len(acked) == 5, what="5 PUBACKs")
        assert not reads_open.is_set()  # all of that while the read was stuck
        reads_open.set()  # the read now returns the alarm rows: already acknowledged
        await wait_until(worker.idle.is_set, what="uplink idle again")
    finally:
        worker.stop()
        await pump
        await buf.close()
    assert alarm_ids(publishes) == [f"a{i}" for i in range(5)]  # each once, in order
    assert [s["alarm_id"] for s in subscriber.samples(".alarms")] == alarm_ids(publishes)
    assert all(ns > 0 for _, ns in acked)


def test_a_waiting_alarm_goes_before_a_waiting_main_lane_writer() -> None:
    gate = WriteGate()
    order: list[str] = []
    release = threading.Event()

    def holder() -> None:
        with gate.hold():
            release.wait(10)

    def writer(name: str, urgent: bool) -> None:
        with gate.hold(urgent=urgent):
            order.append(name)

    first = threading.Thread(target=holder)
    first.start()
    main_lane = threading.Thread(target=writer, args=("main", False))
    main_lane.start()
    _poll(lambda: gate.waits == 1)
    urgent_lane = threading.Thread(target=writer, args=("urgent", True))
    urgent_lane.start()
    _poll(lambda: gate.waits == 2)
    release.set()
    for t in (first, main_lane, urgent_lane):
        t.join(10)
    assert order == ["urgent", "main"]


def test_a_holder_steps_aside_for_a_waiting_alarm_and_holds_again() -> None:
    gate = WriteGate()
    order: list[str] = []
    alarm_waits = threading.Event()

    def holder() -> None:
        with gate.hold():
            order.append("main starts")
            alarm_waits.wait(10)
            _poll(lambda: gate.urgent_waiting)
            gate.yield_to_urgent()
            order.append("main again")

    def alarm() -> None:
        alarm_waits.set()
        with gate.hold(urgent=True):
            order.append("alarm")

    main_lane = threading.Thread(target=holder)
    main_lane.start()
    _poll(lambda: order == ["main starts"])
    urgent_lane = threading.Thread(target=alarm)
    urgent_lane.start()
    for t in (main_lane, urgent_lane):
        t.join(10)
    assert order == ["main starts", "alarm", "main again"]
    assert gate.yields == 1 and not gate.urgent_waiting


def _poll(condition: object, deadline_s: float = 10.0) -> None:
    import time

    end = time.monotonic() + deadline_s
    assert callable(condition)
    while not condition():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.001)


async def test_the_gateway_shortens_the_gil_switch_interval_while_it_runs(
    tmp_path: Path,
) -> None:
    before = sys.getswitchinterval()
    cfg = parse_config(
        {
            "gateway": {"id": "gw", "data_dir": str(tmp_path), "switch_interval_us": 250},
            "mqtt": {"enabled": False},
            "patients": [{"id": "p-1"}],
            "devices": [{"id": "sim", "kind": "synthetic", "patient": "p-1"}],
        },
        "<test>",
    )
    gateway = Gateway(cfg)
    stop = asyncio.Event()
    run = asyncio.create_task(gateway.run(stop))
    await wait_until(gateway.started.is_set, what="gateway started")
    during = sys.getswitchinterval()
    stop.set()
    await run
    assert abs(during - 250e-6) < 1e-9
    assert sys.getswitchinterval() == before
