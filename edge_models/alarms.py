"""Limit alarms with condition delay, hysteresis, latching and IEC 60601-1-8 priorities.

Every alarm condition is one cell of a (patients x conditions) grid, advanced for the whole
grid at once by the pure function :func:`step`. A physiological condition is one limit on
one vital (e.g. ``spo2.low`` below 90 %); a technical condition is a boolean input (sensor
off, device disconnected, battery low). The two kinds have separate grids and separate
:class:`~gateway.model.AlarmKind` so they never mix.

Life cycle of one cell (``t`` is the caller's time in seconds, non-decreasing)::

    NORMAL --violated--> PENDING --violated for onset_delay_s--> ACTIVE   (start record)
    PENDING --not violated, or no valid value--> NORMAL                   (no record)
    ACTIVE --back inside by the hysteresis margin--> CLEARING
    CLEARING --inside for clear_delay_s--> NORMAL                          (end record)
                                         \\-> LATCHED if latching and not yet acknowledged
    CLEARING --not inside, or no valid value--> ACTIVE
    LATCHED --acknowledged--> NORMAL (end record); LATCHED --violated--> ACTIVE

A low limit is violated when ``value < threshold`` and is back inside when
``value >= threshold + hysteresis``; a high limit mirrors this. Values that are not valid
(quality gate, NaN) neither start, continue nor end an alarm. Start and end are emitted as
:class:`~gateway.model.Alarm` records with the same ``alarm_id``
(``<patient>/<condition key>/<start ns>``) on the stream ``<patient>.alarms``.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeAlias

import numpy as np
import numpy.typing as npt

from gateway.model import Alarm, AlarmKind, AlarmPriority, Quality, ReceiveTime, stream_id_for

FloatArray: TypeAlias = npt.NDArray[np.float64]
BoolArray: TypeAlias = npt.NDArray[np.bool_]
Int8Array: TypeAlias = npt.NDArray[np.int8]
IntArray: TypeAlias = npt.NDArray[np.intp]

FORMAT_VERSION: Final = 1
#: Tolerance when comparing elapsed time with a delay (float sums of sample times).
TIME_EPS_S: Final = 1e-6
#: Quality flags that make a value unusable for alarms: every flag (valid = no flag set).
BLOCKING_QUALITY: Final = Quality(sum(int(f) for f in Quality))


class Side(enum.Enum):
    LOW = "low"
    HIGH = "high"


class Phase(enum.IntEnum):
    NORMAL = 0
    PENDING = 1  # limit violated, condition delay running
    ACTIVE = 2
    CLEARING = 3  # back inside by the margin, clear delay running
    LATCHED = 4  # condition gone, alarm held until acknowledged


@dataclass(frozen=True, slots=True)
class Limit:
    """One physiological limit of one patient (several per side via ``level``)."""

    vital: str
    side: Side
    threshold: float
    priority: AlarmPriority
    onset_delay_s: float = 10.0
    clear_delay_s: float = 10.0
    hysteresis: float = 0.0
    latching: bool = False
    level: int = 0  # e.g. 0 = "low" at 90 %, 1 = "extreme low" at 80 % with a shorter delay

    @property
    def key(self) -> str:
        base = f"{self.vital}.{self.side.value}"
        return f"{base}.{self.level}" if self.level else base


@dataclass(frozen=True, slots=True)
class TechnicalLimit:
    """A technical alarm condition driven by a boolean input column."""

    name: str
    text: str
    priority: AlarmPriority = AlarmPriority.LOW
    onset_delay_s: float = 0.0
    clear_delay_s: float = 0.0
    latching: bool = False


DEFAULT_TECHNICAL: Final = (
    TechnicalLimit("sensor_off", "sensor off"),
    TechnicalLimit("device_disconnected", "device disconnected"),
    TechnicalLimit("battery_low", "battery low"),
)


@dataclass(frozen=True, slots=True, eq=False)
class Conditions:
    """Settings of ``C`` conditions for ``P`` patients; arrays are ``(P, C)``."""

    keys: tuple[str, ...]
    texts: tuple[str, ...]
    enabled: BoolArray
    priority: Int8Array
    onset_delay_s: FloatArray
    clear_delay_s: FloatArray
    latching: BoolArray


@dataclass(frozen=True, slots=True, eq=False)
class AlarmConfig:
    """Patients, vitals (columns of ``values``), limits and technical conditions."""

    patients: tuple[str, ...]
    vitals: tuple[str, ...]
    physiological: Conditions
    vital_index: IntArray  # (C,) column of each limit's vital
    low: BoolArray  # (C,) low limit (else high)
    threshold: FloatArray  # (P, C), NaN where the patient has no such limit
    hysteresis: FloatArray  # (P, C)
    technical: Conditions


@dataclass(frozen=True, slots=True, eq=False)
class Tracks:
    """Dynamic state of one grid; ``start_s``/``worst``/``last`` describe the latest alarm."""

    phase: Int8Array
    since_s: FloatArray  # start of the running delay (PENDING, CLEARING)
    start_s: FloatArray
    acked: BoolArray
    worst: FloatArray  # most extreme valid value since the violation began
    last: FloatArray  # latest valid value since the violation began

    @classmethod
    def empty(cls, shape: tuple[int, int]) -> Tracks:
        nan = np.full(shape, np.nan)
        return cls(
            _ro(np.zeros(shape, np.int8)),
            _ro(nan),
            _ro(nan),
            _ro(np.zeros(shape, bool)),
            _ro(nan),
            _ro(nan),
        )


@dataclass(frozen=True, slots=True, eq=False)
class AlarmState:
    """Everything :func:`step` needs: the configuration and both grids."""

    config: AlarmConfig
    t_s: float  # time of the last step, NaN before the first
    physiological: Tracks
    technical: Tracks

    def phase(self, patient_id: str, key: str) -> Phase:
        row = _row(self.config, patient_id)
        for cs, tr in self._blocks():
            if key in cs.keys:
                return Phase(int(tr.phase[row, cs.keys.index(key)]))
        raise ValueError(f"unknown alarm condition {key!r}")

    def _blocks(self) -> tuple[tuple[Conditions, Tracks], ...]:
        cfg = self.config
        return ((cfg.physiological, self.physiological), (cfg.technical, self.technical))

    def to_dict(self) -> dict[str, Any]:
        cfg = self.config
        return {
            "format": FORMAT_VERSION,
            "patients": list(cfg.patients),
            "vitals": list(cfg.vitals),
            "vital_index": cfg.vital_index.tolist(),
            "low": cfg.low.tolist(),
            "threshold": _enc(cfg.threshold),
            "hysteresis": _enc(cfg.hysteresis),
            "physiological": _enc_conditions(cfg.physiological),
            "technical": _enc_conditions(cfg.technical),
            "t_s": None if np.isnan(self.t_s) else self.t_s,
            "physiological_tracks": _enc_tracks(self.physiological),
            "technical_tracks": _enc_tracks(self.technical),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> AlarmState:
        if d.get("format") != FORMAT_VERSION:
            raise ValueError(f"unsupported alarm state format {d.get('format')!r}")
        patients = tuple(str(p) for p in d["patients"])
        phys = _dec_conditions(d["physiological"], len(patients))
        tech = _dec_conditions(d["technical"], len(patients))
        shape = (len(patients), len(phys.keys))
        config = AlarmConfig(
            patients=patients,
            vitals=tuple(str(v) for v in d["vitals"]),
            physiological=phys,
            vital_index=_ro(np.array(d["vital_index"], dtype=np.intp).reshape(-1)),
            low=_ro(np.array(d["low"], dtype=bool).reshape(-1)),
            threshold=_dec(d["threshold"], np.float64, shape),
            hysteresis=_dec(d["hysteresis"], np.float64, shape),
            technical=tech,
        )
        _check_config(config)
        t_s = float("nan") if d["t_s"] is None else float(d["t_s"])
        return cls(
            config,
            t_s,
            _dec_tracks(d["physiological_tracks"], shape),
            _dec_tracks(d["technical_tracks"], (len(patients), len(tech.keys))),
        )

    def to_bytes(self) -> bytes:
        """Canonical JSON (sorted keys, exact float repr): equal states give equal bytes."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), allow_nan=False)
        return text.encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> AlarmState:
        return cls.from_dict(json.loads(data))


# --- Configuration --------------------------------------------------------------------------


def build_config(
    patients: Sequence[str],
    vitals: Sequence[str],
    limits: Mapping[str, Sequence[Limit]],
    technical: Sequence[TechnicalLimit] = DEFAULT_TECHNICAL,
) -> AlarmConfig:
    """Grid configuration from per-patient limits; the technical conditions apply to all."""
    pats, vits = tuple(patients), tuple(vitals)
    _unique("patient", pats)
    _unique("vital", vits)
    _unique("technical condition", tuple(t.name for t in technical))
    unknown = set(limits) - set(pats)
    if unknown:
        raise ValueError(f"limits for unknown patients: {sorted(unknown)}")
    side_order = {Side.LOW: 0, Side.HIGH: 1}
    slots: dict[str, Limit] = {}
    for pid, plist in limits.items():
        seen: set[str] = set()
        for lim in plist:
            _check_limit(pid, lim, vits)
            if lim.key in seen:
                raise ValueError(f"patient {pid!r}: limit {lim.key!r} given twice")
            seen.add(lim.key)
            slots.setdefault(lim.key, lim)
    keys = sorted(
        slots, key=lambda k: (vits.index(slots[k].vital), side_order[slots[k].side], slots[k].level)
    )
    shape = (len(pats), len(keys))
    threshold, hysteresis = np.full(shape, np.nan), np.zeros(shape)
    enabled, latching = np.zeros(shape, bool), np.zeros(shape, bool)
    priority = np.full(shape, int(AlarmPriority.LOW), np.int8)
    onset, clear = np.zeros(shape), np.zeros(shape)
    for pid, plist in limits.items():
        row = pats.index(pid)
        for lim in plist:
            col = keys.index(lim.key)
            threshold[row, col], hysteresis[row, col] = lim.threshold, lim.hysteresis
            enabled[row, col], latching[row, col] = True, lim.latching
            priority[row, col] = int(lim.priority)
            onset[row, col], clear[row, col] = lim.onset_delay_s, lim.clear_delay_s
    texts = tuple(
        f"{slots[k].vital} {'below low' if slots[k].side is Side.LOW else 'above high'} limit"
        for k in keys
    )
    n = len(pats)
    tech = Conditions(
        keys=tuple(t.name for t in technical),
        texts=tuple(t.text for t in technical),
        enabled=_ro(np.ones((n, len(technical)), bool)),
        priority=_ro(np.tile(np.array([int(t.priority) for t in technical], np.int8), (n, 1))),
        onset_delay_s=_ro(np.tile(np.array([t.onset_delay_s for t in technical], float), (n, 1))),
        clear_delay_s=_ro(np.tile(np.array([t.clear_delay_s for t in technical], float), (n, 1))),
        latching=_ro(np.tile(np.array([t.latching for t in technical], bool), (n, 1))),
    )
    config = AlarmConfig(
        patients=pats,
        vitals=vits,
        physiological=Conditions(
            tuple(keys),
            texts,
            _ro(enabled),
            _ro(priority),
            _ro(onset),
            _ro(clear),
            _ro(latching),
        ),
        vital_index=_ro(np.array([vits.index(slots[k].vital) for k in keys], np.intp)),
        low=_ro(np.array([slots[k].side is Side.LOW for k in keys], bool)),
        threshold=_ro(threshold),
        hysteresis=_ro(hysteresis),
        technical=tech,
    )
    _check_config(config)
    return config


def initial_state(config: AlarmConfig) -> AlarmState:
    n = len(config.patients)
    return AlarmState(
        config,
        float("nan"),
        Tracks.empty((n, len(config.physiological.keys))),
        Tracks.empty((n, len(config.technical.keys))),
    )


def valid_from_quality(quality: npt.ArrayLike, blocking: Quality = BLOCKING_QUALITY) -> BoolArray:
    """Mask of values whose :class:`~gateway.model.Quality` flags allow alarm decisions."""
    return np.asarray((np.asarray(quality, dtype=np.int64) & int(blocking)) == 0, dtype=bool)


# --- Step -------------------------------------------------------------------------------------


def step(
    state: AlarmState,
    t_s: float,
    values: npt.ArrayLike,
    valid_mask: npt.ArrayLike,
    technical: npt.ArrayLike | None = None,
    *,
    received: ReceiveTime | None = None,
) -> tuple[AlarmState, tuple[Alarm, ...]]:
    """Advance every alarm to time ``t_s``; return the new state and the records emitted.

    ``values`` and ``valid_mask`` are ``(patients, vitals)``; NaN values count as invalid.
    ``technical`` is a ``(patients, technical conditions)`` boolean array of conditions
    present now, or ``None`` when there is no news (technical alarms then hold their state).
    ``received`` stamps the records; without it both of its clocks are set to ``t_s``.
    """
    cfg = state.config
    t = _check_time(state, t_s)
    n_p, n_v = len(cfg.patients), len(cfg.vitals)
    x = _shaped("values", np.asarray(values, dtype=np.float64), (n_p, n_v))
    ok = _shaped("valid_mask", np.asarray(valid_mask, dtype=bool), (n_p, n_v)) & np.isfinite(x)
    xc, okc = x[:, cfg.vital_index], ok[:, cfg.vital_index]
    low = np.broadcast_to(cfg.low, xc.shape)
    thr, h = cfg.threshold, cfg.hysteresis
    violated = np.where(low, xc < thr, xc > thr)
    inside = np.where(low, xc >= thr + h, xc <= thr - h)
    phys, p_start, p_end = _advance(
        state.physiological, cfg.physiological, t, okc, violated, inside, xc, low
    )

    t_shape = (n_p, len(cfg.technical.keys))
    if technical is None:
        flags, t_valid = np.zeros(t_shape, bool), np.zeros(t_shape, bool)
    else:
        flags = _shaped("technical", np.asarray(technical, dtype=bool), t_shape)
        t_valid = np.ones(t_shape, bool)
    tech, t_start, t_end = _advance(
        state.technical,
        cfg.technical,
        t,
        t_valid,
        flags,
        ~flags,
        flags.astype(np.float64),
        np.zeros(t_shape, bool),
    )
    new = AlarmState(cfg, t, phys, tech)
    return new, _records(new, t, p_start, p_end, t_start, t_end, received)


def acknowledge(
    state: AlarmState,
    t_s: float,
    patient_id: str,
    key: str | None = None,
    *,
    received: ReceiveTime | None = None,
) -> tuple[AlarmState, tuple[Alarm, ...]]:
    """Operator acknowledgement (ALARM RESET) of one condition, or all of one patient.

    A latched alarm whose condition is gone ends now; an alarm whose condition persists
    stays active but will no longer latch when it clears.
    """
    cfg = state.config
    t = _check_time(state, t_s)
    row = _row(cfg, patient_id)
    if key is not None and key not in cfg.physiological.keys + cfg.technical.keys:
        raise ValueError(f"unknown alarm condition {key!r}")
    updated: list[Tracks] = []
    ended: list[BoolArray] = []
    for cs, tr in state._blocks():
        sel = np.zeros(tr.phase.shape, bool)
        sel[row, :] = True if key is None else np.array([k == key for k in cs.keys], bool)
        sel &= tr.phase >= Phase.ACTIVE
        end = sel & (tr.phase == Phase.LATCHED)
        phase, acked = tr.phase.copy(), tr.acked | sel
        phase[end] = Phase.NORMAL
        updated.append(Tracks(_ro(phase), tr.since_s, tr.start_s, _ro(acked), tr.worst, tr.last))
        ended.append(end)
    new = AlarmState(cfg, t, updated[0], updated[1])
    none_p = np.zeros_like(ended[0])
    none_t = np.zeros_like(ended[1])
    return new, _records(new, t, none_p, ended[0], none_t, ended[1], received)


def _advance(
    tr: Tracks,
    cs: Conditions,
    t: float,
    valid: BoolArray,
    violated: BoolArray,
    inside: BoolArray,
    x: FloatArray,
    low: BoolArray,
) -> tuple[Tracks, BoolArray, BoolArray]:
    """One tick of the life cycle for a whole grid; returns (tracks, started, ended)."""
    phase, since, start = tr.phase.copy(), tr.since_s.copy(), tr.start_s.copy()
    acked, worst, last = tr.acked.copy(), tr.worst.copy(), tr.last.copy()
    ok = valid & cs.enabled
    v, c = ok & violated, ok & inside

    begin = (phase == Phase.NORMAL) & v
    phase[begin], since[begin], worst[begin] = Phase.PENDING, t, x[begin]
    pending = phase == Phase.PENDING
    phase[pending & ~v] = Phase.NORMAL
    started = pending & v & (t - since + TIME_EPS_S >= cs.onset_delay_s)
    phase[started], start[started], acked[started] = Phase.ACTIVE, t, False

    phase[(phase == Phase.LATCHED) & v] = Phase.ACTIVE
    to_clear = (phase == Phase.ACTIVE) & c
    phase[to_clear], since[to_clear] = Phase.CLEARING, t
    clearing = phase == Phase.CLEARING
    phase[clearing & ~c] = Phase.ACTIVE
    done = clearing & c & (t - since + TIME_EPS_S >= cs.clear_delay_s)
    hold = done & cs.latching & ~acked
    ended = done & ~hold
    phase[hold], phase[ended] = Phase.LATCHED, Phase.NORMAL

    live = ok & ((tr.phase != Phase.NORMAL) | begin)
    last[live] = x[live]
    worst = np.where(live, np.where(low, np.fmin(worst, x), np.fmax(worst, x)), worst)
    tracks = Tracks(_ro(phase), _ro(since), _ro(start), _ro(acked), _ro(worst), _ro(last))
    return tracks, started, ended


def _records(
    state: AlarmState,
    t: float,
    p_start: BoolArray,
    p_end: BoolArray,
    t_start: BoolArray,
    t_end: BoolArray,
    received: ReceiveTime | None,
) -> tuple[Alarm, ...]:
    """Alarm records ordered by patient, then physiological before technical, then column."""
    cfg = state.config
    t_ns = _ns(t)
    stamp = received if received is not None else ReceiveTime(t_ns, t_ns)
    out: list[tuple[int, int, int, Alarm]] = []
    blocks = ((AlarmKind.PHYSIOLOGICAL, p_start, p_end), (AlarmKind.TECHNICAL, t_start, t_end))
    for b, (kind, starts, ends) in enumerate(blocks):
        cs = cfg.physiological if b == 0 else cfg.technical
        tr = state.physiological if b == 0 else state.technical
        for row, col in zip(*np.nonzero(starts | ends), strict=True):
            pid, key = cfg.patients[row], cs.keys[col]
            start_ns = _ns(float(tr.start_s[row, col]))
            text = cs.texts[col]
            values: tuple[tuple[str, float], ...] = ()
            if kind is AlarmKind.PHYSIOLOGICAL:
                thr = float(cfg.threshold[row, col])
                text = f"{text} {thr:g}"
                values = (
                    (cfg.vitals[cfg.vital_index[col]], float(tr.last[row, col])),
                    ("limit", thr),
                    ("worst", float(tr.worst[row, col])),
                )
            alarm = Alarm(
                stream_id=stream_id_for(pid, "alarms"),
                alarm_id=f"{pid}/{key}/{start_ns}",
                patient_id=pid,
                priority=AlarmPriority(int(cs.priority[row, col])),
                alarm_kind=kind,
                condition=text,
                start_ns=start_ns,
                received=stamp,
                end_ns=t_ns if ends[row, col] else None,
                values=values,
            )
            out.append((int(row), b, int(col), alarm))
    out.sort(key=lambda e: e[:3])
    return tuple(e[3] for e in out)


# --- Helpers ----------------------------------------------------------------------------------


def _ns(t_s: float) -> int:
    return round(t_s * 1e9)


def _ro(a: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """A read-only copy, so states can be shared without being changed behind our back."""
    out = np.array(a, copy=True)
    out.flags.writeable = False
    return out


def _row(cfg: AlarmConfig, patient_id: str) -> int:
    if patient_id not in cfg.patients:
        raise ValueError(f"unknown patient {patient_id!r}")
    return cfg.patients.index(patient_id)


def _check_time(state: AlarmState, t_s: float) -> float:
    t = float(t_s)
    if not np.isfinite(t):
        raise ValueError(f"time must be finite, got {t_s!r}")
    if t < state.t_s:  # False while state.t_s is NaN
        raise ValueError(f"time went backwards: {t} s after {state.t_s} s")
    return t


def _shaped(name: str, a: npt.NDArray[Any], shape: tuple[int, int]) -> npt.NDArray[Any]:
    if a.shape != shape:
        raise ValueError(f"{name}: expected shape {shape}, got {a.shape}")
    return a


def _unique(what: str, names: tuple[str, ...]) -> None:
    if len(set(names)) != len(names) or not all(names):
        raise ValueError(f"{what} names must be unique and non-empty: {list(names)}")


def _check_limit(pid: str, lim: Limit, vitals: tuple[str, ...]) -> None:
    where = f"patient {pid!r}, limit {lim.key!r}"
    if lim.vital not in vitals:
        raise ValueError(f"{where}: unknown vital {lim.vital!r}")
    if not np.isfinite(lim.threshold):
        raise ValueError(f"{where}: threshold must be finite")
    for name in ("onset_delay_s", "clear_delay_s", "hysteresis"):
        value = getattr(lim, name)
        if not (np.isfinite(value) and value >= 0):
            raise ValueError(f"{where}: {name} must be finite and >= 0, got {value!r}")
    if lim.level < 0:
        raise ValueError(f"{where}: level must be >= 0")


def _check_config(cfg: AlarmConfig) -> None:
    n_p = len(cfg.patients)
    for cs in (cfg.physiological, cfg.technical):
        shape = (n_p, len(cs.keys))
        for a in (cs.enabled, cs.priority, cs.onset_delay_s, cs.clear_delay_s, cs.latching):
            if a.shape != shape:
                raise ValueError(f"condition settings must have shape {shape}, got {a.shape}")
        if not np.isin(cs.priority, [int(p) for p in AlarmPriority]).all():
            raise ValueError("unknown alarm priority in configuration")
    n_c = len(cfg.physiological.keys)
    if cfg.vital_index.shape != (n_c,) or cfg.low.shape != (n_c,):
        raise ValueError("vital_index and low must have one entry per limit")
    if n_c and not ((cfg.vital_index >= 0) & (cfg.vital_index < len(cfg.vitals))).all():
        raise ValueError("vital_index out of range")


def _enc(a: npt.NDArray[Any]) -> Any:
    if a.dtype.kind == "f":
        return np.where(np.isnan(a), np.array(None, dtype=object), a).tolist()
    return a.tolist()


def _dec(data: Any, dtype: type[np.generic], shape: tuple[int, int]) -> npt.NDArray[Any]:
    return _ro(np.array(data, dtype=dtype).reshape(shape))


_CONDITION_ARRAYS: Final = (
    ("enabled", np.bool_),
    ("priority", np.int8),
    ("onset_delay_s", np.float64),
    ("clear_delay_s", np.float64),
    ("latching", np.bool_),
)
_TRACK_ARRAYS: Final = (
    ("phase", np.int8),
    ("since_s", np.float64),
    ("start_s", np.float64),
    ("acked", np.bool_),
    ("worst", np.float64),
    ("last", np.float64),
)


def _enc_conditions(cs: Conditions) -> dict[str, Any]:
    out: dict[str, Any] = {"keys": list(cs.keys), "texts": list(cs.texts)}
    out.update({name: _enc(getattr(cs, name)) for name, _ in _CONDITION_ARRAYS})
    return out


def _dec_conditions(d: Mapping[str, Any], n_patients: int) -> Conditions:
    keys, texts = tuple(str(k) for k in d["keys"]), tuple(str(t) for t in d["texts"])
    if len(keys) != len(texts):
        raise ValueError("one text per condition key is required")
    shape = (n_patients, len(keys))
    arrays = {name: _dec(d[name], dtype, shape) for name, dtype in _CONDITION_ARRAYS}
    return Conditions(keys, texts, **arrays)


def _enc_tracks(tr: Tracks) -> dict[str, Any]:
    return {name: _enc(getattr(tr, name)) for name, _ in _TRACK_ARRAYS}


def _dec_tracks(d: Mapping[str, Any], shape: tuple[int, int]) -> Tracks:
    return Tracks(**{name: _dec(d[name], dtype, shape) for name, dtype in _TRACK_ARRAYS})


__all__ = [
    "BLOCKING_QUALITY",
    "DEFAULT_TECHNICAL",
    "AlarmConfig",
    "AlarmState",
    "Conditions",
    "Limit",
    "Phase",
    "Side",
    "TechnicalLimit",
    "Tracks",
    "acknowledge",
    "build_config",
    "initial_state",
    "step",
    "valid_from_quality",
]
