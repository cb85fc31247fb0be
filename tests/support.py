"""Fixtures that start real parts (mosquitto, pseudo-terminals, SQLite files) and stop them."""

from __future__ import annotations

import asyncio
import contextlib
import json
import select
import socket
import ssl
import struct
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, Self

import aiomqtt
import pytest

from gateway import envelope
from gateway.broker import LocalBroker
from gateway.model import Alarm, AlarmKind, AlarmPriority, ReceiveTime
from gateway.uplink import MqttUplink
from hil.pty_port import PtyPort

#: Real recorded physiological data (PhysioNet), in ../shared/data beside the repository.
#: CI provides it; a test that needs it fails (file not found) rather than skipping.
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[LocalBroker]:
    """A real mosquitto on a free loopback port (fails, never skips, if it is missing)."""
    with LocalBroker(tmp_path / "broker") as b:
        yield b


@pytest.fixture
def pty_port() -> Iterator[PtyPort]:
    port = PtyPort()
    yield port
    port.close()


class Subscriber:
    """Collects decoded envelopes from a real broker."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, dict[str, Any]]] = []

    def samples(self, stream_suffix: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for topic, body in self.messages:
            if topic.endswith(stream_suffix):
                out.extend(body["samples"])
        return out


@pytest.fixture
async def subscriber(broker: LocalBroker) -> AsyncIterator[Subscriber]:
    sub = Subscriber()
    ready = asyncio.Event()

    async def listen() -> None:
        async with aiomqtt.Client(
            broker.host, broker.port, protocol=aiomqtt.ProtocolVersion.V5, identifier="test-sub"
        ) as client:
            await client.subscribe("edgetwin/v1/#", qos=1)
            ready.set()
            async for message in client.messages:
                payload = message.payload
                assert isinstance(payload, bytes)
                body = json.loads(payload)
                if "samples" in body:
                    sub.messages.append((str(message.topic), body))

    task = asyncio.create_task(listen())
    await wait_until(ready.is_set, what="subscriber connected")
    yield sub
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def wait_until(
    condition: Callable[[], bool], *, deadline_s: float = 20.0, what: str = "condition"
) -> None:
    """Poll ``condition`` until it is true; fail with ``what`` after the deadline."""
    end = time.monotonic() + deadline_s
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {deadline_s} s waiting for {what}")
        await asyncio.sleep(0.01)


class RecordingUplink:
    """Our real MqttUplink, noting each publish (topic, payload) as it starts (a test hook)."""

    def __init__(self, inner: MqttUplink, published: list[tuple[str, bytes]]) -> None:
        self.inner = inner
        self.published = published

    @property
    def send_quota(self) -> int:
        return self.inner.send_quota

    async def __aenter__(self) -> Self:
        await self.inner.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.inner.__aexit__(*exc)  # type: ignore[arg-type]

    async def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> int | None:
        self.published.append((topic, payload))
        return await self.inner.publish(topic, payload, retain=retain)

    async def subscribe(self, topic: str) -> None:
        await self.inner.subscribe(topic)

    def messages(self) -> AsyncIterator[tuple[str, bytes]]:
        return self.inner.messages()


def alarm_ids(published: list[tuple[str, bytes]]) -> list[str]:
    """The alarm ids in recorded publishes, in publishing order."""
    return [
        str(sample["alarm_id"])
        for topic, payload in published
        if "/alarm/" in topic
        for sample in envelope.decode(payload)["samples"]
    ]


def spo2_alarm(i: int) -> Alarm:
    """A high-priority alarm ``a{i}`` of patient p-1, raised now."""
    return Alarm(
        "p-1.alarms",
        f"a{i}",
        "p-1",
        AlarmPriority.HIGH,
        AlarmKind.PHYSIOLOGICAL,
        "SpO2 low",
        1,
        ReceiveTime.now(),
    )


class ClosingListener:
    """A TCP listener that resets every connection once the client's CONNECT arrived,
    before CONNACK: a named fake (no real broker does this on demand). With ``tls``, the
    TLS handshake completes first and no TLS alert is sent, as when a broker's reset
    overtakes the alert that refused a client certificate."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self.port: int = self._listener.getsockname()[1]
        self.tls = tls
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> ClosingListener:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._listener.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            self.accepted += 1
            conn.settimeout(5)
            with contextlib.suppress(OSError):
                if self.tls is not None:
                    conn = self.tls.wrap_socket(conn, server_side=True)  # the handshake
                select.select([conn], [], [], 5)  # until the client's CONNECT is here
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()  # unread data and linger 0: a reset
