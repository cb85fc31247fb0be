"""Golden NEWS2 cases from the RCP 2017 chart: every band edge, risk bands, rounding, gaps.

Expected values are transcribed by hand from Chart 1 / Chart 2 (RCP, NEWS2, 2017) and are
checked against both the scalar and the vectorised scorer.
"""

from __future__ import annotations

import math
from dataclasses import replace
from decimal import Decimal
from typing import Any

import numpy as np
import pytest

from edge_models.news2 import (
    CONSCIOUSNESS_CODES,
    MISSING_SCORE,
    PARAMETERS,
    Consciousness,
    News2Inputs,
    Parameter,
    Risk,
    SpO2Scale,
    chart_value,
    risk_band,
    score_news2,
    score_news2_batch,
    stale_parameters,
)

NAN = math.nan


def with_field(obs: News2Inputs, field: str, value: object) -> News2Inputs:
    changes: dict[str, Any] = {field: value}
    return replace(obs, **changes)


#: Every parameter normal (all scores 0): RR 16, SpO2 97 on air, SBP 120, pulse 70, A, 37.0.
NORMAL = News2Inputs(
    respiration_rate=16,
    spo2=97,
    on_oxygen=False,
    systolic_bp=120,
    pulse=70,
    consciousness=Consciousness.ALERT,
    temperature=37.0,
)


def batch_of(obs: News2Inputs) -> tuple[int, list[int], str, list[bool], bool]:
    """Score one patient with the vectorised API; return (total, scores, risk, missing, partial)."""

    def f(v: float | Decimal | None) -> float:
        return NAN if v is None else float(v)

    b = score_news2_batch(
        [f(obs.respiration_rate)],
        [f(obs.spo2)],
        [NAN if obs.on_oxygen is None else float(obs.on_oxygen)],
        [f(obs.systolic_bp)],
        [f(obs.pulse)],
        [NAN if obs.consciousness is None else CONSCIOUSNESS_CODES.index(obs.consciousness)],
        [f(obs.temperature)],
        spo2_scale=[int(obs.spo2_scale)],
        stale=[[p in obs.stale for p in PARAMETERS]],
    )
    return (
        int(b.total[0]),
        b.scores[0].tolist(),
        b.risk_labels()[0],
        b.missing[0].tolist(),
        bool(b.partial[0]),
    )


# (value, points) at both sides of every edge of Chart 1.
RR_EDGES = [(0, 3), (8, 3), (9, 1), (11, 1), (12, 0), (20, 0), (21, 2), (24, 2), (25, 3), (60, 3)]
SPO2_SCALE1_EDGES = [(50, 3), (91, 3), (92, 2), (93, 2), (94, 1), (95, 1), (96, 0), (100, 0)]
SBP_EDGES = [(40, 3), (90, 3), (91, 2), (100, 2), (101, 1), (110, 1), (111, 0), (219, 0)]
SBP_EDGES += [(220, 3), (300, 3)]
PULSE_EDGES = [(20, 3), (40, 3), (41, 1), (50, 1), (51, 0), (90, 0), (91, 1), (110, 1)]
PULSE_EDGES += [(111, 2), (130, 2), (131, 3), (250, 3)]
TEMP_EDGES = [(30.0, 3), (35.0, 3), (35.1, 1), (36.0, 1), (36.1, 0), (38.0, 0), (38.1, 1)]
TEMP_EDGES += [(39.0, 1), (39.1, 2), (42.0, 2)]
# Scale 2: (SpO2, points on air, points on oxygen). Oxygen adds its own 2 to the total.
SPO2_SCALE2_EDGES = [
    (70, 3, 3),
    (83, 3, 3),
    (84, 2, 2),
    (85, 2, 2),
    (86, 1, 1),
    (87, 1, 1),
    (88, 0, 0),
    (92, 0, 0),
    (93, 0, 1),
    (94, 0, 1),
    (95, 0, 2),
    (96, 0, 2),
    (97, 0, 3),
    (100, 0, 3),
]


def check_single(obs: News2Inputs, parameter: Parameter, points: int, extra: int = 0) -> None:
    result = score_news2(obs)
    assert result.score(parameter) == points
    assert result.total == points + extra
    assert not result.partial
    total, scores, _, _, _ = batch_of(obs)
    assert scores[PARAMETERS.index(parameter)] == points
    assert total == points + extra


@pytest.mark.parametrize(("value", "points"), RR_EDGES)
def test_respiration_rate_edges(value: float, points: int) -> None:
    check_single(replace(NORMAL, respiration_rate=value), Parameter.RESPIRATION_RATE, points)


@pytest.mark.parametrize(("value", "points"), SPO2_SCALE1_EDGES)
@pytest.mark.parametrize("on_oxygen", [False, True])
def test_spo2_scale1_edges_ignore_oxygen(value: float, points: int, on_oxygen: bool) -> None:
    obs = replace(NORMAL, spo2=value, on_oxygen=on_oxygen)
    check_single(obs, Parameter.SPO2, points, extra=2 if on_oxygen else 0)


@pytest.mark.parametrize(("value", "air", "oxygen"), SPO2_SCALE2_EDGES)
def test_spo2_scale2_edges_air_and_oxygen(value: float, air: int, oxygen: int) -> None:
    scale2 = replace(NORMAL, spo2=value, spo2_scale=SpO2Scale.SCALE_2)
    check_single(replace(scale2, on_oxygen=False), Parameter.SPO2, air)
    check_single(replace(scale2, on_oxygen=True), Parameter.SPO2, oxygen, extra=2)


def test_scale2_97_on_oxygen_is_five_points() -> None:
    obs = replace(NORMAL, spo2=97, on_oxygen=True, spo2_scale=SpO2Scale.SCALE_2)
    result = score_news2(obs)
    assert (result.score(Parameter.SPO2), result.score(Parameter.AIR_OR_OXYGEN)) == (3, 2)
    assert result.total == 5
    assert result.risk is Risk.MEDIUM


@pytest.mark.parametrize(("on_oxygen", "points"), [(False, 0), (True, 2)])
def test_air_or_oxygen(on_oxygen: bool, points: int) -> None:
    check_single(replace(NORMAL, on_oxygen=on_oxygen), Parameter.AIR_OR_OXYGEN, points)


@pytest.mark.parametrize(("value", "points"), SBP_EDGES)
def test_systolic_bp_edges(value: float, points: int) -> None:
    check_single(replace(NORMAL, systolic_bp=value), Parameter.SYSTOLIC_BP, points)


@pytest.mark.parametrize(("value", "points"), PULSE_EDGES)
def test_pulse_edges(value: float, points: int) -> None:
    check_single(replace(NORMAL, pulse=value), Parameter.PULSE, points)


@pytest.mark.parametrize(
    ("level", "points"),
    [("A", 0), ("C", 3), ("V", 3), ("P", 3), ("U", 3)],
)
def test_acvpu(level: str, points: int) -> None:
    obs = replace(NORMAL, consciousness=Consciousness(level))
    check_single(obs, Parameter.CONSCIOUSNESS, points)


@pytest.mark.parametrize(("value", "points"), TEMP_EDGES)
def test_temperature_edges(value: float, points: int) -> None:
    check_single(replace(NORMAL, temperature=value), Parameter.TEMPERATURE, points)


# --- Rounding half-up at chart resolution ----------------------------------------------------


@pytest.mark.parametrize(
    ("value", "points"),
    [
        (36.05, 0),  # -> 36.1; binary round(36.05, 1) would give 36.0 -> 1 point
        (36.04, 1),  # -> 36.0
        (38.04, 0),  # -> 38.0
        (38.05, 1),  # -> 38.1
        (35.05, 1),  # -> 35.1
        (35.04, 3),  # -> 35.0
        (39.05, 2),  # -> 39.1
        (39.0499, 1),  # -> 39.0
    ],
)
def test_temperature_rounds_half_up(value: float, points: int) -> None:
    assert round(36.05, 1) == 36.0  # the pitfall this guards against
    check_single(replace(NORMAL, temperature=value), Parameter.TEMPERATURE, points)


@pytest.mark.parametrize(
    ("field", "parameter", "value", "points"),
    [
        ("respiration_rate", Parameter.RESPIRATION_RATE, 8.5, 1),  # -> 9
        ("respiration_rate", Parameter.RESPIRATION_RATE, 8.49, 3),  # -> 8
        ("respiration_rate", Parameter.RESPIRATION_RATE, 20.5, 2),  # -> 21
        ("systolic_bp", Parameter.SYSTOLIC_BP, 90.5, 2),  # -> 91
        ("systolic_bp", Parameter.SYSTOLIC_BP, 219.5, 3),  # -> 220
        ("systolic_bp", Parameter.SYSTOLIC_BP, 219.49, 0),  # -> 219
        ("pulse", Parameter.PULSE, 40.5, 1),  # -> 41
        ("pulse", Parameter.PULSE, 130.5, 3),  # -> 131
        ("spo2", Parameter.SPO2, 91.5, 2),  # -> 92
        ("spo2", Parameter.SPO2, 95.5, 0),  # -> 96
        ("spo2", Parameter.SPO2, 95.4999, 1),  # -> 95
    ],
)
def test_integer_parameters_round_half_up(
    field: str, parameter: Parameter, value: float, points: int
) -> None:
    check_single(with_field(NORMAL, field, value), parameter, points)


def test_chart_value_uses_decimal_repr() -> None:
    assert chart_value(36.05, Decimal("0.1")) == Decimal("36.1")
    assert chart_value(2.675, Decimal("0.01")) == Decimal("2.68")  # float is 2.67499999...
    assert chart_value(Decimal("36.05"), Decimal("0.1")) == Decimal("36.1")
    assert chart_value(0.5, Decimal(1)) == 1  # half-up, not half-to-even
    assert chart_value(1e300, Decimal("0.1")) == Decimal("1e300")


def test_decimal_inputs_score_like_floats() -> None:
    obs = replace(NORMAL, temperature=Decimal("36.05"), systolic_bp=Decimal("90.5"))
    result = score_news2(obs)
    assert result.score(Parameter.TEMPERATURE) == 0
    assert result.score(Parameter.SYSTOLIC_BP) == 2


# --- Risk bands ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("total", "red", "risk"),
    [
        (0, False, Risk.LOW),
        (4, False, Risk.LOW),
        (3, True, Risk.LOW_MEDIUM),
        (4, True, Risk.LOW_MEDIUM),
        (5, False, Risk.MEDIUM),
        (6, True, Risk.MEDIUM),
        (7, False, Risk.HIGH),
        (7, True, Risk.HIGH),
        (20, True, Risk.HIGH),
    ],
)
def test_risk_band_rules(total: int, red: bool, risk: Risk) -> None:
    assert risk_band(total, red) is risk


@pytest.mark.parametrize(
    ("changes", "total", "risk"),
    [
        ({}, 0, "low"),
        ({"respiration_rate": 10, "pulse": 100}, 2, "low"),  # 1 + 1
        ({"respiration_rate": 22, "pulse": 115}, 4, "low"),  # 2 + 2, no single 3
        ({"consciousness": Consciousness.CONFUSION}, 3, "low-medium"),  # single red score
        ({"systolic_bp": 90, "pulse": 100}, 4, "low-medium"),  # 3 + 1
        ({"temperature": 35.0, "on_oxygen": True}, 5, "medium"),  # 3 + 2: red inside 5-6
        ({"respiration_rate": 22, "pulse": 100, "on_oxygen": True}, 5, "medium"),
        ({"respiration_rate": 25, "spo2": 93, "pulse": 100}, 6, "medium"),  # 3 + 2 + 1
        ({"respiration_rate": 25, "spo2": 93, "systolic_bp": 100}, 7, "high"),  # 3 + 2 + 2
        (
            {
                "respiration_rate": 5,
                "spo2": 80,
                "on_oxygen": True,
                "systolic_bp": 80,
                "pulse": 150,
                "consciousness": Consciousness.UNRESPONSIVE,
                "temperature": 34.0,
            },
            20,
            "high",
        ),
    ],
)
def test_aggregate_and_risk(changes: dict[str, Any], total: int, risk: str) -> None:
    obs = replace(NORMAL, **changes)
    result = score_news2(obs)
    assert (result.total, result.risk.value) == (total, risk)
    b_total, _, b_risk, _, _ = batch_of(obs)
    assert (b_total, b_risk) == (total, risk)


# --- Missing, stale and invalid parameters ---------------------------------------------------


def test_missing_parameter_is_reported_not_zero() -> None:
    obs = replace(NORMAL, respiration_rate=None, pulse=131)
    result = score_news2(obs)
    assert result.score(Parameter.RESPIRATION_RATE) is None
    assert result.missing == (Parameter.RESPIRATION_RATE,)
    assert result.partial
    assert (result.total, result.risk) == (3, Risk.LOW_MEDIUM)
    total, scores, _, missing, partial = batch_of(obs)
    assert scores[0] == MISSING_SCORE
    assert missing == [True] + [False] * 6
    assert partial
    assert total == 3


def test_nothing_observed() -> None:
    result = score_news2(News2Inputs())
    assert result.missing == PARAMETERS
    assert result.partial
    assert result.total == 0
    assert result.scores == (None,) * 7


def test_nan_is_missing() -> None:
    result = score_news2(replace(NORMAL, temperature=NAN, spo2=Decimal("NaN")))
    assert result.missing == (Parameter.SPO2, Parameter.TEMPERATURE)
    assert result.invalid == ()


def test_unknown_oxygen_is_missing_not_air() -> None:
    result = score_news2(replace(NORMAL, on_oxygen=None))
    assert result.missing == (Parameter.AIR_OR_OXYGEN,)
    assert result.score(Parameter.SPO2) == 0  # scale 1 SpO2 does not depend on oxygen


@pytest.mark.parametrize(
    ("spo2", "points"),
    [(83, 3), (87, 1), (92, 0), (92.49, 0), (92.5, None), (93, None), (99, None)],
)
def test_scale2_with_unknown_oxygen(spo2: float, points: int | None) -> None:
    obs = replace(NORMAL, spo2=spo2, on_oxygen=None, spo2_scale=SpO2Scale.SCALE_2)
    result = score_news2(obs)
    assert result.score(Parameter.SPO2) == points
    assert (Parameter.SPO2 in result.missing) == (points is None)
    _, scores, _, _, _ = batch_of(obs)
    assert scores[1] == (MISSING_SCORE if points is None else points)


def test_stale_parameter_is_missing() -> None:
    obs = replace(NORMAL, temperature=34.0, stale=frozenset({Parameter.TEMPERATURE}))
    result = score_news2(obs)
    assert result.stale == (Parameter.TEMPERATURE,)
    assert result.missing == (Parameter.TEMPERATURE,)
    assert result.total == 0
    assert result.partial
    assert batch_of(obs)[3][6] is True


def test_stale_parameters_helper() -> None:
    ages = {Parameter.TEMPERATURE: 3601.0, Parameter.PULSE: 5.0, Parameter.SPO2: NAN}
    assert stale_parameters(ages) == {Parameter.TEMPERATURE, Parameter.SPO2}
    assert stale_parameters(ages, {Parameter.PULSE: 1.0}) == {Parameter.PULSE}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("spo2", 100.5),
        ("spo2", -1.0),
        ("pulse", math.inf),
        ("temperature", -0.1),
        ("respiration_rate", Decimal("Infinity")),
    ],
)
def test_impossible_values_are_invalid(field: str, value: float) -> None:
    result = score_news2(with_field(NORMAL, field, value))
    parameter = Parameter(field)
    assert result.invalid == (parameter,)
    assert result.missing == (parameter,)
    assert result.partial


def test_batch_invalid_codes_and_scale() -> None:
    b = score_news2_batch(16, 97, [0, 1, 2, 0.5], 120, 70, [0, 4, 5, 1.5], 37.0)
    assert b.invalid[:, 2].tolist() == [False, False, True, True]
    assert b.invalid[:, 5].tolist() == [False, False, True, True]
    assert b.total.tolist() == [0, 5, 0, 0]
    with pytest.raises(ValueError, match="spo2_scale"):
        score_news2_batch(16, 97, 0, 120, 70, 0, 37.0, spo2_scale=3)
    with pytest.raises(ValueError, match="different lengths"):
        score_news2_batch([16, 17], [97, 98, 99], 0, 120, 70, 0, 37.0)


def test_batch_broadcasts_scalars() -> None:
    b = score_news2_batch([8, 16, 25], 97, 0, 120, 70, 0, 37.0)
    assert b.total.tolist() == [3, 0, 3]
    assert b.risk.dtype == np.int8
    assert b.risk_labels() == ["low-medium", "low", "low-medium"]
    assert not b.partial.any()
