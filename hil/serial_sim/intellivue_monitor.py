"""Philips IntelliVue monitor simulator on its MIB/RS232 port, from the specification.

It answers the host the way the Data Export guide describes (``serial_protocols.md`` 2.1.5):

* an association request (session byte 0x0D) gets an AARE, then the MDS Create event with
  the monitor's absolute and relative time;
* once the host confirmed the MDS Create, extended polls for numerics (object class 6),
  waves (9) and alerts (54) start periodic results: numerics and alerts every second
  (numerics as linked RORLS segments and a closing empty RORS), waves every 256 ms with
  ECG II at 250 Hz and pleth at 125 Hz (static attributes in the first result of a poll and
  every eighth); a new extended poll for the same class replaces the old one, and a poll
  runs until its period (``NOM_ATTR_TIME_PD_POLL``) is over;
  (the ledger counts wave results sent before any result with the static attributes
  reached the host as uncertain: the host cannot time them until a later result does);
* a single poll of the MDS (the host's keep-alive) gets an empty single-poll result;
* a release request (0x09) gets the release response and ends the association; so does
  ``host_timeout_s`` without a word from the host.

Host frames are deframed and checked here (BOF/EOF, 0x7D escaping, CRC-16/X.25 residue);
answers are built with the spec-written :mod:`hil.intellivue_sim.encoder`. Protocol timers
(poll periods, host timeout) run in real seconds; the data clock runs in scenario time.
"""

from __future__ import annotations

import asyncio
import enum
import struct
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from hil.intellivue_sim import encoder as enc
from hil.serial_sim.base import Fate, SimulatorBase
from hil.serial_sim.faults import Fault
from hil.serial_sim.link import SimPort
from hil.serial_sim.scenario import Scenario, Vitals, WaveSource, constant, ecg_wave, pleth_wave

TICKS_PER_S = 8000
WAVE_PERIOD_S = 0.256
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
REL0 = 1_950_208  # the monitor's relative clock when the scenario starts
_MAX_FRAME = 4096

# Object classes, actions, events (partition NOM_PART_OBJ).
NUMERICS, WAVES, ALERTS, MDS = 6, 9, 54, 33
_ACT_POLL, _ACT_POLL_EXT = 0x0C16, 0xF13B
_NOTI_MDS_CREAT = 0x0D06
_ATTR_TIME_PD_POLL = 0xF13E
# Measurement states.
INVALID, UNAVAILABLE = 0x8000, 0x2000

# (handle, physio id, unit code, Vitals field) of the simple numerics.
NUMERIC_OBJECTS: tuple[tuple[int, int, int, str], ...] = (
    (1, 0x4182, 2720, "hr"),  # NOM_ECG_CARD_BEAT_RATE, bpm
    (2, 0x4BB8, 544, "spo2"),  # NOM_PULS_OXIM_SAT_O2, %
    (3, 0x4822, 2720, "pulse"),  # NOM_PLETH_PULS_RATE, bpm
    (4, 0x500A, 2784, "rr"),  # NOM_RESP_RATE, breaths/min
    (5, 0x4B48, 6048, "temp"),  # NOM_TEMP, degC
)
NBP_HANDLE = 6
NBP_IDS = (0x4A05, 0x4A06, 0x4A07)  # NOM_PRESS_BLD_NONINV_SYS/DIA/MEAN, mmHg
ECG_HANDLE, PLETH_HANDLE, ALERT_HANDLE = 10, 11, 20
ECG_II, PLETH = 0x0102, 0x4BB4
#: physio id -> (handle, sample period in ticks, samples per 256 ms result, scale, unit).
WAVE_OBJECTS: dict[int, tuple[int, int, int, tuple[float, float, int, int], int]] = {
    ECG_II: (ECG_HANDLE, 32, 64, (-40.96, 40.955, 0, 16383), 4274),
    PLETH: (PLETH_HANDLE, 64, 32, (0.0, 1.6383, 0, 16383), 512),
}
_PRIORITY_BITS = {"low": 0x1, "medium": 0x2, "high": 0x4}  # technical; << 8 for patient


# ------------------------------------------------------------------ host side, parsed


class HostKind(enum.Enum):
    ASSOCIATE = "associate"
    RELEASE = "release"
    ABORT = "abort"
    MDS_RESULT = "mds_result"
    POLL = "poll"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class HostMessage:
    kind: HostKind
    invoke_id: int = 0
    extended: bool = False
    poll_number: int = 0
    obj_code: int = 0
    attr_group: int = 0
    period_ticks: int | None = None


class HostFrames:
    """Deframe what the host sends: BOF C0 ... EOF C1, 7D x -> x ^ 0x20, FCS residue check."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._in_frame = False
        self.bad_frames = 0

    def feed(self, data: bytes) -> list[bytes]:
        out: list[bytes] = []
        for byte in data:
            if byte == 0xC0:
                if self._in_frame and self._buf:
                    self.bad_frames += 1
                self._buf.clear()
                self._in_frame = True
            elif byte == 0xC1:
                if self._in_frame:
                    user_data = self._check(bytes(self._buf))
                    if user_data is None:
                        self.bad_frames += 1
                    else:
                        out.append(user_data)
                self._buf.clear()
                self._in_frame = False
            elif self._in_frame:
                self._buf.append(byte)
                if len(self._buf) > _MAX_FRAME:
                    self.bad_frames += 1
                    self._buf.clear()
                    self._in_frame = False
        return out

    @staticmethod
    def _check(raw: bytes) -> bytes | None:
        body = bytearray()
        it = iter(raw)
        for byte in it:
            if byte == 0x7D:
                nxt = next(it, None)
                if nxt is None:
                    return None  # 7D C1: aborted frame
                body.append(nxt ^ 0x20)
            else:
                body.append(byte)
        if len(body) < 6 or enc.crc16_x25(bytes(body)) != 0xF0B8:
            return None
        if body[0] != 0x11 or body[1] != 0x01:
            return None
        (length,) = struct.unpack_from(">H", body, 2)
        if length != len(body) - 6:
            return None
        return bytes(body[4:-2])


def parse_host(user_data: bytes) -> HostMessage:
    """What a host message asks for (only the fields this monitor acts on)."""
    if not user_data:
        return HostMessage(HostKind.OTHER)
    first = user_data[0]
    if first == 0x0D:
        return HostMessage(HostKind.ASSOCIATE)
    if first == 0x09:
        return HostMessage(HostKind.RELEASE)
    if first == 0x19:
        return HostMessage(HostKind.ABORT)
    if first != 0xE1 or len(user_data) < 14:
        return HostMessage(HostKind.OTHER)
    # SPpdu(4) ROapdus{ro_type, length}(4) {invoke_id, command_type, length}(6)
    ro_type, _ = struct.unpack_from(">HH", user_data, 4)
    invoke_id, command, _ = struct.unpack_from(">HHH", user_data, 8)
    if ro_type == 2 and command == 1 and len(user_data) >= 26:
        # EventReportResult: managed object(6), current_time(4), event_type(2), length(2)
        (event_type,) = struct.unpack_from(">H", user_data, 24)
        if event_type == _NOTI_MDS_CREAT:
            return HostMessage(HostKind.MDS_RESULT, invoke_id)
    if ro_type == 1 and command == 7 and len(user_data) >= 36:
        # ActionArgument: managed object(6), scope(4), action_type(2), length(2), then
        # PollMdibDataReq: poll_number, partition, code, attr_group [, AttributeList]
        (action,) = struct.unpack_from(">H", user_data, 24)
        if action in (_ACT_POLL, _ACT_POLL_EXT):
            poll_number, _partition, code, group = struct.unpack_from(">HHHH", user_data, 28)
            period = None
            if action == _ACT_POLL_EXT and len(user_data) >= 40:
                count, _length = struct.unpack_from(">HH", user_data, 36)
                pos = 40
                for _ in range(count):
                    if pos + 4 > len(user_data):
                        break
                    aid, ln = struct.unpack_from(">HH", user_data, pos)
                    if aid == _ATTR_TIME_PD_POLL and ln == 4 and pos + 8 <= len(user_data):
                        (period,) = struct.unpack_from(">I", user_data, pos + 4)
                    pos += 4 + ln
            return HostMessage(
                HostKind.POLL,
                invoke_id,
                action == _ACT_POLL_EXT,
                poll_number,
                code,
                group,
                period,
            )
    return HostMessage(HostKind.OTHER, invoke_id)


# --------------------------------------------------------------------- the monitor


def bad_fcs_frame(user_data: bytes) -> bytes:
    """A correctly escaped frame whose FCS is off by one bit."""
    body = bytes((0x11, 0x01)) + struct.pack(">H", len(user_data)) + user_data
    fcs = (enc.crc16_x25(body) ^ 0xFFFF) ^ 0x0001
    body += bytes((fcs & 0xFF, fcs >> 8))
    out = bytearray((0xC0,))
    for byte in body:
        out += bytes((0x7D, byte ^ 0x20)) if byte in (0xC0, 0xC1, 0x7D) else bytes((byte,))
    return bytes(out + b"\xc1")


def _corrupter(user_data: bytes) -> Callable[[bytes], bytes]:
    return lambda _wire: bad_fcs_frame(user_data)


@dataclass(slots=True)
class _Job:
    """A running extended poll."""

    invoke_id: int
    poll_number: int
    expires: float  # time.monotonic()
    next_t: float  # scenario time of the next result
    sequence: int = 0


class State(enum.Enum):
    IDLE = "idle"
    AWAIT_MDS_RESULT = "await_mds_result"
    ASSOCIATED = "associated"


@dataclass(frozen=True, slots=True)
class NumericValue:
    physio_id: int
    value: float | None


class IntelliVueMonitor(SimulatorBase):
    tick_s = WAVE_PERIOD_S

    def __init__(
        self,
        port: SimPort,
        scenario: Scenario | None = None,
        *,
        ecg: WaveSource | None = None,
        pleth: WaveSource | None = None,
        utc_offset_s: int = 0,
        host_timeout_s: float = 30.0,
        linked_segment: int = 3,
        speed: float = 1.0,
        faults: Sequence[Fault] = (),
        seed: int = 0,
    ) -> None:
        super().__init__(port, speed=speed, faults=faults, seed=seed)
        self.scenario = scenario or constant()
        self.sources: dict[int, WaveSource] = {
            ECG_II: ecg or ecg_wave(250.0),
            PLETH: pleth or pleth_wave(125.0),
        }
        self.utc_offset_s = utc_offset_s
        self.host_timeout_s = host_timeout_s
        self.linked_segment = linked_segment
        self.host = HostFrames()
        self.state = State.IDLE
        self.jobs: dict[int, _Job] = {}
        self.samples: dict[int, int] = dict.fromkeys(WAVE_OBJECTS, 0)
        self.associations = 0
        self.releases = 0
        self.keep_alives = 0
        self.host_messages: list[HostMessage] = []
        self._invoke_id = 0
        self._last_host = time.monotonic()
        #: A wave result with the static attributes reached the host in this association.
        self._static_delivered = False

    # -- clock

    @staticmethod
    def rel_time(t: float) -> int:
        return (REL0 + round(t * TICKS_PER_S)) & 0xFFFFFFFF

    def device_ns(self, t: float) -> int:
        """UTC epoch ns the host should compute for a result sent at scenario time ``t``."""
        epoch_ns = int(EPOCH.timestamp()) * 1_000_000_000
        return epoch_ns + round(t * TICKS_PER_S) * 125_000

    # -- session

    def session_ready(self) -> bool:
        return self.state is State.ASSOCIATED and NUMERICS in self.jobs

    def on_unplug(self) -> None:
        self.state = State.IDLE
        self.jobs.clear()
        self.host = HostFrames()
        self._static_delivered = False

    async def _answer(self, wire: bytes) -> None:
        if self.t >= self._pause_until:  # a paused monitor says nothing at all
            await self.send_raw(wire)

    async def _on_host(self, msg: HostMessage, t: float) -> None:
        self.host_messages.append(msg)
        self._last_host = time.monotonic()
        if msg.kind is HostKind.ASSOCIATE:
            self.jobs.clear()
            self._static_delivered = False
            self.state = State.AWAIT_MDS_RESULT
            self.associations += 1
            await self._answer(enc.frame(enc.aare()))
            # Stamp the event on a 1/100 s boundary so absolute and relative time agree.
            t_mds = int(t * 100) / 100
            local = (EPOCH + timedelta(seconds=t_mds + self.utc_offset_s)).replace(tzinfo=None)
            self._invoke_id = self._invoke_id % 0xFFFF + 1
            event = enc.mds_create_event(
                invoke_id=self._invoke_id, when=local, rel_time=self.rel_time(t_mds)
            )
            await self._answer(enc.frame(event))
        elif msg.kind is HostKind.MDS_RESULT and self.state is State.AWAIT_MDS_RESULT:
            self.state = State.ASSOCIATED
        elif msg.kind in (HostKind.RELEASE, HostKind.ABORT):
            self.state = State.IDLE
            self.jobs.clear()
            if msg.kind is HostKind.RELEASE:
                self.releases += 1
                await self._answer(enc.frame(enc.release_response()))
        elif msg.kind is HostKind.POLL and self.state is State.ASSOCIATED:
            await self._on_poll(msg, t)

    async def _on_poll(self, msg: HostMessage, t: float) -> None:
        if not msg.extended:
            self.keep_alives += 1
            result = enc.poll_result(
                (),
                invoke_id=msg.invoke_id,
                obj_code=msg.obj_code,
                poll_number=msg.poll_number,
                rel_time=self.rel_time(t),
                extended=False,
                attr_group=msg.attr_group,
            )
            await self._answer(enc.frame(result))
            return
        if msg.obj_code not in (NUMERICS, WAVES, ALERTS):
            await self._answer(enc.frame(enc.remote_error(msg.invoke_id, 9)))
            return
        period = msg.period_ticks if msg.period_ticks is not None else 10 * TICKS_PER_S
        old = self.jobs.get(msg.obj_code)
        self.jobs[msg.obj_code] = _Job(
            msg.invoke_id,
            msg.poll_number,
            time.monotonic() + period / TICKS_PER_S,
            t if old is None else old.next_t,  # a renewal keeps the cadence
            0 if old is None else old.sequence,
        )

    async def serve_host(self, poll_s: float = 0.005) -> None:
        """After the scenario: keep answering association, release and keep-alive polls
        (until cancelled), as a monitor with nothing more to export would; data polls
        are not answered, since the scenario's data is over."""
        while True:
            for user_data in self.host.feed(self.port.read_nowait()):
                msg = parse_host(user_data)
                if msg.kind is not HostKind.POLL or not msg.extended:
                    await self._on_host(msg, self.t)
            await asyncio.sleep(poll_s)

    # -- the clock ticks

    async def tick(self, t: float) -> None:
        for user_data in self.host.feed(self.port.read_nowait()):
            await self._on_host(parse_host(user_data), t)
        now = time.monotonic()
        if self.state is not State.IDLE and now - self._last_host > self.host_timeout_s:
            self.state = State.IDLE  # the host went quiet: the monitor stops exporting
            self.jobs.clear()
        for code, job in list(self.jobs.items()):
            if now > job.expires:
                del self.jobs[code]
            elif t >= job.next_t:
                await self._result(code, job, t)

    async def _result(self, code: int, job: _Job, t: float) -> None:
        if code == NUMERICS:
            await self._numerics(job, t)
            job.next_t = t + 1.0
        elif code == WAVES:
            await self._waves(job, t)
            job.next_t = t + WAVE_PERIOD_S
        else:
            await self._alerts(job, t)
            job.next_t = t + 1.0
        job.sequence = (job.sequence + 1) & 0xFFFF

    def _numeric_objects(self, v: Vitals) -> list[tuple[enc.SimNumeric, tuple[NumericValue, ...]]]:
        out: list[tuple[enc.SimNumeric, tuple[NumericValue, ...]]] = []
        for handle, physio, unit, name in NUMERIC_OBJECTS:
            value: float | None = getattr(v, name)
            if value is not None:
                value = round(value, 1) if name == "temp" else float(round(value))
            sim = enc.SimValue(
                physio, unit, "nan" if value is None else value, 0 if value is not None else INVALID
            )
            out.append((enc.SimNumeric(handle, (sim,)), (NumericValue(physio, value),)))
        nbp = v.nbp
        parts = [None, None, None] if nbp is None else [float(round(p)) for p in nbp]
        sims = tuple(
            enc.SimValue(pid, 3872, "nan" if p is None else p, UNAVAILABLE if p is None else 0)
            for pid, p in zip(NBP_IDS, parts, strict=True)
        )
        values = tuple(NumericValue(pid, p) for pid, p in zip(NBP_IDS, parts, strict=True))
        out.append((enc.SimNumeric(NBP_HANDLE, sims, compound=True), values))
        return out

    async def _numerics(self, job: _Job, t: float) -> None:
        objects = self._numeric_objects(self.scenario(t))
        rel = self.rel_time(t)
        frames = enc.linked_poll_results(
            [o for o, _ in objects],
            per_segment=self.linked_segment,
            invoke_id=job.invoke_id,
            obj_code=NUMERICS,
            poll_number=job.poll_number,
            rel_time=rel,
            sequence_no=job.sequence,
        )
        for i, user_data in enumerate(frames):
            chunk = objects[i * self.linked_segment : (i + 1) * self.linked_segment]
            payload = tuple(value for _, values in chunk for value in values)
            await self.emit(
                ("numerics", rel, i),
                payload,
                enc.frame(user_data),
                _corrupter(user_data),
            )

    async def _waves(self, job: _Job, t: float) -> None:
        static = job.sequence % 8 == 0
        objects: list[enc.SimObject] = []
        payload: dict[int, tuple[int, ...]] = {}
        for physio, (handle, period, count, scale, unit) in WAVE_OBJECTS.items():
            start = self.samples[physio]
            samples = tuple(self.sources[physio](start + i) & 0x3FFF for i in range(count))
            self.samples[physio] = start + count
            payload[physio] = samples
            objects.append(
                enc.SimWave(
                    handle,
                    (enc.SimArray(physio, samples),),
                    label=0x00020000 | physio,
                    sample_period=period,
                    scale=scale,
                    unit_code=unit,
                    static=static,
                )
            )
        rel = self.rel_time(t)
        user_data = enc.poll_result(
            objects,
            invoke_id=job.invoke_id,
            obj_code=WAVES,
            poll_number=job.poll_number,
            rel_time=rel,
            sequence_no=job.sequence,
        )
        sent = await self.emit(("waves", rel), payload, enc.frame(user_data), _corrupter(user_data))
        if sent.fate is not Fate.DELIVERED:
            return
        if static:
            self._static_delivered = True
        elif not self._static_delivered:
            # without the sample period the host can only hold it (until a later result
            # repeats the static attributes) or drop it: either is right
            sent.fate = Fate.UNCERTAIN
            sent.note = "sent before the host had the wave's static attributes"

    async def _alerts(self, job: _Job, t: float) -> None:
        v = self.scenario(t)
        patient: list[enc.SimAlarm] = []
        technical: list[enc.SimAlarm] = []
        for a in v.alerts:
            bits = _PRIORITY_BITS.get(a.priority, 0x2)
            alarm = enc.SimAlarm(a.source, a.code, bits if a.technical else bits << 8, a.text)
            (technical if a.technical else patient).append(alarm)
        alerts = enc.SimAlerts(ALERT_HANDLE, patient=tuple(patient), technical=tuple(technical))
        rel = self.rel_time(t)
        user_data = enc.poll_result(
            [alerts],
            invoke_id=job.invoke_id,
            obj_code=ALERTS,
            poll_number=job.poll_number,
            rel_time=rel,
            sequence_no=job.sequence,
            attr_group=0x0801,
        )
        payload = tuple(a.text for a in v.alerts)
        await self.emit(("alerts", rel), payload, enc.frame(user_data), _corrupter(user_data))

    def sample_frame(self) -> bytes:
        objects = [o for o, _ in self._numeric_objects(self.scenario(self.t))]
        return enc.frame(enc.poll_result(objects, invoke_id=1, obj_code=NUMERICS))
