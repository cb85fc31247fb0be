"""Alarm engine behaviour: condition delay, hysteresis, latching, technical alarms, quality."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pytest

from edge_models.alarms import (
    AlarmState,
    Limit,
    Phase,
    Side,
    TechnicalLimit,
    acknowledge,
    build_config,
    initial_state,
    step,
    valid_from_quality,
)
from gateway.model import Alarm, AlarmKind, AlarmPriority, Quality, ReceiveTime

NAN = float("nan")


def spo2_low(**kw: object) -> Limit:
    settings: dict[str, object] = {
        "onset_delay_s": 10.0,
        "clear_delay_s": 0.0,
        "hysteresis": 0.0,
        "latching": False,
    }
    settings.update(kw)
    return Limit("spo2", Side.LOW, 90.0, AlarmPriority.MEDIUM, **settings)  # type: ignore[arg-type]


def one_patient(limit: Limit) -> AlarmState:
    return initial_state(build_config(["bed1"], ["spo2"], {"bed1": [limit]}))


def feed(
    state: AlarmState, samples: Iterable[tuple[float, float, bool]]
) -> tuple[AlarmState, list[Alarm]]:
    """Feed (t, spo2, valid) samples of one patient; return the final state and all records."""
    out: list[Alarm] = []
    for t, value, valid in samples:
        state, events = step(state, t, [[value]], [[valid]])
        out.extend(events)
    return state, out


def series(
    values: Sequence[float], t0: float = 0.0, dt: float = 1.0
) -> list[tuple[float, float, bool]]:
    return [(t0 + i * dt, v, True) for i, v in enumerate(values)]


def starts(events: Sequence[Alarm]) -> list[float]:
    return [e.start_ns / 1e9 for e in events if e.end_ns is None]


def ends(events: Sequence[Alarm]) -> list[float]:
    return [e.end_ns / 1e9 for e in events if e.end_ns is not None]


# --- Condition delay -------------------------------------------------------------------------


def test_delay_suppresses_short_excursion() -> None:
    # 9 s below the limit (t = 5..13) with a 10 s condition delay: no alarm.
    values = [95.0] * 5 + [85.0] * 9 + [95.0] * 10
    state, events = feed(one_patient(spo2_low()), series(values))
    assert events == []
    assert state.phase("bed1", "spo2.low") is Phase.NORMAL


def test_sustained_violation_starts_after_delay() -> None:
    # Below from t = 5; the alarm starts when 10 s have passed, at t = 15.
    values = [95.0] * 5 + [85.0] * 20
    state, events = feed(one_patient(spo2_low()), series(values))
    assert starts(events) == [15.0]
    assert ends(events) == []
    assert state.phase("bed1", "spo2.low") is Phase.ACTIVE


def test_delay_measured_on_uneven_sample_times() -> None:
    samples = [(0.1 * i, 85.0, True) for i in range(1, 120)]  # 0.1 s steps from t = 0.1
    _, events = feed(one_patient(spo2_low()), samples)
    assert len(starts(events)) == 1
    assert starts(events)[0] == pytest.approx(10.1)


def test_zero_delay_starts_on_first_violation() -> None:
    _, events = feed(one_patient(spo2_low(onset_delay_s=0.0)), series([95, 89.9]))
    assert starts(events) == [1.0]


def test_value_at_limit_is_not_a_violation() -> None:
    _, events = feed(one_patient(spo2_low(onset_delay_s=0.0)), series([90.0] * 5))
    assert events == []


def test_invalid_sample_restarts_the_delay() -> None:
    samples = series([85.0] * 8)  # t = 0..7 violating
    samples += [(8.0, 85.0, False)]  # quality gate: not valid
    samples += series([85.0] * 12, t0=9.0)  # t = 9..20 violating again
    _, events = feed(one_patient(spo2_low()), samples)
    assert starts(events) == [19.0]  # 10 s after the restart at t = 9


# --- Hysteresis and clear delay --------------------------------------------------------------


def oscillation(n: int) -> list[float]:
    return [89.5 if i % 2 == 0 else 90.5 for i in range(n)]


def test_without_hysteresis_a_value_around_the_limit_chatters() -> None:
    limit = spo2_low(onset_delay_s=0.0, clear_delay_s=0.0, hysteresis=0.0)
    _, events = feed(one_patient(limit), series(oscillation(20)))
    assert len(starts(events)) == 10  # the failure mode hysteresis exists for
    assert len(ends(events)) == 10


def test_hysteresis_prevents_chattering() -> None:
    limit = spo2_low(onset_delay_s=0.0, clear_delay_s=0.0, hysteresis=1.0)
    state, events = feed(one_patient(limit), series(oscillation(20)))
    assert starts(events) == [0.0]
    assert ends(events) == []
    # Back inside by the margin (>= 91): the alarm ends.
    state, more = feed(state, series([91.0], t0=20.0))
    assert ends(more) == [20.0]
    assert more[0].alarm_id == events[0].alarm_id


def test_inside_the_dead_band_keeps_the_alarm() -> None:
    limit = spo2_low(onset_delay_s=0.0, clear_delay_s=0.0, hysteresis=2.0)
    state, events = feed(one_patient(limit), series([85.0, 91.9, 91.0, 90.0]))
    assert (len(starts(events)), ends(events)) == (1, [])
    assert state.phase("bed1", "spo2.low") is Phase.ACTIVE


def test_clear_delay_prevents_chattering() -> None:
    limit = spo2_low(onset_delay_s=0.0, clear_delay_s=5.0, hysteresis=0.0)
    # Inside for 3 s at a time, then back below: one alarm that never ends.
    values = [85.0] + ([95.0] * 3 + [85.0]) * 5
    state, events = feed(one_patient(limit), series(values))
    assert starts(events) == [0.0]
    assert ends(events) == []
    # Inside for 5 s: it ends when the clear delay has passed (inside from t = 21).
    _, more = feed(state, series([95.0] * 6, t0=21.0))
    assert ends(more) == [26.0]


def test_invalid_samples_do_not_end_an_alarm() -> None:
    limit = spo2_low(onset_delay_s=0.0, clear_delay_s=2.0)
    samples = series([85.0, 95.0])  # t = 0 start, t = 1 inside
    samples += [(2.0, 95.0, False), (3.0, NAN, True)]  # no valid data
    samples += series([95.0, 95.0, 95.0], t0=4.0)  # inside again from t = 4
    _, events = feed(one_patient(limit), samples)
    assert starts(events) == [0.0]
    assert ends(events) == [6.0]


# --- Latching and acknowledgement ------------------------------------------------------------


def test_latched_alarm_stays_until_acknowledged() -> None:
    limit = spo2_low(onset_delay_s=0.0, latching=True)
    state, events = feed(one_patient(limit), series([85.0, 95.0, 95.0, 95.0]))
    assert starts(events) == [0.0]
    assert ends(events) == []
    assert state.phase("bed1", "spo2.low") is Phase.LATCHED
    state, acked = acknowledge(state, 10.0, "bed1", "spo2.low")
    assert ends(acked) == [10.0]
    assert acked[0].alarm_id == events[0].alarm_id
    assert state.phase("bed1", "spo2.low") is Phase.NORMAL


def test_non_latching_alarm_ends_by_itself() -> None:
    state, events = feed(one_patient(spo2_low(onset_delay_s=0.0)), series([85.0, 95.0]))
    assert ends(events) == [1.0]
    assert state.phase("bed1", "spo2.low") is Phase.NORMAL


def test_acknowledged_while_active_ends_when_condition_clears() -> None:
    limit = spo2_low(onset_delay_s=0.0, latching=True)
    state, _ = feed(one_patient(limit), series([85.0, 84.0]))
    state, acked = acknowledge(state, 1.5, "bed1")
    assert acked == ()
    assert state.phase("bed1", "spo2.low") is Phase.ACTIVE
    _, more = feed(state, series([95.0], t0=2.0))
    assert ends(more) == [2.0]


def test_latched_alarm_resumes_on_new_violation() -> None:
    limit = spo2_low(onset_delay_s=5.0, latching=True)
    values = [85.0] * 6 + [95.0] + [85.0]
    state, events = feed(one_patient(limit), series(values))
    assert starts(events) == [5.0]  # the latched alarm continues, no second start
    assert state.phase("bed1", "spo2.low") is Phase.ACTIVE


def test_new_alarm_after_acknowledgement_latches_again() -> None:
    limit = spo2_low(onset_delay_s=0.0, latching=True)
    state, _ = feed(one_patient(limit), series([85.0, 95.0]))
    state, _ = acknowledge(state, 2.0, "bed1")
    state, events = feed(state, series([85.0, 95.0], t0=3.0))
    assert starts(events) == [3.0]
    assert state.phase("bed1", "spo2.low") is Phase.LATCHED


# --- Records ---------------------------------------------------------------------------------


def test_records_carry_priority_condition_and_values() -> None:
    limit = spo2_low(onset_delay_s=2.0)
    received = ReceiveTime(wall_ns=123, mono_ns=456)
    state = one_patient(limit)
    for t, v in [(0.0, 88.0), (1.0, 86.0), (2.0, 87.0)]:
        state, events = step(state, t, [[v]], [[True]], received=received)
    (start,) = events
    assert start.priority is AlarmPriority.MEDIUM
    assert start.alarm_kind is AlarmKind.PHYSIOLOGICAL
    assert start.patient_id == "bed1"
    assert start.stream_id == "bed1.alarms"
    assert start.start_ns == 2_000_000_000
    assert start.end_ns is None
    assert start.received == received
    assert "spo2" in start.condition
    assert "90" in start.condition
    assert dict(start.values) == {"spo2": 87.0, "limit": 90.0, "worst": 86.0}
    state, (end,) = step(state, 3.0, [[96.0]], [[True]])
    assert (end.alarm_id, end.start_ns, end.end_ns) == (start.alarm_id, start.start_ns, 3 * 10**9)
    assert dict(end.values)["spo2"] == 96.0
    assert end.received == ReceiveTime(3 * 10**9, 3 * 10**9)


def test_high_limits_and_levels_per_patient() -> None:
    hr_high = Limit("hr", Side.HIGH, 120.0, AlarmPriority.MEDIUM, onset_delay_s=10.0)
    hr_extreme = Limit(
        "hr", Side.HIGH, 180.0, AlarmPriority.HIGH, onset_delay_s=2.0, level=1, clear_delay_s=0
    )
    cfg = build_config(
        ["bed1", "bed2"],
        ["spo2", "hr"],
        {"bed1": [hr_high, hr_extreme], "bed2": [hr_high]},
        technical=(),
    )
    assert cfg.physiological.keys == ("hr.high", "hr.high.1")
    state = initial_state(cfg)
    out: list[Alarm] = []
    for t in range(4):
        state, events = step(state, float(t), [[97, 190], [97, 190]], np.ones((2, 2), bool))
        out.extend(events)
    # Only bed1 has the extreme limit: HIGH priority after 2 s; the 10 s limits still wait.
    assert [(a.patient_id, a.priority, a.start_ns) for a in out] == [
        ("bed1", AlarmPriority.HIGH, 2 * 10**9)
    ]
    assert state.phase("bed2", "hr.high") is Phase.PENDING


def test_patients_are_independent() -> None:
    limits = {p: [spo2_low(onset_delay_s=0.0)] for p in ("a", "b", "c")}
    state = initial_state(build_config(["a", "b", "c"], ["spo2"], limits))
    state, events = step(state, 0.0, [[85.0], [95.0], [80.0]], [[True], [True], [False]])
    assert [e.patient_id for e in events] == ["a"]


# --- Technical alarms and the quality gate ---------------------------------------------------


def test_technical_alarms_are_separate() -> None:
    technical = (
        TechnicalLimit("sensor_off", "sensor off", AlarmPriority.MEDIUM, onset_delay_s=3.0),
        TechnicalLimit("battery_low", "battery low"),
    )
    limit = spo2_low(onset_delay_s=0.0)
    cfg = build_config(["bed1"], ["spo2"], {"bed1": [limit]}, technical)
    state = initial_state(cfg)
    out: list[Alarm] = []
    # Sensor off from t = 0: the SpO2 value is not valid, so no physiological alarm.
    for t in range(5):
        state, events = step(state, float(t), [[0.0]], [[False]], [[True, False]])
        out.extend(events)
    assert [(a.alarm_kind, a.condition, a.priority, a.start_ns) for a in out] == [
        (AlarmKind.TECHNICAL, "sensor off", AlarmPriority.MEDIUM, 3 * 10**9)
    ]
    assert out[0].values == ()
    assert state.phase("bed1", "spo2.low") is Phase.NORMAL
    # No technical news: technical alarms hold; the low SpO2 starts a physiological alarm.
    state, events = step(state, 5.0, [[85.0]], [[True]])
    assert [(a.alarm_kind, a.end_ns) for a in events] == [(AlarmKind.PHYSIOLOGICAL, None)]
    assert state.phase("bed1", "sensor_off") is Phase.ACTIVE
    # Sensor back on, battery low: one technical end, one technical start.
    state, events = step(state, 6.0, [[85.0]], [[True]], [[False, True]])
    assert [(a.condition, a.end_ns is None) for a in events] == [
        ("sensor off", False),
        ("battery low", True),
    ]
    assert all(a.alarm_kind is AlarmKind.TECHNICAL for a in events)
    assert state.phase("bed1", "spo2.low") is Phase.ACTIVE


def test_default_technical_conditions() -> None:
    cfg = build_config(["bed1"], ["spo2"], {})
    assert cfg.technical.keys == ("sensor_off", "device_disconnected", "battery_low")
    assert (cfg.technical.priority == int(AlarmPriority.LOW)).all()
    _, events = step(initial_state(cfg), 0.0, [[NAN]], [[False]], [[False, True, False]])
    assert [(a.condition, a.alarm_kind) for a in events] == [
        ("device disconnected", AlarmKind.TECHNICAL)
    ]


def test_quality_flags_gate_alarms() -> None:
    flags = [
        Quality(0),
        Quality.ARTIFACT,
        Quality.QUESTIONABLE | Quality.OVER_RANGE,
        Quality.DEMO,
        Quality.INVALID,
    ]
    assert valid_from_quality([int(q) for q in flags]).tolist() == [True] + [False] * 4
    assert valid_from_quality([int(Quality.DEMO)], blocking=Quality.INVALID).tolist() == [True]
    state = one_patient(spo2_low(onset_delay_s=0.0))
    valid = valid_from_quality([[int(Quality.ARTIFACT)]])
    state, events = step(state, 0.0, [[70.0]], valid)
    assert events == ()
    state, events = step(state, 1.0, [[70.0]], valid_from_quality([[0]]))
    assert len(events) == 1


# --- Input and configuration errors ----------------------------------------------------------


def test_time_must_not_go_backwards() -> None:
    state, _ = step(one_patient(spo2_low()), 10.0, [[95.0]], [[True]])
    step(state, 10.0, [[95.0]], [[True]])  # equal time is fine
    with pytest.raises(ValueError, match="backwards"):
        step(state, 9.0, [[95.0]], [[True]])
    with pytest.raises(ValueError, match="finite"):
        step(state, NAN, [[95.0]], [[True]])


def test_shapes_are_checked() -> None:
    state = one_patient(spo2_low())
    with pytest.raises(ValueError, match="values"):
        step(state, 0.0, [[95.0, 1.0]], [[True]])
    with pytest.raises(ValueError, match="technical"):
        step(state, 0.0, [[95.0]], [[True]], [[True]])


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        ({"bed1": [Limit("rr", Side.LOW, 8, AlarmPriority.LOW)]}, "unknown vital"),
        ({"bed9": []}, "unknown patients"),
        ({"bed1": [spo2_low(), spo2_low()]}, "twice"),
        ({"bed1": [spo2_low(onset_delay_s=-1.0)]}, "onset_delay_s"),
        ({"bed1": [spo2_low(hysteresis=float("inf"))]}, "hysteresis"),
        ({"bed1": [Limit("spo2", Side.LOW, NAN, AlarmPriority.LOW)]}, "threshold"),
    ],
)
def test_config_errors(limits: dict[str, list[Limit]], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_config(["bed1"], ["spo2"], limits)


def test_unknown_names() -> None:
    state = one_patient(spo2_low())
    with pytest.raises(ValueError, match="unknown patient"):
        acknowledge(state, 0.0, "bed2")
    with pytest.raises(ValueError, match="unknown alarm condition"):
        acknowledge(state, 0.0, "bed1", "hr.high")
    with pytest.raises(ValueError, match="unique"):
        build_config(["a", "a"], ["spo2"], {})
