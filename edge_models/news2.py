"""NEWS2 early-warning score (Royal College of Physicians, 2017), scalar and vectorised.

Chart 1 of the RCP report scores seven parameters 0-3; Charts 2 and 3 map the aggregate to a
clinical risk band. Values are first rounded half-up to the chart's resolution (integers;
0.1 degC for temperature) with decimal arithmetic, so 36.05 degC is 36.1 (never binary
``round``, which gives 36.0). Missing, stale or impossible values are never scored as 0: the
result lists them and is marked ``partial`` (its total is then a lower bound).

Two implementations share these semantics: :func:`score_news2` transcribes the chart as
inclusive if-chains over :class:`~decimal.Decimal` values (one patient), and
:func:`score_news2_batch` compares raw floats against cut points (many patients, NaN =
missing). A float ``x`` rounds half-up to at least an edge ``E`` exactly when ``x`` is at
least the double nearest to ``E - resolution / 2``, so both agree for every float.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import Any, Final, TypeAlias

import numpy as np
import numpy.typing as npt

Number: TypeAlias = float | Decimal  # int is accepted wherever float is


class Parameter(enum.Enum):
    """The seven NEWS2 parameters; their order is the column order of the batch API."""

    RESPIRATION_RATE = "respiration_rate"
    SPO2 = "spo2"
    AIR_OR_OXYGEN = "air_or_oxygen"
    SYSTOLIC_BP = "systolic_bp"
    PULSE = "pulse"
    CONSCIOUSNESS = "consciousness"
    TEMPERATURE = "temperature"


PARAMETERS: Final[tuple[Parameter, ...]] = tuple(Parameter)


class Consciousness(enum.Enum):
    """ACVPU; ``CONFUSION`` means *new* confusion (chronic confusion at baseline is Alert)."""

    ALERT = "A"
    CONFUSION = "C"
    VOICE = "V"
    PAIN = "P"
    UNRESPONSIVE = "U"


#: Batch code of each ACVPU level is its index here (A=0, C=1, V=2, P=3, U=4).
CONSCIOUSNESS_CODES: Final[tuple[Consciousness, ...]] = tuple(Consciousness)


class SpO2Scale(enum.IntEnum):
    """Scale 2 only for prescribed 88-92 % targets (hypercapnic respiratory failure)."""

    SCALE_1 = 1
    SCALE_2 = 2


class Risk(enum.Enum):
    """Clinical risk band of Chart 2; the batch code is the index in :data:`RISKS`."""

    LOW = "low"
    LOW_MEDIUM = "low-medium"
    MEDIUM = "medium"
    HIGH = "high"


RISKS: Final[tuple[Risk, ...]] = tuple(Risk)
#: Score reported in the batch ``scores`` array for a parameter that was not scored.
MISSING_SCORE: Final = -1
#: Staleness limit per parameter (s). Engineering default, not from the RCP: one hour, the
#: minimum monitoring interval Chart 3 gives for low-medium and medium risk. Configure per site.
DEFAULT_MAX_AGE_S: Final[Mapping[Parameter, float]] = dict.fromkeys(PARAMETERS, 3600.0)

_NUMERIC: Final = (
    Parameter.RESPIRATION_RATE,
    Parameter.SPO2,
    Parameter.SYSTOLIC_BP,
    Parameter.PULSE,
    Parameter.TEMPERATURE,
)
_ONE: Final = Decimal(1)
_TENTH: Final = Decimal("0.1")


@dataclass(frozen=True, slots=True)
class News2Inputs:
    """One patient's observations; ``None`` (or NaN) means not observed.

    ``on_oxygen`` is an input of its own (never inferred from SpO2); ``None`` means unknown.
    ``stale`` lists parameters whose value is too old to use (see :func:`stale_parameters`).
    """

    respiration_rate: Number | None = None
    spo2: Number | None = None
    on_oxygen: bool | None = None
    systolic_bp: Number | None = None
    pulse: Number | None = None
    consciousness: Consciousness | None = None
    temperature: Number | None = None
    spo2_scale: SpO2Scale = SpO2Scale.SCALE_1
    stale: frozenset[Parameter] = frozenset()


@dataclass(frozen=True, slots=True)
class News2Result:
    """Aggregate score, risk band and per-parameter scores (``None`` = not scored).

    ``missing`` lists every parameter not scored: absent, ``stale``, ``invalid`` (outside
    the physical domain) or undeterminable (scale 2 SpO2 >= 93 % with unknown oxygen).
    When ``partial`` is true, ``total`` and ``risk`` are lower bounds.
    """

    total: int
    risk: Risk
    scores: tuple[int | None, ...]  # in PARAMETERS order
    missing: tuple[Parameter, ...]
    stale: tuple[Parameter, ...]
    invalid: tuple[Parameter, ...]
    partial: bool
    red_score: bool  # some single parameter scored 3
    spo2_scale: SpO2Scale

    def score(self, parameter: Parameter) -> int | None:
        return self.scores[PARAMETERS.index(parameter)]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the CLI prints this)."""
        return {
            "total": self.total,
            "risk": self.risk.value,
            "scores": {p.value: s for p, s in zip(PARAMETERS, self.scores, strict=True)},
            "missing": [p.value for p in self.missing],
            "stale": [p.value for p in self.stale],
            "invalid": [p.value for p in self.invalid],
            "partial": self.partial,
            "red_score": self.red_score,
            "spo2_scale": int(self.spo2_scale),
        }


def risk_band(total: int, red_score: bool) -> Risk:
    """Chart 2: >= 7 high; 5-6 medium; a single 3 within 0-4 low-medium; else low."""
    if total >= 7:
        return Risk.HIGH
    if total >= 5:
        return Risk.MEDIUM
    if red_score:
        return Risk.LOW_MEDIUM
    return Risk.LOW


def _decimal(value: Number) -> Decimal:
    """The value as a decimal: a float via its shortest repr (36.05, not 36.0499...)."""
    if isinstance(value, Decimal | int):
        return Decimal(value)
    return Decimal(repr(float(value)))


def domain_error(parameter: Parameter, value: Number) -> str | None:
    """Why a numeric value is physically impossible, or ``None`` if it can be scored."""
    d = _decimal(value)
    if not d.is_finite():
        return "must be a finite number"
    if d < 0:
        return "must not be negative"
    if parameter is Parameter.SPO2 and d > 100:
        return "must be at most 100 %"
    return None


def chart_value(value: Number, resolution: Decimal) -> Decimal:
    """``value`` rounded half-up to ``resolution`` via its shortest decimal form."""
    d = _decimal(value)
    with localcontext() as ctx:
        ctx.prec = 400  # enough digits for any finite double at 0.1 resolution
        return d.quantize(resolution, rounding=ROUND_HALF_UP)


def stale_parameters(
    ages_s: Mapping[Parameter, float],
    max_age_s: Mapping[Parameter, float] = DEFAULT_MAX_AGE_S,
) -> frozenset[Parameter]:
    """Parameters whose observation is older than its limit (no limit: never stale)."""
    return frozenset(p for p, age in ages_s.items() if p in max_age_s and not age <= max_age_s[p])


# --- Chart 1, transcribed as inclusive bands at chart resolution -------------------------


def _respiration(v: Decimal) -> int:
    if v <= 8:
        return 3
    if v <= 11:
        return 1
    if v <= 20:
        return 0
    if v <= 24:
        return 2
    return 3


def _spo2_scale1(v: Decimal) -> int:
    if v <= 91:
        return 3
    if v <= 93:
        return 2
    if v <= 95:
        return 1
    return 0


def _spo2_scale2(v: Decimal, on_oxygen: bool | None) -> int | None:
    if v <= 83:
        return 3
    if v <= 85:
        return 2
    if v <= 87:
        return 1
    if v <= 92:
        return 0
    if on_oxygen is None:  # 93 % and above: the score depends on air vs oxygen
        return None
    if not on_oxygen:
        return 0
    if v <= 94:
        return 1
    if v <= 96:
        return 2
    return 3


def _systolic(v: Decimal) -> int:
    if v <= 90:
        return 3
    if v <= 100:
        return 2
    if v <= 110:
        return 1
    if v <= 219:
        return 0
    return 3


def _pulse(v: Decimal) -> int:
    if v <= 40:
        return 3
    if v <= 50:
        return 1
    if v <= 90:
        return 0
    if v <= 110:
        return 1
    if v <= 130:
        return 2
    return 3


def _temperature(v: Decimal) -> int:
    if v <= Decimal("35.0"):
        return 3
    if v <= Decimal("36.0"):
        return 1
    if v <= Decimal("38.0"):
        return 0
    if v <= Decimal("39.0"):
        return 1
    return 2


_SCALAR_BANDS: Final[Mapping[Parameter, tuple[Callable[[Decimal], int], Decimal]]] = {
    Parameter.RESPIRATION_RATE: (_respiration, _ONE),
    Parameter.SYSTOLIC_BP: (_systolic, _ONE),
    Parameter.PULSE: (_pulse, _ONE),
    Parameter.TEMPERATURE: (_temperature, _TENTH),
}


def _is_nan(value: Number) -> bool:
    return value.is_nan() if isinstance(value, Decimal) else value != value


def score_news2(obs: News2Inputs) -> News2Result:
    """Score one patient against Chart 1 and band the aggregate per Chart 2."""
    raw: dict[Parameter, Number | None] = {
        Parameter.RESPIRATION_RATE: obs.respiration_rate,
        Parameter.SPO2: obs.spo2,
        Parameter.SYSTOLIC_BP: obs.systolic_bp,
        Parameter.PULSE: obs.pulse,
        Parameter.TEMPERATURE: obs.temperature,
    }
    scores: dict[Parameter, int] = {}
    invalid: set[Parameter] = set()
    usable: dict[Parameter, Decimal] = {}
    for p in _NUMERIC:
        value = raw[p]
        if value is None or _is_nan(value) or p in obs.stale:
            continue
        if domain_error(p, value) is not None:
            invalid.add(p)
            continue
        if p in _SCALAR_BANDS:
            band, resolution = _SCALAR_BANDS[p]
            scores[p] = band(chart_value(value, resolution))
        else:  # SpO2: needs the oxygen status first
            usable[p] = chart_value(value, _ONE)

    oxygen = None if Parameter.AIR_OR_OXYGEN in obs.stale else obs.on_oxygen
    if oxygen is not None:
        scores[Parameter.AIR_OR_OXYGEN] = 2 if oxygen else 0
    if Parameter.SPO2 in usable:
        v = usable[Parameter.SPO2]
        spo2 = _spo2_scale1(v) if obs.spo2_scale is SpO2Scale.SCALE_1 else _spo2_scale2(v, oxygen)
        if spo2 is not None:
            scores[Parameter.SPO2] = spo2
    if obs.consciousness is not None and Parameter.CONSCIOUSNESS not in obs.stale:
        alert = obs.consciousness is Consciousness.ALERT
        scores[Parameter.CONSCIOUSNESS] = 0 if alert else 3

    total = sum(scores.values())
    red = any(s == 3 for s in scores.values())
    missing = tuple(p for p in PARAMETERS if p not in scores)
    return News2Result(
        total=total,
        risk=risk_band(total, red),
        scores=tuple(scores.get(p) for p in PARAMETERS),
        missing=missing,
        stale=tuple(p for p in PARAMETERS if p in obs.stale),
        invalid=tuple(p for p in PARAMETERS if p in invalid),
        partial=bool(missing),
        red_score=red,
        spo2_scale=obs.spo2_scale,
    )


# --- Vectorised version --------------------------------------------------------------------

FloatArray: TypeAlias = npt.NDArray[np.float64]
BoolArray: TypeAlias = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class _Cuts:
    """Band lookup on raw floats: ``scores[i]`` for ``cuts[i-1] <= x < cuts[i]``."""

    cuts: FloatArray
    scores: npt.NDArray[np.int8]

    @classmethod
    def from_chart(cls, lower_edges: tuple[str, ...], scores: tuple[int, ...], res: str) -> _Cuts:
        # A value rounds half-up to >= edge E exactly when it is >= E - res/2.
        half = Decimal(res) / 2
        cuts = np.array([float(Decimal(e) - half) for e in lower_edges], dtype=np.float64)
        return cls(cuts, np.array(scores, dtype=np.int8))

    def lookup(self, x: FloatArray) -> npt.NDArray[np.int8]:
        idx = np.searchsorted(self.cuts, np.where(np.isnan(x), -np.inf, x), side="right")
        return self.scores[idx]


# Lower edge of each band after the first, with the band scores, from Chart 1.
_RR = _Cuts.from_chart(("9", "12", "21", "25"), (3, 1, 0, 2, 3), "1")
_SPO2_1 = _Cuts.from_chart(("92", "94", "96"), (3, 2, 1, 0), "1")
_SPO2_2_AIR = _Cuts.from_chart(("84", "86", "88"), (3, 2, 1, 0), "1")
_SPO2_2_O2 = _Cuts.from_chart(("84", "86", "88", "93", "95", "97"), (3, 2, 1, 0, 1, 2, 3), "1")
_SBP = _Cuts.from_chart(("91", "101", "111", "220"), (3, 2, 1, 0, 3), "1")
_PULSE = _Cuts.from_chart(("41", "51", "91", "111", "131"), (3, 1, 0, 1, 2, 3), "1")
_TEMP = _Cuts.from_chart(("35.1", "36.1", "38.1", "39.1"), (3, 1, 0, 1, 2), "0.1")
_SPO2_2_OXYGEN_MATTERS: Final = float(Decimal(93) - Decimal("0.5"))
# Physical domain per column: upper bound (SpO2 <= 100 %, codes) and integer-coded columns.
_UPPER: Final = np.array([np.inf, 100, 1, np.inf, np.inf, len(CONSCIOUSNESS_CODES) - 1, np.inf])
_CODED: Final = np.array([False, False, True, False, False, True, False])


@dataclass(frozen=True, slots=True, eq=False)
class News2Batch:
    """Scores of ``n`` patients; 2-D arrays have one column per :data:`PARAMETERS` entry.

    ``scores`` holds :data:`MISSING_SCORE` where ``missing`` is set; ``risk`` holds the
    index into :data:`RISKS`. Where ``partial`` is set, total and risk are lower bounds.
    """

    total: npt.NDArray[np.int16]
    risk: npt.NDArray[np.int8]
    scores: npt.NDArray[np.int8]
    missing: BoolArray
    stale: BoolArray
    invalid: BoolArray
    partial: BoolArray
    red_score: BoolArray

    def risk_labels(self) -> list[str]:
        return [RISKS[int(code)].value for code in self.risk]


def _column(name: str, values: npt.ArrayLike, n: int) -> FloatArray:
    a = np.asarray(values, dtype=np.float64)
    if a.ndim > 1:
        raise ValueError(f"{name}: expected a 1-D array or a scalar, got shape {a.shape}")
    return np.broadcast_to(a, (n,)).astype(np.float64)


def _batch_size(*arrays: npt.ArrayLike) -> int:
    sizes = {np.asarray(a).size for a in arrays if np.asarray(a).ndim == 1}
    sizes.discard(1)
    if len(sizes) > 1:
        raise ValueError(f"input arrays have different lengths: {sorted(sizes)}")
    return sizes.pop() if sizes else 1


def score_news2_batch(
    respiration_rate: npt.ArrayLike,
    spo2: npt.ArrayLike,
    on_oxygen: npt.ArrayLike,
    systolic_bp: npt.ArrayLike,
    pulse: npt.ArrayLike,
    consciousness: npt.ArrayLike,
    temperature: npt.ArrayLike,
    *,
    spo2_scale: npt.ArrayLike = 1,
    stale: npt.ArrayLike | None = None,
) -> News2Batch:
    """Score ``n`` patients at once (1-D arrays or scalars that broadcast; NaN = missing).

    ``on_oxygen`` is 1 (oxygen) / 0 (air) / NaN (unknown); ``consciousness`` holds codes
    from :data:`CONSCIOUSNESS_CODES`; ``spo2_scale`` is 1 or 2 per patient; ``stale`` is an
    ``(n, 7)`` boolean mask. Values outside the physical domain (negative, infinite, SpO2
    above 100, unknown codes) are reported as ``invalid`` and not scored.
    """
    n = _batch_size(
        respiration_rate, spo2, on_oxygen, systolic_bp, pulse, consciousness, temperature
    )
    rr = _column("respiration_rate", respiration_rate, n)
    sat = _column("spo2", spo2, n)
    o2 = _column("on_oxygen", on_oxygen, n)
    sbp = _column("systolic_bp", systolic_bp, n)
    hr = _column("pulse", pulse, n)
    cons = _column("consciousness", consciousness, n)
    temp = _column("temperature", temperature, n)
    scale = np.broadcast_to(np.asarray(spo2_scale), (n,))
    if not np.isin(scale, (1, 2)).all():
        raise ValueError("spo2_scale: every entry must be 1 or 2")
    stale_mask = np.zeros((n, len(PARAMETERS)), dtype=bool)
    if stale is not None:
        stale_mask = np.broadcast_to(np.asarray(stale, dtype=bool), stale_mask.shape).copy()

    values = np.stack((rr, sat, o2, sbp, hr, cons, temp), axis=1)
    present = ~np.isnan(values) & ~stale_mask
    bad = ~np.isfinite(values) | (values < 0) | (values > _UPPER)
    bad |= _CODED & (np.floor(values) != values)
    invalid = present & bad
    ok = present & ~invalid

    scores = np.full((n, len(PARAMETERS)), MISSING_SCORE, dtype=np.int8)
    oxygen_known = ok[:, 2]
    on_o2 = oxygen_known & (o2 == 1)
    spo2_score = np.where(
        scale == 1,
        _SPO2_1.lookup(sat),
        np.where(on_o2, _SPO2_2_O2.lookup(sat), _SPO2_2_AIR.lookup(sat)),
    )
    undetermined = (scale == 2) & (sat >= _SPO2_2_OXYGEN_MATTERS) & ~oxygen_known
    computed = (
        _RR.lookup(rr),
        spo2_score,
        np.where(on_o2, 2, 0),
        _SBP.lookup(sbp),
        _PULSE.lookup(hr),
        np.where(cons == 0, 0, 3),
        _TEMP.lookup(temp),
    )
    scored = ok.copy()
    scored[:, 1] &= ~undetermined
    for i, col in enumerate(computed):
        scores[:, i] = np.where(scored[:, i], col, MISSING_SCORE)

    total = np.where(scored, scores, 0).sum(axis=1).astype(np.int16)
    red = (scores == 3).any(axis=1)
    risk = np.select([total >= 7, total >= 5, red], [3, 2, 1], default=0).astype(np.int8)
    missing = ~scored
    return News2Batch(
        total=total,
        risk=risk,
        scores=scores,
        missing=missing,
        stale=stale_mask,
        invalid=invalid,
        partial=np.asarray(missing.any(axis=1), dtype=bool),
        red_score=red,
    )


__all__ = [
    "CONSCIOUSNESS_CODES",
    "DEFAULT_MAX_AGE_S",
    "MISSING_SCORE",
    "PARAMETERS",
    "RISKS",
    "Consciousness",
    "News2Batch",
    "News2Inputs",
    "News2Result",
    "Parameter",
    "Risk",
    "SpO2Scale",
    "chart_value",
    "domain_error",
    "risk_band",
    "score_news2",
    "score_news2_batch",
    "stale_parameters",
]
