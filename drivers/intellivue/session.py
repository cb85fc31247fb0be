"""IntelliVue MIB/RS232 session: associate, poll, keep alive, release; yield typed records.

Dialogue (host on the left, Philips Data Export guide via ``serial_protocols.md`` 2.1.5)::

    AARQ (association request)  ->
                                <-  AARE (accept; RF/AB refuse)
                                <-  MDS Create event report (anchors the monitor clock)
    MDS Create result           ->
    extended polls: numerics, [waves], [alerts]  ->   (renewed before they expire)
                                <-  poll results, periodically
    keep-alive (single MDS poll) every ``keep_alive_s``
    ...
    release request (FN)        ->
                                <-  release response (DN)

The sans-IO half (:class:`MonitorStream`, :func:`inbound_records`, :class:`Pacer`,
:class:`AlarmTracker`) does no I/O and reads no clock, so ``edgetwin replay`` uses it on
captures. :class:`IntelliVueSession` is the I/O half: it paces host frames (at most 4 per
128 ms), raises :class:`~gateway.errors.DeviceTimeoutError` when the monitor goes silent
(the supervisor then re-associates) and sends the release on a clean close.

Technical alarms become :class:`~gateway.model.DeviceEvent` ``TECHNICAL_ALARM`` records when
they start and end; physiological alarms become :class:`~gateway.model.Alarm` records (start,
then the same id with ``end_ns``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from types import TracebackType
from typing import NoReturn, Self

from drivers.base import DeviceSpec, DriverCounters
from drivers.intellivue import nomenclature, requests
from drivers.intellivue.apdu import Apdu, MdsCreateEvent, PollResult, RemoteError, parse_apdu
from drivers.intellivue.association import SessionPdu, SessionType
from drivers.intellivue.attributes import TICK_NS, AlarmEntry, AlertObservation
from drivers.intellivue.framing import Deframer
from drivers.intellivue.measurements import Anchor, WaveAttributeCache, alarm_priority, to_records
from drivers.serial.session import (
    PortSettings,
    SerialLink,
    count_parse_error,
    drop_partial_frame,
    option_float,
    port_of,
)
from gateway.errors import DeviceError, DeviceNotFoundError, DeviceTimeoutError, ParseError
from gateway.model import (
    Alarm,
    AlarmKind,
    AlarmPriority,
    DeviceEvent,
    EventKind,
    ReceiveTime,
    Record,
    stream_id_for,
)

log = logging.getLogger(__name__)

NAME = "intellivue"
#: 115200 bit/s, 8N1, no flow control (MIB/RS232).
SETTINGS = PortSettings(baudrate=115200)
_U16 = 0xFFFF


# ----------------------------------------------------------------------------- options


@dataclass(frozen=True, slots=True)
class Options:
    waves: bool = False
    alerts: bool = True
    #: The monitor's clock is local time without a zone: its offset from UTC.
    utc_offset_s: int = 0
    keep_alive_s: float = 5.0
    #: Lifetime of each extended poll; they are renewed shortly before it runs out.
    poll_period_s: float = 30.0
    silence_timeout_s: float = 5.0
    association_timeout_s: float = 5.0

    @property
    def renew_s(self) -> float:
        return self.poll_period_s - min(2.0, 0.2 * self.poll_period_s)


def parse_options(spec: DeviceSpec) -> Options:
    """Options of an ``intellivue`` device (raises ``ValueError`` naming the option)."""
    o = spec.options
    port = o.get("port")
    if not isinstance(port, str) or not port:
        raise ValueError(f"port: the serial port path, got {port!r}")
    flags = {}
    for name, default in (("waves", False), ("alerts", True)):
        value = o.get(name, default)
        if not isinstance(value, bool):
            raise ValueError(f"{name}: true or false, got {value!r}")
        flags[name] = value
    offset = o.get("utc_offset_s", 0)
    if isinstance(offset, bool) or not isinstance(offset, int) or abs(offset) > 14 * 3600:
        raise ValueError(f"utc_offset_s: whole seconds within +-14 h, got {offset!r}")
    return Options(
        waves=flags["waves"],
        alerts=flags["alerts"],
        utc_offset_s=offset,
        keep_alive_s=option_float(spec, "keep_alive_s", 5.0, 0.2, 60.0),
        poll_period_s=option_float(spec, "poll_period_s", 30.0, 2.0, 3600.0),
        silence_timeout_s=option_float(spec, "silence_timeout_s", 5.0, 0.5, 300.0),
        association_timeout_s=option_float(spec, "association_timeout_s", 5.0, 0.5, 60.0),
    )


# ---------------------------------------------------------------------------- sans-IO


class Pacer:
    """At most ``frames`` host frames in any ``window_s`` (the guide: 4 per 128 ms)."""

    def __init__(self, frames: int = 4, window_s: float = 0.128) -> None:
        self.frames = frames
        self.window_s = window_s
        self._sent: deque[float] = deque(maxlen=frames)

    def delay(self, now: float) -> float:
        """Seconds to wait before the next frame may go out at ``now``."""
        if len(self._sent) < self.frames:
            return 0.0
        return max(0.0, self._sent[0] + self.window_s - now)

    def sent(self, now: float) -> None:
        self._sent.append(now)


@dataclass(frozen=True, slots=True)
class AlarmChange:
    """An alarm of the monitor's P (physiological) or T (technical) list came or went."""

    technical: bool
    entry: AlarmEntry
    started: bool
    rel_time: int


def _alarm_key(technical: bool, e: AlarmEntry) -> tuple[bool, int, int, int]:
    return technical, e.source, e.code, e.instance or 0


class AlarmTracker:
    """Turns the alarm lists of successive alert polls into start and end changes."""

    def __init__(self) -> None:
        self.active: dict[tuple[bool, int, int, int], AlarmEntry] = {}

    def update(self, obs: AlertObservation) -> list[AlarmChange]:
        now = {_alarm_key(False, e): e for e in obs.patient_alarms}
        now.update({_alarm_key(True, e): e for e in obs.technical_alarms})
        changes = [
            AlarmChange(key[0], entry, False, obs.rel_time)
            for key, entry in self.active.items()
            if key not in now
        ]
        changes += [
            AlarmChange(key[0], entry, True, obs.rel_time)
            for key, entry in now.items()
            if key not in self.active
        ]
        self.active = now
        return changes


@dataclass(frozen=True, slots=True, eq=False)
class Inbound:
    """One APDU from the monitor with the context needed to turn it into records."""

    apdu: Apdu
    anchor: Anchor | None
    cache: WaveAttributeCache
    alarm_changes: tuple[AlarmChange, ...] = ()


class MonitorStream:
    """Sans-IO decoder of what a monitor sends: frames -> APDUs, with clock and alarm state.

    The anchor follows the latest MDS Create event that carries both times; a new MDS
    Create (a new association) also forgets cached wave attributes and active alarms.
    """

    def __init__(self, utc_offset_s: int = 0) -> None:
        self.utc_offset_s = utc_offset_s
        self.deframer = Deframer()
        self.anchor: Anchor | None = None
        self.cache = WaveAttributeCache()
        self.alarms = AlarmTracker()
        #: Wave arrays still waiting for a sample period when a new association began.
        self.abandoned_waves = 0

    @property
    def pending(self) -> int:
        return self.deframer.pending

    def feed(self, data: bytes) -> list[Inbound | ParseError]:
        out: list[Inbound | ParseError] = []
        for frame in self.deframer.feed(data):
            if isinstance(frame, ParseError):
                out.append(frame)
                continue
            try:
                apdu = parse_apdu(frame.user_data)
            except ParseError as exc:
                out.append(exc)
                continue
            changes: tuple[AlarmChange, ...] = ()
            if isinstance(apdu, MdsCreateEvent):
                self.abandoned_waves += self.cache.held
                self.cache = WaveAttributeCache()
                self.alarms = AlarmTracker()
                self.anchor = Anchor.from_mds(apdu, self.utc_offset_s)
            elif isinstance(apdu, PollResult):
                changes = tuple(
                    change
                    for obs in apdu.observations
                    if isinstance(obs, AlertObservation)
                    for change in self.alarms.update(obs)
                )
            out.append(Inbound(apdu, self.anchor, self.cache, changes))
        return out


def _describe(entry: AlarmEntry) -> str:
    if entry.string:
        return entry.string
    return f"{nomenclature.physio_label(entry.source)} alarm {entry.code:#06x}"


def _alarm_record(
    change: AlarmChange,
    device_id: str,
    patient: str,
    received: ReceiveTime,
    anchor: Anchor | None,
) -> Record:
    e = change.entry
    priority = alarm_priority(e.alert_type)
    when = received.wall_ns if anchor is None else anchor.device_ns(change.rel_time)
    if change.technical:
        state = "started" if change.started else "ended"
        level = "" if priority is None else f", {priority.name.lower()} priority"
        return DeviceEvent(
            device_id,
            stream_id_for(device_id, "events"),
            EventKind.TECHNICAL_ALARM,
            received,
            f"{state}: {_describe(e)} (source {e.source}, code {e.code}{level})",
        )
    alarm_id = f"{device_id}/{e.source}/{e.code}/{e.instance or 0}"
    return Alarm(
        stream_id=stream_id_for(device_id, "alarms"),
        alarm_id=alarm_id,
        patient_id=patient,
        priority=priority or AlarmPriority.LOW,
        alarm_kind=AlarmKind.PHYSIOLOGICAL,
        condition=_describe(e),
        start_ns=when,
        received=received,
        end_ns=None if change.started else when,
        device_id=device_id,
    )


def inbound_records(
    item: Inbound, device_id: str, received: ReceiveTime, patient: str = ""
) -> list[Record]:
    """Records of one inbound APDU: numerics, waves and alarm changes of poll results."""
    apdu = item.apdu
    if not isinstance(apdu, PollResult):
        return []
    out: list[Record] = list(
        to_records(apdu.observations, device_id, received, item.anchor, item.cache)
    )
    out.extend(
        _alarm_record(c, device_id, patient, received, item.anchor) for c in item.alarm_changes
    )
    return out


# -------------------------------------------------------------------------------- I/O


class IntelliVueSession:
    """One IntelliVue monitor on a MIB/RS232 port (``async with`` associates)."""

    def __init__(self, spec: DeviceSpec, counters: DriverCounters) -> None:
        self.spec = spec
        self.counters = counters
        self.port = port_of(spec)
        self.options = parse_options(spec)
        self.mds: MdsCreateEvent | None = None
        self._link: SerialLink | None = None
        self._stream = MonitorStream(self.options.utc_offset_s)
        self._pacer = Pacer()
        self._invoke_id = 0
        self._poll_number = 0
        self._accepted = False
        self._backlog: list[tuple[Inbound, ReceiveTime]] = []

    # -- connection lifetime

    async def __aenter__(self) -> Self:
        self._link = await SerialLink.open(self.spec.id, self.port, SETTINGS)
        try:
            await self._associate()
        except BaseException as exc:
            await self._shutdown(release=not isinstance(exc, DeviceNotFoundError))
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._shutdown(release=exc_type is not DeviceNotFoundError)

    async def _shutdown(self, release: bool) -> None:
        drop_partial_frame(self.counters, self.spec.id, NAME, self._stream.pending)
        self._drop_waves(self._stream.cache.held, "the connection ended")
        self._stream = MonitorStream(self.options.utc_offset_s)
        link, self._link = self._link, None
        if link is None:
            return
        try:
            if release and self._accepted and not link.closed:
                with contextlib.suppress(DeviceError):
                    await self._send(link, requests.release_request())
                    self.counters.count("releases")
                    await self._await_release(link)
        finally:
            self._accepted = False
            await link.close()

    async def _await_release(self, link: SerialLink, timeout_s: float = 1.0) -> None:
        """Wait briefly for the monitor's release response (DN); other frames are ignored."""
        deadline = time.monotonic() + timeout_s
        stream = MonitorStream()
        while (left := deadline - time.monotonic()) > 0:
            chunk = await link.read(left)
            if chunk is None:
                return
            for item in stream.feed(chunk):
                apdu = item.apdu if isinstance(item, Inbound) else None
                if isinstance(apdu, SessionPdu) and apdu.kind in (SessionType.DN, SessionType.AB):
                    return

    # -- association

    async def _associate(self) -> None:
        link = self._require_link()
        await self._send(link, requests.aarq())
        deadline = time.monotonic() + self.options.association_timeout_s
        while self.mds is None:
            got = await self._read_items(link, deadline - time.monotonic())
            if got is None:
                waiting = "MDS Create event" if self._accepted else "association response"
                raise DeviceTimeoutError(
                    f"device {self.spec.id}: no {waiting} from the monitor on {self.port} "
                    f"within {self.options.association_timeout_s:g} s"
                )
            items, received = got
            for item in items:
                apdu = item.apdu
                if isinstance(apdu, SessionPdu) and apdu.kind is SessionType.AC:
                    self._accepted = True
                elif isinstance(apdu, SessionPdu):
                    self._ended_by_monitor(apdu)
                elif isinstance(apdu, MdsCreateEvent) and self._accepted:
                    await self._on_mds_create(link, apdu, received)
                elif self._created():
                    self._backlog.append((item, received))
        await self._send_polls(link)

    async def _on_mds_create(
        self, link: SerialLink, event: MdsCreateEvent, received: ReceiveTime
    ) -> None:
        await self._send(link, requests.mds_create_result(event))
        self.mds = event
        if self._stream.anchor is None and event.rel_time is not None:
            # No absolute time: anchor the relative clock at our own receive time.
            self._stream.anchor = Anchor(received.wall_ns, event.rel_time)
        log.info(
            "device %s: associated with %s %s on %s",  # no bed label: logs name no patient
            self.spec.id,
            event.manufacturer,
            event.model,
            self.port,
        )

    def _created(self) -> bool:
        return self.mds is not None

    def _ended_by_monitor(self, pdu: SessionPdu) -> NoReturn:
        self._accepted = False
        raise DeviceNotFoundError(
            f"device {self.spec.id}: the monitor ended the association ({pdu.kind.name})"
        )

    # -- requests

    def _next_ids(self) -> tuple[int, int]:
        self._invoke_id = self._invoke_id % _U16 + 1
        self._poll_number = self._poll_number % _U16 + 1
        return self._invoke_id, self._poll_number

    async def _send_polls(self, link: SerialLink) -> None:
        period = round(self.options.poll_period_s * 1e9 / TICK_NS)
        await self._send(link, requests.poll_numerics(*self._next_ids(), period))
        if self.options.waves:
            await self._send(link, requests.poll_waves(*self._next_ids(), period))
        if self.options.alerts:
            await self._send(link, requests.poll_alerts(*self._next_ids(), period))

    async def _send(self, link: SerialLink, frame: bytes) -> None:
        delay = self._pacer.delay(time.monotonic())
        if delay > 0:
            await asyncio.sleep(delay)
        self._pacer.sent(time.monotonic())
        await link.write(frame)
        self.counters.count("frames_out")

    def _drop_waves(self, n: int, why: str) -> None:
        """Count (and log) wave arrays dropped because their sample period never came."""
        if n <= 0:
            return
        self.counters.count("waves_dropped", n)
        log.warning(
            "device %s: dropped %d wave array(s) whose sample period the monitor had not sent "
            "yet (%s); a monitor repeats it in later results, so frequent drops mean "
            "results are being lost on the line",
            self.spec.id,
            n,
            why,
        )

    def _require_link(self) -> SerialLink:
        if self._link is None:
            raise RuntimeError("IntelliVue session used outside 'async with'")
        return self._link

    async def _read_items(
        self, link: SerialLink, timeout_s: float
    ) -> tuple[list[Inbound], ReceiveTime] | None:
        chunk = await link.read(timeout_s)
        if chunk is None:
            return None
        received = ReceiveTime.now()
        self.counters.count("bytes_in", len(chunk))
        items: list[Inbound] = []
        abandoned = self._stream.abandoned_waves
        fed = self._stream.feed(chunk)
        self._drop_waves(
            self._stream.abandoned_waves - abandoned, "the monitor began a new association"
        )
        for item in fed:
            if isinstance(item, ParseError):
                count_parse_error(self.counters, self.spec.id, item)
                continue
            self.counters.count("frames")
            items.append(item)
        return items, received

    # -- data

    async def records(self) -> AsyncIterator[Record]:
        link = self._require_link()
        mds = self.mds
        detail = self.port
        if mds is not None:
            who = " ".join(x for x in (mds.manufacturer, mds.model, mds.bed_label) if x)
            detail = f"{self.port}: {who}" if who else self.port
        yield DeviceEvent(
            self.spec.id,
            stream_id_for(self.spec.id, "events"),
            EventKind.CONNECTED,
            ReceiveTime.now(),
            detail,
        )
        backlog, self._backlog = self._backlog, []
        for item, received in backlog:
            for record in await self._handle(link, item, received):
                yield record
        opt = self.options
        now = time.monotonic()
        last_frame, next_keep_alive, next_renew = now, now + opt.keep_alive_s, now + opt.renew_s
        while True:
            now = time.monotonic()
            if now - last_frame >= opt.silence_timeout_s:
                raise DeviceTimeoutError(
                    f"device {self.spec.id}: no frame from the monitor on {self.port} for "
                    f"{opt.silence_timeout_s:g} s"
                )
            if now >= next_keep_alive:
                await self._send(link, requests.keep_alive(*self._next_ids()))
                next_keep_alive = now + opt.keep_alive_s
            if now >= next_renew:
                await self._send_polls(link)
                next_renew = now + opt.renew_s
            wait = min(last_frame + opt.silence_timeout_s, next_keep_alive, next_renew)
            got = await self._read_items(link, wait - time.monotonic())
            if got is None:
                continue
            items, received = got
            if items:
                last_frame = time.monotonic()
            for item in items:
                for record in await self._handle(link, item, received):
                    yield record

    async def _handle(self, link: SerialLink, item: Inbound, received: ReceiveTime) -> list[Record]:
        apdu = item.apdu
        if isinstance(apdu, PollResult):
            cache = item.cache
            skipped, recovered = cache.skipped, cache.recovered
            records = inbound_records(item, self.spec.id, received, self.spec.patient)
            if cache.recovered > recovered:
                self.counters.count("waves_recovered", cache.recovered - recovered)
            self._drop_waves(cache.skipped - skipped, f"more than {cache.max_held} were waiting")
            return records
        if isinstance(apdu, MdsCreateEvent):
            # The monitor started over (e.g. after a restart): confirm and poll again.
            await self._on_mds_create(link, apdu, received)
            await self._send_polls(link)
        elif isinstance(apdu, SessionPdu) and apdu.kind is not SessionType.AC:
            self._ended_by_monitor(apdu)
        elif isinstance(apdu, RemoteError):
            self.counters.count("remote_errors")
            log.warning(
                "device %s: the monitor refused operation %d (error %d)",
                self.spec.id,
                apdu.invoke_id,
                apdu.error_value,
            )
        return []
