"""The uplink's publish path (``PubackWaiter``): one future per QoS 1 publish, resolved by
its PUBACK, failed at once when the connection is lost and after ``puback_timeout_s`` when
the broker stops answering. All against a real mosquitto; a stuck broker is a real one
stopped with SIGSTOP."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
import time
from collections.abc import Iterator

import aiomqtt
import pytest
from support import wait_until

from gateway.broker import LocalBroker
from gateway.config import MqttConfig
from gateway.errors import UplinkError
from gateway.uplink import MqttUplink


async def test_canary_aiomqtt_internals_the_publish_path_relies_on() -> None:
    client = aiomqtt.Client("127.0.0.1", 1, protocol=aiomqtt.ProtocolVersion.V5)
    paho = client._client
    # paho.publish(topic, payload, qos, retain, properties) -> MQTTMessageInfo(rc, mid)
    code = type(paho).publish.__code__
    assert code.co_varnames[1:6] == ("topic", "payload", "qos", "retain", "properties")
    # on_publish(self, client, userdata, mid, reason_code, properties)
    assert paho.on_publish.__func__.__code__.co_argcount == 6
    assert isinstance(client._disconnected, asyncio.Future)


@contextlib.contextmanager
def frozen(broker: LocalBroker) -> Iterator[None]:
    """The broker process stopped (SIGSTOP): connected, reading nothing, answering nothing."""
    assert broker.proc is not None
    os.kill(broker.proc.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        if broker.proc is not None:
            os.kill(broker.proc.pid, signal.SIGCONT)


def config(broker: LocalBroker) -> MqttConfig:
    return MqttConfig(host=broker.host, port=broker.port, client_id="waiter-test")


async def test_every_publish_returns_its_own_puback_and_nothing_stays_waiting(
    broker: LocalBroker,
) -> None:
    received: list[bytes] = []
    async with aiomqtt.Client(broker.host, broker.port) as sub:
        await sub.subscribe("t/#", qos=1)
        async with MqttUplink(config(broker), "gw", "lab") as uplink:
            before = time.monotonic_ns()
            acks = await asyncio.gather(*(uplink.publish(f"t/{i}", b"%d" % i) for i in range(300)))
            after = time.monotonic_ns()
            assert all(a is not None and before < a < after for a in acks)
            assert uplink._acks.waiting == 0

        async def collect() -> None:
            async for message in sub.messages:
                assert isinstance(message.payload, bytes)
                received.append(message.payload)
                if len(received) == 300:
                    return

        await asyncio.wait_for(collect(), 20)
    assert sorted(received) == sorted(b"%d" % i for i in range(300))


async def test_a_broker_that_stops_answering_fails_the_publish_after_the_timeout(
    broker: LocalBroker,
) -> None:
    async with MqttUplink(config(broker), "gw", "lab", puback_timeout_s=0.4) as uplink:
        with frozen(broker):
            with pytest.raises(UplinkError, match=r"no PUBACK within 0\.4 s"):
                await asyncio.wait_for(uplink.publish("t/1", b"x"), 20)
            assert uplink._acks.waiting == 0
        # the broker answers again: the next publish on the connection is acknowledged
        assert await asyncio.wait_for(uplink.publish("t/2", b"y"), 20) is not None


async def test_a_lost_connection_fails_every_waiting_publish_at_once(
    broker: LocalBroker,
) -> None:
    # a timeout far beyond the test's guard: only the lost connection can end these waits
    async with contextlib.AsyncExitStack() as stack:
        uplink = await stack.enter_async_context(
            MqttUplink(config(broker), "gw", "lab", puback_timeout_s=3600)
        )
        with frozen(broker):
            waiting = [asyncio.create_task(uplink.publish(f"t/{i}", b"x")) for i in range(5)]
            await wait_until(lambda: uplink._acks.waiting == 5, what="five publishes waiting")
            broker.kill()  # SIGKILL ends even a stopped process; its sockets close
        results = await asyncio.wait_for(asyncio.gather(*waiting, return_exceptions=True), 30)
        assert all(isinstance(r, UplinkError) for r in results), results
        assert all("connection lost before PUBACK" in str(r) for r in results)
        assert uplink._acks.waiting == 0
        with pytest.raises(UplinkError, match="lost connection"):
            await uplink.publish("t/late", b"x")
        stack.pop_all()  # the connection is gone: nothing left to close cleanly
        with contextlib.suppress(Exception):
            await uplink.__aexit__(None, None, None)


@pytest.mark.parametrize("body", [b'{"v":1}', b"\xa1av\x01", b"\x28\xb5\x2f\xfd\x00"])
def test_publish_properties_packed_once_are_the_bytes_paho_would_pack(body: bytes) -> None:
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    from gateway.payload import content_type
    from gateway.uplink import _publish_properties

    kind = content_type(body)
    fresh = Properties(PacketTypes.PUBLISH)
    fresh.ContentType, fresh.PayloadFormatIndicator = kind
    assert _publish_properties(kind).pack() == fresh.pack()
    assert _publish_properties(kind) is _publish_properties(kind)


async def test_a_receiver_cancelled_as_the_connection_drops_leaves_no_unretrieved_error(
    broker: LocalBroker,
) -> None:
    """A lost connection ends the publishes (the pump) and the subscription reader in the
    same loop turn; the worker then cancels the reader. The reader's own read of the message
    stream has failed by then, and that failure must still count as retrieved (asyncio
    otherwise logs "Task exception was never retrieved", once seen in a 30-minute soak)."""
    loop = asyncio.get_running_loop()
    unretrieved: list[str] = []
    loop.set_exception_handler(lambda _loop, context: unretrieved.append(context["message"]))
    try:
        uplink = MqttUplink(config(broker), "gw", "lab")
        await uplink.__aenter__()
        await uplink.subscribe("desired/#")

        async def read() -> None:
            async for _ in uplink.messages():
                pass

        readers = [asyncio.create_task(read())]
        await asyncio.sleep(0.2)  # the reader waits for its next message
        assert uplink._client is not None
        # cancel the reader in the very turn the connection is found lost, as the worker does
        uplink._client._disconnected.add_done_callback(lambda _f: readers[0].cancel())
        broker.kill()
        with contextlib.suppress(asyncio.CancelledError, UplinkError):
            await asyncio.wait_for(readers[0], 30)
        with contextlib.suppress(Exception):
            await uplink.__aexit__(None, None, None)
        readers.clear()
        gc.collect()
        await asyncio.sleep(0)
    finally:
        loop.set_exception_handler(None)
    assert not [m for m in unretrieved if "never retrieved" in m], unretrieved
