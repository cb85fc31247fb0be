"""Hypothesis properties of NEWS2: vectorised == scalar, monotonicity, partial lower bounds."""

from __future__ import annotations

import math
from dataclasses import replace
from decimal import Decimal
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_models.news2 import (
    CONSCIOUSNESS_CODES,
    PARAMETERS,
    RISKS,
    Consciousness,
    News2Inputs,
    Parameter,
    SpO2Scale,
    score_news2,
    score_news2_batch,
)

NAN = math.nan


def with_field(obs: News2Inputs, field: str, value: object) -> News2Inputs:
    changes: dict[str, Any] = {field: value}
    return replace(obs, **changes)


# Chart edges and the rounding midpoints next to them, so examples land where bugs live.
_EDGES: list[float] = [
    8,
    9,
    11,
    12,
    20,
    21,
    24,
    25,
    83,
    84,
    85,
    86,
    87,
    88,
    90,
    91,
    92,
    93,
    94,
    95,
    96,
    97,
]
_EDGES += [100, 101, 110, 111, 130, 131, 219, 220, 35.0, 35.1, 36.0, 36.1, 38.0, 38.1, 39.0, 39.1]
_NEAR = sorted({e + d for e in _EDGES for d in (-0.5, -0.05, 0.0, 0.05, 0.5)})


def values(hi: float) -> st.SearchStrategy[float]:
    """Floats near chart edges, arbitrary floats in range, NaN (missing) and a few invalid."""
    near = st.sampled_from([v for v in _NEAR if 0 <= v <= hi])
    nudged = near.flatmap(
        lambda v: st.sampled_from([v, math.nextafter(v, -1), math.nextafter(v, 1e9)])
    )
    return st.one_of(
        near,
        nudged.filter(lambda v: 0 <= v <= hi),
        st.floats(0, hi),
        st.floats(0, hi).map(lambda v: round(v, 2)),
        st.just(NAN),
        st.sampled_from([-1.0, math.inf, hi + 1]),
    )


oxygen = st.sampled_from([0.0, 1.0, NAN])
consciousness = st.sampled_from([0.0, 1.0, 2.0, 3.0, 4.0, NAN])
patient = st.tuples(
    values(80),  # respiration rate
    values(100),  # SpO2
    oxygen,
    values(300),  # systolic BP
    values(300),  # pulse
    consciousness,
    values(45),  # temperature
    st.sampled_from([1, 2]),  # SpO2 scale
    st.lists(st.booleans(), min_size=7, max_size=7),  # stale mask
)


def to_inputs(
    row: tuple[float, float, float, float, float, float, float, int, list[bool]],
) -> News2Inputs:
    rr, sat, o2, sbp, hr, cons, temp, scale, stale = row

    def opt(v: float) -> float | None:
        return None if math.isnan(v) else v

    return News2Inputs(
        respiration_rate=opt(rr),
        spo2=opt(sat),
        on_oxygen=None if math.isnan(o2) else bool(o2),
        systolic_bp=opt(sbp),
        pulse=opt(hr),
        consciousness=None if math.isnan(cons) else CONSCIOUSNESS_CODES[int(cons)],
        temperature=opt(temp),
        spo2_scale=SpO2Scale(scale),
        stale=frozenset(p for p, s in zip(PARAMETERS, stale, strict=True) if s),
    )


@settings(max_examples=150, deadline=None)
@given(st.lists(patient, min_size=1, max_size=40))
def test_vectorised_equals_scalar(
    rows: list[tuple[float, float, float, float, float, float, float, int, list[bool]]],
) -> None:
    cols = list(zip(*rows, strict=True))
    batch = score_news2_batch(
        *(np.array(c, dtype=float) for c in cols[:7]),
        spo2_scale=np.array(cols[7]),
        stale=np.array(cols[8], dtype=bool),
    )
    for i, row in enumerate(rows):
        r = score_news2(to_inputs(row))
        assert int(batch.total[i]) == r.total
        assert RISKS[int(batch.risk[i])] is r.risk
        assert [None if s < 0 else s for s in batch.scores[i].tolist()] == list(r.scores)
        assert tuple(p for p, m in zip(PARAMETERS, batch.missing[i], strict=True) if m) == r.missing
        assert tuple(p for p, m in zip(PARAMETERS, batch.invalid[i], strict=True) if m) == r.invalid
        assert bool(batch.partial[i]) == r.partial
        assert bool(batch.red_score[i]) == r.red_score


_SCALAR_FIELDS = {
    "respiration_rate": (Parameter.RESPIRATION_RATE, 0, 80),
    "systolic_bp": (Parameter.SYSTOLIC_BP, 0, 300),
    "pulse": (Parameter.PULSE, 0, 300),
    "temperature": (Parameter.TEMPERATURE, 25, 45),
    "spo2": (Parameter.SPO2, 0, 100),
}


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(sorted(_SCALAR_FIELDS)),
    st.lists(st.floats(0, 1), min_size=3, max_size=3),
    st.sampled_from([1, 2]),
    st.booleans(),
)
def test_parameter_score_is_v_shaped(
    field: str, fractions: list[float], scale: int, o2: bool
) -> None:
    """Between two values the score never exceeds the larger of their scores (quasi-convex).

    Every row of the chart falls from the low extreme to a normal band and rises again.
    """
    parameter, lo, hi = _SCALAR_FIELDS[field]
    a, b, c = sorted(lo + f * (hi - lo) for f in fractions)
    base = News2Inputs(on_oxygen=o2, spo2_scale=SpO2Scale(scale))

    def score(v: float) -> int:
        s = score_news2(with_field(base, field, v)).score(parameter)
        assert s is not None
        return s

    assert score(b) <= max(score(a), score(c))


# Centre of the normal (0-point) band; SpO2 scale 1 only scores on the low side.
_CENTRES = {
    "respiration_rate": 16.0,
    "systolic_bp": 165.0,
    "pulse": 70.0,
    "temperature": 37.0,
}


@settings(max_examples=200, deadline=None)
@given(patient, st.sampled_from(sorted(_CENTRES)), st.floats(1, 5))
def test_further_from_normal_never_scores_less(
    row: tuple[float, float, float, float, float, float, float, int, list[bool]],
    field: str,
    stretch: float,
) -> None:
    """Moving one vital away from its normal centre never lowers its score or the total."""
    obs = replace(to_inputs(row), stale=frozenset())
    value = getattr(obs, field)
    if value is None or not 0 <= value <= 300:
        return
    centre = _CENTRES[field]
    further = max(0.0, centre + (float(value) - centre) * stretch)
    near, far = score_news2(obs), score_news2(with_field(obs, field, further))
    parameter = Parameter(field)
    assert (far.score(parameter) or 0) >= (near.score(parameter) or 0)
    assert far.total >= near.total


@settings(max_examples=200, deadline=None)
@given(st.floats(0, 100), st.floats(0, 100))
def test_scale1_spo2_lower_never_scores_less(a: float, b: float) -> None:
    lo, hi = sorted((a, b))
    s_lo = score_news2(News2Inputs(spo2=lo)).score(Parameter.SPO2)
    s_hi = score_news2(News2Inputs(spo2=hi)).score(Parameter.SPO2)
    assert s_lo is not None
    assert s_hi is not None
    assert s_lo >= s_hi


@settings(max_examples=200, deadline=None)
@given(patient)
def test_oxygen_never_lowers_the_score(
    row: tuple[float, float, float, float, float, float, float, int, list[bool]],
) -> None:
    obs = replace(to_inputs(row), stale=frozenset())
    on_air = score_news2(replace(obs, on_oxygen=False))
    on_o2 = score_news2(replace(obs, on_oxygen=True))
    assert on_o2.total >= on_air.total + 2
    assert RISKS.index(on_o2.risk) >= RISKS.index(on_air.risk)


@settings(max_examples=200, deadline=None)
@given(patient, st.sampled_from(PARAMETERS))
def test_partial_total_is_a_lower_bound(
    row: tuple[float, float, float, float, float, float, float, int, list[bool]],
    parameter: Parameter,
) -> None:
    """Marking a parameter stale can only lower the total and the risk, and sets partial."""
    full = replace(to_inputs(row), stale=frozenset())
    part = replace(full, stale=frozenset({parameter}))
    r_full, r_part = score_news2(full), score_news2(part)
    assert r_part.total <= r_full.total
    assert RISKS.index(r_part.risk) <= RISKS.index(r_full.risk)
    assert r_part.partial
    assert parameter in r_part.missing


@settings(max_examples=100, deadline=None)
@given(st.decimals(min_value=Decimal(25), max_value=Decimal(45), places=2))
def test_temperature_decimal_and_float_agree(value: Decimal) -> None:
    """A Decimal and the float parsed from the same text score the same."""
    as_float = float(str(value))
    d = score_news2(News2Inputs(temperature=value)).score(Parameter.TEMPERATURE)
    f = score_news2(News2Inputs(temperature=as_float)).score(Parameter.TEMPERATURE)
    assert d == f


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(list(Consciousness)))
def test_any_cvpu_is_a_red_score(level: Consciousness) -> None:
    r = score_news2(News2Inputs(consciousness=level))
    assert r.red_score == (level is not Consciousness.ALERT)
