"""Adapters: the bleak backend in use, one shared scanner, a fair connection-slot pool.

Every BLE driver on a gateway talks through a :class:`BleAdapter` named by its ``adapter``
option ("default" = the platform's bleak backend, BlueZ on Linux). An adapter owns:

* a :class:`SlotPool`: at most ``slots`` connections at once (default 5; real adapters run
  out), handed out first come, first served, so devices that only need periodic contact
  (cuffs, scales, glucose meters) get their turn while continuous ones hold theirs;
* one scanner shared by all its drivers while any of them waits for a device, and the
  address book it fills (:meth:`BleAdapter.find`): by address, or by advertised service
  plus a name pattern;
* a cache of Device Information strings per address (read once per gateway run).

Tests and the HIL bench register adapters with :func:`register_adapter` (e.g. the bumble
backend on an in-process link). An adapter named ``bumble:<transport>`` (``bumble:usb:0``)
is opened on first use with the bumble backend on that controller.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from bleak import BleakScanner
from bleak.backends.client import BaseBleakClient
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, BaseBleakScanner

from drivers.ble import uuids

log = logging.getLogger(__name__)

DEFAULT_SLOTS = 5


class SlotPool:
    """At most ``limit`` holders; waiters are served strictly in arrival order."""

    def __init__(self, limit: int = DEFAULT_SLOTS) -> None:
        if limit < 1:
            raise ValueError("slot limit must be at least 1")
        self.limit = limit
        self.holders: list[str] = []
        self._queue: collections.deque[tuple[str, asyncio.Future[None]]] = collections.deque()
        self.grants: list[str] = []  # order in which slots were granted (for tests/metrics)

    @property
    def waiting(self) -> int:
        return sum(1 for _, fut in self._queue if not fut.done())

    @contextlib.asynccontextmanager
    async def slot(self, owner: str) -> AsyncIterator[None]:
        if len(self.holders) < self.limit and not self.waiting:
            self.holders.append(owner)
        else:
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._queue.append((owner, fut))
            try:
                await fut  # the releaser appended us to holders before waking us
            except asyncio.CancelledError:
                if fut.done() and not fut.cancelled():
                    self._release(owner)  # granted while we were being cancelled
                raise
        self.grants.append(owner)
        try:
            yield
        finally:
            self._release(owner)

    def _release(self, owner: str) -> None:
        with contextlib.suppress(ValueError):
            self.holders.remove(owner)
        while self._queue and len(self.holders) < self.limit:
            waiter, fut = self._queue.popleft()
            if fut.done():
                continue
            self.holders.append(waiter)
            fut.set_result(None)


@dataclass(frozen=True, slots=True)
class Match:
    """Which advertiser a driver wants: an address, or a service plus a name pattern."""

    address: str | None = None
    service: int | None = None
    name_pattern: str | None = None

    def matches(self, device: BLEDevice, adv: AdvertisementData) -> bool:
        if self.address is not None:
            return device.address.upper() == self.address.upper()
        if self.service is not None and uuids.uuid128(self.service) not in adv.service_uuids:
            return False
        if self.name_pattern is not None:
            name = adv.local_name or device.name or ""
            if re.fullmatch(self.name_pattern, name) is None:
                return False
        return self.service is not None or self.name_pattern is not None

    def describe(self) -> str:
        if self.address is not None:
            return self.address
        return f"service 0x{self.service or 0:04X} name {self.name_pattern or '*'}"


@dataclass
class BleAdapter:
    """One Bluetooth adapter as the BLE drivers see it (see module docstring)."""

    name: str
    scanner_backend: type[BaseBleakScanner] | None = None
    client_backend: type[BaseBleakClient] | None = None
    backend_kwargs: dict[str, Any] = field(default_factory=dict)
    slots: SlotPool = field(default_factory=SlotPool)
    device_info: dict[str, dict[int, str]] = field(default_factory=dict)
    seen: dict[str, tuple[BLEDevice, AdvertisementData, float]] = field(default_factory=dict)
    claimed: dict[str, str] = field(default_factory=dict)  # address -> device id (pattern matches)
    _waiters: list[tuple[Match, str, asyncio.Future[BLEDevice]]] = field(default_factory=list)
    _scanner: BleakScanner | None = None
    _scan_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    closer: Callable[[], Any] | None = None

    def client_kwargs(self) -> dict[str, Any]:
        kwargs = dict(self.backend_kwargs)
        if self.client_backend is not None:
            kwargs["backend"] = self.client_backend
        return kwargs

    def _on_advertisement(self, device: BLEDevice, adv: AdvertisementData) -> None:
        self.seen[device.address.upper()] = (device, adv, asyncio.get_running_loop().time())
        for match, owner, fut in list(self._waiters):
            if fut.done() or not match.matches(device, adv):
                continue
            holder = self.claimed.get(device.address.upper())
            if match.address is None and holder not in (None, owner):
                continue  # bound to another configured device already
            self.claimed.setdefault(device.address.upper(), owner)
            fut.set_result(device)

    async def _ensure_scanning(self) -> None:
        async with self._scan_lock:
            if self._scanner is not None:
                return
            kwargs = dict(self.backend_kwargs)
            if self.scanner_backend is not None:
                kwargs["backend"] = self.scanner_backend
            scanner = BleakScanner(self._on_advertisement, **kwargs)
            await scanner.start()
            self._scanner = scanner

    async def _maybe_stop_scanning(self) -> None:
        async with self._scan_lock:
            if self._scanner is None or any(not f.done() for _, _, f in self._waiters):
                return
            scanner, self._scanner = self._scanner, None
            with contextlib.suppress(Exception):  # stopping a scanner must not fail a driver
                await scanner.stop()

    async def find(self, match: Match, owner: str, within_s: float) -> BLEDevice | None:
        """The next advertisement matching ``match`` within ``within_s`` s, else ``None``."""
        fut: asyncio.Future[BLEDevice] = asyncio.get_running_loop().create_future()
        entry = (match, owner, fut)
        self._waiters.append(entry)
        try:
            await self._ensure_scanning()
            async with asyncio.timeout(within_s):
                return await fut
        except TimeoutError:
            return None
        finally:
            self._waiters.remove(entry)
            await self._maybe_stop_scanning()

    async def close(self) -> None:
        if self._scanner is not None:
            scanner, self._scanner = self._scanner, None
            with contextlib.suppress(Exception):
                await scanner.stop()
        if self.closer is not None:
            result = self.closer()
            if asyncio.iscoroutine(result):
                await result


_ADAPTERS: dict[str, BleAdapter] = {}
_OPENING: dict[str, asyncio.Lock] = {}


def register_adapter(
    name: str,
    *,
    scanner_backend: type[BaseBleakScanner] | None = None,
    client_backend: type[BaseBleakClient] | None = None,
    backend_kwargs: dict[str, Any] | None = None,
    slots: int = DEFAULT_SLOTS,
    closer: Callable[[], Any] | None = None,
) -> BleAdapter:
    """Make ``name`` usable as a driver's ``adapter`` option (replaces an existing one)."""
    adapter = BleAdapter(
        name,
        scanner_backend,
        client_backend,
        dict(backend_kwargs or {}),
        SlotPool(slots),
        closer=closer,
    )
    _ADAPTERS[name] = adapter
    return adapter


async def unregister_adapter(name: str) -> None:
    adapter = _ADAPTERS.pop(name, None)
    if adapter is not None:
        await adapter.close()


async def get_adapter(name: str, slots: int = DEFAULT_SLOTS) -> BleAdapter:
    """The adapter called ``name``: registered, ``bumble:<transport>`` or the platform's."""
    adapter = _ADAPTERS.get(name)
    if adapter is not None:
        return adapter
    lock = _OPENING.setdefault(name, asyncio.Lock())
    async with lock:
        adapter = _ADAPTERS.get(name)
        if adapter is not None:
            return adapter
        if name.startswith("bumble:"):
            from drivers.ble.bumble_backend import (
                BumbleCentral,
                BumbleClientBackend,
                BumbleScannerBackend,
            )

            central = await BumbleCentral.open(name.removeprefix("bumble:"))
            return register_adapter(
                name,
                scanner_backend=BumbleScannerBackend,
                client_backend=BumbleClientBackend,
                backend_kwargs={"bumble_central": central},
                slots=slots,
                closer=central.close,
            )
        kwargs: dict[str, Any] = {}
        if name not in ("default", ""):
            kwargs["bluez"] = {"adapter": name}  # BlueZ adapter name, e.g. hci1
        return register_adapter(name, backend_kwargs=kwargs, slots=slots)
