"""The patient twins as a pipeline stage: smoothed vitals, NEWS2 and alarms, per batch.

Each measurement lands in a (patient, vital) cell. Per batch the stage

* passes every sample through the signal-quality gate (:mod:`edge_models.quality`:
  device flags, plausibility, rate of change, flatline, ECG-HR vs pleth-pulse agreement);
  samples that fail are counted as artifacts and feed neither smoothing, trend, alarms
  nor NEWS2 (the records themselves are stored upstream as usual),
* updates the time-aware EWMA and the trend (slope per hour, :mod:`edge_models.trend`) of
  every cell with the accepted samples,
* steps the alarm engine (:mod:`edge_models.alarms`) on the latest accepted value of every
  cell (invalid while the cell's latest sample failed the gate, or when older than its
  staleness limit) and on the technical conditions (sensor off, device disconnected,
  battery low),
* and every ``snapshot_interval_s`` emits one :class:`~gateway.model.TwinSnapshot` per
  patient: vitals, NEWS2 (partial when a parameter is missing; manual inputs from config),
  and the alarms in force.

Alarm records go into the same batch, so they are stored and sent ahead of any backlog.

Determinism: the whole twin state is a canonical JSON blob (:meth:`PatientTwins.state`,
:meth:`PatientTwins.restore`); a replay restored from a blob continues bit for bit. The
twin keeps its own time base (monotonic clock plus an offset): after a restore it resumes
at the saved time plus the wall-clock time elapsed since, so a rebooted monotonic clock
never runs the models backwards.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from edge_models import alarms, news2
from edge_models import state as codec
from edge_models.ewma import EwmaState, ewma_step
from edge_models.quality import QualityConfig, QualityState, Reason, assess
from edge_models.trend import Trend, TrendState, staleness, trend_estimate, trend_update
from gateway import codes
from gateway.config import GatewayConfig
from gateway.model import (
    VALID,
    Alarm,
    AlarmKind,
    AlarmPriority,
    DeviceEvent,
    EventKind,
    Measurement,
    Quality,
    ReceiveTime,
    Record,
    TwinSnapshot,
    stream_id_for,
)
from gateway.spread import Spread


@dataclass(frozen=True, slots=True)
class Vital:
    name: str  # column name used by the alarm engine and the snapshot
    label: str
    unit: str
    codes: tuple[int, ...]  # MDC codes that feed this vital
    intermittent: bool = False  # spot readings (cuff, thermometer): NEWS2 keeps them longer


VITALS: tuple[Vital, ...] = (
    Vital("spo2", "SpO2", "%", (codes.MDC_PULS_OXIM_SAT_O2.mdc_code,)),
    Vital(
        "pulse",
        "Pulse",
        "/min",
        (codes.MDC_PULS_OXIM_PULS_RATE.mdc_code, codes.MDC_PULS_RATE.mdc_code),
    ),
    Vital("hr", "HR", "/min", (codes.MDC_ECG_HEART_RATE.mdc_code,)),
    Vital("rr", "RR", "/min", (codes.MDC_RESP_RATE.mdc_code,)),
    Vital("temp", "Temp", "Cel", (codes.MDC_TEMP_BODY.mdc_code, codes.MDC_TEMP.mdc_code), True),
    Vital("sbp", "NIBP sys", "mm[Hg]", (codes.MDC_PRESS_BLD_NONINV_SYS.mdc_code,), True),
)
_COLUMN = {code: i for i, v in enumerate(VITALS) for code in v.codes}
_NAMES = tuple(v.name for v in VITALS)
SENSOR_FAULT = Quality.INVALID | Quality.UNAVAILABLE
BATTERY_LOW_PERCENT = 20.0
#: Spot readings stay usable this long (s) at least: the NEWS2 staleness default
#: (news2.DEFAULT_MAX_AGE_S, one hour), since a cuff or thermometer reads every 15-60 min.
INTERMITTENT_MAX_AGE_S = 3600.0
STATE_FORMAT = 1
#: A technical alarm whose text says the signal is gone gates the device's vitals.
SIGNAL_LOST_WORDS = ("signal loss", "sensor off", "leads off", "lead off", "probe off")

#: Adult ward defaults (a starting point for local policy, not a clinical recommendation).
DEFAULT_LIMITS: tuple[alarms.Limit, ...] = (
    alarms.Limit("spo2", alarms.Side.LOW, 90, AlarmPriority.MEDIUM, 15, 10, 1),
    alarms.Limit("spo2", alarms.Side.LOW, 85, AlarmPriority.HIGH, 5, 10, 1, level=1),
    alarms.Limit("pulse", alarms.Side.HIGH, 130, AlarmPriority.MEDIUM, 10, 10, 3),
    alarms.Limit("pulse", alarms.Side.LOW, 40, AlarmPriority.HIGH, 5, 10, 3),
    alarms.Limit("hr", alarms.Side.HIGH, 130, AlarmPriority.MEDIUM, 10, 10, 3),
    alarms.Limit("hr", alarms.Side.LOW, 40, AlarmPriority.HIGH, 5, 10, 3),
    alarms.Limit("rr", alarms.Side.HIGH, 30, AlarmPriority.MEDIUM, 15, 15, 2),
    alarms.Limit("rr", alarms.Side.LOW, 8, AlarmPriority.HIGH, 10, 15, 1),
    alarms.Limit("sbp", alarms.Side.LOW, 90, AlarmPriority.MEDIUM, 0, 0, 3),
    alarms.Limit("temp", alarms.Side.HIGH, 39.0, AlarmPriority.LOW, 0, 0, 0.2),
)


class PatientTwins:
    def __init__(self, config: GatewayConfig, quality: QualityConfig | None = None) -> None:
        self.cfg = config.twin
        self.patients = [p.id for p in config.patients]
        self.manual = {p.id: p for p in config.patients}
        self._row = {p: i for i, p in enumerate(self.patients)}
        self._device_row = {d.id: self._row[d.patient] for d in config.devices}
        self._device_cols: dict[str, set[int]] = {}  # vitals each device has sent
        n_p, n_v = len(self.patients), len(VITALS)
        self.max_age_s = np.array(
            [
                max(self.cfg.stale_after_s, INTERMITTENT_MAX_AGE_S)
                if v.intermittent
                else self.cfg.stale_after_s
                for v in VITALS
            ]
        )
        self.quality_cfg = quality or QualityConfig.for_vitals(_NAMES)
        if self.quality_cfg.vitals != _NAMES:
            raise ValueError(f"quality config must cover the vitals {_NAMES}")
        self.ewma = EwmaState.empty(n_p, n_v)
        self.quality = QualityState.empty(n_p, n_v)
        self.trend = TrendState.empty(n_p, n_v)
        self.last_valid = np.full((n_p, n_v), np.nan)  # latest accepted value per cell
        self.last_valid_t = np.full((n_p, n_v), np.nan)
        self.alarm_x = np.full((n_p, n_v), np.nan)  # latest alarm-eligible value per cell
        self.alarm_t = np.full((n_p, n_v), np.nan)
        self.sensor_off = np.zeros(n_p, bool)
        self.disconnected: dict[str, bool] = {}  # device -> currently disconnected
        self.battery: dict[str, float] = {}
        limits = config.alarm_limits or DEFAULT_LIMITS
        self.alarms_enabled = config.alarms_enabled
        self.alarm_config = alarms.build_config(
            self.patients, _NAMES, dict.fromkeys(self.patients, limits)
        )
        self.alarm_state = alarms.initial_state(self.alarm_config)
        self.active: dict[str, Alarm] = {}  # alarm_id -> start record (wall-clock times)
        self._wall: dict[str, Alarm] = {}  # engine alarm id -> its wall-clock start record
        self._snapshots = Spread(self.cfg.snapshot_interval_s, start=0.0)
        self._t_s = -math.inf
        self._offset_ns = 0  # twin time = monotonic clock + offset
        self._last_ns = (0, 0)  # (twin time, wall clock) of the latest batch, in ns
        self._rebase: tuple[int, int] | None = None  # set by restore()
        self._trend_cache: tuple[float, Trend] | None = None

    def set_limits(self, limits: Sequence[alarms.Limit], now: ReceiveTime) -> list[Alarm]:
        """Replace every patient's limits; alarms in force end now (conditions changed)."""
        config = alarms.build_config(
            self.patients, _NAMES, {p: tuple(limits) for p in self.patients}
        )
        ended = self._end_all(now.wall_ns, now, "limits changed")
        self.alarm_config = config
        self.alarm_state = alarms.initial_state(config)
        return ended

    def _end_all(self, end_ns: int, received: ReceiveTime, why: str) -> list[Alarm]:
        ended = [
            replace(
                a,
                end_ns=max(end_ns, a.start_ns),
                received=received,
                condition=f"{a.condition} ({why})",
            )
            for a in self.active.values()
        ]
        self.active.clear()
        self._wall.clear()
        return ended

    # --- time ---------------------------------------------------------------------------

    def _twin_ns(self, now: ReceiveTime) -> int:
        if self._rebase is not None:
            saved_t, saved_wall = self._rebase
            self._offset_ns = saved_t + max(0, now.wall_ns - saved_wall) - now.mono_ns
            self._rebase = None
        return now.mono_ns + self._offset_ns

    def _seconds(self, now: ReceiveTime) -> float:
        return (now.mono_ns + self._offset_ns) / 1e9

    # --- batches ------------------------------------------------------------------------

    def observe(self, records: Sequence[Record], now: ReceiveTime) -> list[Record]:
        """Update with a batch; return alarm records and the snapshots due now."""
        now_ns = self._twin_ns(now)
        self._ingest(records)
        out: list[Record] = []
        now_s = max(now_ns / 1e9, self._t_s)
        self._t_s = now_s
        self._last_ns = (max(now_ns, self._last_ns[0]), now.wall_ns)
        if self.alarms_enabled:
            out.extend(self._step_alarms(now_s, now))
        # every patient once a snapshot interval, spread over it (gateway/spread.py)
        out.extend(
            self.snapshot(self.patients[i], now)
            for i in self._snapshots.due(now_s, len(self.patients))
        )
        return out

    def _ingest(self, records: Sequence[Record]) -> None:
        rows: list[int] = []
        cols: list[int] = []
        times: list[float] = []
        values: list[float] = []
        flagged: list[bool] = []
        for r in records:
            if isinstance(r, DeviceEvent):
                self._device_event(r)
                continue
            if not isinstance(r, Measurement):
                continue
            row = self._device_row.get(r.device_id)
            if row is None:
                continue
            if r.mdc_code == codes.MDC_ATTR_VAL_BATT_CHARGE.mdc_code and r.quality == VALID:
                self.battery[r.device_id] = r.value
            col = _COLUMN.get(r.mdc_code)
            if col is None:
                continue
            if col == 0:  # SpO2 tells whether the sensor is on the patient
                self.sensor_off[row] = bool(r.quality & SENSOR_FAULT)
            self._device_cols.setdefault(r.device_id, set()).add(col)
            rows.append(row)
            cols.append(col)
            times.append((r.received.mono_ns + self._offset_ns) / 1e9)
            values.append(r.value)
            flagged.append(r.quality != VALID)
        if not values:
            return
        p, v = np.array(rows, dtype=np.intp), np.array(cols, dtype=np.intp)
        t, x = np.array(times), np.array(values)
        self.quality, verdict = assess(
            self.quality, self.quality_cfg, p, v, t, x, np.array(flagged, dtype=bool)
        )
        a = verdict.alarm_ok
        _latest(self.alarm_x, self.alarm_t, p[a], v[a], t[a], x[a])
        ok = verdict.accepted
        if not ok.any():
            return
        p, v, t, x = p[ok], v[ok], t[ok], x[ok]
        self.ewma = ewma_step(self.ewma, self.cfg.tau_s, p, v, t, x)
        self.trend = trend_update(self.trend, p, v, t, x)
        self._trend_cache = None
        _latest(self.last_valid, self.last_valid_t, p, v, t, x)

    def _device_event(self, event: DeviceEvent) -> None:
        if event.event is EventKind.CONNECTED:
            self.disconnected[event.device_id] = False
        elif event.event is EventKind.DISCONNECTED:
            self.disconnected[event.device_id] = True
            self._gate_device(event.device_id)
        elif event.event is EventKind.TECHNICAL_ALARM and _signal_lost(event.detail):
            self._gate_device(event.device_id)
        elif event.event is EventKind.BATTERY and event.value is not None:
            self.battery[event.device_id] = event.value

    def _gate_device(self, device_id: str) -> None:
        """The device's last values may not feed alarms until it sends a good sample."""
        row = self._device_row.get(device_id)
        cols = sorted(self._device_cols.get(device_id, ()))
        if row is not None and cols:
            self.quality.gated[row, cols] = True

    def _technical(self) -> np.ndarray:
        flags = np.zeros((len(self.patients), len(self.alarm_config.technical.keys)), bool)
        keys = self.alarm_config.technical.keys
        for device, row in self._device_row.items():
            if "device_disconnected" in keys and self.disconnected.get(device, False):
                flags[row, keys.index("device_disconnected")] = True
            level = self.battery.get(device)
            if "battery_low" in keys and level is not None and level < BATTERY_LOW_PERCENT:
                flags[row, keys.index("battery_low")] = True
        if "sensor_off" in keys:
            flags[:, keys.index("sensor_off")] |= self.sensor_off
        return flags

    def _fresh(self, now_s: float, last_t: np.ndarray) -> np.ndarray:
        return ~staleness(last_t, now_s, self.max_age_s)[1]

    def _step_alarms(self, now_s: float, now: ReceiveTime) -> list[Alarm]:
        fresh = self._fresh(now_s, self.alarm_t)
        valid = fresh & np.isfinite(self.alarm_x) & ~self.quality.gated
        self.alarm_state, records = alarms.step(
            self.alarm_state,
            now_s,
            np.where(valid, self.alarm_x, np.nan),
            valid,
            self._technical(),
            received=now,
        )
        return [self._to_wall(a, now) for a in records]

    def _to_wall(self, a: Alarm, now: ReceiveTime) -> Alarm:
        """The engine counts on the twin's monotonic time; upstream wants wall-clock times.

        The start is converted once, when the alarm starts, and its id is built from that
        wall time, so the end record carries the same id and start even if the wall clock
        is stepped in between (the monotonic delays are never affected).
        """
        offset = now.wall_ns - (now.mono_ns + self._offset_ns)
        if a.end_ns is None:
            start = a.start_ns + offset
            wall = replace(a, start_ns=start, alarm_id=_wall_id(a.alarm_id, start))
            self._wall[a.alarm_id] = wall
            self.active[wall.alarm_id] = wall
            return wall
        started = self._wall.pop(a.alarm_id, None)
        start = started.start_ns if started is not None else a.start_ns + offset
        wall = replace(
            a, start_ns=start, end_ns=a.end_ns + offset, alarm_id=_wall_id(a.alarm_id, start)
        )
        self.active.pop(wall.alarm_id, None)
        return wall

    # --- outputs ------------------------------------------------------------------------

    def news2(self, patient: str, now_s: float) -> news2.News2Result:
        """NEWS2 from the latest accepted, fresh values (``now_s`` on the twin's clock)."""
        row = self._row[patient]
        fresh = self._fresh(now_s, self.last_valid_t)[row]

        def value(name: str) -> float | None:
            col = _NAMES.index(name)
            v = self.last_valid[row, col]
            return float(v) if fresh[col] and np.isfinite(v) else None

        pulse = value("pulse")
        manual = self.manual[patient]
        return news2.score_news2(
            news2.News2Inputs(
                respiration_rate=value("rr"),
                spo2=value("spo2"),
                on_oxygen=manual.on_oxygen,
                systolic_bp=value("sbp"),
                pulse=pulse if pulse is not None else value("hr"),
                consciousness=(
                    news2.Consciousness(manual.consciousness) if manual.consciousness else None
                ),
                temperature=value("temp"),
                spo2_scale=news2.SpO2Scale(manual.spo2_scale),
            )
        )

    def trends(self, now_s: float) -> Trend:
        """Slope per hour and its standard error of every cell (cached per instant)."""
        if self._trend_cache is None or self._trend_cache[0] != now_s:
            self._trend_cache = (now_s, trend_estimate(self.trend, now_s))
        return self._trend_cache[1]

    def snapshot(self, patient: str, now: ReceiveTime) -> TwinSnapshot:
        row = self._row[patient]
        now_s = self._seconds(now)
        trend = self.trends(now_s)
        q = self.quality
        vitals: dict[str, object] = {}
        for col, vital in enumerate(VITALS):
            smoothed = self.ewma.smoothed[row, col]
            if np.isnan(smoothed):
                continue
            age = now_s - self.ewma.last_t[row, col]
            slope, se = trend.slope_per_h[row, col], trend.se_per_h[row, col]
            vitals[vital.label] = {
                "unit": vital.unit,
                "smoothed": round(float(smoothed), 3),
                "last": float(self.ewma.last_raw[row, col]),
                "age_s": round(float(age), 3),
                "stale": bool(age > self.max_age_s[col]),
                "slope_per_h": None if np.isnan(slope) else round(float(slope), 3),
                "slope_se_per_h": None if np.isnan(se) else round(float(se), 3),
                "confidence": codec.float_or_none(float(q.confidence[row, col])),
                "gated": bool(q.gated[row, col]),
                "artifacts": int(q.rejected[row, col]),
            }
        score = self.news2(patient, now_s).to_dict()
        active = [
            {
                "alarm_id": a.alarm_id,
                "priority": a.priority.name.lower(),
                "kind": a.alarm_kind.value,
                "condition": a.condition,
                "start_ns": a.start_ns,
            }
            for a in self.active.values()
            if a.patient_id == patient
        ]
        return TwinSnapshot(
            stream_id=stream_id_for(patient, "twin"),
            patient_id=patient,
            state={"vitals": vitals, "news2": score, "alarms": active},
            received=now,
        )

    def quality_counts(self) -> dict[str, dict[str, dict[str, int]]]:
        """Per patient and vital: samples, artifacts (gated out) and hits per check."""
        q = self.quality
        out: dict[str, dict[str, dict[str, int]]] = {}
        for pid, row in self._row.items():
            per: dict[str, dict[str, int]] = {}
            for col, name in enumerate(_NAMES):
                cell = {"samples": int(q.samples[row, col]), "artifacts": int(q.rejected[row, col])}
                for i, reason in enumerate(Reason):
                    cell[str(reason.name).lower()] = int(q.counts[row, col, i])
                per[name] = cell
            out[pid] = per
        return out

    # --- determinism --------------------------------------------------------------------

    def state(self) -> bytes:
        """Everything the twin remembers, as canonical JSON bytes (see :meth:`restore`)."""
        return codec.dumps(
            {
                "format": STATE_FORMAT,
                "patients": self.patients,
                "vitals": list(_NAMES),
                "clock": {"twin_ns": self._last_ns[0], "wall_ns": self._last_ns[1]},
                "t_s": None if self._t_s == -math.inf else self._t_s,
                "next_snapshot_s": self._snapshots.start,
                # where the spread-out round of snapshots stands (absent before session 8)
                "snapshot_next": self._snapshots.next,
                "snapshot_burst": self._snapshots.burst,
                "ewma": self.ewma.to_dict(),
                "quality": self.quality.to_dict(),
                "trend": self.trend.to_dict(),
                "last_valid": codec.encode_array(self.last_valid),
                "last_valid_t": codec.encode_array(self.last_valid_t),
                "alarm_x": codec.encode_array(self.alarm_x),
                "alarm_t": codec.encode_array(self.alarm_t),
                "sensor_off": codec.encode_array(self.sensor_off),
                "disconnected": self.disconnected,
                "battery": self.battery,
                "device_vitals": {d: sorted(c) for d, c in self._device_cols.items()},
                "alarms": self.alarm_state.to_dict(),
                "active": [_alarm_to_dict(a) for a in self.active.values()],
                "wall": {k: _alarm_to_dict(a) for k, a in self._wall.items()},
            }
        )

    def restore(self, blob: bytes) -> list[Alarm]:
        """Resume from :meth:`state` bytes taken by a twin with the same patients.

        Raises ValueError (nothing changed) when the blob is malformed or for other
        patients. If the alarm limits changed since the blob was taken, the alarm engine
        starts afresh and the alarms that were in force are returned as end records
        (ended at the time of the blob); otherwise the list is empty.
        """
        d = codec.loads(blob)
        try:
            if d.get("format") != STATE_FORMAT:
                raise ValueError(f"unsupported twin state format {d.get('format')!r}")
            if d["patients"] != self.patients or d["vitals"] != list(_NAMES):
                raise ValueError("twin state was taken for other patients or vitals")
            shape = (len(self.patients), len(_NAMES))
            ewma = EwmaState.from_dict(d["ewma"])
            quality = QualityState.from_dict(d["quality"])
            trend = TrendState.from_dict(d["trend"])
            last_valid = codec.decode_array(d["last_valid"])
            last_valid_t = codec.decode_array(d["last_valid_t"])
            alarm_x = codec.decode_array(d["alarm_x"])
            alarm_t = codec.decode_array(d["alarm_t"])
            sensor_off = codec.decode_array(d["sensor_off"]).astype(bool)
            for name, a in (
                ("ewma", ewma.smoothed),
                ("quality", quality.ref_x),
                ("trend", trend.n[..., 0]),
                ("last_valid", last_valid),
                ("last_valid_t", last_valid_t),
                ("alarm_x", alarm_x),
                ("alarm_t", alarm_t),
            ):
                if a.shape != shape:
                    raise ValueError(f"twin state: {name} has shape {a.shape}, not {shape}")
            alarm_state = alarms.AlarmState.from_dict(d["alarms"])
            active = {a.alarm_id: a for a in map(_alarm_from_dict, d["active"])}
            wall = {str(k): _alarm_from_dict(a) for k, a in d["wall"].items()}
            clock = (int(d["clock"]["twin_ns"]), int(d["clock"]["wall_ns"]))
            t_s = -math.inf if d["t_s"] is None else float(d["t_s"])
            next_snapshot = float(d["next_snapshot_s"])
            snapshot_next = int(d.get("snapshot_next", 0))
            snapshot_burst = bool(d.get("snapshot_burst", True))
            disconnected = {str(k): bool(v) for k, v in d["disconnected"].items()}
            battery = {str(k): float(v) for k, v in d["battery"].items()}
            device_cols = {str(k): {int(c) for c in v} for k, v in d["device_vitals"].items()}
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"malformed twin state: {exc!r}") from exc
        self.ewma, self.quality, self.trend = ewma, quality, trend
        self.last_valid, self.last_valid_t, self.sensor_off = last_valid, last_valid_t, sensor_off
        self.alarm_x, self.alarm_t = alarm_x, alarm_t
        self.disconnected, self.battery = disconnected, battery
        self._device_cols = device_cols
        self._t_s = t_s
        self._snapshots.resume(next_snapshot, snapshot_next, snapshot_burst, len(self.patients))
        self._last_ns = clock
        self._rebase = clock
        self._trend_cache = None
        self.active, self._wall = active, wall
        ended: list[Alarm] = []
        same = _config_dict(alarm_state.config) == _config_dict(self.alarm_config)
        if same:
            self.alarm_state = alarm_state
        else:
            self.alarm_state = alarms.initial_state(self.alarm_config)
            received = ReceiveTime(clock[1], clock[0])
            ended = self._end_all(clock[1], received, "limits changed")
        return ended


def _latest(
    value: np.ndarray, when: np.ndarray, p: np.ndarray, v: np.ndarray, t: np.ndarray, x: np.ndarray
) -> None:
    """Store the newest sample of each cell (in place) unless the cell has a newer one."""
    order = np.lexsort((t, v, p))
    p, v, t, x = p[order], v[order], t[order], x[order]
    newer = ~(t < when[p, v])  # NaN-safe "not older"; the last write per cell wins
    value[p[newer], v[newer]] = x[newer]
    when[p[newer], v[newer]] = t[newer]


def _signal_lost(detail: str) -> bool:
    text = detail.lower()
    return not text.startswith("ended") and any(w in text for w in SIGNAL_LOST_WORDS)


def _config_dict(config: alarms.AlarmConfig) -> dict[str, object]:
    d = alarms.initial_state(config).to_dict()
    return {k: v for k, v in d.items() if not k.endswith("tracks") and k != "t_s"}


def _alarm_to_dict(a: Alarm) -> dict[str, object]:
    return {
        "stream_id": a.stream_id,
        "alarm_id": a.alarm_id,
        "patient_id": a.patient_id,
        "priority": int(a.priority),
        "alarm_kind": a.alarm_kind.value,
        "condition": a.condition,
        "start_ns": a.start_ns,
        "received": [a.received.wall_ns, a.received.mono_ns],
        "end_ns": a.end_ns,
        "values": [[k, codec.float_or_none(v)] for k, v in a.values],
        "device_id": a.device_id,
        "seq": a.seq,
    }


def _alarm_from_dict(d: dict[str, object]) -> Alarm:
    received = d["received"]
    values = d["values"]
    if not isinstance(received, list) or not isinstance(values, list):
        raise ValueError("malformed alarm in twin state")
    end, seq = d["end_ns"], d["seq"]
    return Alarm(
        stream_id=str(d["stream_id"]),
        alarm_id=str(d["alarm_id"]),
        patient_id=str(d["patient_id"]),
        priority=AlarmPriority(int(str(d["priority"]))),
        alarm_kind=AlarmKind(str(d["alarm_kind"])),
        condition=str(d["condition"]),
        start_ns=int(str(d["start_ns"])),
        received=ReceiveTime(int(received[0]), int(received[1])),
        end_ns=None if end is None else int(str(end)),
        values=tuple((str(k), math.nan if v is None else float(v)) for k, v in values),
        device_id=str(d["device_id"]),
        seq=None if seq is None else int(str(seq)),
    )


def _wall_id(engine_id: str, start_wall_ns: int) -> str:
    """``<patient>/<condition>/<start ns>`` with the start on the wall clock (unique across
    reboots, unlike the monotonic one)."""
    head, _, _ = engine_id.rpartition("/")
    return f"{head}/{start_wall_ns}"
