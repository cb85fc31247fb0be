"""The patient twins as a pipeline stage: feed measurements, emit periodic snapshots.

Maps each measurement to a (patient, vital) cell of :mod:`edge_models.ewma` and, every
``snapshot_interval_s``, emits one :class:`~gateway.model.TwinSnapshot` per patient with the
smoothed value, the last raw value and its age for every tracked vital.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from edge_models.ewma import EwmaState, ewma_step
from gateway import codes
from gateway.config import GatewayConfig, TwinConfig
from gateway.model import VALID, Measurement, ReceiveTime, Record, TwinSnapshot, stream_id_for

#: Vitals the twin tracks, in column order.
TRACKED: tuple[codes.Metric, ...] = (
    codes.MDC_PULS_OXIM_SAT_O2,
    codes.MDC_PULS_OXIM_PULS_RATE,
    codes.MDC_ECG_HEART_RATE,
    codes.MDC_RESP_RATE,
    codes.MDC_TEMP_BODY,
    codes.MDC_PRESS_BLD_NONINV_SYS,
)
_COLUMN = {m.mdc_code: i for i, m in enumerate(TRACKED)}


class PatientTwins:
    def __init__(self, config: GatewayConfig) -> None:
        self.cfg: TwinConfig = config.twin
        self.patients = [p.id for p in config.patients]
        self._row = {p: i for i, p in enumerate(self.patients)}
        self._device_row = {d.id: self._row[d.patient] for d in config.devices}
        self.state = EwmaState.empty(len(self.patients), len(TRACKED))
        self._next_snapshot_mono = 0.0

    def observe(self, records: Sequence[Record], now: ReceiveTime) -> list[Record]:
        """Update with a batch; return the snapshots due now (possibly none)."""
        rows: list[int] = []
        cols: list[int] = []
        times: list[float] = []
        values: list[float] = []
        for r in records:
            if not isinstance(r, Measurement) or r.quality != VALID or math.isnan(r.value):
                continue
            col = _COLUMN.get(r.mdc_code)
            row = self._device_row.get(r.device_id)
            if col is None or row is None:
                continue
            rows.append(row)
            cols.append(col)
            times.append(r.received.mono_ns / 1e9)
            values.append(r.value)
        if values:
            self.state = ewma_step(
                self.state,
                self.cfg.tau_s,
                np.array(rows, dtype=np.intp),
                np.array(cols, dtype=np.intp),
                np.array(times),
                np.array(values),
            )
        now_s = now.mono_ns / 1e9
        if now_s < self._next_snapshot_mono:
            return []
        self._next_snapshot_mono = now_s + self.cfg.snapshot_interval_s
        return [self.snapshot(p, now) for p in self.patients]

    def snapshot(self, patient: str, now: ReceiveTime) -> TwinSnapshot:
        row = self._row[patient]
        now_s = now.mono_ns / 1e9
        vitals: dict[str, object] = {}
        for col, metric in enumerate(TRACKED):
            smoothed = self.state.smoothed[row, col]
            if np.isnan(smoothed):
                continue
            age = now_s - self.state.last_t[row, col]
            vitals[metric.label] = {
                "mdc": metric.mdc_code,
                "unit": metric.unit,
                "smoothed": round(float(smoothed), 3),
                "last": float(self.state.last_raw[row, col]),
                "age_s": round(float(age), 3),
                "stale": bool(age > self.cfg.stale_after_s),
            }
        return TwinSnapshot(
            stream_id=stream_id_for(patient, "twin"),
            patient_id=patient,
            state={"vitals": vitals},
            received=now,
        )
