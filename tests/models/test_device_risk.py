"""Failure risk: range, monotonicity, reasons; alert latches and health state do not flap."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from edge_models.battery import BatteryEstimate
from edge_models.device_risk import (
    Condition,
    Inputs,
    Latch,
    conditions,
    failure_risk,
    health_step,
    latch_step,
    ramp,
)
from edge_models.link import LinkSummary


def link(
    loss: float | None = None,
    drops: int = 0,
    errors: float | None = None,
    rssi: float | None = None,
) -> LinkSummary:
    lo = None if loss is None else max(0.0, loss - 0.02)
    hi = None if loss is None else min(1.0, loss + 0.02)
    return LinkSummary(loss, lo, hi, 300.0, drops, None, errors, 1000.0, rssi, None, None)


def battery(tte_min: float | None, level: float = 50.0) -> BatteryEstimate:
    if tte_min is None:
        return BatteryEstimate(level, reason="too little data: 1 level change(s) in 3 min")
    return BatteryEstimate(level, tte_min * 60, tte_min * 48, tte_min * 72, 10.0)


def test_ramp() -> None:
    assert ramp(5.0, 0.0, 10.0) == 0.5
    assert ramp(-85.0, -80.0, -92.0) == 5 / 12
    assert ramp(100.0, 0.0, 10.0) == 1.0 and ramp(-1.0, 0.0, 10.0) == 0.0


def test_a_healthy_device_scores_zero_without_reasons() -> None:
    r = failure_risk(Inputs(True, battery(None, 90.0), link(0.0, 0, 0.0, -60.0)))
    assert r.score == 0.0 and r.reasons == ()


def test_reasons_are_worst_first_in_words() -> None:
    r = failure_risk(Inputs(True, battery(20.0), link(0.10, 4, None, None)))
    assert r.reasons[0].startswith("battery empty in about")
    assert "connection dropped 4 times in the last hour" in r.reasons
    assert any("readings lost" in x for x in r.reasons)
    assert 0.9 < r.score <= 1.0
    assert failure_risk(Inputs(False, battery(None), link())).reasons == ("not connected",)


@settings(max_examples=200, deadline=None)
@given(
    tte=st.none() | st.floats(1.0, 2000.0),
    worse=st.floats(1.0, 10.0),
    loss=st.floats(0.0, 1.0),
    drops=st.integers(0, 20),
    errors=st.floats(0.0, 200.0),
    rssi=st.floats(-100.0, -40.0),
)
def test_risk_is_in_range_and_grows_when_anything_gets_worse(
    tte: float | None, worse: float, loss: float, drops: int, errors: float, rssi: float
) -> None:
    base = failure_risk(Inputs(True, battery(tte), link(loss, drops, errors, rssi)))
    assert 0.0 <= base.score <= 1.0
    for inputs in (
        Inputs(
            True, battery(None if tte is None else tte / worse), link(loss, drops, errors, rssi)
        ),
        Inputs(True, battery(tte), link(min(1.0, loss * worse), drops, errors, rssi)),
        Inputs(True, battery(tte), link(loss, drops + 1, errors, rssi)),
        Inputs(True, battery(tte), link(loss, drops, errors * worse, rssi)),
        Inputs(True, battery(tte), link(loss, drops, errors, rssi - worse)),
        Inputs(True, battery(tte), link(loss, drops, errors, rssi), ("SpO2 reads 3 % above",)),
        Inputs(False, battery(tte), link(loss, drops, errors, rssi)),
    ):
        assert failure_risk(inputs).score >= base.score - 1e-12


def test_latch_raises_once_and_ends_after_the_clear_delay() -> None:
    on = Condition("x", True, False, "raised text", 1.0)
    neither = Condition("x", False, False, "t")
    off = Condition("x", False, True, "t")
    latch, edge = latch_step(Latch(), 0.0, on, 60.0)
    assert edge == "start" and latch.text == "raised text"
    edges = []
    for t, cond in [(10, on), (20, neither), (30, off), (60, off), (70, on), (80, off), (139, off)]:
        latch, edge = latch_step(latch, float(t), cond, 60.0)
        edges.append(edge)
    assert edges == ["", "", "", "", "", "", ""]
    latch, edge = latch_step(latch, 140.0, off, 60.0)
    assert edge == "end" and not latch.active


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(0.0, 1.0), max_size=200))
def test_health_moves_up_and_down_on_separate_thresholds(scores: list[float]) -> None:
    state = "ok"
    for s in scores:
        new = health_step(state, s)
        if new != state:  # every change crosses its own threshold
            assert (state, new, s) in {
                *((a, "failing", s) for a in ("ok", "degraded") if s >= 0.8),
                *((a, "degraded", s) for a in ("ok",) if s >= 0.5),
                *((a, "degraded", s) for a in ("failing",) if s < 0.6),
                *((a, "ok", s) for a in ("degraded", "failing") if s < 0.3),
            }
        state = new
    # a score wobbling between 0.4 and 0.55 changes the state at most once
    state, changes = "ok", 0
    for s in [0.4, 0.55] * 50:
        new = health_step(state, s)
        changes += new != state
        state = new
    assert changes == 1


def test_battery_condition_keeps_its_alert_through_too_little_data() -> None:
    (cond,) = [c for c in conditions(Inputs(True, battery(None), link())) if c.name == "battery"]
    assert not cond.on and not cond.off  # no estimate: neither raise nor end
    (cond,) = [c for c in conditions(Inputs(True, battery(30.0), link())) if c.name == "battery"]
    assert cond.on and cond.text.startswith("battery empty in about 30 min")
