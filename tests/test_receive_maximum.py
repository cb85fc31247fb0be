"""The broker's MQTT 5 Receive Maximum caps the publishes we leave unacknowledged.

paho ignores the value a broker announces in CONNACK; MQTT 5 forbids exceeding it
[MQTT-3.3.4-7] and lets the broker disconnect a client that does (0x93). mosquitto announces its
``max_inflight_messages`` (it does not enforce it for QoS 1), so these tests count what the
client has in flight instead of waiting for a disconnect.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path

import aiomqtt
import pytest
from support import wait_until

from gateway.backoff import Backoff
from gateway.broker import LocalBroker
from gateway.buffer import Buffer
from gateway.config import MqttConfig
from gateway.model import Measurement, Quality, ReceiveTime, Record
from gateway.sync import UplinkWorker
from gateway.uplink import MqttUplink


@pytest.fixture
def strict_broker(tmp_path: Path) -> Iterator[LocalBroker]:
    """A real mosquitto that announces Receive Maximum 5."""
    with LocalBroker(tmp_path / "broker", max_inflight=5) as b:
        yield b


async def test_canary_aiomqtt_internals_used_for_receive_maximum() -> None:
    client = aiomqtt.Client("127.0.0.1", 1, protocol=aiomqtt.ProtocolVersion.V5)
    paho = client._client
    # on_connect(self, client, userdata, flags, reason_code, properties)
    assert paho.on_connect.__func__.__code__.co_argcount == 6
    assert isinstance(paho._max_inflight_messages, int)
    assert isinstance(paho._inflight_messages, int)
    assert callable(paho._send_publish)  # what peak_in_flight counts (a test-only hook)


async def peak_in_flight(uplink: MqttUplink, publishes: int) -> int:
    """Publish ``publishes`` messages at once; the most paho had unacknowledged."""
    assert uplink._client is not None
    paho = uplink._client._client
    peak = 0
    original = paho._send_publish

    def counting(*args: object, **kwargs: object) -> object:
        nonlocal peak
        result = original(*args, **kwargs)
        peak = max(peak, paho._inflight_messages)
        return result

    paho._send_publish = counting
    try:
        await asyncio.gather(*(uplink.publish(f"t/{i}", b"x" * 100) for i in range(publishes)))
    finally:
        paho._send_publish = original
    return peak


async def test_the_window_is_lowered_to_the_brokers_receive_maximum(
    strict_broker: LocalBroker, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = MqttConfig(port=strict_broker.port, inflight_window=32, client_id="rm-strict")
    with caplog.at_level(logging.INFO, logger="gateway.uplink"):
        async with MqttUplink(cfg, "gw", "lab") as uplink:
            assert uplink.send_quota == 5
            assert await peak_in_flight(uplink, 40) == 5  # every one acknowledged, 5 at a time
    said = [r.getMessage() for r in caplog.records if "Receive Maximum" in r.getMessage()]
    assert said == [
        "uplink: the broker accepts 5 unacknowledged publishes (Receive Maximum); "
        "sending at most that many at once instead of mqtt.inflight_window = 32"
    ]
    # a reconnect to the same broker does not say it again
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="gateway.uplink"):
        async with MqttUplink(cfg, "gw", "lab") as uplink:
            assert uplink.send_quota == 5
    assert not [r for r in caplog.records if "Receive Maximum" in r.getMessage()]


async def test_a_broker_that_accepts_more_leaves_our_window(broker: LocalBroker) -> None:
    cfg = MqttConfig(port=broker.port, inflight_window=16)
    async with MqttUplink(cfg, "gw", "lab") as uplink:
        assert uplink.send_quota == 16
        assert await peak_in_flight(uplink, 40) == 16


async def test_the_worker_drains_a_backlog_within_the_brokers_receive_maximum(
    tmp_path: Path, strict_broker: LocalBroker
) -> None:
    buf = await Buffer.open(tmp_path / "b.sqlite3", "gw", "lab")
    records: list[Record] = [
        Measurement(
            f"bed{i % 50}", f"bed{i % 50}.150456", 150456, "%", 97.0, Quality(0), ReceiveTime(i, i)
        )
        for i in range(300)
    ]
    await buf.commit(records, lambda d: "p-1")
    rows = (await buf.stats()).outbox_rows
    assert rows == 50
    cfg = MqttConfig(port=strict_broker.port, inflight_window=32, client_id="rm-worker")
    worker = UplinkWorker(
        buf,
        lambda: MqttUplink(cfg, "gw", "lab"),
        site="lab",
        gateway_id="gw",
        window=32,
        wake=asyncio.Event(),
        backoff=Backoff(0.05, 0.2),
    )
    task = asyncio.create_task(worker.run())
    try:
        await wait_until(lambda: worker.metrics.acked_rows >= rows, what="backlog acknowledged")
    finally:
        worker.stop()
        await asyncio.wait_for(task, 10)
    assert worker.metrics.window == 5
    assert worker.metrics.acked_records == 300
    assert (await buf.stats()).outbox_rows == 0
    await buf.close()
