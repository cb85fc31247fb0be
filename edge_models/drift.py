"""Sensor drift and disagreement between two sources of the same vital (vectorised CUSUM).

Each *pair* compares a subject source with a reference source of the same vital for the same
patient (SpO2 of a BLE oximeter against the bedside monitor, pulse rate from the pleth against
heart rate from the ECG). Two sources that agree have a residual ``r = subject - reference``
near 0 with a small spread ``sigma``; a sensor that drifts or sits badly shifts ``r``.

Per pair, a two-sided tabular CUSUM (Page 1954; shared/reference/clinical.md section 3.2)
runs on ``z = clip(r / sigma, -clip, clip)`` with reference value ``k = shift / (2 sigma)``
(tuned to the smallest offset worth telling a nurse about) and decision interval ``h``::

    C+ = max(0, C+ + z - k)      C- = max(0, C- - z - k)      alarm when C > h

Clipping bounds what one artefact can add, so a single wild value never alarms. The time at
which the winning sum last left 0 is the change-point estimate ("since 10:02") and the mean
residual since then is the offset. An alarm clears (hysteresis) when the EWMA of ``r``
(time constant ``tau_s``) has stayed within ``shift / 2`` for ``clear_s``; then both sums
restart. :func:`reset` restarts chosen pairs (after a reconnection, probe re-seated).

All pairs advance at once in :func:`drift_step`, a pure function of (state, inputs).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Final

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

FORMAT_VERSION: Final = 1


@dataclass(frozen=True, slots=True)
class DriftSpec:
    """Detector settings for one vital (same units as the vital)."""

    sigma: float  # spread of the residual between two agreeing sources
    shift: float  # smallest offset to detect
    h: float = 5.0
    clip: float = 4.0
    tau_s: float = 120.0
    clear_s: float = 300.0

    @property
    def k(self) -> float:
        return self.shift / (2.0 * self.sigma)


@dataclass(frozen=True, slots=True, eq=False)
class DriftState:
    """Arrays over ``P`` pairs. Times in seconds; NaN = none."""

    pos: FloatArray  # C+
    neg: FloatArray  # C-
    pos_t: FloatArray  # when C+ left 0
    neg_t: FloatArray
    pos_sum: FloatArray  # residual sums since then, and counts
    pos_n: FloatArray
    neg_sum: FloatArray
    neg_n: FloatArray
    active: FloatArray  # 0 none, +1 subject reads high, -1 reads low
    since: FloatArray  # change point of the alarm in force
    offset: FloatArray  # mean residual from the change point to the alarm
    ewma: FloatArray  # time-aware EWMA of the residual
    ewma_t: FloatArray
    calm_since: FloatArray  # since when |ewma| < shift / 2 (alarm in force only)

    @classmethod
    def empty(cls, pairs: int = 0) -> DriftState:
        zeros = {"pos", "neg", "pos_sum", "pos_n", "neg_sum", "neg_n", "active"}
        return cls(
            **{
                f.name: (np.zeros(pairs) if f.name in zeros else np.full(pairs, np.nan))
                for f in fields(cls)
            }
        )

    @property
    def size(self) -> int:
        return int(self.pos.size)

    def grown(self, pairs: int) -> DriftState:
        extra = pairs - self.size
        if extra <= 0:
            return self
        fresh = DriftState.empty(extra)
        return DriftState(
            **{f.name: np.r_[getattr(self, f.name), getattr(fresh, f.name)] for f in fields(self)}
        )

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"version": FORMAT_VERSION}
        for f in fields(self):
            out[f.name] = [None if math.isnan(v) else float(v) for v in getattr(self, f.name)]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> DriftState:
        if data.get("version") != FORMAT_VERSION:
            raise ValueError(f"drift state version {data.get('version')!r} is not supported")

        def arr(name: str) -> FloatArray:
            values = data[name]
            if not isinstance(values, list):
                raise ValueError(f"drift state: {name} is not a list")
            return np.array([np.nan if v is None else v for v in values], dtype=np.float64)

        return cls(**{f.name: arr(f.name) for f in fields(cls)})


@dataclass(frozen=True, slots=True, eq=False)
class DriftParams:
    """Per-pair settings as arrays (built once from one :class:`DriftSpec` per pair)."""

    sigma: FloatArray
    k: FloatArray
    h: FloatArray
    clip: FloatArray
    half_shift: FloatArray
    tau_s: FloatArray
    clear_s: FloatArray

    @classmethod
    def of(cls, specs: list[DriftSpec]) -> DriftParams:
        def col(values: list[float]) -> FloatArray:
            return np.array(values, dtype=np.float64)

        return cls(
            col([s.sigma for s in specs]),
            col([s.k for s in specs]),
            col([s.h for s in specs]),
            col([s.clip for s in specs]),
            col([s.shift / 2.0 for s in specs]),
            col([s.tau_s for s in specs]),
            col([s.clear_s for s in specs]),
        )


def drift_step(
    state: DriftState, params: DriftParams, t: float, residual: FloatArray, valid: BoolArray
) -> tuple[DriftState, BoolArray, BoolArray]:
    """One paired observation per pair at time ``t`` (``valid`` False = no pair this time).

    Returns the new state, the pairs whose alarm started and those whose alarm ended.
    """
    r = np.where(valid, residual, 0.0)
    z = np.clip(r / params.sigma, -params.clip, params.clip)
    active = state.active.copy()
    idle = valid & (active == 0)

    def side(
        c: FloatArray, c_t: FloatArray, c_sum: FloatArray, c_n: FloatArray, zz: FloatArray
    ) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
        new = np.where(idle, np.maximum(0.0, c + zz - params.k), c)
        opened = idle & (c == 0) & (new > 0)
        going = idle & (new > 0)
        closed = idle & (new == 0)
        new_t = np.where(opened, t, np.where(closed, np.nan, c_t))
        new_sum = np.where(opened, 0.0, c_sum) + np.where(going, r, 0.0)
        new_n = np.where(opened, 0.0, c_n) + going
        new_sum = np.where(closed, 0.0, new_sum)
        new_n = np.where(closed, 0.0, new_n)
        return new, new_t, new_sum, new_n

    pos, pos_t, pos_sum, pos_n = side(state.pos, state.pos_t, state.pos_sum, state.pos_n, z)
    neg, neg_t, neg_sum, neg_n = side(state.neg, state.neg_t, state.neg_sum, state.neg_n, -z)

    # residual EWMA (time-aware), used to clear alarms
    first = np.isnan(state.ewma)
    dt = np.where(first, 0.0, t - np.where(first, t, state.ewma_t))
    alpha = np.where(first, 1.0, 1.0 - np.exp(-np.maximum(dt, 0.0) / params.tau_s))
    ewma = np.where(valid, np.where(first, r, state.ewma + alpha * (r - state.ewma)), state.ewma)
    ewma_t = np.where(valid, t, state.ewma_t)

    up = idle & (pos > params.h) & (pos >= neg)
    down = idle & (neg > params.h) & ~up
    started = up | down
    since = np.where(up, pos_t, np.where(down, neg_t, state.since))
    offset = np.where(
        up,
        pos_sum / np.maximum(pos_n, 1.0),
        np.where(down, neg_sum / np.maximum(neg_n, 1.0), state.offset),
    )
    active = np.where(up, 1.0, np.where(down, -1.0, active))

    # clearing with hysteresis
    was_active = (state.active != 0) & valid
    calm = was_active & (np.abs(ewma) < params.half_shift)
    calm_since = np.where(
        was_active, np.where(calm, np.fmin(state.calm_since, t), np.nan), state.calm_since
    )
    ended = was_active & calm & (t - calm_since >= params.clear_s)
    restart = started | ended
    active = np.where(ended, 0.0, active)
    new = DriftState(
        pos=np.where(restart, 0.0, pos),
        neg=np.where(restart, 0.0, neg),
        pos_t=np.where(restart, np.nan, pos_t),
        neg_t=np.where(restart, np.nan, neg_t),
        pos_sum=np.where(restart, 0.0, pos_sum),
        pos_n=np.where(restart, 0.0, pos_n),
        neg_sum=np.where(restart, 0.0, neg_sum),
        neg_n=np.where(restart, 0.0, neg_n),
        active=active,
        since=np.where(ended, np.nan, since),
        offset=np.where(ended, np.nan, offset),
        ewma=ewma,
        ewma_t=ewma_t,
        calm_since=np.where(started | ended, np.nan, calm_since),
    )
    return new, started, ended


def reset(state: DriftState, mask: BoolArray) -> DriftState:
    """Restart the sums of the pairs in ``mask`` (alarms in force stay until they clear)."""
    return DriftState(
        pos=np.where(mask, 0.0, state.pos),
        neg=np.where(mask, 0.0, state.neg),
        pos_t=np.where(mask, np.nan, state.pos_t),
        neg_t=np.where(mask, np.nan, state.neg_t),
        pos_sum=np.where(mask, 0.0, state.pos_sum),
        pos_n=np.where(mask, 0.0, state.pos_n),
        neg_sum=np.where(mask, 0.0, state.neg_sum),
        neg_n=np.where(mask, 0.0, state.neg_n),
        active=state.active,
        since=state.since,
        offset=state.offset,
        ewma=np.where(mask, np.nan, state.ewma),
        ewma_t=np.where(mask, np.nan, state.ewma_t),
        calm_since=state.calm_since,
    )
