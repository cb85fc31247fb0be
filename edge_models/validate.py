"""Replay real PhysioNet records through the patient twin and compute the figures.

:func:`replay_numerics` feeds a MIMIC-II/III bedside-monitor numerics record (WFDB header
+ format-16 data, or the ``derived_*_numerics_per_minute.csv`` re-export) through
:class:`gateway.twin.PatientTwins` exactly as live data would arrive: one batch per record
row, plus quiet ticks in between so alarm delays run on their own clock. It returns the
alarms raised (start, end, priority), NEWS2 over time and the artifact counts of the
signal-quality gate. The record has no temperature and no consciousness level, so both
are injected (defaults: 37.0 C every 30 min as a nurse's spot reading, ACVPU "A", on air).

The waveform helpers (:func:`read_wfdb`, :func:`beat_rate`) derive per-second heart rate
from ECG and pulse rate from the plethysmogram of the PhysioNet/CinC Challenge 2015
alarm records; :func:`replay_alarm_record` then runs them through the twin to see
whether the quality gate suppresses the monitor's (false) asystole / VT alarm.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

from edge_models import alarms, news2
from edge_models.quality import REASONS, QualityConfig
from gateway import codes
from gateway.config import GatewayConfig, Patient, parse_config
from gateway.model import (
    VALID,
    Alarm,
    AlarmPriority,
    Measurement,
    Quality,
    ReceiveTime,
    Record,
    stream_id_for,
)
from gateway.twin import VITALS, PatientTwins

FloatArray = npt.NDArray[np.float64]

PATIENT: Final = "record"
DEVICE: Final = "monitor"
#: Record signal name -> MDC metric fed to the twin (what a bedside monitor would send).
NUMERIC_SIGNALS: Final[Mapping[str, codes.Metric]] = {
    "HR": codes.MDC_ECG_HEART_RATE,
    "PULSE": codes.MDC_PULS_OXIM_PULS_RATE,
    "RESP": codes.MDC_RESP_RATE,
    "SpO2": codes.MDC_PULS_OXIM_SAT_O2,
    "NBPSys": codes.MDC_PRESS_BLD_NONINV_SYS,
}
#: CSV column of each signal in the derived per-minute re-exports.
_CSV_COLUMNS: Final = {
    "HR": "HR_bpm",
    "PULSE": "PULSE_bpm",
    "RESP": "RESP_pm",
    "SpO2": "SpO2_%",
    "NBPSys": "NBPSys_mmHg",
}
_WALL0_NS: Final = 1_700_000_000 * 10**9  # an arbitrary wall-clock origin for replays


@dataclass(frozen=True, slots=True)
class AlarmEpisode:
    """One alarm from start to end, times in seconds from the start of the record."""

    patient_id: str
    condition: str
    priority: str  # "high", "medium", "low"
    kind: str  # "physiological" or "technical"
    start_s: float
    end_s: float | None  # None: still in force when the record ended
    worst: float | None = None

    def duration_s(self, record_end_s: float) -> float:
        return (self.end_s if self.end_s is not None else record_end_s) - self.start_s


@dataclass(frozen=True, slots=True, eq=False)
class ReplayResult:
    """What the twin made of one record (see :func:`replay_numerics`)."""

    record: str
    duration_s: float
    quality_gate: bool
    alarms: tuple[AlarmEpisode, ...]
    news2_t_s: FloatArray  # one NEWS2 evaluation per record row
    news2_total: npt.NDArray[np.int16]
    news2_risk: tuple[str, ...]
    news2_partial: npt.NDArray[np.bool_]
    samples: Mapping[str, int]  # per vital, samples offered to the twin
    artifacts: Mapping[str, int]  # per vital, samples the gate kept out (not device-flagged)
    reasons: Mapping[str, Mapping[str, int]] = field(default_factory=dict)  # vital -> check
    vitals: tuple[str, ...] = tuple(v.name for v in VITALS)
    #: (rows, vitals): after each row, whether the cell's latest sample was kept from alarms
    gated: npt.NDArray[np.bool_] = field(default_factory=lambda: np.zeros((0, len(VITALS)), bool))
    #: (rows, vitals): the value offered to the twin at each row (NaN: none or flagged)
    offered: FloatArray = field(default_factory=lambda: np.zeros((0, len(VITALS))))

    def alarm_counts(self, kind: str | None = "physiological") -> dict[str, int]:
        """Alarms started, per priority (``kind=None``: physiological and technical)."""
        out = {"high": 0, "medium": 0, "low": 0}
        for a in self.alarms:
            if kind is None or a.kind == kind:
                out[a.priority] += 1
        return out

    def time_in_alarm_s(self, kind: str | None = "physiological") -> dict[str, float]:
        out = {"high": 0.0, "medium": 0.0, "low": 0.0}
        for a in self.alarms:
            if kind is None or a.kind == kind:
                out[a.priority] += a.duration_s(self.duration_s)
        return out

    def artifact_rate(self) -> float:
        """Share of offered samples that the gate rejected (device-flagged ones excluded)."""
        total = sum(self.samples.values())
        return sum(self.artifacts.values()) / total if total else 0.0

    def news2_hours_by_risk(self) -> dict[str, float]:
        """Hours spent in each risk band (rows apart by the record interval)."""
        if self.news2_t_s.size < 2:
            return {r.value: 0.0 for r in news2.RISKS}
        step = float(np.median(np.diff(self.news2_t_s)))
        out = {r.value: 0.0 for r in news2.RISKS}
        for risk in self.news2_risk:
            out[risk] += step / 3600.0
        return out


# --- reading records ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, eq=False)
class Signals:
    """A decoded WFDB record: physical values, NaN where there is no sample."""

    name: str
    fs_hz: float
    names: tuple[str, ...]
    units: tuple[str, ...]
    values: FloatArray  # (samples, signals)
    comments: tuple[str, ...] = ()

    def column(self, name: str) -> FloatArray:
        return self.values[:, self.names.index(name)]


_GAIN = re.compile(r"^([-+0-9.eE]+)(?:\(([-+0-9]+)\))?(?:/(.*))?$")


def read_wfdb(path: str | Path) -> Signals:
    """Decode a WFDB record (formats 16, ``16+24`` MAT v4 and 212) with NumPy only.

    ``path`` is the header (``.hea``) or the record name without extension. Each sample
    becomes ``(stored - baseline) / gain``; the format's invalid code becomes NaN.
    """
    hea = Path(path)
    if hea.suffix != ".hea":
        hea = hea.with_name(hea.name + ".hea")
    lines = [ln.strip() for ln in hea.read_text(encoding="ascii").splitlines()]
    comments = tuple(ln.lstrip("#").strip() for ln in lines if ln.startswith("#"))
    body = [ln for ln in lines if ln and not ln.startswith("#")]
    head = body[0].split()
    n_sig = int(head[1])
    fs = float(head[2].split("/")[0])
    n_samples = int(head[3])
    specs = [ln.split() for ln in body[1 : 1 + n_sig]]
    files = {s[0] for s in specs}
    fmts = {s[1] for s in specs}
    if len(files) != 1 or len(fmts) != 1:
        raise ValueError(f"{hea}: only single-file records of one format are supported")
    fmt = fmts.pop()
    raw = (hea.parent / files.pop()).read_bytes()
    if fmt == "16":
        stored = _int16(raw, n_sig, n_samples)
        invalid = -32768
    elif fmt == "16+24":
        stored = _int16(raw[24:], n_sig, n_samples)
        invalid = -32768
    elif fmt == "212":
        stored = _fmt212(raw, n_sig, n_samples)
        invalid = -2048
    else:
        raise ValueError(f"{hea}: WFDB format {fmt} is not supported")
    gains, baselines, units = [], [], []
    for s in specs:
        m = _GAIN.match(s[2])
        if m is None:
            raise ValueError(f"{hea}: cannot read gain {s[2]!r}")
        gain = float(m.group(1)) or 200.0  # WFDB: gain 0 means the default 200
        baseline = int(m.group(2)) if m.group(2) else (int(s[4]) if len(s) > 4 else 0)
        gains.append(gain)
        baselines.append(baseline)
        units.append(m.group(3) or "")
    values = (stored - np.array(baselines, float)) / np.array(gains)
    values[stored == invalid] = np.nan
    return Signals(
        hea.stem,
        fs,
        tuple(s[8] if len(s) > 8 else f"sig{i}" for i, s in enumerate(specs)),
        tuple(units),
        values,
        comments,
    )


def _int16(raw: bytes, n_sig: int, n_samples: int) -> FloatArray:
    data = np.frombuffer(raw[: n_sig * n_samples * 2], dtype="<i2")
    if data.size != n_sig * n_samples:
        raise ValueError("record data is shorter than its header says")
    return data.reshape(n_samples, n_sig).astype(np.float64)


def _fmt212(raw: bytes, n_sig: int, n_samples: int) -> FloatArray:
    """Format 212: two 12-bit two's-complement samples packed in three bytes."""
    total = n_sig * n_samples
    b = np.frombuffer(raw[: (total + 1) // 2 * 3], dtype=np.uint8).astype(np.int32)
    if b.size * 2 // 3 < total:
        raise ValueError("record data is shorter than its header says")
    b = b[: b.size // 3 * 3].reshape(-1, 3)
    first = b[:, 0] | ((b[:, 1] & 0x0F) << 8)
    second = b[:, 2] | ((b[:, 1] & 0xF0) << 4)
    out = np.empty(b.shape[0] * 2, np.int32)
    out[0::2], out[1::2] = first, second
    out = out[:total]
    out = np.where(out >= 2048, out - 4096, out)
    return out.reshape(n_samples, n_sig).astype(np.float64)


def read_numerics(path: str | Path) -> tuple[str, float, dict[str, FloatArray]]:
    """(record name, seconds per row, signal -> values) of a numerics record.

    Reads a WFDB header / record name, or a ``derived_*_numerics_per_minute.csv``. Values
    are NaN where there is no sample; zeros are kept (the monitor's "no signal").
    """
    p = Path(path)
    if p.suffix == ".csv":
        with open(p, newline="", encoding="ascii") as f:
            rows = list(csv.DictReader(f))
        signals = {
            name: np.array([float(r[col]) if r.get(col, "").strip() else np.nan for r in rows])
            for name, col in _CSV_COLUMNS.items()
            if rows and col in rows[0]
        }
        return p.stem, 60.0, signals
    rec = read_wfdb(p)
    # headers write 1/60 Hz as 0.0166666666667: round the period to the microsecond
    return rec.name, round(1.0 / rec.fs_hz, 6), {n: rec.column(n) for n in rec.names}


# --- numerics replay ------------------------------------------------------------------------


def _replay_config(
    config: GatewayConfig | None, row_s: float, consciousness: str | None, on_oxygen: bool | None
) -> GatewayConfig:
    if config is None:
        config = parse_config(
            {
                "gateway": {"id": "replay"},
                "patients": [{"id": PATIENT}],
                "devices": [
                    {"id": DEVICE, "kind": "masimo", "patient": PATIENT, "port": "/dev/null"}
                ],
            },
            "<replay>",
        )
    base = config.patients[0] if config.patients else Patient(PATIENT)
    patient = replace(
        base,
        id=PATIENT,
        consciousness=consciousness if consciousness is not None else base.consciousness,
        on_oxygen=on_oxygen if on_oxygen is not None else base.on_oxygen,
    )
    device = type(config.devices[0])(DEVICE, "replay", PATIENT) if config.devices else None
    # a record sampled once per row cannot be fresher than that; snapshots are not needed
    twin = replace(
        config.twin,
        stale_after_s=max(config.twin.stale_after_s, 2 * row_s),
        snapshot_interval_s=1e12,
    )
    return replace(config, patients=(patient,), devices=(device,) if device else (), twin=twin)


def _at(t_s: float) -> ReceiveTime:
    ns = round(t_s * 1e9)
    return ReceiveTime(_WALL0_NS + ns, ns)


def _measurement(metric: codes.Metric, value: float, t_s: float) -> Measurement:
    """A monitor's 0 means "no signal": sent as a flagged NaN, as a driver would."""
    missing = value == 0.0
    return Measurement(
        DEVICE,
        stream_id_for(DEVICE, str(metric.mdc_code)),
        metric.mdc_code,
        metric.unit,
        math.nan if missing else float(value),
        Quality.UNAVAILABLE if missing else VALID,
        _at(t_s),
    )


def replay_numerics(
    record_path: str | Path,
    config: GatewayConfig | None = None,
    *,
    quality_gate: bool = True,
    consciousness: str | None = "A",
    on_oxygen: bool | None = False,
    temperature_c: float | None = 37.0,
    temperature_every_s: float = 1800.0,
    tick_s: float = 10.0,
    quality: QualityConfig | None = None,
) -> ReplayResult:
    """Replay a numerics record through the twin; see the module docstring.

    ``config`` supplies the alarm limits, twin settings and (unless overridden here) the
    manual NEWS2 inputs of its first patient; ``None`` uses the gateway defaults.
    ``quality_gate=False`` computes the quality checks but lets every unflagged sample
    through (the "without gates" figures). ``consciousness``/``on_oxygen`` ``None`` take
    the config's values; ``temperature_c=None`` injects no temperature.
    """
    name, row_s, signals = read_numerics(record_path)
    n_rows = max((len(v) for v in signals.values()), default=0)
    used = [(NUMERIC_SIGNALS[s], signals[s]) for s in NUMERIC_SIGNALS if s in signals]

    def rows() -> Iterator[tuple[float, list[Record]]]:
        next_temp = 0.0
        for i in range(n_rows):
            t = i * row_s
            batch: list[Record] = [
                _measurement(metric, float(values[i]), t)
                for metric, values in used
                if not np.isnan(values[i])
            ]
            if temperature_c is not None and t >= next_temp:
                batch.append(_measurement(codes.MDC_TEMP_BODY, temperature_c, t))
                next_temp = t + temperature_every_s
            yield t, batch

    cfg = _replay_config(config, row_s, consciousness, on_oxygen)
    return _run(name, n_rows * row_s, row_s, rows(), cfg, quality, quality_gate, tick_s)


def _run(
    name: str,
    duration_s: float,
    row_s: float,
    rows: Iterator[tuple[float, list[Record]]],
    cfg: GatewayConfig,
    quality: QualityConfig | None,
    quality_gate: bool,
    tick_s: float,
) -> ReplayResult:
    """Feed timed batches to a fresh twin, tick in between, score NEWS2 at every row."""
    qcfg = quality or QualityConfig.for_vitals(tuple(v.name for v in VITALS))
    if not quality_gate:
        qcfg = qcfg.without_enforcement()
    twins = PatientTwins(cfg, qcfg)
    out: list[Record] = []
    t_news, total, risk, partial, gated = [], [], [], [], []
    offered = []
    column = {c: i for i, v in enumerate(VITALS) for c in v.codes}
    ticks = [k * tick_s for k in range(1, int(row_s / tick_s) + 1)] if tick_s > 0 else []
    for t, batch in rows:
        out.extend(twins.observe(batch, _at(t)))
        score = twins.news2(PATIENT, t)
        t_news.append(t)
        total.append(score.total)
        risk.append(score.risk.value)
        partial.append(score.partial)
        gated.append(twins.quality.gated[0].copy())
        row = np.full(len(VITALS), np.nan)
        for r in batch:
            if isinstance(r, Measurement) and r.mdc_code in column:
                row[column[r.mdc_code]] = r.value
        offered.append(row)
        for dt in ticks:
            if dt < row_s - 1e-9:
                out.extend(twins.observe([], _at(t + dt)))
    samples, artifacts, reasons = _quality_figures(twins)
    return ReplayResult(
        record=name,
        duration_s=duration_s,
        quality_gate=quality_gate,
        alarms=tuple(_episodes(out)),
        news2_t_s=np.array(t_news, dtype=np.float64),
        news2_total=np.array(total, dtype=np.int16),
        news2_risk=tuple(risk),
        news2_partial=np.array(partial, dtype=bool),
        samples=samples,
        artifacts=artifacts,
        reasons=reasons,
        gated=np.array(gated, dtype=bool).reshape(-1, len(VITALS)),
        offered=np.array(offered, dtype=np.float64).reshape(-1, len(VITALS)),
    )


def _quality_figures(
    twins: PatientTwins,
) -> tuple[dict[str, int], dict[str, int], dict[str, dict[str, int]]]:
    counts = twins.quality_counts()[PATIENT]
    names = [str(r.name).lower() for r in REASONS]
    return (
        {v: c["samples"] for v, c in counts.items()},
        {v: c["artifacts"] for v, c in counts.items()},
        {v: {r: c[r] for r in names} for v, c in counts.items()},
    )


def _episodes(records: Sequence[Record]) -> Iterator[AlarmEpisode]:
    """Pair start and end records (same alarm id) into episodes, in start order."""
    starts: dict[str, Alarm] = {}
    ends: dict[str, Alarm] = {}
    for r in records:
        if isinstance(r, Alarm):
            (ends if r.end_ns is not None else starts)[r.alarm_id] = r
    for alarm_id, a in sorted(starts.items(), key=lambda kv: (kv[1].start_ns, kv[0])):
        end = ends.get(alarm_id)
        worst = dict(a.values).get("worst")
        yield AlarmEpisode(
            a.patient_id,
            a.condition,
            a.priority.name.lower(),
            a.alarm_kind.value,
            (a.start_ns - _WALL0_NS) / 1e9,
            None if end is None or end.end_ns is None else (end.end_ns - _WALL0_NS) / 1e9,
            None if worst is None or math.isnan(worst) else worst,
        )


# --- waveform-derived rates (Challenge 2015 alarm records) ----------------------------------


def _moving_mean(x: FloatArray, n: int) -> FloatArray:
    """Centred moving average over ``n`` samples (edges use the samples available)."""
    c = np.concatenate(([0.0], np.cumsum(x)))
    half = n // 2
    idx = np.arange(x.size)
    lo, hi = np.clip(idx - half, 0, x.size), np.clip(idx + n - half, 0, x.size)
    mean: FloatArray = (c[hi] - c[lo]) / np.maximum(hi - lo, 1)
    return mean


def detect_beats(
    x: FloatArray, fs_hz: float, kind: str = "ecg", refractory_s: float | None = None
) -> FloatArray:
    """Beat times (s) in an ECG (QRS energy) or a plethysmogram (pulse upstrokes).

    Our own simple detector: remove the baseline (1 s moving mean), take the slope
    (ECG: squared slope integrated over 120 ms; pleth: positive slope smoothed over
    100 ms), then keep local maxima above 30 % of a robust local reference (the median
    of one-second maxima over the surrounding 8 s), at most one per refractory period.
    """
    x = np.where(np.isnan(x), np.nan, x)
    if np.isnan(x).any():  # bridge the few invalid samples linearly
        good = ~np.isnan(x)
        x = np.interp(np.arange(x.size), np.flatnonzero(good), x[good]) if good.any() else x
    n_sec = max(int(fs_hz), 1)
    base = x - _moving_mean(x, n_sec)
    d = np.gradient(base) * fs_hz
    if kind == "ecg":
        feature = _moving_mean(d * d, max(int(0.12 * fs_hz), 1))
        refractory = 0.25 if refractory_s is None else refractory_s
    else:
        feature = _moving_mean(np.maximum(d, 0.0), max(int(0.10 * fs_hz), 1))
        refractory = 0.33 if refractory_s is None else refractory_s
    blocks = feature.size // n_sec
    if blocks < 1:
        return np.zeros(0)
    block_max = feature[: blocks * n_sec].reshape(blocks, n_sec).max(axis=1)
    ref = np.array([np.median(block_max[max(0, b - 4) : b + 4]) for b in range(blocks)])
    ref = np.repeat(ref, n_sec)
    ref = np.concatenate((ref, np.full(feature.size - ref.size, ref[-1])))
    inner = feature[1:-1]
    peak = (inner > feature[:-2]) & (inner >= feature[2:]) & (inner > 0.3 * ref[1:-1])
    candidates = np.flatnonzero(peak) + 1
    beats: list[int] = []
    min_gap = int(refractory * fs_hz)
    for i in candidates:  # one Python step per candidate beat, not per sample
        if not beats or i - beats[-1] >= min_gap:
            beats.append(int(i))
        elif feature[i] > feature[beats[-1]]:
            beats[-1] = int(i)
    times: FloatArray = np.array(beats, dtype=np.float64) / fs_hz
    return times


def beat_rate(beats: FloatArray, times: FloatArray, window_s: float = 5.0) -> FloatArray:
    """Rate (/min) at each time from the beats of the preceding window.

    60 / median beat interval when the window holds at least two beats. With fewer,
    the rate is 0 when no beat came for ``window_s`` (what a monitor reports as asystole
    or no pulse) and NaN before the first full window.
    """
    out = np.full(times.size, np.nan)
    for i, t in enumerate(times):
        if t < window_s:
            continue
        w = beats[(beats > t - window_s) & (beats <= t)]
        out[i] = 60.0 / float(np.median(np.diff(w))) if w.size >= 2 else 0.0
    return out


#: Rate-only stand-ins for the monitor's arrhythmia alarms (PhysioNet/CinC Challenge 2015
#: definitions: asystole = no QRS for >= 4 s; extreme bradycardia < 40 /min; extreme
#: tachycardia > 140 /min; VT needs beat morphology, which a rate cannot show). The HR
#: from ECG is 0 after 5 s without a beat (see :func:`beat_rate`).
ARRHYTHMIA_LIMITS: Final = (
    alarms.Limit("hr", alarms.Side.LOW, 40, AlarmPriority.HIGH, 4, 5, 5),
    alarms.Limit("hr", alarms.Side.HIGH, 140, AlarmPriority.HIGH, 4, 5, 5),
)


def replay_alarm_record(
    record_path: str | Path,
    *,
    quality_gate: bool = True,
    ecg_lead: str = "II",
    asystole_from_s: float | None = None,
    quality: QualityConfig | None = None,
) -> ReplayResult:
    """Replay a Challenge 2015 record as 1 Hz HR (from ECG) and pulse rate (from pleth).

    Alarm limits are :data:`ARRHYTHMIA_LIMITS`. ``asystole_from_s`` flattens both the ECG
    and the pleth from that time on: a true-asystole control built on the real record
    (no electrical activity and no pulse), which the gate must not suppress.
    """
    rec = read_wfdb(record_path)
    seconds = int(rec.values.shape[0] / rec.fs_hz)
    times = np.arange(1, seconds + 1, dtype=np.float64)
    pleth, ecg = rec.column("PLETH").copy(), rec.column(ecg_lead).copy()
    if asystole_from_s is not None:
        cut = int(asystole_from_s * rec.fs_hz)
        pleth[cut:], ecg[cut:] = np.nanmedian(pleth), np.nanmedian(ecg)
    hr = beat_rate(detect_beats(ecg, rec.fs_hz, "ecg"), times)
    pulse = beat_rate(detect_beats(pleth, rec.fs_hz, "pleth"), times)

    def rows() -> Iterator[tuple[float, list[Record]]]:
        for i, t in enumerate(times):
            batch: list[Record] = []
            for metric, value in (
                (codes.MDC_ECG_HEART_RATE, hr[i]),
                (NUMERIC_SIGNALS["PULSE"], pulse[i]),
            ):
                if not np.isnan(value):
                    batch.append(_rate(metric, float(value), float(t)))
            yield float(t), batch

    base = _replay_config(None, 1.0, "A", False)
    cfg = replace(base, alarm_limits=ARRHYTHMIA_LIMITS)
    return _run(rec.name, float(seconds), 1.0, rows(), cfg, quality, quality_gate, 0.0)


#: The monitor raised its alarm 300 s into every Challenge 2015 record.
CHALLENGE_ALARM_S: Final = 300.0


def challenge_decision(
    result: ReplayResult,
    alarm_s: float = CHALLENGE_ALARM_S,
    window_s: float = 10.0,
    min_gated_s: int = 3,
    pulse_min: float = 20.0,
) -> str:
    """What the twin does with the monitor's arrhythmia alarm raised at ``alarm_s``.

    ``"suppressed"`` when, in the ``window_s`` seconds up to the alarm, the pleth showed
    a plausible pulse (>= ``pulse_min`` /min) every second, so the patient was perfused,
    and the quality gate kept the heart rate from ECG from alarms (e.g. disputed by that
    pulse) in at least ``min_gated_s`` of them; else ``"alarm"``.
    """
    t = result.news2_t_s
    in_window = (t > alarm_s - window_s) & (t <= alarm_s)
    hr_gated = result.gated[in_window, result.vitals.index("hr")]
    pulse = result.offered[in_window, result.vitals.index("pulse")]
    with np.errstate(invalid="ignore"):
        perfused = bool(pulse.size) and bool((pulse >= pulse_min).all())
    return "suppressed" if perfused and int(hr_gated.sum()) >= min_gated_s else "alarm"


def _rate(metric: codes.Metric, value: float, t_s: float) -> Measurement:
    """A derived rate: 0 is a real reading here (no beats), not the monitor's "no signal"."""
    return Measurement(
        DEVICE,
        stream_id_for(DEVICE, str(metric.mdc_code)),
        metric.mdc_code,
        metric.unit,
        value,
        VALID,
        _at(t_s),
    )


__all__ = [
    "ARRHYTHMIA_LIMITS",
    "AlarmEpisode",
    "ReplayResult",
    "Signals",
    "read_numerics",
    "beat_rate",
    "challenge_decision",
    "detect_beats",
    "read_wfdb",
    "replay_alarm_record",
    "replay_numerics",
]
