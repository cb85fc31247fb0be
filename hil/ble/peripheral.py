"""Base of the emulated BLE health devices: GATT server, advertising, log and fault controls.

An :class:`EmulatedPeripheral` is one bumble ``Device`` with Device Information, Battery
and (optionally) Current Time services plus the profile services a subclass adds. It runs
on an :class:`~hil.ble.air.Air` (in-process, CI) or on a real controller through a bumble
transport string (HIL bench: :meth:`EmulatedPeripheral.attach_transport`).

Controls: :meth:`walk_out_of_range` / :meth:`walk_back_in_range` (on a real controller:
drop the link and stop advertising, then advertise again), :meth:`corrupt_next` (append a
stray byte to the next notifications, so the value no longer matches its flags),
:meth:`truncate_next` (drop the last byte), :meth:`stall` / :meth:`resume` (keep the link
but send nothing), :meth:`terminate` (the device closes the link, reason 0x13).

Every notification or indication sent is kept in :attr:`sent` with its scenario time,
connection number, whether the device was in range, the fault applied, and (on the emulated
air) whether its PDU reached the controller and whether a supervision timeout or a dead link
dropped it; ``lost`` means it cannot have reached the client.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bumble import core, gatt, hci
from bumble.core import AdvertisingData
from bumble.device import Connection, Device

from drivers.ble import uuids
from hil.ble import encoders
from hil.ble.air import Air, new_device, open_device
from hil.ble.scenario import SimClock

log = logging.getLogger(__name__)

R = gatt.Characteristic.Properties.READ
W = gatt.Characteristic.Properties.WRITE
N = gatt.Characteristic.Properties.NOTIFY
IND = gatt.Characteristic.Properties.INDICATE
READABLE = gatt.Characteristic.READABLE
WRITEABLE = gatt.Characteristic.WRITEABLE
CONNECTION_TIMEOUT = int(hci.HCI_ErrorCode.CONNECTION_TIMEOUT_ERROR)
ATT_CID = 0x0004
ATT_NOTIFY = 0x1B  # Handle Value Notification
ATT_INDICATE = 0x1D  # Handle Value Indication


def _att_value(pdu: bytes) -> bytes | None:
    """The value of an L2CAP PDU carrying an ATT notification or indication, else None."""
    if len(pdu) < 7 or int.from_bytes(pdu[2:4], "little") != ATT_CID:
        return None
    return pdu[7:] if pdu[4] in (ATT_NOTIFY, ATT_INDICATE) else None


def uuid16(value: int) -> core.UUID:
    return core.UUID.from_16_bits(value)


def characteristic(
    uuid: int,
    properties: gatt.Characteristic.Properties,
    *,
    read: Callable[[Any], bytes] | None = None,
    write: Callable[[Any, bytes], None] | None = None,
) -> gatt.Characteristic[bytes]:
    """A characteristic whose reads/writes go to callables (or a notify/indicate-only one)."""
    permissions = gatt.Characteristic.Permissions(0)
    if read is not None or not properties & W:
        permissions |= READABLE
    if write is not None:
        permissions |= WRITEABLE
    value: gatt.CharacteristicValue[bytes] | None = None
    if read is not None or write is not None:
        value = gatt.CharacteristicValue(read=read, write=write)
    return gatt.Characteristic(uuid16(uuid), properties, permissions, value)


@dataclass
class Sent:
    """One notification or indication as the device sent it."""

    char: int  # 16-bit characteristic UUID
    value: bytes  # on the wire, after any fault
    intended: bytes  # before the fault
    t: float  # scenario seconds
    connection: int  # 1, 2, ... per connection of this device
    in_range: bool
    fault: str = ""  # "", "corrupt", "truncate"
    outage: int = 0  # number of the out-of-range episode it was sent in (0: in range)
    dropped: bool = False  # its PDU was dropped by the air or by a controller
    emitted: bool = False  # its PDU reached the controller (False: the host never sent it)
    confirmed: bool = False  # indications: the client's ATT confirmation arrived

    @property
    def valid(self) -> bool:
        return not self.fault

    @property
    def lost(self) -> bool:
        """It cannot have reached the client: never emitted, or dropped on the way."""
        return self.dropped or not self.emitted


class EmulatedPeripheral:
    """One emulated device; subclasses add services and the scenario loop (:meth:`run`)."""

    #: Advertised 16-bit service UUIDs (the profile's service first).
    advertised_services: tuple[int, ...] = ()

    def __init__(
        self,
        name: str,
        address: str,
        clock: SimClock,
        *,
        battery_percent: int = 90,
        manufacturer: str = "EdgeTwin Emulation",
        model: str = "EMU-1",
        serial: str = "0001",
        firmware: str = "1.0.0",
        current_time: bool = False,
        clock_offset_s: float = 0.0,
        advertising_interval_ms: float = 20.0,
    ) -> None:
        self.name = name
        self.address = address
        self.clock = clock
        self.battery_percent = battery_percent
        self.dis = {
            uuids.MANUFACTURER_NAME: manufacturer,
            uuids.MODEL_NUMBER: model,
            uuids.SERIAL_NUMBER: serial,
            uuids.FIRMWARE_REVISION: firmware,
        }
        self.has_current_time = current_time
        self.clock_offset_s = clock_offset_s
        self.advertising_interval_ms = advertising_interval_ms
        self.device: Device | None = None
        self.controller: Any = None
        self.air: Air | None = None
        self._transport: Any = None
        self.connection: Connection | None = None
        self.connections = 0
        self.sent: list[Sent] = []
        self.disconnect_reasons: list[int] = []
        self.reads: dict[int, int] = {}  # characteristic -> reads served
        #: Called after each notification/indication is logged (tests: act at an exact value).
        self.on_sent: Callable[[Sent], None] | None = None
        self._corrupt = 0
        self._truncate = 0
        self.stalled = False
        self.running = asyncio.Event()  # cleared while stalled
        self.running.set()
        self._out_of_range = False
        self.outages = 0
        self.advertising_wanted = True
        self._task: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()
        self._disconnected = asyncio.Event()
        self._disconnected.set()
        self._advertising_lock = asyncio.Lock()
        self.battery_char = characteristic(
            uuids.BATTERY_LEVEL, R | N, read=lambda _c: self._read(uuids.BATTERY_LEVEL)
        )

    # --- services -------------------------------------------------------------------------

    def profile_services(self) -> list[gatt.Service]:
        """The profile's own services (subclasses)."""
        return []

    def read_value(self, char: int) -> bytes:
        """Value of a readable characteristic (subclasses extend)."""
        if char == uuids.BATTERY_LEVEL:
            return encoders.battery_level(self.battery_percent)
        if char in self.dis:
            return encoders.device_information_string(self.dis[char])
        if char == uuids.CURRENT_TIME:
            return encoders.current_time(self.clock.device_time(offset_s=self.clock_offset_s))
        raise KeyError(char)

    def _read(self, char: int) -> bytes:
        self.reads[char] = self.reads.get(char, 0) + 1
        return self.read_value(char)

    def readable(
        self, char: int, props: gatt.Characteristic.Properties = R
    ) -> gatt.Characteristic[bytes]:
        return characteristic(char, props, read=lambda _c: self._read(char))

    #: A device that only talks to a bonded (encrypted) link: its profile and battery
    #: values need encryption to read, and it notifies nothing over a plain link.
    requires_bonding: bool = False

    def _all_services(self) -> list[gatt.Service]:
        services = self.profile_services()
        if self.requires_bonding:
            for service in services:
                for char in service.characteristics:
                    if char.permissions & READABLE:
                        char.permissions |= gatt.Characteristic.READ_REQUIRES_ENCRYPTION
                    if char.permissions & WRITEABLE:
                        char.permissions |= gatt.Characteristic.WRITE_REQUIRES_ENCRYPTION
            self.battery_char.permissions |= gatt.Characteristic.READ_REQUIRES_ENCRYPTION
        services.append(
            gatt.Service(
                uuid16(uuids.DEVICE_INFORMATION_SERVICE), [self.readable(c) for c in self.dis]
            )
        )
        services.append(gatt.Service(uuid16(uuids.BATTERY_SERVICE), [self.battery_char]))
        if self.has_current_time:
            services.append(
                gatt.Service(
                    uuid16(uuids.CURRENT_TIME_SERVICE), [self.readable(uuids.CURRENT_TIME)]
                )
            )
        return services

    def advertising_data(self) -> bytes:
        services = b"".join(struct.pack("<H", s) for s in self.advertised_services)
        name = self.name.encode()[:20]
        return bytes(
            AdvertisingData(
                [
                    (AdvertisingData.FLAGS, bytes([0x06])),
                    (AdvertisingData.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS, services),
                    (AdvertisingData.COMPLETE_LOCAL_NAME, name),
                ]
            )
        )

    # --- lifecycle ------------------------------------------------------------------------

    async def attach(self, air: Air) -> None:
        """Create the bumble device on ``air`` (call inside the running loop)."""
        self.air = air
        self.device, self.controller = await new_device(air, self.address, self.name)
        air.drop_listeners.append(self._on_air_drop)
        air.emit_listeners.append(self._on_air_emit)
        self._setup()

    def _on_air_drop(self, sender: object, pdu: bytes) -> None:
        """A PDU this device sent was dropped (supervision timeout, dead link): mark it."""
        value = _att_value(pdu)
        if sender is not self.controller or value is None:
            return
        for item in reversed(self.sent):
            if item.connection == self.connections and item.value == value and not item.dropped:
                item.dropped = True
                return

    def _on_air_emit(self, sender: object, pdu: bytes) -> None:
        """Our controller accepted a PDU from our host: the oldest matching entry went out."""
        value = _att_value(pdu)
        if sender is not self.controller or value is None:
            return
        for item in self.sent:
            if not item.emitted and item.connection == self.connections and item.value == value:
                item.emitted = True
                return

    async def attach_transport(self, transport: str) -> None:
        """Create the bumble device on a real controller (``usb:0``) for the HIL bench."""
        self.device, self._transport = await open_device(transport, self.address, self.name)
        self._setup()

    def _setup(self) -> None:
        device = self._require_device()
        device.add_services(self._all_services())
        device.on(device.EVENT_CONNECTION, self._on_connection)

    def _require_device(self) -> Device:
        if self.device is None:
            raise RuntimeError(f"{self.name}: attach() first")
        return self.device

    async def start(self) -> None:
        """Start advertising (when wanted) and the scenario loop."""
        await self.update_advertising()
        self._task = asyncio.create_task(self._run_guarded(), name=f"emulator-{self.name}")

    async def _run_guarded(self) -> None:
        try:
            await self.run()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s: emulator loop crashed", self.name)
            raise

    async def run(self) -> None:
        """The scenario loop (subclasses)."""

    async def halt(self) -> None:
        """Stop the scenario loop (nothing more is measured or sent); the link stays."""
        task = self._task
        if task is not None:
            task.cancel()
            await asyncio.wait({task})  # its crash, if any, was logged by _run_guarded
            if not task.cancelled():
                task.exception()
            self._task = None

    async def stop(self) -> None:
        await self.halt()
        device = self.device
        if device is not None:
            self.advertising_wanted = False
            await self.update_advertising()
            await self.terminate()
        if self._transport is not None:
            await self._transport.close()

    async def update_advertising(self) -> None:
        """Advertise iff wanted, not connected and (on a real controller) not 'out of range'."""
        device = self.device
        if device is None:
            return
        async with self._advertising_lock:
            await self._update_advertising(device)

    async def _update_advertising(self, device: Device) -> None:
        should = self.advertising_wanted and self.connection is None
        if self.air is None and self._out_of_range:
            should = False
        try:
            if should and not device.is_advertising:
                await device.start_advertising(
                    advertising_data=self.advertising_data(),
                    advertising_interval_min=self.advertising_interval_ms,
                    advertising_interval_max=self.advertising_interval_ms,
                )
            elif not should and device.is_advertising:
                await device.stop_advertising()
        except core.BaseBumbleError as exc:
            log.debug("%s: advertising update failed: %s", self.name, exc)

    def _on_connection(self, connection: Connection) -> None:
        self.connection = connection
        self.connections += 1
        self._connected.set()
        self._disconnected.clear()
        number = self.connections
        connection.on(
            connection.EVENT_DISCONNECTION,
            lambda reason: self._on_disconnection(connection, number, int(reason)),
        )
        self.on_connected(connection)

    def on_connected(self, connection: Connection) -> None:
        """Hook for subclasses (e.g. start sending stored records once subscribed)."""

    def _on_disconnection(self, connection: Connection, number: int, reason: int) -> None:
        if self.connection is connection:
            self.connection = None
        self.disconnect_reasons.append(reason)
        self._connected.clear()
        self._disconnected.set()
        self.on_disconnected(reason)
        asyncio.get_running_loop().create_task(self.update_advertising())

    def on_disconnected(self, reason: int) -> None:
        """Hook for subclasses."""

    @property
    def connected(self) -> bool:
        return self.connection is not None

    async def wait_connected(self) -> Connection:
        await self._connected.wait()
        assert self.connection is not None
        return self.connection

    # --- controls -------------------------------------------------------------------------

    @property
    def in_range(self) -> bool:
        return not self._out_of_range

    def leave_range(self) -> None:
        """Walk out of range at once (emulated air only; usable from a callback)."""
        if self.air is None:
            raise RuntimeError(f"{self.name}: leave_range() needs the emulated air")
        if not self._out_of_range:
            self.outages += 1
        self._out_of_range = True
        self.air.walk_out_of_range(self.controller)

    async def walk_out_of_range(self) -> None:
        if self.air is not None:
            self.leave_range()
            return
        if not self._out_of_range:
            self.outages += 1
        self._out_of_range = True
        await self.update_advertising()
        if self.connection is not None:  # a real radio cannot leave range on demand
            with contextlib.suppress(core.BaseBumbleError, TimeoutError):
                async with asyncio.timeout(5.0):
                    await self.connection.disconnect(reason=hci.HCI_CONNECTION_TIMEOUT_ERROR)

    async def walk_back_in_range(self) -> None:
        self._out_of_range = False
        if self.air is not None:
            self.air.walk_back_in_range(self.controller)
        await self.update_advertising()

    def corrupt_next(self, count: int = 1) -> None:
        self._corrupt += count

    def truncate_next(self, count: int = 1) -> None:
        self._truncate += count

    def stall(self) -> None:
        self.stalled = True
        self.running.clear()

    def resume(self) -> None:
        self.stalled = False
        self.running.set()
        self.running = asyncio.Event()  # cleared while stalled
        self.running.set()

    async def terminate(self) -> None:
        """The device closes the link (reason 0x13, remote user terminated)."""
        if self.connection is not None:
            with contextlib.suppress(core.BaseBumbleError, TimeoutError):
                async with asyncio.timeout(5.0):
                    await self.connection.disconnect()

    # --- sending --------------------------------------------------------------------------

    def subscribed(self, char: gatt.Characteristic[bytes]) -> bool:
        """Whether the current connection enabled notifications/indications on ``char``."""
        device, connection = self.device, self.connection
        if device is None or connection is None:
            return False
        cccd = device.gatt_server.subscribers.get(connection, {}).get(char.handle)
        return cccd is not None and len(cccd) == 2 and cccd[0] & 0x03 != 0

    def _apply_faults(self, value: bytes) -> tuple[bytes, str]:
        if self._corrupt:
            self._corrupt -= 1
            return value + b"\xee", "corrupt"
        if self._truncate:
            self._truncate -= 1
            return value[:-1], "truncate"
        return value, ""

    async def send(self, char: gatt.Characteristic[bytes], uuid: int, value: bytes) -> Sent | None:
        """Notify or indicate (by the characteristic's property) ``value`` to the client.

        Returns the log entry, or ``None`` when nothing was sent (no link, not subscribed).
        An indication returns once confirmed, or when the link goes away.
        """
        device, connection = self.device, self.connection
        if device is None or connection is None or not self.subscribed(char):
            return None
        if self.requires_bonding and not connection.is_encrypted:
            return None  # such a device keeps its data off an unencrypted link
        wire, fault = self._apply_faults(value)
        outage = 0 if self.in_range else self.outages
        entry = Sent(
            uuid, wire, value, self.clock.now(), self.connections, self.in_range, fault, outage
        )
        entry.emitted = self.air is None  # on the air, our controller says when it went out
        self.sent.append(entry)
        if self.on_sent is not None:
            self.on_sent(entry)
        if char.properties & IND:
            indicate = asyncio.ensure_future(device.indicate_subscriber(connection, char, wire))
            gone = asyncio.ensure_future(self._disconnected.wait())
            await asyncio.wait({indicate, gone}, return_when=asyncio.FIRST_COMPLETED)
            gone.cancel()
            if not indicate.done():
                indicate.cancel()
                await asyncio.wait({indicate})  # our own cancellation still propagates
                if not indicate.cancelled():
                    indicate.exception()  # retrieved: the link went first
            elif not indicate.cancelled() and indicate.exception() is None:
                entry.confirmed = True
        else:
            # Shielded: once logged, the notification goes out even if our caller is cancelled.
            await asyncio.shield(device.notify_subscriber(connection, char, wire))
        return entry
