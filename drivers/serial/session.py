"""A serial device session: open the port, feed a sans-IO decoder, yield typed records.

Each serial protocol supplies a :class:`SerialProtocol` (port settings, a decoder factory,
and a function from decoded items to records). The session handles what is common: opening
the port through pyserial-asyncio-fast, silence supervision, counting parse errors, and
dropping (and counting) a half-received frame when the port goes away.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Generic, Protocol, Self, TypeVar

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


class SerialSession(Generic[Item]):
    """One serial device. ``async with`` opens the port; ``records()`` yields what it sends."""

    def __init__(
        self, spec: DeviceSpec, counters: DriverCounters, protocol: SerialProtocol[Item]
    ) -> None:
        self.spec = spec
        self.counters = counters
        self.protocol = protocol
        port = spec.options.get("port")
        if not isinstance(port, str) or not port:
            raise DeviceNotFoundError(f"device {spec.id}: no serial port configured")
        self.port = port
        timeout = spec.options.get("silence_timeout_s", protocol.silence_timeout_s)
        self.silence_timeout_s = float(timeout) if isinstance(timeout, int | float) else 5.0
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._decoder: Decoder[Item] = protocol.new_decoder()

    async def __aenter__(self) -> Self:
        s = self.protocol.settings
        try:
            self._reader, self._writer = await serial_asyncio_fast.open_serial_connection(
                loop=asyncio.get_running_loop(),
                url=self.port,
                baudrate=s.baudrate,
                bytesize=s.bytesize,
                parity=s.parity,
                stopbits=s.stopbits,
                rtscts=s.rtscts,
            )
        except (OSError, serial.SerialException) as exc:
            raise DeviceNotFoundError(
                f"device {self.spec.id}: cannot open serial port {self.port}: {exc}"
            ) from exc
        if self.protocol.opening is not None:
            await self._send(self.protocol.opening(self.spec))
        return self

    async def _send(self, frames: Sequence[bytes]) -> None:
        writer = self._writer
        if writer is None:
            return
        try:
            for frame in frames:
                writer.write(frame)
                self.counters.count("frames_out")
            async with asyncio.timeout(2.0):
                await writer.drain()
        except (OSError, serial.SerialException, TimeoutError) as exc:
            raise DeviceNotFoundError(
                f"device {self.spec.id}: cannot write to serial port {self.port}: {exc}"
            ) from exc

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._decoder.pending:
            self.counters.count("partial_frames_dropped")
            log.warning(
                "device %s: dropped %d bytes of a half-received %s frame at disconnect",
                self.spec.id,
                self._decoder.pending,
                self.protocol.name,
            )
        self._decoder = self.protocol.new_decoder()
        if self.protocol.closing is not None and exc_type is not DeviceNotFoundError:
            with contextlib.suppress(DeviceNotFoundError):
                await self._send(self.protocol.closing(self.spec))
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError, serial.SerialException):
                await self._writer.wait_closed()
        self._reader = self._writer = None

    async def records(self) -> AsyncIterator[Record]:
        reader = self._reader
        if reader is None:
            raise RuntimeError("records() called outside 'async with'")
        events = stream_id_for(self.spec.id, "events")
        yield DeviceEvent(self.spec.id, events, EventKind.CONNECTED, ReceiveTime.now(), self.port)
        while True:
            try:
                async with asyncio.timeout(self.silence_timeout_s):
                    chunk = await reader.read(4096)
            except TimeoutError:
                raise DeviceTimeoutError(
                    f"device {self.spec.id}: no data on {self.port} for "
                    f"{self.silence_timeout_s:g} s"
                ) from None
            except (OSError, serial.SerialException) as exc:
                raise DeviceNotFoundError(
                    f"device {self.spec.id}: serial port {self.port} failed: {exc}"
                ) from exc
            if not chunk:
                raise DeviceNotFoundError(f"device {self.spec.id}: serial port {self.port} closed")
            received = ReceiveTime.now()
            self.counters.count("bytes_in", len(chunk))
            for item in self._decoder.feed(chunk):
                if isinstance(item, ParseError):
                    self.counters.count("parse_errors")
                    self.counters.last_error = item.reason
                    log.warning("device %s: %s", self.spec.id, item)
                    continue
                self.counters.count("frames")
                for record in self.protocol.to_records(item, self.spec.id, received):
                    yield record
