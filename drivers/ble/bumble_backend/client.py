"""bleak client backend on a :class:`~drivers.ble.bumble_backend.central.BumbleCentral`.

``BleakClient(device, backend=BumbleClientBackend, bumble_central=c)`` (also through
``bleak_retry_connector.establish_connection``, which forwards the keyword). ``connect``
runs a full discovery and builds bleak's service collection with the bumble proxies in
``.obj``; errors become what bleak code expects: ``TimeoutError`` for timeouts (bumble's
own timeout error included), ``BleakGATTProtocolError`` for ATT error responses,
``BleakError`` for the rest. The reason code of the last disconnection is kept in
``disconnect_reason`` (0x08 supervision timeout, 0x13 remote user terminated, ...).
Pairing is not implemented: ``pair=True`` raises ``BleakError``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from bleak.args import SizedBuffer
from bleak.assigned_numbers import CharacteristicPropertyName
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakError, BleakGATTProtocolError
from bumble import att, core, gatt, hci
from bumble.device import Advertisement, Connection, Peer

from drivers.ble.bumble_backend.central import BumbleCentral, bleak_address, bleak_uuid

log = logging.getLogger(__name__)
T = TypeVar("T")
DISCONNECT_TIMEOUT_S = 5.0

_PROPERTY_NAMES: dict[int, CharacteristicPropertyName] = {
    0x01: "broadcast",
    0x02: "read",
    0x04: "write-without-response",
    0x08: "write",
    0x10: "notify",
    0x20: "indicate",
    0x40: "authenticated-signed-writes",
    0x80: "extended-properties",
}


async def disconnect_quietly(central: BumbleCentral, connection: Connection) -> None:
    """Disconnect if the link still exists; never wait more than a few seconds."""
    if central.device.connections.get(connection.handle) is not connection:
        return
    with contextlib.suppress(core.BaseBumbleError, TimeoutError):
        async with asyncio.timeout(DISCONNECT_TIMEOUT_S):
            await connection.disconnect()


async def _discover_all(peer: Peer) -> None:
    """Services, then their characteristics, then every characteristic's descriptors."""
    client = peer.gatt_client
    services = await client.discover_services()
    for service in services:
        await client.discover_characteristics(uuids=(), service=service)
    for service in services:
        for characteristic in service.characteristics:
            await client.discover_descriptors(characteristic)


class BumbleClientBackend(BaseBleakClient):
    """A bleak client whose GATT traffic goes through bumble."""

    def __init__(
        self,
        address_or_ble_device: BLEDevice | str,
        *,
        bumble_central: BumbleCentral,
        disconnected_callback: Callable[[], None] | None = None,
        timeout: float = 10.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            address_or_ble_device, disconnected_callback=disconnected_callback, timeout=timeout
        )
        self.central = bumble_central
        self._target: str | hci.Address = self.address
        if isinstance(address_or_ble_device, BLEDevice) and isinstance(
            address_or_ble_device.details, Advertisement
        ):
            self._target = address_or_ble_device.details.address  # keeps the address type
        self._name = (
            address_or_ble_device.name if isinstance(address_or_ble_device, BLEDevice) else None
        )
        self._connection: Connection | None = None
        self._peer: Peer | None = None
        self._gone: asyncio.Event | None = None
        self._subscriptions: dict[int, Callable[[bytes], None]] = {}
        self.disconnect_reason: int | None = None
        self._connecting = False

    # --- properties -----------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self._name or self.address.replace(":", "-")

    @property
    def mtu_size(self) -> int:
        peer = self._peer
        return int(peer.gatt_client.mtu) if peer is not None else 23

    @property
    def is_connected(self) -> bool:
        return self._connection is not None

    # --- connection -----------------------------------------------------------------------

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        if self._connection is not None:
            if pair:
                await self.pair()
            return
        timeout = self.central.capped(float(kwargs.get("timeout", self._timeout)))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        self._connecting = True
        try:
            await self._connect(timeout, deadline)
        finally:
            self._connecting = False
        if pair:
            await self.pair()

    async def _connect(self, limit_s: float, deadline: float) -> None:
        loop = asyncio.get_running_loop()
        connection = await self.central.connect(self._target, limit_s)
        self.disconnect_reason = None
        self._connection = connection
        self._gone = asyncio.Event()
        connection.on(connection.EVENT_DISCONNECTION, self._on_disconnection)
        if self.central.device.connections.get(connection.handle) is not connection:
            # Gone before this coroutine resumed: the disconnection event was already handled.
            self._forget()
            raise BleakError(f"{self.address}: disconnected while connecting")
        peer = Peer(connection)
        self._peer = peer
        try:
            async with asyncio.timeout(max(0.001, deadline - loop.time())):
                await self._gatt(_discover_all(peer))
            self.services = self._service_collection(peer)
        except BaseException:
            await disconnect_quietly(self.central, connection)
            self._forget()
            raise

    def _service_collection(self, peer: Peer) -> BleakGATTServiceCollection:
        services = BleakGATTServiceCollection()
        for service in peer.services:
            bleak_service = BleakGATTService(service, service.handle, bleak_uuid(service.uuid))
            services.add_service(bleak_service)
            for char in service.characteristics:
                props = [n for bit, n in _PROPERTY_NAMES.items() if char.properties & bit]
                bleak_char = BleakGATTCharacteristic(
                    char, char.handle, bleak_uuid(char.uuid), props, self._mwwr, bleak_service
                )
                services.add_characteristic(bleak_char)
                for desc in char.descriptors:
                    services.add_descriptor(
                        BleakGATTDescriptor(desc, desc.handle, bleak_uuid(desc.type), bleak_char)
                    )
        return services

    def _mwwr(self) -> int:
        return self.mtu_size - 3

    def _on_disconnection(self, reason: int) -> None:
        self.disconnect_reason = int(reason)
        log.debug("%s: disconnected, reason 0x%02X", self.address, reason)
        self._forget()
        # A link lost while connect() runs makes connect() fail; it is not a disconnection.
        if self._disconnected_callback is not None and not self._connecting:
            self._disconnected_callback()

    def _forget(self) -> None:
        if self._gone is not None:
            self._gone.set()
            self._gone = None
        self._connection = None
        self._peer = None
        self._subscriptions.clear()

    async def disconnect(self) -> None:
        connection = self._connection
        if connection is None:
            return
        await disconnect_quietly(self.central, connection)
        self._forget()

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        """Encrypt the link: with the stored bond's keys, else by LE Secure Connections
        pairing ("Just Works"), keeping the keys (a bond) in the central's key store."""
        connection = self._connection
        if connection is None:
            raise BleakError("Not connected")
        if connection.is_encrypted:
            return
        keystore = self.central.device.keystore
        bonded = keystore is not None and await keystore.get(str(connection.peer_address))
        try:
            async with asyncio.timeout(self._timeout):
                if bonded:
                    await connection.encrypt()
                else:
                    await connection.pair()
        except TimeoutError as exc:
            raise BleakError(f"{self.address}: pairing timed out") from exc
        except (core.BaseBumbleError, hci.HCI_Error) as exc:
            raise BleakError(f"{self.address}: pairing failed: {exc}") from exc

    async def unpair(self) -> None:
        keystore = self.central.device.keystore
        if keystore is not None and self._connection is not None:
            with contextlib.suppress(KeyError):
                await keystore.delete(str(self._connection.peer_address))

    # --- GATT I/O -------------------------------------------------------------------------

    def _require_peer(self) -> Peer:
        if self._peer is None:
            raise BleakError("Not connected")
        return self._peer

    async def _gatt(self, operation: Coroutine[Any, Any, T]) -> T:
        """Run one GATT operation; it fails at once when the link goes (bumble would wait 30 s)."""
        gone = self._gone
        task = asyncio.ensure_future(operation)
        if gone is None:
            task.cancel()
            raise BleakError("Not connected")
        waiter = asyncio.ensure_future(gone.wait())
        try:
            await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            if not task.done():
                task.cancel()
                # asyncio.wait: our own cancellation, if any, still propagates
                await asyncio.wait({task})
                if not task.cancelled():
                    task.exception()  # retrieved: the link went, that is the error
        if task.cancelled():
            raise BleakError(f"{self.address}: disconnected during a GATT operation")
        try:
            return task.result()
        except att.ATT_Error as exc:
            raise BleakGATTProtocolError(exc.error_code) from exc
        except core.TimeoutError as exc:
            raise TimeoutError(str(exc) or "GATT timeout") from exc
        except core.BaseBumbleError as exc:
            raise BleakError(f"{self.address}: {exc}") from exc

    async def read_gatt_char(
        self, characteristic: BleakGATTCharacteristic, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        peer = self._require_peer()
        return bytearray(await self._gatt(peer.read_value(characteristic.obj)))

    async def read_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        peer = self._require_peer()
        return bytearray(await self._gatt(peer.read_value(descriptor.obj)))

    async def write_gatt_char(
        self, characteristic: BleakGATTCharacteristic, data: SizedBuffer, response: bool
    ) -> None:
        peer = self._require_peer()
        await self._gatt(peer.write_value(characteristic.obj, bytes(data), with_response=response))

    async def write_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, data: SizedBuffer
    ) -> None:
        peer = self._require_peer()
        await self._gatt(peer.write_value(descriptor.obj, bytes(data), with_response=True))

    async def start_notify(
        self, characteristic: BleakGATTCharacteristic, callback: NotifyCallback, **kwargs: Any
    ) -> None:
        peer = self._require_peer()

        def deliver(value: bytes) -> None:
            callback(bytearray(value))

        proxy = characteristic.obj
        if not proxy.properties & (
            gatt.Characteristic.Properties.NOTIFY | gatt.Characteristic.Properties.INDICATE
        ):
            raise BleakError(f"{characteristic.uuid} supports neither notify nor indicate")
        self._subscriptions[characteristic.handle] = deliver
        await self._gatt(peer.gatt_client.subscribe(proxy, deliver, prefer_notify=True))

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        peer = self._require_peer()
        deliver = self._subscriptions.pop(characteristic.handle, None)
        await self._gatt(peer.gatt_client.unsubscribe(characteristic.obj, deliver))


__all__ = ["BumbleClientBackend", "bleak_address"]
