"""One BLE connection: read what is read once, subscribe, fetch stored records, yield records.

A :class:`BleSession` runs on a connected ``BleakClient`` and ends when the link ends.
On start it reads Device Information (once per address and gateway run, cached by the
adapter), the battery level (then again every ``battery_interval_s``, and on notification
where the device offers it), Current Time where present (the device clock offset becomes a
measurement) and the profile's feature/site characteristics; then it subscribes to the
profile's measurement characteristics. RACP devices are asked for "stored records with
sequence number >= last delivered + 1".

Values arrive through bleak callbacks into a queue, so nothing is parsed or yielded from a
callback. The session ends with a :class:`SessionEnd` saying why: the link was lost (a
supervision timeout shows as reason 0x08), the device closed it (normal for cuffs after a
transfer), the device went silent for ``silence_timeout_s`` (stall; we disconnect), or we
released the link (transfer done and other devices wait for a connection slot).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from bleak import BleakClient
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.exc import BleakError, BleakGATTProtocolError

from drivers.base import DriverCounters
from drivers.ble import battery, date_time, device_info, glucose, racp, uuids
from drivers.ble.manager import BleAdapter
from drivers.ble.metrics import measurement
from drivers.ble.profiles import Delivery, Profile, ProfileDecoder, stored_key
from drivers.ble.state import StateStore, TransferState
from drivers.ble.stored import SequenceTracker, WatermarkTracker
from gateway import codes
from gateway.cancellation import stop_if_cancelled
from gateway.codes import Metric
from gateway.errors import FramingError, ParseError
from gateway.model import (
    Checkpoint,
    DeviceEvent,
    EventKind,
    Quality,
    ReceiveTime,
    Record,
    stream_id_for,
)

log = logging.getLogger(__name__)

#: The longest value an ATT attribute may have (Core Specification Vol 3 Part F 3.2.9).
MAX_ATTRIBUTE_BYTES = 512

#: Device clock minus gateway clock, measured from Current Time (0x2A2B) on connect.
EDGETWIN_BLE_CLOCK_OFFSET = Metric(
    codes.private_code(0x0120), "EDGETWIN_PRIVATE_BLE_CLOCK_OFFSET", "s", "Clock offset"
)
REASON_CONNECTION_TIMEOUT = 0x08
REASON_NAMES = {
    0x08: "supervision timeout",
    0x13: "remote user terminated",
    0x15: "remote device powered off",
    0x16: "local host terminated",
    0x3E: "connection failed to be established",
}


class EndReason(enum.Enum):
    LINK_LOST = "link lost"
    CLOSED_BY_DEVICE = "closed by device"
    STALLED = "no data"
    RELEASED = "released"


@dataclass(frozen=True, slots=True)
class SessionEnd:
    reason: EndReason
    received: ReceiveTime
    detail: str
    hci_reason: int | None = None


@dataclass(frozen=True, slots=True)
class SessionOptions:
    silence_timeout_s: float | None = None
    battery_interval_s: float = 600.0
    racp_timeout_s: float = 30.0
    racp_poll_s: float | None = 60.0
    idle_s: float = 30.0
    release_when_waiting: bool = True
    gatt_timeout_s: float = 10.0


@dataclass(frozen=True, slots=True)
class _Value:
    uuid16: int
    data: bytes
    received: ReceiveTime


@dataclass(frozen=True, slots=True)
class _Gone:
    received: ReceiveTime


@dataclass
class Link:
    """Where the bleak callbacks of one connection put what they get."""

    queue: asyncio.Queue[_Value | _Gone] = field(default_factory=asyncio.Queue)
    gone_at: ReceiveTime | None = None

    def connected(self, client: BleakClient) -> None:
        """The connection is up: forget what failed attempts reported, check it is still up."""
        self.queue = asyncio.Queue()
        self.gone_at = None
        if not client.is_connected:
            self.on_disconnected(client)

    def on_disconnected(self, _client: BleakClient) -> None:
        if self.gone_at is None:
            self.gone_at = ReceiveTime.now()
            self.queue.put_nowait(_Gone(self.gone_at))

    def notifier(self, uuid16: int) -> Callable[[BleakGATTCharacteristic, bytearray], None]:
        def deliver(_char: BleakGATTCharacteristic, data: bytearray) -> None:
            self.queue.put_nowait(_Value(uuid16, bytes(data), ReceiveTime.now()))

        return deliver


def short_uuid(uuid: str) -> int | None:
    """The 16-bit form of a SIG-base 128-bit UUID string, else None."""
    try:
        return uuids.parse_uuid16(uuid)
    except ValueError:
        return None


class BleSession:
    """One connection's work; iterate :meth:`records`, then read :attr:`end`."""

    def __init__(
        self,
        *,
        device_id: str,
        client: BleakClient,
        link: Link,
        profile: Profile,
        adapter: BleAdapter,
        counters: DriverCounters,
        store: StateStore,
        state: TransferState,
        options: SessionOptions,
    ) -> None:
        self.device_id = device_id
        self.client = client
        self.link = link
        self.profile = profile
        self.adapter = adapter
        self.counters = counters
        self.store = store
        self.state = state
        self.options = options
        self.decoder = ProfileDecoder(profile, device_id)
        self.sequence = SequenceTracker.from_state(state)
        self.watermark = WatermarkTracker.from_state(state)
        self.end: SessionEnd | None = None
        self.events = stream_id_for(device_id, "events")
        self.chars: dict[int, BleakGATTCharacteristic] = {}
        for service in client.services:
            for char in service.characteristics:
                short = short_uuid(char.uuid)
                if short is not None and short not in self.chars:
                    self.chars[short] = char
        self._racp_deadline: float | None = None
        self._racp_due: float | None = None
        self._transfer_done = profile.delivery is not Delivery.RACP
        loop = asyncio.get_running_loop()
        self._last_data = loop.time()
        self._battery_due = loop.time() + options.battery_interval_s

    # --- helpers --------------------------------------------------------------------------

    def _event(self, kind: EventKind, detail: str, value: float | None = None) -> DeviceEvent:
        return DeviceEvent(self.device_id, self.events, kind, ReceiveTime.now(), detail, value)

    def _parse_error(self, exc: ParseError) -> None:
        self.counters.count("parse_errors")
        self.counters.last_error = exc.reason
        log.warning("device %s: %s", self.device_id, exc)

    async def _read(self, uuid16: int) -> bytes | None:
        char = self.chars.get(uuid16)
        if char is None or "read" not in char.properties:
            return None
        try:
            async with asyncio.timeout(self.options.gatt_timeout_s):
                return bytes(await self.client.read_gatt_char(char))
        except (BleakError, TimeoutError) as exc:
            self.counters.count("read_errors")
            log.info("device %s: reading 0x%04X failed: %s", self.device_id, uuid16, exc)
            return None

    async def _subscribe(self, uuid16: int) -> bool:
        char = self.chars.get(uuid16)
        if char is None or not {"notify", "indicate"} & set(char.properties):
            return False
        async with asyncio.timeout(self.options.gatt_timeout_s):
            await self.client.start_notify(char, self.link.notifier(uuid16))
        return True

    def _checkpoint(self, received: ReceiveTime) -> Checkpoint | None:
        """A checkpoint record for the new transfer state, if it changed (yield it last)."""
        new = self.watermark.state(self.sequence.state(self.state))
        if new == self.state:
            return None
        self.state = new
        return self.store.checkpoint(self.device_id, new, received)

    def _hci_reason(self) -> int | None:
        backend = getattr(self.client, "_backend", None)
        reason = getattr(backend, "disconnect_reason", None)
        return reason if isinstance(reason, int) else None

    # --- connect-time reads ---------------------------------------------------------------

    async def _device_information(self) -> dict[int, str]:
        address = self.client.address.upper()
        cached = self.adapter.device_info.get(address)
        if cached is not None:
            return cached
        info: dict[int, str] = {}
        for uuid16 in device_info.STRING_CHARACTERISTICS:
            data = await self._read(uuid16)
            if data is None:
                continue
            try:
                info[uuid16] = device_info.parse_device_information_string(uuid16, data).value
            except ParseError as exc:
                self._parse_error(exc)
        self.adapter.device_info[address] = info
        self.counters.count("device_info_reads")
        return info

    def _battery_records(self, data: bytes, received: ReceiveTime) -> list[Record]:
        try:
            level = battery.parse_battery_level(data)
        except ParseError as exc:
            self._parse_error(exc)
            return []
        out: list[Record] = [
            DeviceEvent(
                self.device_id,
                self.events,
                EventKind.BATTERY,
                received,
                f"{level.level_percent} %",
                float(level.level_percent),
            )
        ]
        out.extend(battery.to_measurements(level, self.device_id, received))
        return out

    async def _clock_offset(self) -> list[Record]:
        data = await self._read(uuids.CURRENT_TIME)
        if data is None:
            return []
        received = ReceiveTime.now()
        try:
            current = date_time.parse_current_time(data)
        except ParseError as exc:
            self._parse_error(exc)
            return []
        if current.timestamp is None:
            return [self._event(EventKind.TECHNICAL_ALARM, "device clock not set")]
        device_ns = date_time.device_time_ns(current.timestamp)
        offset_s = (device_ns - received.wall_ns) / 1e9
        return [
            measurement(
                EDGETWIN_BLE_CLOCK_OFFSET,
                offset_s,
                Quality(0),
                self.device_id,
                received,
                device_ns,
            )
        ]

    async def _start(self) -> list[Record]:
        info = await self._device_information()
        summary = " ".join(
            f"{device_info.STRING_CHARACTERISTICS[k]}={v}" for k, v in sorted(info.items())
        )
        out: list[Record] = [
            self._event(EventKind.CONNECTED, f"{self.profile.name} {self.client.address} {summary}")
        ]
        data = await self._read(uuids.BATTERY_LEVEL)
        if data is not None:
            out.extend(self._battery_records(data, ReceiveTime.now()))
        with contextlib.suppress(BleakError, TimeoutError):
            await self._subscribe(uuids.BATTERY_LEVEL)
        out.extend(await self._clock_offset())
        for uuid16 in self.profile.reads:
            data = await self._read(uuid16)
            if data is None:
                continue
            try:
                self.decoder.learn(uuid16, data)
            except ParseError as exc:
                self._parse_error(exc)
        for uuid16 in self.profile.streams:
            await self._subscribe(uuid16)
        if self.profile.delivery is Delivery.RACP:
            if not await self._subscribe(uuids.RECORD_ACCESS_CONTROL_POINT):
                raise BleakError(f"{self.profile.name} device without a usable RACP")
            await self._racp_request()
        return out

    # --- RACP -----------------------------------------------------------------------------

    async def _racp_request(self) -> None:
        char = self.chars[uuids.RECORD_ACCESS_CONTROL_POINT]
        request = self.sequence.request()
        loop = asyncio.get_running_loop()
        self._racp_due = None
        self._transfer_done = False
        try:
            async with asyncio.timeout(self.options.gatt_timeout_s):
                await self.client.write_gatt_char(char, request, response=True)
        except BleakGATTProtocolError as exc:  # e.g. 0x80 procedure already in progress
            self.counters.count("racp_rejected")
            log.info("device %s: RACP request rejected: %s", self.device_id, exc)
            self._racp_due = loop.time() + min(5.0, self.options.racp_timeout_s)
            return
        self.counters.count("racp_requests")
        self._racp_deadline = loop.time() + self.options.racp_timeout_s

    def _racp_response(self, data: bytes, received: ReceiveTime) -> Checkpoint | None:
        try:
            response = racp.parse_racp_response(data)
        except ParseError as exc:
            self._parse_error(exc)
            return None
        if not isinstance(response, racp.RacpResponse):
            return None
        if response.request_op_code != racp.RacpOpCode.REPORT_STORED_RECORDS:
            return None
        self._racp_deadline = None
        code = response.response_code
        checkpoint = None
        if code in (racp.RacpResponseCode.SUCCESS, racp.RacpResponseCode.NO_RECORDS_FOUND):
            self.sequence.on_procedure_end()
            checkpoint = self._checkpoint(received)
            self._transfer_done = True
        else:
            self.counters.count("racp_failures")
            log.info("device %s: RACP report ended with %s", self.device_id, code.name)
        if self.options.racp_poll_s is not None:
            self._racp_due = asyncio.get_running_loop().time() + self.options.racp_poll_s
        return checkpoint

    # --- stream values --------------------------------------------------------------------

    def _accept_stored(self, parsed: object, data: bytes) -> bool:
        if isinstance(parsed, glucose.GlucoseMeasurement):
            return self.sequence.on_measurement(
                parsed.sequence_number, parsed.context_information_follows
            )
        if isinstance(parsed, glucose.GlucoseMeasurementContext):
            return self.sequence.on_context(parsed.sequence_number)
        return self.watermark.accept(stored_key(parsed), data)

    async def _value(self, item: _Value) -> AsyncIterator[Record]:
        if item.uuid16 == uuids.RECORD_ACCESS_CONTROL_POINT:
            checkpoint = self._racp_response(item.data, item.received)
            if checkpoint is not None:
                yield checkpoint
            return
        if item.uuid16 == uuids.BATTERY_LEVEL:
            for record in self._battery_records(item.data, item.received):
                yield record
            return
        self._last_data = asyncio.get_running_loop().time()
        self.counters.count("notifications")
        if len(item.data) > MAX_ATTRIBUTE_BYTES:
            self._parse_error(
                FramingError(
                    uuids.source(item.uuid16),
                    MAX_ATTRIBUTE_BYTES,
                    item.data[:64],
                    f"value of {len(item.data)} bytes exceeds an attribute "
                    f"({MAX_ATTRIBUTE_BYTES} bytes at most)",
                )
            )
            return
        try:
            parsed = self.decoder.parse(item.uuid16, item.data)
        except ParseError as exc:
            self._parse_error(exc)
            return
        stored = item.uuid16 in self.profile.stored
        if stored and not self._accept_stored(parsed, item.data):
            self.counters.count("duplicates_skipped")
            return
        for record in self.decoder.records(parsed, item.received):
            yield record
        if stored:
            self.counters.count("stored_records")
            checkpoint = self._checkpoint(item.received)
            if checkpoint is not None:
                yield checkpoint

    # --- main loop ------------------------------------------------------------------------

    def _next_deadline(self) -> tuple[float, str]:
        loop = asyncio.get_running_loop()
        candidates: list[tuple[float, str]] = [(self._battery_due, "battery")]
        silence = self.options.silence_timeout_s
        if self.profile.delivery is Delivery.CONTINUOUS and silence is not None:
            candidates.append((self._last_data + silence, "silence"))
        if self._racp_deadline is not None:
            candidates.append((self._racp_deadline, "racp_timeout"))
        if self._racp_due is not None:
            candidates.append((self._racp_due, "racp_poll"))
        if self.profile.delivery is not Delivery.CONTINUOUS and self._transfer_done:
            candidates.append((self._last_data + self.options.idle_s, "idle"))
        return min(candidates, key=lambda c: c[0]) if candidates else (loop.time() + 3600, "")

    async def _finish(self, reason: EndReason, detail: str, disconnect: bool) -> None:
        received = self.link.gone_at or ReceiveTime.now()
        self.end = SessionEnd(reason, received, detail, self._hci_reason())
        if disconnect:
            with contextlib.suppress(BleakError, TimeoutError):
                await self.client.disconnect()

    def _gone(self, item: _Gone) -> SessionEnd:
        hci = self._hci_reason()
        name = REASON_NAMES.get(hci, f"reason 0x{hci:02X}") if hci is not None else "disconnected"
        delivery = self.profile.delivery
        interrupted = delivery is Delivery.RACP and not self._transfer_done
        if hci == REASON_CONNECTION_TIMEOUT or delivery is Delivery.CONTINUOUS or interrupted:
            reason = EndReason.LINK_LOST
        else:
            reason = EndReason.CLOSED_BY_DEVICE
        return SessionEnd(reason, item.received, name, hci)

    async def records(self) -> AsyncIterator[Record]:
        """Records until the link ends; then :attr:`end` says why."""
        try:
            for record in await self._start():
                yield record
        except (BleakError, TimeoutError) as exc:
            if self.link.gone_at is not None:
                self.end = self._gone(_Gone(self.link.gone_at))
                return
            await self._finish(EndReason.LINK_LOST, f"setup failed: {exc}", disconnect=True)
            return
        loop = asyncio.get_running_loop()
        while True:
            stop_if_cancelled()
            deadline, what = self._next_deadline()
            try:
                async with asyncio.timeout(max(0.0, deadline - loop.time())):
                    item = await self.link.queue.get()
            except TimeoutError:
                async for record in self._on_deadline(what):
                    yield record
                if self.end is not None:
                    break
                continue
            if isinstance(item, _Gone):
                self.end = self._gone(item)
                return
            async for record in self._value(item):
                yield record
            if self._should_release():
                await self._finish(EndReason.RELEASED, "transfer done, slot needed", True)
                break
        # We ended the link: what arrived (and was acknowledged) before it closed still counts.
        while not self.link.queue.empty():
            leftover = self.link.queue.get_nowait()
            if isinstance(leftover, _Gone):
                break
            async for record in self._value(leftover):
                yield record

    def _should_release(self) -> bool:
        """A RACP transfer is complete and other devices wait for a connection slot."""
        return (
            self.options.release_when_waiting
            and self.profile.delivery is Delivery.RACP
            and self._transfer_done
            and self.adapter.slots.waiting > 0
        )

    async def _on_deadline(self, what: str) -> AsyncIterator[Record]:
        loop = asyncio.get_running_loop()
        try:
            if what == "battery":
                self._battery_due = loop.time() + self.options.battery_interval_s
                data = await self._read(uuids.BATTERY_LEVEL)
                if data is not None:
                    for record in self._battery_records(data, ReceiveTime.now()):
                        yield record
            elif what == "silence":
                self.counters.count("stalls")
                silence = self.options.silence_timeout_s
                await self._finish(EndReason.STALLED, f"no data for {silence:g} s", True)
            elif what == "racp_timeout":
                self.counters.count("racp_timeouts")
                self._racp_deadline = None
                char = self.chars[uuids.RECORD_ACCESS_CONTROL_POINT]
                with contextlib.suppress(BleakError):
                    async with asyncio.timeout(self.options.gatt_timeout_s):
                        await self.client.write_gatt_char(char, racp.encode_abort(), response=True)
                self._racp_due = loop.time()
            elif what == "racp_poll":
                await self._racp_request()
            elif what == "idle":
                waiting = self.adapter.slots.waiting > 0
                if waiting or not self.options.release_when_waiting:
                    await self._finish(EndReason.RELEASED, "idle", True)
                else:
                    self._last_data = loop.time()
        except (BleakError, TimeoutError) as exc:
            if self.end is None and self.link.gone_at is None:
                await self._finish(EndReason.LINK_LOST, f"{what} failed: {exc}", True)
