"""Signal-quality gate per (patient, vital) cell, vectorised over a batch of samples.

Each incoming sample is checked against (clinical.md section 3.5, engineering defaults):

* ``FLAGGED``: the device flagged it (any :class:`~gateway.model.Quality` flag, or NaN):
  sensor off, probe disconnected, calibrating...
* ``IMPLAUSIBLE``: outside the physiological / device range of the vital.
* ``RATE``: changed faster than ``slew_per_s`` since the last good sample of the cell
  (``|dx| > slew * max(dt, 1 s)``). A held new level passes once the time since the
  last good sample makes the change slow enough, and at the latest after ``sustain_s``.
  Gaps longer than ``reset_after_s`` restart the baseline (probe re-seated), so slow
  (e.g. per-minute) data is never rate-gated. A rate-limited
  sample is provisional: kept out of smoothing, trend and NEWS2, but still offered to
  the alarm engine, whose condition delay is the designed guard against transients (a
  true step must not wait for ``sustain_s`` on top of the alarm delay).
* ``FLATLINE``: exactly the same value for ``flat_min_samples`` samples spanning at least
  ``flat_s``, each at most ``flat_max_gap_s`` after the previous one (monitors hold the
  last value during dropout; real 1 Hz data wobbles, while minute averages or spot
  readings of integer values legitimately repeat, so sparse data is not checked).
* ``DISPUTED``: heart rate from ECG and pulse rate from pleth (any configured pair) differ
  by more than ``agree_tolerance`` while both are fresh (the partner's latest sample was
  good and is at most ``agree_window_s`` away): one source is wrong, so both samples lose
  confidence (``disputed_confidence``).

A sample's confidence is 0 when it is flagged, implausible or flat, and is multiplied by
``rate_confidence`` / ``disputed_confidence`` for a rate jump / a disagreement. It is
*accepted* (smoothing, trend, NEWS2) when confidence >= ``min_confidence``, and
*alarm-eligible* unless flagged, implausible, flat or disputed. Rejected samples are
counted as artifacts, per reason (the records themselves are still stored upstream).
With ``enforce=False`` the reasons are computed and counted but every unflagged sample
passes (for "with and without the gates").
State is a set of ``(P, V)`` arrays; :func:`assess` is a pure function of (state, batch).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from edge_models.state import decode_array, encode_array

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]
BoolArray = npt.NDArray[np.bool_]


class Reason(enum.IntFlag):
    """Why a sample failed (bit flags; several may apply)."""

    FLAGGED = 0x01
    IMPLAUSIBLE = 0x02
    RATE = 0x04
    FLATLINE = 0x08
    DISPUTED = 0x10


REASONS: Final[tuple[Reason, ...]] = tuple(Reason)


@dataclass(frozen=True, slots=True)
class VitalRule:
    """Checks of one vital; ``inf`` disables the rate or flatline check."""

    lo: float
    hi: float
    slew_per_s: float = math.inf
    sustain_s: float = 10.0
    flat_s: float = math.inf
    flat_min_samples: int = 10
    flat_max_gap_s: float = 5.0  # only dense data can be frozen: a slower gap restarts the run


#: Defaults from clinical.md 3.5 (engineering values, configurable). Heart rate from ECG
#: may read 0 (asystole is reported as HR 0 and must reach the cross-check, not be hidden
#: by a range check); pleth pulse below 20 /min is outside oximeter range. Flatline applies
#: to continuous signals only: repeated identical NIBP or temperature readings are normal.
DEFAULT_RULES: Final[Mapping[str, VitalRule]] = {
    "spo2": VitalRule(50.0, 100.0, slew_per_s=4.0, flat_s=60.0),
    "pulse": VitalRule(20.0, 300.0, slew_per_s=25.0, flat_s=60.0),
    "hr": VitalRule(0.0, 300.0, slew_per_s=25.0, flat_s=60.0),
    "rr": VitalRule(2.0, 70.0, slew_per_s=10.0, flat_s=60.0),
    "temp": VitalRule(30.0, 43.0, slew_per_s=0.1),
    "sbp": VitalRule(40.0, 300.0),
}


@dataclass(frozen=True, slots=True)
class QualityConfig:
    vitals: tuple[str, ...]
    rules: tuple[VitalRule, ...]
    agree_pairs: tuple[tuple[int, int], ...] = ()  # column pairs that measure the same rate
    agree_tolerance: float = 15.0  # /min
    agree_window_s: float = 10.0  # partner sample must be at most this far apart in time
    disputed_confidence: float = 0.5
    rate_confidence: float = 0.5
    min_confidence: float = 0.75
    reset_after_s: float = 300.0
    enforce: bool = True
    lo: FloatArray = field(init=False, repr=False, compare=False)
    hi: FloatArray = field(init=False, repr=False, compare=False)
    slew: FloatArray = field(init=False, repr=False, compare=False)
    sustain: FloatArray = field(init=False, repr=False, compare=False)
    flat_s: FloatArray = field(init=False, repr=False, compare=False)
    flat_n: FloatArray = field(init=False, repr=False, compare=False)
    flat_gap: FloatArray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.vitals) != len(self.rules):
            raise ValueError("one rule per vital is required")
        for a, b in self.agree_pairs:
            if not (0 <= a < len(self.vitals) and 0 <= b < len(self.vitals)) or a == b:
                raise ValueError(f"bad agreement pair ({a}, {b})")
        cols = {
            "lo": [r.lo for r in self.rules],
            "hi": [r.hi for r in self.rules],
            "slew": [r.slew_per_s for r in self.rules],
            "sustain": [r.sustain_s for r in self.rules],
            "flat_s": [r.flat_s for r in self.rules],
            "flat_n": [float(r.flat_min_samples) for r in self.rules],
            "flat_gap": [r.flat_max_gap_s for r in self.rules],
        }
        for name, values in cols.items():
            object.__setattr__(self, name, np.array(values, dtype=np.float64))

    @classmethod
    def for_vitals(
        cls,
        vitals: Sequence[str],
        rules: Mapping[str, VitalRule] = DEFAULT_RULES,
        agree: Sequence[tuple[str, str]] = (("hr", "pulse"),),
        **options: Any,
    ) -> QualityConfig:
        """Config for named vitals (unknown names get a range-only rule that accepts all)."""
        names = tuple(vitals)
        table = tuple(rules.get(v, VitalRule(-math.inf, math.inf)) for v in names)
        pairs = tuple((names.index(a), names.index(b)) for a, b in agree if {a, b} <= set(names))
        return cls(names, table, pairs, **options)

    def without_enforcement(self) -> QualityConfig:
        return replace(self, enforce=False)


_FLOAT_FIELDS: Final = ("ref_x", "ref_t", "jump_since", "run_x", "run_t0", "run_n", "last_t")
_FLOAT_FIELDS_2: Final = ("ok_x", "ok_t", "confidence")


@dataclass(frozen=True, slots=True, eq=False)
class QualityState:
    """Per-cell memory of the checks and per-reason counters, all ``(P, V)`` arrays."""

    ref_x: FloatArray  # last sample that passed the per-cell checks (rate baseline)
    ref_t: FloatArray
    jump_since: FloatArray  # start of an unresolved rate jump, NaN if none
    run_x: FloatArray  # current run of identical values (flatline)
    run_t0: FloatArray
    run_n: FloatArray
    last_t: FloatArray  # latest sample time seen (any outcome)
    ok_x: FloatArray  # latest plausible, unflagged, not frozen value (for agreement)
    ok_t: FloatArray
    confidence: FloatArray  # confidence of the latest sample, NaN before any
    gated: BoolArray  # the latest sample may not feed alarms
    samples: npt.NDArray[np.int64]  # samples seen
    rejected: npt.NDArray[np.int64]  # samples that failed the gate (artifacts)
    counts: npt.NDArray[np.int64]  # (P, V, len(REASONS)) samples per failed check

    @classmethod
    def empty(cls, patients: int, vitals: int) -> QualityState:
        shape = (patients, vitals)
        nan = np.full(shape, np.nan)
        zero = np.zeros(shape, np.int64)
        arrays: dict[str, Any] = {name: nan.copy() for name in _FLOAT_FIELDS + _FLOAT_FIELDS_2}
        arrays.update(
            gated=np.zeros(shape, bool),
            samples=zero.copy(),
            rejected=zero.copy(),
            counts=np.zeros((*shape, len(REASONS)), np.int64),
        )
        return cls(**arrays)

    def copy(self) -> QualityState:
        return QualityState(**{name: getattr(self, name).copy() for name in _ALL_FIELDS})

    def to_dict(self) -> dict[str, Any]:
        return {name: encode_array(getattr(self, name)) for name in _ALL_FIELDS}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> QualityState:
        state = cls(**{name: decode_array(d[name]) for name in _ALL_FIELDS})
        shape = state.ref_x.shape
        for name in _ALL_FIELDS:
            got = getattr(state, name).shape
            if got[:2] != shape or (name == "counts") != (len(got) == 3):
                raise ValueError(f"quality state: {name} has shape {got}, expected {shape}")
        return state


_ALL_FIELDS: Final = (
    *_FLOAT_FIELDS,
    *_FLOAT_FIELDS_2,
    "gated",
    "samples",
    "rejected",
    "counts",
)


@dataclass(frozen=True, slots=True, eq=False)
class Assessment:
    """Per-sample outcome, in the order the samples were given."""

    reasons: npt.NDArray[np.uint8]  # Reason bits
    confidence: FloatArray
    accepted: BoolArray  # may feed smoothing, trend and NEWS2
    alarm_ok: BoolArray  # may feed the alarm engine


def assess(
    state: QualityState,
    cfg: QualityConfig,
    patient: IntArray,
    vital: IntArray,
    t_s: FloatArray,
    x: FloatArray,
    flagged: BoolArray,
) -> tuple[QualityState, Assessment]:
    """Check a batch of samples (any order) and return the new state and the outcome.

    Samples of one cell are taken in time order; a sample older than the latest one seen
    in its cell is only range-checked (late data cannot rewind the per-cell memory).
    """
    s = state.copy()
    n = x.size
    reasons = np.zeros(n, np.uint8)
    confidence = np.zeros(n)
    if n == 0:
        return s, Assessment(reasons, confidence, np.zeros(0, bool), np.zeros(0, bool))
    flagged = flagged | np.isnan(x) | ~np.isfinite(t_s)  # no usable time: no usable sample
    order = np.lexsort((t_s, vital, patient))
    cell = patient[order] * s.ref_x.shape[1] + vital[order]
    starts = np.r_[0, np.flatnonzero(np.diff(cell)) + 1]
    rank = np.arange(n) - np.repeat(starts, np.diff(np.r_[starts, n]))
    for k in range(int(rank.max()) + 1):
        idx = order[rank == k]
        with np.errstate(invalid="ignore", over="ignore"):
            reasons[idx], confidence[idx] = _round(
                s, cfg, patient[idx], vital[idx], t_s[idx], x[idx], flagged[idx]
            )
    blocking = int(Reason.FLAGGED | Reason.IMPLAUSIBLE | Reason.FLATLINE | Reason.DISPUTED)
    if cfg.enforce:
        accepted = confidence >= cfg.min_confidence
        alarm_ok = (reasons & blocking) == 0
    else:
        accepted = alarm_ok = ~flagged
    _count(s, patient, vital, t_s, reasons, accepted, alarm_ok, flagged)
    return s, Assessment(reasons, confidence, accepted, alarm_ok)


def _round(
    s: QualityState,
    cfg: QualityConfig,
    p: IntArray,
    v: IntArray,
    t: FloatArray,
    x: FloatArray,
    flagged: BoolArray,
) -> tuple[npt.NDArray[np.uint8], FloatArray]:
    """One sample per cell at most: run the checks and update the state in place."""
    late = t < s.last_t[p, v]  # False while last_t is NaN
    live = ~late & np.isfinite(t)
    reasons = np.where(flagged, int(Reason.FLAGGED), 0).astype(np.uint8)
    with np.errstate(invalid="ignore"):
        plausible = (x >= cfg.lo[v]) & (x <= cfg.hi[v])
    reasons |= np.where(flagged | plausible, 0, int(Reason.IMPLAUSIBLE)).astype(np.uint8)
    usable = ~flagged & plausible

    # rate of change against the last good sample, unless the gap restarts the baseline
    ref_t, ref_x = s.ref_t[p, v], s.ref_x[p, v]
    gap = t - ref_t
    has_ref = np.isfinite(ref_t) & (gap <= cfg.reset_after_s)
    with np.errstate(invalid="ignore"):
        jump = usable & live & has_ref & (np.abs(x - ref_x) > cfg.slew[v] * np.maximum(gap, 1.0))
    since = s.jump_since[p, v]
    since = np.where(jump & np.isnan(since), t, since)
    sustained = jump & (t - since >= cfg.sustain[v])
    jump &= ~sustained
    reasons |= np.where(jump, int(Reason.RATE), 0).astype(np.uint8)

    # flatline: the same value again and again
    same = ~flagged & (x == s.run_x[p, v]) & (t - s.last_t[p, v] <= cfg.flat_gap[v])
    run_n = np.where(same, s.run_n[p, v] + 1, np.where(flagged, 0.0, 1.0))
    run_t0 = np.where(same, s.run_t0[p, v], t)
    flat = usable & live & (run_n >= cfg.flat_n[v]) & (t - run_t0 >= cfg.flat_s[v])
    reasons |= np.where(flat, int(Reason.FLATLINE), 0).astype(np.uint8)

    good = usable & ~jump & ~flat
    lv = live
    pl, vl = p[lv], v[lv]
    s.jump_since[pl, vl] = np.where(jump | ~usable, since, np.nan)[lv]
    s.run_x[pl, vl] = np.where(flagged, np.nan, x)[lv]
    s.run_n[pl, vl], s.run_t0[pl, vl] = run_n[lv], run_t0[lv]
    s.last_t[pl, vl] = t[lv]
    upd = good & live
    s.ref_x[p[upd], v[upd]], s.ref_t[p[upd], v[upd]] = x[upd], t[upd]
    seen = usable & ~flat & live  # plausible readings, rate-limited ones included
    s.ok_x[p[seen], v[seen]], s.ok_t[p[seen], v[seen]] = x[seen], t[seen]

    # agreement of two sources of the same rate (after this round's updates)
    disputed = np.zeros(p.size, bool)
    for a, b in cfg.agree_pairs:
        for mine, other in ((a, b), (b, a)):
            sel = usable & ~flat & (v == mine)
            partner_x, partner_t = s.ok_x[p, other], s.ok_t[p, other]
            # only a partner whose latest sample was good: a sensor now off has no say
            current = partner_t == s.last_t[p, other]
            with np.errstate(invalid="ignore"):
                near = current & (np.abs(t - partner_t) <= cfg.agree_window_s)
                differs = np.abs(x - partner_x) > cfg.agree_tolerance
            disputed |= sel & live & near & differs
    reasons |= np.where(disputed, int(Reason.DISPUTED), 0).astype(np.uint8)
    confidence = np.where(usable & ~flat, 1.0, 0.0)
    confidence *= np.where(jump, cfg.rate_confidence, 1.0)
    confidence *= np.where(disputed, cfg.disputed_confidence, 1.0)
    s.confidence[pl, vl] = confidence[lv]
    return reasons, confidence


def _count(
    s: QualityState,
    p: IntArray,
    v: IntArray,
    t: FloatArray,
    reasons: npt.NDArray[np.uint8],
    accepted: BoolArray,
    alarm_ok: BoolArray,
    flagged: BoolArray,
) -> None:
    np.add.at(s.samples, (p, v), 1)
    artifact = ~accepted & ~flagged
    np.add.at(s.rejected, (p, v), artifact.astype(np.int64))
    for i, r in enumerate(REASONS):
        hit = (reasons & int(r)) != 0
        if hit.any():
            np.add.at(s.counts[:, :, i], (p[hit], v[hit]), 1)
    # the latest sample of each cell decides whether the cell is gated now
    order = np.lexsort((t, v, p))
    cell = p[order] * s.gated.shape[1] + v[order]
    last = order[np.r_[np.flatnonzero(np.diff(cell)), cell.size - 1]]
    newest = t[last] >= s.last_t[p[last], v[last]]
    last = last[newest]
    s.gated[p[last], v[last]] = ~alarm_ok[last]


__all__ = [
    "DEFAULT_RULES",
    "REASONS",
    "Assessment",
    "QualityConfig",
    "QualityState",
    "Reason",
    "VitalRule",
    "assess",
]
