"""Battery time to empty: Theil-Sen by hand, discharge segments, steps of 5/10 %, properties."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_models.battery import (
    BatteryEstimate,
    BatteryState,
    battery_step,
    estimate,
    format_duration,
    theil_sen,
)


def discharge(
    start: float,
    rate_per_min: float,
    minutes: int,
    every_s: float,
    quantum: int,
    phase_s: float = 0.0,
) -> BatteryState:
    """A device reporting floor(true level / quantum) * quantum every ``every_s`` seconds."""
    state = BatteryState()
    t = phase_s
    while t <= minutes * 60:
        true = max(0.0, start - rate_per_min * t / 60.0)
        state = battery_step(state, t, float(quantum * math.floor(true / quantum)))
        t += every_s
    return state


def true_tte_s(start: float, rate_per_min: float, now_s: float) -> float:
    return (start - rate_per_min * now_s / 60.0) / rate_per_min * 60.0


# --- Theil-Sen, by hand ------------------------------------------------------------------------


def test_theil_sen_ignores_one_wild_point() -> None:
    # pairwise slopes of (0,0) (1,1) (2,2) (3,3) (4,40): six are 1, the others 10, 13, 19, 37
    fit = theil_sen(np.arange(5.0), np.array([0.0, 1.0, 2.0, 3.0, 40.0]))
    assert fit is not None
    assert fit.slope == 1.0
    assert fit.intercept == 0.0  # median of y - t = (0, 0, 0, 0, 36)
    assert fit.slope_low <= 1.0 <= fit.slope_high


def test_theil_sen_interval_ranks() -> None:
    # y = t^2 on t = 0..9: 45 distinct pairwise slopes i + j (i < j), sorted.
    # Sen 90 %: c = 1.6449 * sqrt(10 * 9 * 25 / 18) = 18.39; lower rank floor((45 - c)/2) = 13,
    # upper rank ceil((45 + c)/2) + 1 = 33 (1-based) in the sorted slopes.
    t = np.arange(10.0)
    fit = theil_sen(t, t**2)
    assert fit is not None
    slopes = sorted(i + j for i in range(10) for j in range(i + 1, 10))
    assert fit.slope == float(np.median(slopes)) == 9.0
    assert fit.slope_low == slopes[12]
    assert fit.slope_high == slopes[32]


def test_theil_sen_needs_two_distinct_times() -> None:
    assert theil_sen(np.array([1.0]), np.array([3.0])) is None
    assert theil_sen(np.array([1.0, 1.0]), np.array([3.0, 4.0])) is None


# --- estimates ----------------------------------------------------------------------------------


def test_text_in_nurse_words() -> None:
    e = BatteryEstimate(40.0, 40 * 60.0, 30 * 60.0, 55 * 60.0, 60.0)
    assert e.text() == "battery empty in about 40 min (30-55 min)"
    e = BatteryEstimate(40.0, 200 * 60.0, 150 * 60.0, None, 12.0)
    assert e.text() == "battery empty in about 3 h 20 min (2 h 30 min or more)"
    assert format_duration(30.0) == "less than 1 min"
    assert format_duration(61 * 60.0) == "1 h"


def test_linear_discharge_at_one_percent() -> None:
    state = discharge(90.0, 0.5, 60, 60.0, 1)
    e = estimate(state, 3600.0)
    truth = true_tte_s(90.0, 0.5, 3600.0)  # 60 % left at 0.5 %/min: 120 min
    assert e.tte_s is not None and e.tte_low_s is not None and e.tte_high_s is not None
    assert e.tte_low_s <= truth <= e.tte_high_s
    assert abs(e.tte_s - truth) < 3 * 60
    assert e.rate_per_h == pytest.approx(30.0, rel=0.05)


@pytest.mark.parametrize("quantum", [5, 10])
def test_stepped_reports_use_transition_times(quantum: int) -> None:
    state = discharge(100.0, 0.4, 150, 60.0, quantum)
    assert state.quantum == quantum
    now = 150 * 60.0
    e = estimate(state, now)
    truth = true_tte_s(100.0, 0.4, now)
    assert e.tte_s is not None and e.tte_low_s is not None and e.tte_high_s is not None
    assert e.tte_low_s <= truth <= e.tte_high_s
    # the staircase itself (every raw sample) would bias a regression; we are within a step
    assert abs(e.tte_s - truth) <= quantum / 0.4 * 60


def test_charging_starts_a_new_segment() -> None:
    state = discharge(80.0, 1.0, 30, 60.0, 1)
    assert estimate(state, 1800.0).tte_s is not None
    state = battery_step(state, 1860.0, 55.0)  # +5 %: on the charger
    e = estimate(state, 1860.0)
    assert e.tte_s is None and e.reason == "charging"
    state = battery_step(state, 1920.0, 60.0)
    assert estimate(state, 1920.0).reason == "charging"
    state = battery_step(state, 1980.0, 59.0)  # unplugged: the old curve is gone
    e = estimate(state, 1980.0)
    assert e.tte_s is None and e.reason.startswith("too little data")
    assert state.t[0] == 1920.0  # the new segment starts at the last charging report


def test_one_percent_jitter_is_not_charging() -> None:
    state = BatteryState()
    for k, level in enumerate([70, 69, 70, 69, 68, 69, 68, 67, 66, 67, 66, 65, 64, 63]):
        state = battery_step(state, 120.0 * k, float(level))
    assert not state.charging
    e = estimate(state, 120.0 * 13)
    assert e.tte_s is not None
    assert e.rate_per_h is not None and 0 < e.rate_per_h < 20


def test_too_little_data_says_why() -> None:
    state = discharge(50.0, 1.0, 2, 60.0, 1)  # two level changes
    e = estimate(state, 120.0)
    assert e.tte_s is None
    assert e.reason == "too little data: 2 level change(s) in 2 min"
    assert estimate(BatteryState(), 0.0).reason == "no battery report yet"
    flat = BatteryState()
    for k in range(30):
        flat = battery_step(flat, 60.0 * k, 80.0 - (k % 2))  # 80, 79, 80, ...
    assert estimate(flat, 1800.0).reason == "not discharging"


def test_old_and_duplicate_reports_are_ignored() -> None:
    state = discharge(80.0, 1.0, 10, 60.0, 1)
    assert battery_step(state, 300.0, 10.0) == state  # older than the latest
    assert battery_step(state, 600.0, 70.0) == state  # same time as the latest (BLE sends
    # the level twice: as an event and as a measurement)
    assert battery_step(state, 660.0, math.nan) == state


def test_state_round_trips_through_json() -> None:
    state = discharge(100.0, 0.4, 100, 60.0, 5)
    again = BatteryState.from_dict(json.loads(json.dumps(state.to_dict())))
    assert again == state
    assert estimate(again, 6000.0) == estimate(state, 6000.0)


def test_bounded_state() -> None:
    state = discharge(100.0, 0.1, 900, 30.0, 1)  # 15 h, ~90 transitions
    assert len(state.t) <= 48
    assert state.t[-1] - state.t[0] <= 6 * 3600


# --- properties ---------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    rate=st.floats(0.1, 2.0),
    start=st.floats(60.0, 100.0),
    every=st.sampled_from([30.0, 60.0, 120.0]),
    phase=st.floats(0.0, 29.0),
)
def test_five_percent_steps_agree_with_one_percent_within_the_interval(
    rate: float, start: float, every: float, phase: float
) -> None:
    minutes = int((start - 25.0) / rate)  # stop with about 25 % left
    now = minutes * 60.0
    fine = estimate(discharge(start, rate, minutes, every, 1, phase), now)
    coarse = estimate(discharge(start, rate, minutes, every, 5, phase), now)
    truth = true_tte_s(start, rate, now)
    for e in (fine, coarse):
        if e.tte_s is None:
            continue
        assert e.tte_low_s is not None and e.tte_high_s is not None
        assert e.tte_low_s <= truth <= e.tte_high_s
    if fine.tte_s is not None and coarse.tte_s is not None:
        assert coarse.tte_low_s is not None and coarse.tte_high_s is not None
        assert coarse.tte_low_s <= fine.tte_s <= coarse.tte_high_s


@settings(max_examples=60, deadline=None)
@given(
    slow=st.floats(0.2, 1.0),  # 40 % in at most 200 min: inside the 6 h window either way
    factor=st.floats(1.05, 4.0),
    quantum=st.sampled_from([1, 5, 10]),
)
def test_time_to_empty_falls_as_the_discharge_rate_rises(
    slow: float, factor: float, quantum: int
) -> None:
    """The same device draining ``factor`` times faster: the same reports arrive at times
    shrunk by ``factor``, and the estimate (and its interval) shrinks by ``factor`` too."""
    minutes = int(40 / slow) + 1
    levels = [float(quantum * math.floor((90.0 - slow * k) / quantum)) for k in range(minutes)]
    slow_state, fast_state = BatteryState(), BatteryState()
    for k, level in enumerate(levels):
        slow_state = battery_step(slow_state, 60.0 * k, level)
        fast_state = battery_step(fast_state, 60.0 * k / factor, level)
    now = 60.0 * (minutes - 1)
    e_slow = estimate(slow_state, now)
    e_fast = estimate(fast_state, now / factor)
    assert (e_slow.tte_s is None) == (e_fast.tte_s is None)
    if e_slow.tte_s is not None and e_fast.tte_s is not None:
        assert e_fast.tte_s == pytest.approx(e_slow.tte_s / factor, rel=1e-6, abs=1e-6)
        assert e_fast.tte_low_s == pytest.approx(e_slow.tte_low_s / factor, rel=1e-6, abs=1e-6)  # type: ignore[operator]
        assert e_fast.tte_s <= e_slow.tte_s


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(0, 1e6), st.floats(-10, 120) | st.just(math.nan)),
        max_size=60,
    )
)
def test_any_report_sequence_gives_a_sane_estimate(reports: list[tuple[float, float]]) -> None:
    state = BatteryState()
    for t, level in reports:
        state = battery_step(state, t, level)
    now = max((t for t, _ in reports), default=0.0)
    e = estimate(state, now)
    if e.tte_s is None:
        assert e.reason
    else:
        assert e.tte_low_s is not None and 0 <= e.tte_low_s <= e.tte_s
        assert e.tte_high_s is None or e.tte_s <= e.tte_high_s
    assert len(state.t) <= 48
