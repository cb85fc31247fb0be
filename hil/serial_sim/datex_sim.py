"""GE/Datex-Ohmeda S/5 monitor simulator (Computer Interface), from the specifications.

It reads the host's request frames from the pty (deframed and checked here with its own
small code: flags 0x7E, ``7D xx`` -> ``xx | 0x20``, 8-bit sum of the record), then:

* a displayed-values request (PHDB, ``tx_ival`` > 0) starts a ``dri_phdb`` record every
  ``tx_ival`` scenario seconds; ``tx_ival`` 0 stops it, -1 sends one at once;
* a waveform request starts continuous wave records (one every 250 ms, samples at each
  waveform's rate); a stop request ends them;
* alarm requests are acknowledged by silence (not simulated).

Records are built with the spec-written :mod:`hil.serial_sim.datex_encoder`. When the cable
is pulled the monitor loses CTS and stops everything until it is asked again.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from hil.serial_sim import datex_encoder as enc
from hil.serial_sim.base import SimulatorBase
from hil.serial_sim.faults import Fault
from hil.serial_sim.link import SimPort
from hil.serial_sim.scenario import Scenario, Vitals, WaveSource, constant, ecg_wave, pleth_wave

EPOCH_S = 1_767_225_600  # 2026-01-01T00:00:00Z, the simulated monitor's clock at t = 0
WAVE_PACKET_S = 0.25
#: Samples per second by waveform id (DRI spec): ECG1-3 300, INVP1-4 100, PLETH 100, CO2 25.
RATES: dict[int, int] = {1: 300, 2: 300, 3: 300, 4: 100, 5: 100, 6: 100, 7: 100, 8: 100, 9: 25}
_EXISTS_ACTIVE = 0x3
_MAX_REQUEST = 2 * 1500


@dataclass(frozen=True, slots=True)
class Request:
    maintype: int
    sr_type: int
    body: bytes


class RequestDeframer:
    """Host frames -> checked records (written from the Computer Interface spec)."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self.bad_frames = 0

    def feed(self, data: bytes) -> list[Request]:
        out: list[Request] = []
        for byte in data:
            if byte != enc.FLAG:
                if len(self._buf) < _MAX_REQUEST:
                    self._buf.append(byte)
                continue
            raw, self._buf = bytes(self._buf), bytearray()
            if not raw:
                continue
            request = self._record(raw)
            if request is None:
                self.bad_frames += 1
            else:
                out.append(request)
        return out

    @staticmethod
    def _record(raw: bytes) -> Request | None:
        body = bytearray()
        escaped = False
        for byte in raw:
            if escaped:
                body.append(byte | 0x20)
                escaped = False
            elif byte == enc.ESC:
                escaped = True
            else:
                body.append(byte)
        if escaped or len(body) < 41:
            return None
        record, check = bytes(body[:-1]), body[-1]
        if sum(record) & 0xFF != check:
            return None
        (r_len,) = struct.unpack_from("<h", record, 0)
        (maintype,) = struct.unpack_from("<h", record, 14)
        offset, sr_type = struct.unpack_from("<hB", record, 16)
        if r_len != len(record) or not 0 <= offset < len(record) - 40:
            return None
        return Request(maintype, sr_type, record[40 + offset :])


@dataclass(slots=True)
class _Waves:
    """Requested waveforms; sample ``i`` of a waveform is the one at ``i / rate`` seconds."""

    types: tuple[int, ...]
    next_index: dict[int, int] = field(default_factory=dict)


def _scaled(value: float | None, scale: float) -> int:
    return enc.INVALID if value is None else round(value * scale)


def basic_values(v: Vitals) -> dict[str, dict[str, int]]:
    """The basic-class groups for a vitals sample (units of the DRI spec)."""
    groups: dict[str, dict[str, int]] = {
        "ecg": {"status": _EXISTS_ACTIVE, "hr": _scaled(v.hr, 1), "imp_rr": _scaled(v.rr, 1)},
        "spo2": {
            "status": _EXISTS_ACTIVE,
            "spo2": _scaled(v.spo2, 100),
            "pr": _scaled(v.pulse, 1),
        },
        "t1": {"status": _EXISTS_ACTIVE, "temp": _scaled(v.temp, 100)},
    }
    sys_, dia, mean = v.nbp if v.nbp is not None else (None, None, None)
    groups["nibp"] = {
        "status": _EXISTS_ACTIVE,
        "sys": _scaled(sys_, 100),
        "dia": _scaled(dia, 100),
        "mean": _scaled(mean, 100),
    }
    return groups


class DatexSimulator(SimulatorBase):
    tick_s = WAVE_PACKET_S

    def __init__(
        self,
        port: SimPort,
        scenario: Scenario | None = None,
        *,
        waves: Mapping[int, WaveSource] | None = None,
        speed: float = 1.0,
        faults: Sequence[Fault] = (),
        seed: int = 0,
    ) -> None:
        super().__init__(port, speed=speed, faults=faults, seed=seed)
        self.scenario = scenario or constant()
        self.sources: dict[int, WaveSource] = dict(waves or {})
        self.deframer = RequestDeframer()
        self.requests: list[Request] = []
        self.interval: int = 0
        self.next_phdb: float | None = None
        self.waves: _Waves | None = None
        self.r_nbr = 0

    # -- requests

    def session_ready(self) -> bool:
        return self.interval > 0

    def on_unplug(self) -> None:
        self.interval = 0
        self.next_phdb = None
        self.waves = None
        self.deframer = RequestDeframer()

    def _handle(self, request: Request, t: float) -> None:
        self.requests.append(request)
        if request.maintype == enc.MT_PHDB and request.sr_type == 0 and len(request.body) >= 9:
            rtype, interval, _classes = struct.unpack_from("<BhI", request.body)
            if rtype == enc.DISPLAYED:
                self.interval = max(interval, 0)
                self.next_phdb = None if interval == 0 else t  # -1: once, now
        elif request.maintype == enc.MT_WAVE and request.sr_type == 0 and len(request.body) >= 12:
            (req_type,) = struct.unpack_from("<h", request.body)
            ids = request.body[4:12]
            types = tuple(ids[: ids.index(0xFF)] if 0xFF in ids else ids)
            if req_type == 0 and types:
                wanted = tuple(w for w in types if w in RATES)
                self.waves = _Waves(wanted, {w: int(t * RATES[w]) for w in wanted})
            elif req_type == 1:
                self.waves = None

    # -- output

    def _source(self, wave_type: int) -> WaveSource:
        if wave_type not in self.sources:
            rate = RATES[wave_type]
            self.sources[wave_type] = (
                ecg_wave(rate, baseline=0) if wave_type <= 3 else pleth_wave(rate, baseline=0)
            )
        return self.sources[wave_type]

    def read_requests(self) -> list[Request]:
        """Act on what the host sent since the last call (also done every tick)."""
        requests = self.deframer.feed(self.port.read_nowait())
        for request in requests:
            self._handle(request, self.t)
        return requests

    async def tick(self, t: float) -> None:
        self.read_requests()
        if self.next_phdb is not None and t >= self.next_phdb:
            await self._emit_phdb(t)
            self.next_phdb = t + self.interval if self.interval > 0 else None
        if self.waves is not None:
            await self._emit_waves(t)

    async def _emit_phdb(self, t: float) -> None:
        r_time = EPOCH_S + int(t)
        values = basic_values(self.scenario(t))
        self.r_nbr = (self.r_nbr + 1) & 0xFF
        record = enc.phdb_record(r_time, values, r_nbr=self.r_nbr)
        await self.emit(
            ("phdb", r_time),
            values,
            enc.frame(record),
            lambda _w: enc.bad_checksum_frame(record),
        )

    async def _emit_waves(self, t: float) -> None:
        assert self.waves is not None
        chunks: dict[int, tuple[int, ...]] = {}
        for wave_type in self.waves.types:
            first = self.waves.next_index[wave_type]
            end = int((t + self.tick_s) * RATES[wave_type])
            if end <= first:
                continue
            source = self._source(wave_type)
            chunks[wave_type] = tuple(source(i) for i in range(first, end))
            self.waves.next_index[wave_type] = end
        if not chunks:
            return
        record = enc.wave_record([enc.Wave(w, s) for w, s in chunks.items()])
        await self.emit(
            ("wave", t),
            chunks,
            enc.frame(record),
            lambda _w: enc.bad_checksum_frame(record),
        )

    def sample_frame(self) -> bytes:
        record = enc.phdb_record(EPOCH_S, basic_values(self.scenario(self.t)))
        return enc.frame(record)
