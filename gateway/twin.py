"""The patient twins as a pipeline stage: smoothed vitals, NEWS2 and alarms, per batch.

Each measurement lands in a (patient, vital) cell. Per batch the stage

* updates the time-aware EWMA of every cell (:mod:`edge_models.ewma`),
* steps the alarm engine (:mod:`edge_models.alarms`) on the latest valid value of every cell
  (values with any quality flag, or older than ``twin.stale_after_s``, count as invalid)
  and on the technical conditions (sensor off, device disconnected, battery low),
* and every ``snapshot_interval_s`` emits one :class:`~gateway.model.TwinSnapshot` per
  patient: vitals, NEWS2 (partial when a parameter is missing; manual inputs from config),
  and the alarms in force.

Alarm records go into the same batch, so they are stored and sent ahead of any backlog.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from edge_models import alarms, news2
from edge_models.ewma import EwmaState, ewma_step
from gateway import codes
from gateway.config import GatewayConfig
from gateway.model import (
    VALID,
    Alarm,
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


@dataclass(frozen=True, slots=True)
class Vital:
    name: str  # column name used by the alarm engine and the snapshot
    label: str
    unit: str
    codes: tuple[int, ...]  # MDC codes that feed this vital


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
    Vital("temp", "Temp", "Cel", (codes.MDC_TEMP_BODY.mdc_code, codes.MDC_TEMP.mdc_code)),
    Vital("sbp", "NIBP sys", "mm[Hg]", (codes.MDC_PRESS_BLD_NONINV_SYS.mdc_code,)),
)
_COLUMN = {code: i for i, v in enumerate(VITALS) for code in v.codes}
_NAMES = tuple(v.name for v in VITALS)
SENSOR_FAULT = Quality.INVALID | Quality.UNAVAILABLE
BATTERY_LOW_PERCENT = 20.0

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
    def __init__(self, config: GatewayConfig) -> None:
        self.cfg = config.twin
        self.patients = [p.id for p in config.patients]
        self.manual = {p.id: p for p in config.patients}
        self._row = {p: i for i, p in enumerate(self.patients)}
        self._device_row = {d.id: self._row[d.patient] for d in config.devices}
        n_p, n_v = len(self.patients), len(VITALS)
        self.state = EwmaState.empty(n_p, n_v)
        self.last_valid = np.full((n_p, n_v), np.nan)  # latest valid value per cell
        self.last_valid_t = np.full((n_p, n_v), np.nan)
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
        self._next_snapshot_mono = 0.0
        self._t_s = -math.inf

    def set_limits(self, limits: Sequence[alarms.Limit], now: ReceiveTime) -> list[Alarm]:
        """Replace every patient's limits; alarms in force end now (conditions changed)."""
        config = alarms.build_config(
            self.patients, _NAMES, {p: tuple(limits) for p in self.patients}
        )
        ended = [
            replace(
                a,
                end_ns=max(now.wall_ns, a.start_ns),
                received=now,
                condition=f"{a.condition} (limits changed)",
            )
            for a in self.active.values()
        ]
        self.alarm_config = config
        self.alarm_state = alarms.initial_state(config)
        self.active.clear()
        self._wall.clear()
        return ended

    def observe(self, records: Sequence[Record], now: ReceiveTime) -> list[Record]:
        """Update with a batch; return alarm records and the snapshots due now."""
        self._ingest(records)
        out: list[Record] = []
        now_s = max(now.mono_ns / 1e9, self._t_s)
        self._t_s = now_s
        if self.alarms_enabled:
            out.extend(self._step_alarms(now_s, now))
        if now_s >= self._next_snapshot_mono:
            self._next_snapshot_mono = now_s + self.cfg.snapshot_interval_s
            out.extend(self.snapshot(p, now) for p in self.patients)
        return out

    def _ingest(self, records: Sequence[Record]) -> None:
        rows: list[int] = []
        cols: list[int] = []
        times: list[float] = []
        values: list[float] = []
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
            if r.quality != VALID or math.isnan(r.value):
                continue
            t = r.received.mono_ns / 1e9
            rows.append(row)
            cols.append(col)
            times.append(t)
            values.append(r.value)
            if not t < self.last_valid_t[row, col]:  # NaN-safe "not older"
                self.last_valid[row, col] = r.value
                self.last_valid_t[row, col] = t
        if values:
            self.state = ewma_step(
                self.state,
                self.cfg.tau_s,
                np.array(rows, dtype=np.intp),
                np.array(cols, dtype=np.intp),
                np.array(times),
                np.array(values),
            )

    def _device_event(self, event: DeviceEvent) -> None:
        if event.event is EventKind.CONNECTED:
            self.disconnected[event.device_id] = False
        elif event.event is EventKind.DISCONNECTED:
            self.disconnected[event.device_id] = True
        elif event.event is EventKind.BATTERY and event.value is not None:
            self.battery[event.device_id] = event.value

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

    def _step_alarms(self, now_s: float, now: ReceiveTime) -> list[Alarm]:
        fresh = (now_s - self.last_valid_t) <= self.cfg.stale_after_s
        valid = fresh & np.isfinite(self.last_valid)
        self.alarm_state, records = alarms.step(
            self.alarm_state,
            now_s,
            np.where(valid, self.last_valid, np.nan),
            valid,
            self._technical(),
            received=now,
        )
        return [self._to_wall(a, now) for a in records]

    def _to_wall(self, a: Alarm, now: ReceiveTime) -> Alarm:
        """The engine counts on the monotonic clock; upstream wants wall-clock times.

        The start is converted once, when the alarm starts, and its id is built from that
        wall time, so the end record carries the same id and start even if the wall clock
        is stepped in between (the monotonic delays are never affected).
        """
        offset = now.wall_ns - now.mono_ns
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

    def news2(self, patient: str, now_s: float) -> news2.News2Result:
        row = self._row[patient]
        age = now_s - self.last_valid_t[row]
        fresh = age <= self.cfg.stale_after_s

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

    def snapshot(self, patient: str, now: ReceiveTime) -> TwinSnapshot:
        row = self._row[patient]
        now_s = now.mono_ns / 1e9
        vitals: dict[str, object] = {}
        for col, vital in enumerate(VITALS):
            smoothed = self.state.smoothed[row, col]
            if np.isnan(smoothed):
                continue
            age = now_s - self.state.last_t[row, col]
            vitals[vital.label] = {
                "unit": vital.unit,
                "smoothed": round(float(smoothed), 3),
                "last": float(self.state.last_raw[row, col]),
                "age_s": round(float(age), 3),
                "stale": bool(age > self.cfg.stale_after_s),
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


def _wall_id(engine_id: str, start_wall_ns: int) -> str:
    """``<patient>/<condition>/<start ns>`` with the start on the wall clock (unique across
    reboots, unlike the monotonic one)."""
    head, _, _ = engine_id.rpartition("/")
    return f"{head}/{start_wall_ns}"
