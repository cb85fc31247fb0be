"""A bumble host acting as the BLE central behind the bleak backend classes.

One :class:`BumbleCentral` is one adapter: a bumble ``Device`` on either an in-process
emulated controller (:meth:`BumbleCentral.on_link`, for CI and benchmarks) or a real
controller reached through a bumble transport string such as ``"usb:0"``
(:meth:`BumbleCentral.open`). It fans advertisements out to every bleak scanner, keeps an
address book (bleak addresses carry no address type, bumble needs one), and serialises
connection attempts (a controller runs one LE Create Connection at a time).

Pitfalls handled here: bumble objects are created inside the running loop (the factories
are coroutines); bumble's ``core.TimeoutError`` is not an ``asyncio.TimeoutError`` and is
translated, so retry logic counts it; a cap on the per-attempt connect timeout stops
bleak-retry-connector's fixed 20 s from stalling tests; addresses print without bumble's
``/P`` suffix.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from typing import Any

from bumble import core, hci
from bumble.device import Advertisement, Connection, Device
from bumble.host import Host
from bumble.keys import MemoryKeyStore
from bumble.link import LocalLink
from bumble.transport.common import AsyncPipeSink

from drivers.ble.bumble_backend.controller import CancellableController

log = logging.getLogger(__name__)

AdvertisementListener = Callable[[Advertisement], None]
DEFAULT_CENTRAL_ADDRESS = "C0:ED:6E:00:00:01"  # static random (top bits 11)


def bleak_address(address: hci.Address) -> str:
    """``AA:BB:CC:DD:EE:FF``: bleak's form, without bumble's ``/P`` type suffix."""
    return str(address.to_string(with_type_qualifier=False))


def bleak_uuid(value: core.UUID) -> str:
    """bumble keeps UUID bytes little-endian; bleak wants the lower-case 128-bit string."""
    return str(uuid.UUID(bytes=bytes(reversed(value.uuid_128_bytes))))


def translate_timeout(exc: BaseException) -> BaseException:
    """bumble's timeout error as the ``asyncio.TimeoutError`` retry logic expects."""
    if isinstance(exc, core.TimeoutError):
        return TimeoutError(str(exc) or "bumble timeout")
    return exc


class BumbleCentral:
    """A powered-on bumble central shared by the bleak scanner and client backends."""

    def __init__(
        self,
        device: Device,
        *,
        connect_timeout_cap_s: float | None = None,
        transport: Any = None,
    ) -> None:
        self.device = device
        self.connect_timeout_cap_s = connect_timeout_cap_s
        self._transport = transport
        self._listeners: dict[object, AdvertisementListener] = {}
        self._scan_users = 0
        self._scan_lock = asyncio.Lock()
        self._connect_lock = asyncio.Lock()
        self.address_book: dict[str, hci.Address] = {}
        self.connect_attempts = 0
        device.on(device.EVENT_ADVERTISEMENT, self._on_advertisement)

    @classmethod
    async def on_link(
        cls,
        link: LocalLink,
        address: str = DEFAULT_CENTRAL_ADDRESS,
        *,
        name: str = "edgetwin-central",
        connect_timeout_cap_s: float | None = None,
    ) -> BumbleCentral:
        """A central on an in-process bumble link (emulated controller, no radio)."""
        controller = CancellableController(name, link=link)
        host = Host(controller, AsyncPipeSink(controller))
        device = Device(name=name, address=hci.Address(address), host=host)
        device.keystore = MemoryKeyStore()  # bonds for this run (BlueZ keeps its own on disk)
        await device.power_on()
        return cls(device, connect_timeout_cap_s=connect_timeout_cap_s)

    @classmethod
    async def open(
        cls,
        transport: str,
        address: str = DEFAULT_CENTRAL_ADDRESS,
        *,
        name: str = "edgetwin-central",
        connect_timeout_cap_s: float | None = None,
    ) -> BumbleCentral:
        """A central on a real controller via a bumble transport (``usb:0``, ``serial:...``)."""
        from bumble.transport import open_transport

        opened = await open_transport(transport)
        device = Device.with_hci(name, hci.Address(address), opened.source, opened.sink)
        device.keystore = MemoryKeyStore()
        await device.power_on()
        return cls(device, connect_timeout_cap_s=connect_timeout_cap_s, transport=opened)

    async def close(self) -> None:
        for connection in list(self.device.connections.values()):
            with contextlib.suppress(core.BaseBumbleError, TimeoutError):
                async with asyncio.timeout(5.0):
                    await connection.disconnect()
        if self.device.scanning:
            with contextlib.suppress(core.BaseBumbleError, TimeoutError):
                await self.device.stop_scanning()
        if self._transport is not None:
            await self._transport.close()

    # --- advertisements -------------------------------------------------------------------

    def _on_advertisement(self, advertisement: Advertisement) -> None:
        self.address_book[bleak_address(advertisement.address)] = advertisement.address
        for listener in list(self._listeners.values()):
            listener(advertisement)

    def add_listener(self, listener: AdvertisementListener) -> Callable[[], None]:
        token = object()
        self._listeners[token] = listener
        return lambda: self._listeners.pop(token, None) and None

    async def start_scanning(self, active: bool = True) -> None:
        async with self._scan_lock:
            self._scan_users += 1
            if self._scan_users == 1 and not self.device.scanning:
                await self.device.start_scanning(active=active, filter_duplicates=False)

    async def stop_scanning(self) -> None:
        async with self._scan_lock:
            self._scan_users = max(0, self._scan_users - 1)
            if self._scan_users == 0 and self.device.scanning:
                await self.device.stop_scanning()

    # --- connections ----------------------------------------------------------------------

    def resolve(self, address: str | hci.Address) -> hci.Address:
        """An address with its type: from advertisements seen, ``/P`` suffix, else random."""
        if isinstance(address, hci.Address):
            return address
        text = address.strip().upper()
        if text.endswith("/P"):
            return hci.Address(text[:-2], hci.Address.PUBLIC_DEVICE_ADDRESS)
        known = self.address_book.get(text)
        return known if known is not None else hci.Address(text, hci.Address.RANDOM_DEVICE_ADDRESS)

    def capped(self, timeout: float) -> float:
        cap = self.connect_timeout_cap_s
        return timeout if cap is None else min(timeout, cap)

    async def connect(self, address: str | hci.Address, timeout_s: float) -> Connection:
        """LE connect (one attempt at a time per controller); timeouts raise TimeoutError."""
        peer = self.resolve(address)
        async with self._connect_lock:
            self.connect_attempts += 1
            try:
                connection: Connection = await self.device.connect_le(
                    peer, timeout=self.capped(timeout_s)
                )
            except core.TimeoutError as exc:
                raise TimeoutError(f"connect to {bleak_address(peer)} timed out") from exc
            except hci.HCI_Error as exc:
                # The attempt timed out and the controller refused to cancel it: the link
                # came up at that very moment (take it), or the attempt is gone (retry).
                existing = self.device.find_connection_by_bd_addr(peer)
                if existing is not None:
                    return existing
                raise TimeoutError(
                    f"connect to {bleak_address(peer)} timed out (cancel refused: {exc})"
                ) from exc
            return connection
