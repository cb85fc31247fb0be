"""A serial device session: open the port, feed a sans-IO decoder, yield typed records.

Each serial protocol supplies a :class:`SerialProtocol` (port settings, a decoder factory,
and a function from decoded items to records). The session handles what is common: opening
the port through pyserial-asyncio-fast, silence supervision, counting parse errors, and
dropping (and counting) a half-received frame when the port goes away.

:class:`SerialLink` is the port itself, shared with drivers that hold a dialogue with their
device (IntelliVue). It hands over every received chunk, in order, before it reports that
the port closed, so bytes that arrived just before an unplug are never lost; reading pauses
while too much is queued, so memory stays bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import termios
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, replace
from types import TracebackType
from typing import Any, Generic, Protocol, Self, TypeVar

import serial
import serial_asyncio_fast

from drivers.base import DeviceSpec, DriverCounters
from gateway.errors import DeviceNotFoundError, DeviceTimeoutError, ParseError
from gateway.model import DeviceEvent, EventKind, ReceiveTime, Record, stream_id_for

log = logging.getLogger(__name__)

Item = TypeVar("Item")
Item_co = TypeVar("Item_co", covariant=True)


@dataclass(frozen=True, slots=True)
class PortSettings:
    baudrate: int = 9600
    bytesize: int = serial.EIGHTBITS
    parity: str = serial.PARITY_NONE
    stopbits: float = serial.STOPBITS_ONE
    rtscts: bool = False


class Decoder(Protocol[Item_co]):
    def feed(self, data: bytes) -> Sequence[Item_co | ParseError]: ...

    @property
    def pending(self) -> int: ...


@dataclass(frozen=True, slots=True)
class SerialProtocol(Generic[Item]):
    name: str
    settings: PortSettings
    new_decoder: Callable[[], Decoder[Item]]
    to_records: Callable[[Item, str, ReceiveTime], Sequence[Record]]
    #: Longest silence before the link counts as lost, for this protocol's output rate.
    silence_timeout_s: float = 5.0
    #: Requests to send once the port is open (e.g. "start sending displayed values").
    opening: Callable[[DeviceSpec], Sequence[bytes]] | None = None
    #: Requests to send before the port is closed (e.g. "stop waveforms").
    closing: Callable[[DeviceSpec], Sequence[bytes]] | None = None


def is_pseudo_terminal(path: str) -> bool:
    """True for a Unix98 pty slave (major numbers 136-143), e.g. a simulator's port."""
    try:
        return 136 <= os.major(os.stat(path).st_rdev) <= 143
    except OSError:
        return False


def port_of(spec: DeviceSpec) -> str:
    port = spec.options.get("port")
    if not isinstance(port, str) or not port:
        raise DeviceNotFoundError(f"device {spec.id}: no serial port configured")
    return port


class _LinkProtocol(asyncio.Protocol):
    """Queues received chunks and remembers why the port closed."""

    def __init__(self, high_water: int) -> None:
        self.transport: asyncio.Transport | None = None
        self.chunks: deque[bytes] = deque()
        self.queued = 0
        self.high_water = high_water
        self.paused = False
        self.closed = False
        self.error: BaseException | None = None
        self.wake = asyncio.Event()
        self.gone = asyncio.Event()
        self.can_write = asyncio.Event()
        self.can_write.set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.chunks.append(data)
        self.queued += len(data)
        self.wake.set()
        if self.queued > self.high_water and not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.error = exc
        self.wake.set()
        self.gone.set()
        self.can_write.set()

    def pause_writing(self) -> None:
        self.can_write.clear()

    def resume_writing(self) -> None:
        self.can_write.set()


class SerialLink:
    """An open serial port: chunks in the order they came, then why the port closed."""

    HIGH_WATER = 256 * 1024
    WRITE_TIMEOUT_S = 2.0
    CLOSE_TIMEOUT_S = 2.0

    def __init__(self, device_id: str, port: str, protocol: _LinkProtocol) -> None:
        self.device_id = device_id
        self.port = port
        self._p = protocol

    @classmethod
    async def open(cls, device_id: str, port: str, settings: PortSettings) -> SerialLink:
        protocol = _LinkProtocol(cls.HIGH_WATER)
        try:
            try:
                transport = await cls._connect(protocol, port, settings)
            except termios.error:
                if settings.parity == serial.PARITY_NONE or not is_pseudo_terminal(port):
                    raise
                # A pty carries bytes, not bits: recent kernels refuse parity on it.
                log.info(
                    "device %s: %s is a pseudo-terminal; opened without parity", device_id, port
                )
                transport = await cls._connect(
                    protocol, port, replace(settings, parity=serial.PARITY_NONE)
                )
        except (OSError, serial.SerialException, termios.error) as exc:
            raise DeviceNotFoundError(
                f"device {device_id}: cannot open serial port {port}: {exc}"
            ) from exc
        if protocol.transport is None:  # connection_made() runs on a later loop turn
            protocol.transport = transport
        return cls(device_id, port, protocol)

    @staticmethod
    async def _connect(
        protocol: _LinkProtocol, port: str, settings: PortSettings
    ) -> asyncio.Transport:
        transport, _ = await serial_asyncio_fast.create_serial_connection(
            asyncio.get_running_loop(),
            lambda: protocol,
            port,
            baudrate=settings.baudrate,
            bytesize=settings.bytesize,
            parity=settings.parity,
            stopbits=settings.stopbits,
            rtscts=settings.rtscts,
        )
        return transport

    @property
    def closed(self) -> bool:
        return self._p.closed

    async def read(self, timeout_s: float) -> bytes | None:
        """Everything received so far, waiting up to ``timeout_s``; None if nothing came.

        Raises :class:`DeviceNotFoundError` once the port has closed and every chunk that
        arrived before that has been handed out.
        """
        p = self._p
        if not p.chunks:
            if p.closed:
                raise self._gone_error()
            p.wake.clear()
            try:
                async with asyncio.timeout(max(timeout_s, 0.0)):
                    await p.wake.wait()
            except TimeoutError:
                return None
            if not p.chunks:
                raise self._gone_error()
        data = b"".join(p.chunks)
        p.chunks.clear()
        p.queued = 0
        if p.paused and p.transport is not None and not p.closed:
            p.paused = False
            p.transport.resume_reading()
        return data

    def _gone_error(self) -> DeviceNotFoundError:
        if self._p.error is None:
            return DeviceNotFoundError(f"device {self.device_id}: serial port {self.port} closed")
        return DeviceNotFoundError(
            f"device {self.device_id}: serial port {self.port} failed: {self._p.error}"
        )

    async def write(self, data: bytes) -> None:
        """Queue ``data`` for the port; wait (bounded) while the port pushes back."""
        p = self._p
        if p.closed or p.transport is None or p.transport.is_closing():
            raise DeviceNotFoundError(
                f"device {self.device_id}: cannot write to serial port {self.port}: closed"
            )
        p.transport.write(data)
        if not p.can_write.is_set():
            try:
                async with asyncio.timeout(self.WRITE_TIMEOUT_S):
                    await p.can_write.wait()
            except TimeoutError:
                raise DeviceNotFoundError(
                    f"device {self.device_id}: cannot write to serial port {self.port}: "
                    f"blocked for {self.WRITE_TIMEOUT_S:g} s"
                ) from None

    async def close(self) -> None:
        p = self._p
        if p.transport is not None and not p.transport.is_closing():
            p.transport.close()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.CLOSE_TIMEOUT_S):
                await p.gone.wait()


class SerialSession(Generic[Item]):
    """One serial device. ``async with`` opens the port; ``records()`` yields what it sends."""

    def __init__(
        self, spec: DeviceSpec, counters: DriverCounters, protocol: SerialProtocol[Item]
    ) -> None:
        self.spec = spec
        self.counters = counters
        self.protocol = protocol
        self.port = port_of(spec)
        timeout = spec.options.get("silence_timeout_s", protocol.silence_timeout_s)
        self.silence_timeout_s = float(timeout) if isinstance(timeout, int | float) else 5.0
        self._link: SerialLink | None = None
        self._decoder: Decoder[Item] = protocol.new_decoder()

    async def __aenter__(self) -> Self:
        self._link = await SerialLink.open(self.spec.id, self.port, self.protocol.settings)
        if self.protocol.opening is not None:
            try:
                await self._send(self.protocol.opening(self.spec))
            except BaseException:
                await self._link.close()
                self._link = None
                raise
        return self

    async def _send(self, frames: Sequence[bytes]) -> None:
        link = self._link
        if link is None:
            return
        for frame in frames:
            await link.write(frame)
            self.counters.count("frames_out")

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        drop_partial_frame(self.counters, self.spec.id, self.protocol.name, self._decoder.pending)
        self._decoder = self.protocol.new_decoder()
        if self.protocol.closing is not None and exc_type is not DeviceNotFoundError:
            with contextlib.suppress(DeviceNotFoundError):
                await self._send(self.protocol.closing(self.spec))
        if self._link is not None:
            await self._link.close()
        self._link = None

    async def records(self) -> AsyncIterator[Record]:
        link = self._link
        if link is None:
            raise RuntimeError("records() called outside 'async with'")
        events = stream_id_for(self.spec.id, "events")
        yield DeviceEvent(self.spec.id, events, EventKind.CONNECTED, ReceiveTime.now(), self.port)
        while True:
            chunk = await link.read(self.silence_timeout_s)
            if chunk is None:
                raise DeviceTimeoutError(
                    f"device {self.spec.id}: no data on {self.port} for "
                    f"{self.silence_timeout_s:g} s"
                )
            received = ReceiveTime.now()
            self.counters.count("bytes_in", len(chunk))
            for item in self._decoder.feed(chunk):
                if isinstance(item, ParseError):
                    count_parse_error(self.counters, self.spec.id, item)
                    continue
                self.counters.count("frames")
                for record in self.protocol.to_records(item, self.spec.id, received):
                    yield record


def count_parse_error(counters: DriverCounters, device_id: str, error: ParseError) -> None:
    counters.count("parse_errors")
    counters.last_error = error.reason
    log.warning("device %s: %s", device_id, error)


def drop_partial_frame(counters: DriverCounters, device_id: str, name: str, pending: int) -> None:
    """Count (and log) a half-received frame that is being thrown away."""
    if pending:
        counters.count("partial_frames_dropped")
        log.warning(
            "device %s: dropped %d bytes of a half-received %s frame at disconnect",
            device_id,
            pending,
            name,
        )


def option_float(spec: DeviceSpec, name: str, default: float, lo: float, hi: float) -> float:
    """A numeric option in ``[lo, hi]`` (raises ``ValueError`` naming the option)."""
    value: Any = spec.options.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
        raise ValueError(f"{name}: a number from {lo:g} to {hi:g}, got {value!r}")
    return float(value)
