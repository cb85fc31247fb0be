"""Link quality of one device: RSSI trend, lost notifications, reconnects, serial errors.

Inputs and methods (shared/reference/clinical.md section 3.3):

* **Lost readings** from gaps in each stream (no driver numbers its notifications: BLE
  continuous profiles have no sequence field and serial monitors send on their own clock). Each
  stream learns its period (time-aware EWMA of the log interval); an interval of ``k`` periods
  (``k >= 1.5``, up to :data:`MAX_GAP_S`) counts ``round(k) - 1`` missed readings. Longer
  silences are outages, counted as disconnects by the drivers. Gap finding is vectorised over
  all streams of a batch (:func:`stream_gaps`).
* **Loss rate**: exponentially weighted counts of received and missed readings
  (time constant :data:`LOSS_TAU_S`) with a Wilson score interval.
* **Reconnects per hour**: the disconnect times of the last hour.
* **Serial error rate**: parse errors per 1000 frames from the driver counters
  (cumulative; a counter that goes down is a new baseline), exponentially weighted.
* **RSSI** (when a driver reports it in its counters as ``rssi``): median of 5, then EWMA;
  trend in dB/h by Theil-Sen with its interval.

Pure functions of (state, inputs); states are frozen dataclasses with JSON-able ``to_dict``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from edge_models.battery import SlopeFit, theil_sen

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]

MAX_GAP_S: Final = 60.0  # longer silences are outages, not lost readings
MIN_PERIOD_S: Final = 0.2  # bursts (stored-record transfers) have no period to miss
PERIOD_TAU: Final = 20.0  # intervals (not seconds) the period estimate averages over
MIN_INTERVALS: Final = 8  # intervals seen before gaps count
LOSS_TAU_S: Final = 300.0
ERROR_TAU_S: Final = 900.0
HOUR_S: Final = 3600.0
MAX_DROPS: Final = 256
RSSI_POINTS: Final = 40
RSSI_WINDOW_S: Final = 1800.0
RSSI_ALPHA: Final = 0.3
Z90: Final = 1.6449


# --- lost readings from stream gaps ---------------------------------------------------------


@dataclass(frozen=True, slots=True, eq=False)
class StreamGaps:
    """Per stream (index ``s``): last reading time, period (s), intervals seen."""

    last_t: FloatArray
    period: FloatArray
    seen: FloatArray

    @classmethod
    def empty(cls, streams: int = 0) -> StreamGaps:
        return cls(np.full(streams, np.nan), np.full(streams, np.nan), np.zeros(streams))

    def grown(self, streams: int) -> StreamGaps:
        """The same state with room for ``streams`` streams (new ones empty)."""
        extra = streams - self.last_t.size
        if extra <= 0:
            return self
        pad = np.full(extra, np.nan)
        return StreamGaps(
            np.r_[self.last_t, pad], np.r_[self.period, pad], np.r_[self.seen, np.zeros(extra)]
        )

    def to_dict(self) -> dict[str, list[float | None]]:
        return {
            "last_t": _nan_list(self.last_t),
            "period": _nan_list(self.period),
            "seen": _nan_list(self.seen),
        }

    @classmethod
    def from_dict(cls, data: dict[str, list[float | None]]) -> StreamGaps:
        return cls(_array(data["last_t"]), _array(data["period"]), _array(data["seen"]))


def stream_gaps(
    state: StreamGaps, stream: IntArray, t: FloatArray
) -> tuple[StreamGaps, FloatArray, FloatArray]:
    """Apply a batch of reading times; return the state and, per input reading, (1 received,
    missed readings just before it). Readings older than their stream's last one are ignored
    (received 0, missed 0)."""
    state = state.grown(int(stream.max()) + 1 if stream.size else 0)
    last_t, period, seen = state.last_t.copy(), state.period.copy(), state.seen.copy()
    received = np.zeros(t.size)
    missed = np.zeros(t.size)
    if t.size == 0:
        return StreamGaps(last_t, period, seen), received, missed
    order = np.lexsort((t, stream))
    s_sorted = stream[order]
    starts = np.r_[0, np.flatnonzero(np.diff(s_sorted)) + 1]
    rank = np.arange(s_sorted.size) - np.repeat(starts, np.diff(np.r_[starts, s_sorted.size]))
    for k in range(int(rank.max()) + 1):
        idx = order[rank == k]
        s, tk = stream[idx], t[idx]
        dt = tk - last_t[s]
        first = np.isnan(dt)
        fresh = first | (dt > 0)
        dt_ok = np.where(first | ~fresh, np.nan, dt)
        p = period[s]
        known = (seen[s] >= MIN_INTERVALS) & (p >= MIN_PERIOD_S)
        ratio = dt_ok / p
        gap = known & (ratio >= 1.5) & (dt_ok <= MAX_GAP_S)
        missed[idx] = np.where(gap, np.rint(ratio) - 1.0, 0.0)
        received[idx] = fresh.astype(np.float64)
        # period: EWMA of log(interval) over intervals that are not gaps nor outages
        usable = fresh & ~first & ~gap & (dt_ok <= MAX_GAP_S)
        log_p = np.where(np.isnan(p), np.log(np.where(usable, dt_ok, 1.0)), np.log(p))
        w = np.maximum(1.0 / (seen[s] + 1.0), 1.0 / PERIOD_TAU)
        new_p = np.exp(log_p + w * (np.log(np.where(usable, dt_ok, 1.0)) - log_p))
        su = s[usable]
        period[su] = new_p[usable]
        seen[su] += 1.0
        sf = s[fresh]
        last_t[sf] = tk[fresh]
    return StreamGaps(last_t, period, seen), received, missed


# --- per-device link state ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LinkState:
    """One device's link history (times in seconds on the caller's axis)."""

    t: float | None = None  # time of the last update of the weighted counts
    received_w: float = 0.0
    missed_w: float = 0.0
    frames_w: float = 0.0
    errors_w: float = 0.0
    last_frames: int | None = None
    last_errors: int | None = None
    drops: tuple[float, ...] = ()
    first_t: float | None = None
    rssi_t: tuple[float, ...] = ()
    rssi_v: tuple[float, ...] = ()
    rssi_smooth: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "t": self.t,
            "received_w": self.received_w,
            "missed_w": self.missed_w,
            "frames_w": self.frames_w,
            "errors_w": self.errors_w,
            "last_frames": self.last_frames,
            "last_errors": self.last_errors,
            "drops": list(self.drops),
            "first_t": self.first_t,
            "rssi_t": list(self.rssi_t),
            "rssi_v": list(self.rssi_v),
            "rssi_smooth": self.rssi_smooth,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LinkState:
        return cls(
            t=data["t"],
            received_w=float(data["received_w"]),
            missed_w=float(data["missed_w"]),
            frames_w=float(data["frames_w"]),
            errors_w=float(data["errors_w"]),
            last_frames=data["last_frames"],
            last_errors=data["last_errors"],
            drops=tuple(float(v) for v in data["drops"]),
            first_t=data["first_t"],
            rssi_t=tuple(float(v) for v in data["rssi_t"]),
            rssi_v=tuple(float(v) for v in data["rssi_v"]),
            rssi_smooth=data["rssi_smooth"],
        )


def _decayed(state: LinkState, t: float) -> LinkState:
    if state.t is None:
        return replace(state, t=t, first_t=t if state.first_t is None else state.first_t)
    dt = t - state.t
    if dt <= 0:
        return state
    a = math.exp(-dt / LOSS_TAU_S)
    b = math.exp(-dt / ERROR_TAU_S)
    return replace(
        state,
        t=t,
        received_w=state.received_w * a,
        missed_w=state.missed_w * a,
        frames_w=state.frames_w * b,
        errors_w=state.errors_w * b,
    )


def add_readings(state: LinkState, t: float, received: float, missed: float) -> LinkState:
    """Count readings received and missed (from :func:`stream_gaps`) up to time ``t``."""
    s = _decayed(state, t)
    return replace(s, received_w=s.received_w + received, missed_w=s.missed_w + missed)


def add_counters(state: LinkState, t: float, frames: int, errors: int) -> LinkState:
    """Cumulative frame and parse-error counters read at ``t``."""
    s = _decayed(state, t)
    if s.last_frames is None or s.last_errors is None:
        return replace(s, last_frames=frames, last_errors=errors)
    d_frames = frames - s.last_frames
    d_errors = errors - s.last_errors
    if d_frames < 0 or d_errors < 0:  # counters were reset: new baseline
        return replace(s, last_frames=frames, last_errors=errors)
    return replace(
        s,
        frames_w=s.frames_w + d_frames,
        errors_w=s.errors_w + d_errors,
        last_frames=frames,
        last_errors=errors,
    )


def add_drop(state: LinkState, t: float) -> LinkState:
    """The device dropped its link at ``t``."""
    s = _decayed(state, t) if state.t is None or t >= state.t else state
    drops = tuple(d for d in (*s.drops, t) if t - d <= 24 * HOUR_S)[-MAX_DROPS:]
    return replace(s, drops=drops)


def add_rssi(state: LinkState, t: float, dbm: float) -> LinkState:
    """One RSSI reading (dBm)."""
    if not math.isfinite(dbm) or (state.rssi_t and t <= state.rssi_t[-1]):
        return state
    times = (*state.rssi_t, t)
    values = (*state.rssi_v, dbm)
    keep = [k for k, tk in enumerate(times) if t - tk <= RSSI_WINDOW_S][-RSSI_POINTS:]
    times = tuple(times[k] for k in keep)
    values = tuple(values[k] for k in keep)
    median5 = float(np.median(values[-5:]))
    smooth = (
        median5
        if state.rssi_smooth is None
        else state.rssi_smooth + RSSI_ALPHA * (median5 - state.rssi_smooth)
    )
    return replace(state, rssi_t=times, rssi_v=values, rssi_smooth=smooth)


@dataclass(frozen=True, slots=True)
class LinkSummary:
    """What the risk model and the snapshot need."""

    loss: float | None  # fraction of readings lost (weighted), None without readings
    loss_low: float | None  # Wilson 90 % interval
    loss_high: float | None
    readings: float  # weighted number of expected readings behind ``loss``
    drops_last_hour: int
    drops_per_hour: float | None  # over the observed time, at most the last 24 h
    errors_per_1000: float | None
    frames: float  # weighted frames behind ``errors_per_1000``
    rssi_dbm: float | None
    rssi_slope_db_per_h: float | None
    rssi_slope_high_db_per_h: float | None  # upper end of the 90 % interval

    def to_dict(self) -> dict[str, Any]:
        return {
            "loss_percent": _pct(self.loss),
            "loss_low_percent": _pct(self.loss_low),
            "loss_high_percent": _pct(self.loss_high),
            "reconnects_last_hour": self.drops_last_hour,
            "reconnects_per_hour": _round(self.drops_per_hour, 2),
            "errors_per_1000_frames": _round(self.errors_per_1000, 2),
            "rssi_dbm": _round(self.rssi_dbm, 1),
            "rssi_slope_db_per_h": _round(self.rssi_slope_db_per_h, 2),
        }


def summary(state: LinkState, now: float) -> LinkSummary:
    s = _decayed(state, now) if state.t is not None and now > state.t else state
    n = s.received_w + s.missed_w
    loss = low = high = None
    if n > 0:
        loss = s.missed_w / n
        low, high = wilson(s.missed_w, n, Z90)
    last_hour = sum(1 for d in s.drops if 0 <= now - d <= HOUR_S)
    per_hour = None
    if s.first_t is not None and now - s.first_t >= 600:
        span = min(now - s.first_t, 24 * HOUR_S)
        per_hour = sum(1 for d in s.drops if 0 <= now - d <= span) / (span / HOUR_S)
    total = s.frames_w + s.errors_w
    per_1000 = 1000.0 * s.errors_w / total if total > 0 else None
    slope = slope_high = None
    fit = rssi_trend(s)
    if fit is not None:
        slope, slope_high = fit.slope * HOUR_S, fit.slope_high * HOUR_S
    return LinkSummary(
        loss, low, high, n, last_hour, per_hour, per_1000, total, s.rssi_smooth, slope, slope_high
    )


def rssi_trend(state: LinkState) -> SlopeFit | None:
    """Theil-Sen slope of RSSI (dB/s) over the window, from 6 readings spanning 5 min."""
    if len(state.rssi_t) < 6 or state.rssi_t[-1] - state.rssi_t[0] < 300:
        return None
    t = np.asarray(state.rssi_t) - state.rssi_t[-1]
    return theil_sen(t, np.asarray(state.rssi_v))


def wilson(k: float, n: float, z: float) -> tuple[float, float]:
    """Wilson score interval of a proportion ``k / n`` (weighted counts allowed)."""
    if n <= 0:
        return 0.0, 1.0
    p = k / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def _pct(v: float | None) -> float | None:
    return None if v is None else round(100.0 * v, 2)


def _round(v: float | None, digits: int) -> float | None:
    return None if v is None else round(v, digits)


def _nan_list(a: FloatArray) -> list[float | None]:
    return [None if math.isnan(v) else float(v) for v in a]


def _array(values: list[float | None]) -> FloatArray:
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)
