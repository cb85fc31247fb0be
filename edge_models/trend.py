"""Trend (slope per hour with its standard error) and staleness per (patient, vital) cell.

Accepted samples are averaged into time bins of ``bin_s`` seconds kept in a ring of
``bins`` slots per cell, so the window is ``bins * bin_s`` seconds whatever the sampling
rate (1 Hz or one value per minute, irregular or with gaps) and the state stays small.
The slope is the weighted least-squares line through the bin means at their mean sample
times, weighted by the number of samples in each bin (a bin mean of ``n`` samples has
variance ``sigma^2 / n``, so these are inverse-variance weights):

    b = sum w (t - t_w)(x - x_w) / sum w (t - t_w)^2
    se(b)^2 = [sum w r^2 / (k - 2)] / sum w (t - t_w)^2      (k bins, r = residuals)

Noise within a bin and autocorrelation between bins are not modelled, so ``se`` is a
guide to how well the window pins the slope, not an exact confidence interval. Fewer than
three bins in the window (or all at one time) give NaN. Everything is computed for the
whole ``(P, V)`` grid at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from edge_models.state import decode_array, encode_array

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]
BoolArray = npt.NDArray[np.bool_]

DEFAULT_BIN_S = 60.0
DEFAULT_BINS = 30
_FIELDS = ("bin_no", "n", "sum_dt", "sum_x")


@dataclass(frozen=True, slots=True, eq=False)
class TrendState:
    """Ring of time bins per cell; arrays are ``(P, V, bins)``."""

    bin_s: float
    bin_no: npt.NDArray[np.int64]  # absolute bin number floor(t / bin_s), -1 = empty slot
    n: FloatArray  # samples in the bin
    sum_dt: FloatArray  # sum of (t - bin start), kept small for precision
    sum_x: FloatArray

    @classmethod
    def empty(
        cls, patients: int, vitals: int, bins: int = DEFAULT_BINS, bin_s: float = DEFAULT_BIN_S
    ) -> TrendState:
        if bins < 3 or not bin_s > 0:
            raise ValueError("a trend needs at least 3 bins of positive width")
        shape = (patients, vitals, bins)
        zeros = np.zeros(shape)
        return cls(float(bin_s), np.full(shape, -1, np.int64), zeros, zeros.copy(), zeros.copy())

    @property
    def window_s(self) -> float:
        return self.bin_s * int(self.bin_no.shape[2])

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"bin_s": self.bin_s}
        out.update({name: encode_array(getattr(self, name)) for name in _FIELDS})
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TrendState:
        arrays = {name: decode_array(d[name]) for name in _FIELDS}
        shapes = {a.shape for a in arrays.values()}
        if len(shapes) != 1 or len(next(iter(shapes))) != 3:
            raise ValueError(f"trend state arrays disagree in shape: {sorted(shapes)}")
        return cls(float(d["bin_s"]), **arrays)


def trend_update(
    state: TrendState, patient: IntArray, vital: IntArray, t_s: FloatArray, x: FloatArray
) -> TrendState:
    """Add a batch of accepted samples (any order); samples older than the ring are dropped."""
    bin_no, n = state.bin_no.copy(), state.n.copy()
    sum_dt, sum_x = state.sum_dt.copy(), state.sum_x.copy()
    out = TrendState(state.bin_s, bin_no, n, sum_dt, sum_x)
    ok = np.isfinite(t_s) & np.isfinite(x) & (t_s >= 0)
    if not ok.any():
        return out
    p, v, t, val = patient[ok], vital[ok], t_s[ok], x[ok]
    b = np.floor(t / state.bin_s).astype(np.int64)
    slot = b % bin_no.shape[2]
    target = bin_no.copy()
    np.maximum.at(target, (p, v, slot), b)
    reset = target != bin_no
    n[reset], sum_dt[reset], sum_x[reset] = 0.0, 0.0, 0.0
    bin_no[...] = target
    keep = b == bin_no[p, v, slot]
    p, v, slot, b, t, val = p[keep], v[keep], slot[keep], b[keep], t[keep], val[keep]
    np.add.at(n, (p, v, slot), 1.0)
    np.add.at(sum_dt, (p, v, slot), t - b * state.bin_s)
    np.add.at(sum_x, (p, v, slot), val)
    return out


@dataclass(frozen=True, slots=True, eq=False)
class Trend:
    """Per cell: slope (units per hour), its standard error and the bins used."""

    slope_per_h: FloatArray
    se_per_h: FloatArray
    bins: npt.NDArray[np.int64]


def trend_estimate(state: TrendState, now_s: float) -> Trend:
    """Weighted least-squares slope over the bins inside the window ending at ``now_s``."""
    n_bins = state.bin_no.shape[2]
    now_bin = np.floor(now_s / state.bin_s)
    inside = (state.bin_no >= 0) & (state.n > 0) & (state.bin_no > now_bin - n_bins)
    inside &= state.bin_no <= now_bin
    w = np.where(inside, state.n, 0.0)
    safe_n = np.where(inside, state.n, 1.0)
    # bin mean time relative to now (small numbers, no cancellation)
    tb = np.where(inside, (state.bin_no - now_bin) * state.bin_s + state.sum_dt / safe_n, 0.0)
    tb -= now_s - now_bin * state.bin_s
    xb = np.where(inside, state.sum_x / safe_n, 0.0)
    k = inside.sum(axis=2)
    sw = w.sum(axis=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        t_w = (w * tb).sum(axis=2) / sw
        x_w = (w * xb).sum(axis=2) / sw
        dt = np.where(inside, tb - t_w[..., None], 0.0)
        dx = np.where(inside, xb - x_w[..., None], 0.0)
        stt = (w * dt * dt).sum(axis=2)
        slope = (w * dt * dx).sum(axis=2) / stt
        resid = np.where(inside, dx - slope[..., None] * dt, 0.0)
        rss = (w * resid * resid).sum(axis=2)
        se = np.sqrt(rss / (k - 2) / stt)
    usable = (k >= 3) & (stt > 0)
    return Trend(
        np.where(usable, slope * 3600.0, np.nan),
        np.where(usable, se * 3600.0, np.nan),
        k.astype(np.int64),
    )


def staleness(
    last_t: FloatArray, now_s: float, max_age_s: FloatArray | float
) -> tuple[FloatArray, BoolArray]:
    """Age of each cell's latest accepted sample and whether it is stale (never seen: stale)."""
    age = now_s - last_t
    with np.errstate(invalid="ignore"):
        stale = ~(age <= max_age_s)
    return age, np.asarray(stale, dtype=bool)


__all__ = ["Trend", "TrendState", "staleness", "trend_estimate", "trend_update"]
