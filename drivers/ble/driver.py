"""Bluetooth SIG health-profile driver (config ``kind = "ble"``) on bleak.

The driver finds its device by ``address`` (or by advertised ``match_service`` plus a
``match_name`` regular expression), takes a connection slot of its adapter (fair queue,
default 5 per adapter), connects with bleak-retry-connector's ``establish_connection``
(a couple of quick attempts) inside an exponential backoff with full jitter between
rounds, picks the profile from ``profile`` or the services found, and runs a
:class:`~drivers.ble.session.BleSession` until the link ends.

Link ends are normal for BLE: a cuff closes the link after sending, a wearable walks out
of range and comes back. So the driver reconnects by itself (unlike serial drivers, which
leave restarts to the supervisor) and reports each end as records: a ``DISCONNECTED``
event stamped with the time the loss was detected (the controller's supervision timeout,
or the stall limit), plus a ``TECHNICAL_ALARM`` event when a continuous device (heart
rate, oximeter, CGM) lost its link or went silent. A device that closes the link after a
complete transfer gets a ``DISCONNECTED`` event only, logged at debug level. Only
configuration problems raise (``DeviceNotFoundError``) to the supervisor.

Options (times in seconds):
  address | match_service + match_name, profile, adapter ("default"), slots (5),
  state_dir (RACP/watermark state file; memory when absent), scan_timeout_s (30),
  connect_attempts (2), backoff_base_s (0.5), backoff_cap_s (30), silence_timeout_s
  (profile default), battery_interval_s (600), racp_timeout_s (30), racp_poll_s (60),
  idle_s (30), contact_interval_s (60: pause after releasing a RACP device), pair (false:
  true for devices that keep their data behind a bond; the driver pairs on first contact
  and encrypts with the bond afterwards, through bleak's ``pair()``).

Stored-record devices: the last RACP sequence number (and spot-check watermark) travels as
a :class:`~gateway.model.Checkpoint` record right behind the records it covers, so the
buffer commits it in the same transaction as them; on start it is read back from the
buffer in ``state_dir`` (the gateway's data directory). Each stored reading is thus
fetched once and only once across restarts, drops and power cuts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Self

from bleak import BleakClient
from bleak.backends.device import BLEDevice
from bleak.exc import BleakError
from bleak_retry_connector import BleakClientWithServiceCache, establish_connection

from drivers.base import DeviceSpec, DriverCounters
from drivers.ble import uuids
from drivers.ble.manager import DEFAULT_SLOTS, BleAdapter, Match, get_adapter
from drivers.ble.profiles import PROFILES, Delivery, Profile, detect
from drivers.ble.session import BleSession, EndReason, Link, SessionEnd, SessionOptions, short_uuid
from drivers.ble.state import StateStore, TransferState
from gateway.backoff import Backoff
from gateway.cancellation import stop_if_cancelled
from gateway.errors import DeviceNotFoundError
from gateway.model import DeviceEvent, EventKind, Record, stream_id_for

log = logging.getLogger(__name__)

_ADDRESS = re.compile(r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}(/P)?$")
_FLOATS = {
    "scan_timeout_s": 30.0,
    "backoff_base_s": 0.5,
    "backoff_cap_s": 30.0,
    "battery_interval_s": 600.0,
    "racp_timeout_s": 30.0,
    "racp_poll_s": 60.0,
    "idle_s": 30.0,
    "contact_interval_s": 60.0,
}


@dataclass(frozen=True, slots=True)
class BleOptions:
    match: Match
    profile: str | None
    adapter: str
    slots: int
    state_dir: str | None
    scan_timeout_s: float
    connect_attempts: int
    backoff: Backoff
    silence_timeout_s: float | None
    battery_interval_s: float
    racp_timeout_s: float
    racp_poll_s: float
    idle_s: float
    contact_interval_s: float
    pair: bool = False


def _number(options: Mapping[str, object], key: str, default: float) -> float:
    value = options.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ValueError(f"{key}: a positive number of seconds, got {value!r}")
    return float(value)


def parse_options(spec: DeviceSpec) -> BleOptions:
    """Typed options of a ``ble`` device; ``ValueError`` names the bad option."""
    o = spec.options
    address = o.get("address")
    service = o.get("match_service")
    name = o.get("match_name")
    if address is not None and (not isinstance(address, str) or not _ADDRESS.match(address)):
        raise ValueError(f"address: AA:BB:CC:DD:EE:FF (optionally /P), got {address!r}")
    service16: int | None = None
    if service is not None:
        if not isinstance(service, str | int) or isinstance(service, bool):
            raise ValueError(f"match_service: a 16-bit service UUID, got {service!r}")
        service16 = service if isinstance(service, int) else uuids.parse_uuid16(service)
    if name is not None:
        if not isinstance(name, str):
            raise ValueError(f"match_name: a regular expression, got {name!r}")
        try:
            re.compile(name)
        except re.error as exc:
            raise ValueError(f"match_name: not a regular expression: {exc}") from None
    if address is None and service16 is None and name is None:
        raise ValueError("address (or match_service / match_name) is required")
    profile = o.get("profile")
    if profile is not None and profile not in PROFILES:
        raise ValueError(f"profile: one of {', '.join(sorted(PROFILES))}, got {profile!r}")
    adapter = o.get("adapter", "default")
    if not isinstance(adapter, str):
        raise ValueError(f"adapter: a name, got {adapter!r}")
    slots = o.get("slots", DEFAULT_SLOTS)
    attempts = o.get("connect_attempts", 2)
    for key, value in (("slots", slots), ("connect_attempts", attempts)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{key}: a positive integer, got {value!r}")
    pair = o.get("pair", False)
    if not isinstance(pair, bool):
        raise ValueError(f"pair: true or false, got {pair!r}")
    state_dir = o.get("state_dir")
    if state_dir is not None and not isinstance(state_dir, str):
        raise ValueError(f"state_dir: a directory path, got {state_dir!r}")
    f = {key: _number(o, key, default) for key, default in _FLOATS.items()}
    silence = o.get("silence_timeout_s")
    return BleOptions(
        match=Match(
            address.upper() if isinstance(address, str) else None,
            service16,
            name if isinstance(name, str) else None,
        ),
        profile=profile if isinstance(profile, str) else None,
        adapter=adapter,
        slots=int(slots),  # type: ignore[call-overload]
        state_dir=state_dir,
        scan_timeout_s=f["scan_timeout_s"],
        connect_attempts=int(attempts),  # type: ignore[call-overload]
        backoff=Backoff(f["backoff_base_s"], f["backoff_cap_s"]),
        silence_timeout_s=None if silence is None else _number(o, "silence_timeout_s", 1.0),
        battery_interval_s=f["battery_interval_s"],
        racp_timeout_s=f["racp_timeout_s"],
        racp_poll_s=f["racp_poll_s"],
        idle_s=f["idle_s"],
        contact_interval_s=f["contact_interval_s"],
        pair=pair,
    )


def validate(spec: DeviceSpec) -> None:
    parse_options(spec)


class BleDriver:
    """One configured BLE device (see module docstring)."""

    def __init__(
        self, spec: DeviceSpec, counters: DriverCounters, *, store: StateStore | None = None
    ) -> None:
        self.spec = spec
        self.counters = counters
        self.options = parse_options(spec)
        self.store = store or StateStore.in_dir(self.options.state_dir)
        self._owns_store = store is None
        self.adapter: BleAdapter | None = None
        self.client: BleakClient | None = None
        self.state = TransferState()
        self.events = stream_id_for(spec.id, "events")
        self.sessions = 0

    async def __aenter__(self) -> Self:
        self.adapter = await get_adapter(self.options.adapter, self.options.slots)
        self.state = await self.store.load(self.spec.id)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        client, self.client = self.client, None
        if client is not None:
            with contextlib.suppress(BleakError, TimeoutError):
                await client.disconnect()
        if self._owns_store:
            self.store.close()

    def _profile(self, client: BleakClient) -> Profile:
        if self.options.profile is not None:
            return PROFILES[self.options.profile]
        services = [s for s in (short_uuid(svc.uuid) for svc in client.services) if s is not None]
        profile = detect(services)
        if profile is None:
            found = ", ".join(f"0x{s:04X}" for s in services)
            raise DeviceNotFoundError(
                f"device {self.spec.id}: no supported health profile among services {found}"
            )
        return profile

    def _session_options(self, profile: Profile) -> SessionOptions:
        o = self.options
        return SessionOptions(
            silence_timeout_s=o.silence_timeout_s or profile.silence_timeout_s,
            battery_interval_s=o.battery_interval_s,
            racp_timeout_s=o.racp_timeout_s,
            racp_poll_s=o.racp_poll_s,
            idle_s=o.idle_s,
        )

    async def _connect(self, adapter: BleAdapter, device: BLEDevice, link: Link) -> BleakClient:
        try:
            client: BleakClient = await establish_connection(
                BleakClientWithServiceCache,
                device,
                self.spec.id,
                disconnected_callback=link.on_disconnected,
                max_attempts=self.options.connect_attempts,
                **adapter.client_kwargs(),
            )
        except (BleakError, TimeoutError) as exc:
            self.counters.count("connect_failures")
            self.counters.last_error = str(exc)[:200]
            log.info("device %s: connect failed: %s", self.spec.id, exc)
            raise
        if self.options.pair:
            try:
                # bond on first contact, encrypt with the bond's keys afterwards
                await client.pair()
            except (BleakError, TimeoutError) as exc:
                self.counters.count("pairing_failures")
                self.counters.last_error = f"pairing failed: {exc}"[:200]
                log.warning("device %s: pairing failed: %s", self.spec.id, exc)
                with contextlib.suppress(BleakError, TimeoutError):
                    await client.disconnect()
                raise
            self.counters.count("pairings")
        link.connected(client)
        self.counters.count("connects")
        return client

    def _end_records(self, profile: Profile, end: SessionEnd) -> list[Record]:
        detail = f"{end.reason.value}: {end.detail}"
        out: list[Record] = [
            DeviceEvent(self.spec.id, self.events, EventKind.DISCONNECTED, end.received, detail)
        ]
        signal_loss = end.reason in (EndReason.LINK_LOST, EndReason.STALLED)
        if profile.delivery is Delivery.CONTINUOUS and signal_loss:
            out.append(
                DeviceEvent(
                    self.spec.id,
                    self.events,
                    EventKind.TECHNICAL_ALARM,
                    end.received,
                    f"{profile.name} signal loss: {detail}",
                )
            )
            log.warning("device %s: %s", self.spec.id, detail)
        elif signal_loss:
            log.info("device %s: %s; stored records resume on reconnect", self.spec.id, detail)
        else:
            log.debug("device %s: %s", self.spec.id, detail)
        return out

    def _pause_after(self, profile: Profile, end: SessionEnd) -> float:
        # A spot-check device advertises when it has something new: look again at once.
        # A glucose meter advertises all the time: come back after the contact interval.
        if profile.delivery is Delivery.RACP and end.reason in (
            EndReason.RELEASED,
            EndReason.CLOSED_BY_DEVICE,
        ):
            return self.options.contact_interval_s
        return 0.0

    async def records(self) -> AsyncIterator[Record]:
        adapter = self.adapter
        if adapter is None:
            raise RuntimeError("records() called outside 'async with'")
        failures = 0
        pause = 0.0
        while True:
            stop_if_cancelled()
            if pause > 0:
                await asyncio.sleep(pause)
            pause = 0.0
            o = self.options
            device = await adapter.find(o.match, self.spec.id, o.scan_timeout_s)
            if device is None:
                self.counters.count("scan_timeouts")
                continue
            link = Link()
            session: BleSession | None = None
            async with adapter.slots.slot(self.spec.id):
                try:
                    client = await self._connect(adapter, device, link)
                except (BleakError, TimeoutError):
                    failures += 1
                    pause = o.backoff.delay(failures)
                    continue
                failures = 0
                self.client = client
                try:
                    stop_if_cancelled()  # a connect that completed as we were cancelled
                    profile = self._profile(client)
                    self.sessions += 1
                    session = BleSession(
                        device_id=self.spec.id,
                        client=client,
                        link=link,
                        profile=profile,
                        adapter=adapter,
                        counters=self.counters,
                        store=self.store,
                        state=self.state,
                        options=self._session_options(profile),
                    )
                    async for record in session.records():
                        yield record
                finally:
                    if session is not None:
                        self.state = session.state
                    self.client = None
                    if client.is_connected:
                        with contextlib.suppress(BleakError, TimeoutError):
                            await client.disconnect()
            end = session.end if session is not None else None
            if end is None:
                continue
            for record in self._end_records(profile, end):
                yield record
            pause = self._pause_after(profile, end)


def DRIVER(spec: DeviceSpec, counters: DriverCounters) -> BleDriver:
    return BleDriver(spec, counters)
