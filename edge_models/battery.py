"""Battery time-to-empty (TTE) with a confidence interval, from reported state of charge.

Method (see shared/reference/clinical.md section 3.1):

* The series is cut into discharge segments: a rise of :data:`CHARGE_RISE` % or more starts a
  new segment (the device was charged); while the level keeps rising the estimate says
  "charging".
* Only level *transitions* are kept, each timed at the midpoint between the last report of the
  old level and the first report of the new one. A device that reports in steps of 5 or 10 %
  repeats the same level for many minutes; its raw samples form a staircase whose least-squares
  or even Theil-Sen line is biased, while the transition times lie on the discharge line.
* The slope is the Theil-Sen estimate (median of pairwise slopes, vectorised) with Sen's
  (1968) distribution-free confidence interval from Kendall's statistic, widened by what the
  timing uncertainty of the transitions (the reporting interval) can do over their span.
* The level now is the fitted line at ``now``, kept inside what the device still reports
  (a level ``L`` with quantum ``q`` means the true charge lies within ``(L - q, L + q)`` for any
  rounding convention); the unknown rounding convention adds up to one quantum to the interval.
* TTE = (level now - cutoff) / discharge rate; too little data, a flat or rising level give no
  estimate and say why.

Everything is a pure function of (state, inputs); the state is a frozen dataclass with a
JSON-able :meth:`BatteryState.to_dict`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Final

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

#: A rise of this many percent (or more) means the battery was charged: new segment.
CHARGE_RISE: Final = 2.0
#: Points kept per segment (bounded state) and their maximum age.
MAX_POINTS: Final = 48
WINDOW_S: Final = 6 * 3600.0
#: Minimum evidence for an estimate: level changes (not counting the segment's first report)
#: and the time they span.
MIN_POINTS: Final = 3
MIN_SPAN_S: Final = 300.0
#: Two-sided standard-normal quantiles for Sen's slope interval.
Z_VALUE: Final = {0.80: 1.2816, 0.90: 1.6449, 0.95: 1.9600}


@dataclass(frozen=True, slots=True)
class SlopeFit:
    """Theil-Sen line ``y = intercept + slope * t`` and a confidence interval of the slope."""

    slope: float
    intercept: float
    slope_low: float
    slope_high: float
    n: int

    def at(self, t: float) -> float:
        return self.intercept + self.slope * t


def theil_sen(t: FloatArray, y: FloatArray, confidence: float = 0.90) -> SlopeFit | None:
    """Median of pairwise slopes with Sen's rank interval; None for fewer than two times."""
    n = int(t.size)
    if n < 2:
        return None
    i, j = np.triu_indices(n, k=1)
    dt = t[j] - t[i]
    ok = dt != 0
    if not ok.any():
        return None
    slopes = np.sort((y[j] - y[i])[ok] / dt[ok])
    pairs = int(slopes.size)
    slope = float(np.median(slopes))
    intercept = float(np.median(y - slope * t))
    c = Z_VALUE[confidence] * math.sqrt(n * (n - 1) * (2 * n + 5) / 18.0)
    lo_rank = math.floor((pairs - c) / 2.0)  # 1-based rank M1, rounded outwards
    hi_rank = math.ceil((pairs + c) / 2.0) + 1  # 1-based rank M2 + 1
    low = float(slopes[min(max(lo_rank, 1), pairs) - 1])
    high = float(slopes[min(max(hi_rank, 1), pairs) - 1])
    return SlopeFit(slope, intercept, min(low, slope), max(high, slope), n)


@dataclass(frozen=True, slots=True)
class BatteryState:
    """One device's current discharge segment (times in seconds on the caller's axis)."""

    t: tuple[float, ...] = ()  # transition times (first point: first report of the segment)
    level: tuple[float, ...] = ()  # level after each transition
    last_t: float | None = None  # time of the latest report
    last_level: float | None = None
    charging: bool = False
    slack: float = 0.0  # longest interval between the reports around a transition, s
    quantum: float = 0.0  # reporting step seen so far (1, 5, 10 %; 0 = not known yet)

    def to_dict(self) -> dict[str, Any]:
        return {
            "t": list(self.t),
            "level": list(self.level),
            "last_t": self.last_t,
            "last_level": self.last_level,
            "charging": self.charging,
            "slack": self.slack,
            "quantum": self.quantum,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BatteryState:
        return cls(
            tuple(float(v) for v in data["t"]),
            tuple(float(v) for v in data["level"]),
            None if data["last_t"] is None else float(data["last_t"]),
            None if data["last_level"] is None else float(data["last_level"]),
            bool(data["charging"]),
            float(data["slack"]),
            float(data["quantum"]),
        )


def battery_step(state: BatteryState, t: float, level: float) -> BatteryState:
    """Add one report (``level`` in %, reports older than the latest one are ignored)."""
    if not math.isfinite(level) or not math.isfinite(t):
        return state
    level = min(max(level, 0.0), 100.0)
    last_t, last = state.last_t, state.last_level
    if last_t is None or last is None:
        return BatteryState((t,), (level,), t, level, False, 0.0, state.quantum)
    if t <= last_t:
        return state
    if state.charging and level >= last:
        # still charging (or full on the charger): the next segment starts at this report
        return BatteryState((t,), (level,), t, level, True, 0.0, state.quantum)
    if level == last:
        return replace(state, last_t=t)
    if level - last >= CHARGE_RISE:
        return BatteryState((t,), (level,), t, level, True, 0.0, state.quantum)
    # a transition: timed at the midpoint of the interval in which it happened
    mid = 0.5 * (last_t + t)
    quantum = _quantum(state.quantum, abs(level - last))
    times = (*state.t, mid)
    levels = (*state.level, level)
    keep = [k for k, tk in enumerate(times) if t - tk <= WINDOW_S][-MAX_POINTS:]
    slack = max(state.slack, t - last_t)
    return BatteryState(
        tuple(times[k] for k in keep),
        tuple(levels[k] for k in keep),
        t,
        level,
        False,
        slack,
        quantum,
    )


def _quantum(current: float, step: float) -> float:
    """The device's reporting step: the gcd of the level changes seen (0 = none yet; 1 % when
    a level is not a whole percent), at most 10 %."""
    if step != round(step) or current != round(current):
        return 1.0
    return float(max(1, min(math.gcd(int(current), round(step)), 10)))


@dataclass(frozen=True, slots=True)
class BatteryEstimate:
    """Time to empty and its interval (seconds), or why there is none."""

    level: float | None  # latest reported level, %
    tte_s: float | None = None
    tte_low_s: float | None = None
    tte_high_s: float | None = None  # None with a tte: "or more" (rate may be ~0)
    rate_per_h: float | None = None  # discharge rate, % per hour (positive = draining)
    reason: str = ""  # why there is no estimate

    def text(self) -> str:
        """Nurse-facing wording, e.g. ``battery empty in about 40 min (30-55 min)``."""
        if self.tte_s is None:
            return f"battery: no estimate ({self.reason})"
        if self.tte_s < 60:
            return "battery empty" if self.level == 0 else "battery empty in less than 1 min"
        low = format_duration(self.tte_low_s if self.tte_low_s is not None else self.tte_s)
        if self.tte_high_s is None:
            span = f"{low} or more"
        else:
            span = join_range(low, format_duration(self.tte_high_s))
        return f"battery empty in about {format_duration(self.tte_s)} ({span})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "level_percent": self.level,
            "time_to_empty_s": _r(self.tte_s),
            "time_to_empty_low_s": _r(self.tte_low_s),
            "time_to_empty_high_s": _r(self.tte_high_s),
            "discharge_percent_per_h": None
            if self.rate_per_h is None
            else round(self.rate_per_h, 3),
            "reason": self.reason,
        }


def estimate(
    state: BatteryState, now: float, cutoff: float = 0.0, confidence: float = 0.90
) -> BatteryEstimate:
    """TTE at ``now`` down to ``cutoff`` % (many devices switch off at 5-10 %)."""
    level = state.last_level
    if level is None or state.last_t is None:
        return BatteryEstimate(None, reason="no battery report yet")
    if state.charging:
        return BatteryEstimate(level, reason="charging")
    # the segment's first point is a first report, not a transition: it is left out (on a 5
    # or 10 % device it can be off by a whole step)
    n = len(state.t) - 1
    span = state.t[-1] - state.t[1] if n > 0 else 0.0
    if n < MIN_POINTS or span < MIN_SPAN_S:
        minutes = (state.last_t - state.t[0]) / 60.0 if state.t else 0.0
        return BatteryEstimate(
            level,
            reason=f"too little data: {max(n, 0)} level change(s) in {minutes:.0f} min",
        )
    t = np.asarray(state.t[1:], dtype=np.float64)
    y = np.asarray(state.level[1:], dtype=np.float64)
    origin = t[-1]
    fit = theil_sen(t - origin, y, confidence)
    if fit is None:
        return BatteryEstimate(level, reason="too little data: no spread in time")
    # each transition time is known to within ``slack``: widen the slope interval by what
    # that can do to the slope over the span (Sen's interval alone degenerates on the ties
    # that time-quantised transitions produce)
    widen = abs(fit.slope) * 2.0 * state.slack / span
    rate = -fit.slope  # % per second, positive while draining
    rate_hi = -fit.slope_low + widen
    rate_lo = -fit.slope_high - widen
    if rate <= 0 or rate_hi <= 0:
        return BatteryEstimate(level, rate_per_h=rate * 3600.0, reason="not discharging")
    q = state.quantum or 1.0
    # level now: the fitted line, plus up to one quantum for the unknown rounding convention,
    # kept within what the device still reports
    # and the transition times are known to within ``slack`` seconds
    fitted = fit.at(now - origin)
    timing = rate * state.slack
    low_level = min(max(fitted - timing, level - q), level + q)
    high_level = min(max(fitted + q + timing, level - q), level + q)
    mid_level = 0.5 * (low_level + high_level)
    usable = mid_level - cutoff
    tte = max(0.0, usable / rate)
    tte_low = max(0.0, (low_level - cutoff) / rate_hi)
    tte_high = max(0.0, (high_level - cutoff) / rate_lo) if rate_lo > 0 else None
    return BatteryEstimate(
        level,
        float(tte),
        float(min(tte_low, tte)),
        None if tte_high is None else float(max(tte_high, tte)),
        float(rate * 3600.0),
    )


def format_duration(seconds: float) -> str:
    """``40 min``, ``2 h 15 min``, ``less than 1 min`` (nearest 5 min from one hour on)."""
    minutes = seconds / 60.0
    if minutes < 1:
        return "less than 1 min"
    m = round(minutes) if minutes < 60 else 5 * round(minutes / 5)
    if m < 60:
        return f"{m} min"
    h, rest = divmod(m, 60)
    return f"{h} h" if rest == 0 else f"{h} h {rest} min"


def join_range(low: str, high: str) -> str:
    """``30-55 min`` when both ends are whole minutes below an hour, else ``low to high``."""
    if low == high:
        return low
    short = " h " not in f"{low} {high} " and not low.startswith("less")
    if short and low.endswith(" min") and high.endswith(" min"):
        return f"{low.removesuffix(' min')}-{high}"
    return f"{low} to {high}"


def _r(v: float | None) -> float | None:
    return None if v is None else round(v, 1)
