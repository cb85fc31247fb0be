"""Alarm state: serialisation round trip, restart determinism, purity, and a scalar reference."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_models.alarms import (
    AlarmState,
    Limit,
    Side,
    TechnicalLimit,
    acknowledge,
    build_config,
    initial_state,
    step,
)
from gateway.model import Alarm, AlarmPriority

PATIENTS = ["bed1", "bed2", "bed3"]
VITALS = ["spo2", "hr"]


@dataclass(frozen=True)
class Cell:
    """Settings of one low or high limit, shared by the engine and the reference model."""

    side: Side
    threshold: float
    onset: float
    clear: float
    hysteresis: float
    latching: bool


cells = st.builds(
    Cell,
    st.sampled_from(list(Side)),
    st.sampled_from([90.0, 100.0]),
    st.sampled_from([0.0, 1.0, 2.5, 5.0]),
    st.sampled_from([0.0, 1.0, 3.0]),
    st.sampled_from([0.0, 1.0, 4.0]),
    st.booleans(),
)
# One sample per tick: (dt, values per patient x vital, valid per patient x vital).
ticks = st.tuples(
    st.sampled_from([0.0, 0.5, 1.0, 2.0]),
    st.lists(
        st.sampled_from([80.0, 89.5, 90.0, 91.0, 95.0, 99.0, 101.0, 110.0]), min_size=6, max_size=6
    ),
    st.lists(st.booleans().map(lambda b: b or None), min_size=6, max_size=6),
)


def limits_for(cell_list: list[Cell]) -> dict[str, list[Limit]]:
    """Cell i belongs to patient i // 2, vital i % 2."""
    out: dict[str, list[Limit]] = {p: [] for p in PATIENTS}
    for i, c in enumerate(cell_list):
        out[PATIENTS[i // 2]].append(
            Limit(
                VITALS[i % 2],
                c.side,
                c.threshold,
                AlarmPriority.MEDIUM,
                c.onset,
                c.clear,
                c.hysteresis,
                c.latching,
            )
        )
    return out


def run(
    state: AlarmState, tick_list: list[tuple[float, list[float], list[bool | None]]], t0: float
) -> tuple[AlarmState, list[Alarm], float]:
    t = t0
    out: list[Alarm] = []
    for dt, vals, valid in tick_list:
        t += dt
        v = np.array(vals).reshape(3, 2)
        m = np.array([bool(x) for x in valid]).reshape(3, 2)
        n_tech = len(state.config.technical.keys)
        flags = (v[:, :1] < 85.0) & np.ones((3, n_tech), bool)  # sensor trouble at very low SpO2
        state, events = step(state, t, v, m, flags if dt > 0 else None)
        out.extend(events)
    return state, out, t


def reference(cell: Cell, samples: list[tuple[float, float, bool]]) -> list[tuple[str, float]]:
    """One cell, one sample at a time, written from the life cycle in the module docstring."""
    eps = 1e-6
    phase, since, out = "normal", 0.0, []
    for t, x, ok in samples:
        low = cell.side is Side.LOW
        violated = ok and (x < cell.threshold if low else x > cell.threshold)
        inside = ok and (
            x >= cell.threshold + cell.hysteresis if low else x <= cell.threshold - cell.hysteresis
        )
        if phase == "normal" and violated:
            phase, since = "pending", t
        if phase == "pending":
            if not violated:
                phase = "normal"
            elif t - since + eps >= cell.onset:
                phase = "active"
                out.append(("start", t))
        if phase == "latched" and violated:
            phase = "active"
        if phase == "active" and inside:
            phase, since = "clearing", t
        if phase == "clearing":
            if not inside:
                phase = "active"
            elif t - since + eps >= cell.clear:
                phase = "latched" if cell.latching else "normal"
                if not cell.latching:
                    out.append(("end", t))
    return out


@settings(max_examples=120, deadline=None)
@given(st.lists(cells, min_size=6, max_size=6), st.lists(ticks, min_size=1, max_size=40))
def test_vectorised_grid_matches_scalar_reference(
    cell_list: list[Cell], tick_list: list[tuple[float, list[float], list[bool | None]]]
) -> None:
    cfg = build_config(PATIENTS, VITALS, limits_for(cell_list), technical=())
    _, events, _ = run(initial_state(cfg), tick_list, 0.0)
    for i, cell in enumerate(cell_list):
        patient, vital = PATIENTS[i // 2], VITALS[i % 2]
        samples, t = [], 0.0
        for dt, vals, valid in tick_list:
            t += dt
            samples.append((t, vals[i], bool(valid[i])))
        got = [
            ("start" if e.end_ns is None else "end", (e.end_ns or e.start_ns) / 1e9)
            for e in events
            if e.patient_id == patient and e.values[0][0] == vital
        ]
        assert got == reference(cell, samples)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(cells, min_size=6, max_size=6),
    st.lists(ticks, min_size=2, max_size=30),
    st.integers(0, 29),
)
def test_restart_from_serialised_state_is_deterministic(
    cell_list: list[Cell],
    tick_list: list[tuple[float, list[float], list[bool | None]]],
    split: int,
) -> None:
    cfg = build_config(PATIENTS, VITALS, limits_for(cell_list))
    first, rest = tick_list[: split % len(tick_list)], tick_list[split % len(tick_list) :]
    straight_state, straight_events, _ = run(initial_state(cfg), tick_list, 1000.0)

    mid_state, early_events, t_mid = run(initial_state(cfg), first, 1000.0)
    restored = AlarmState.from_bytes(mid_state.to_bytes())
    assert restored.to_bytes() == mid_state.to_bytes()
    via_dict = AlarmState.from_dict(json.loads(json.dumps(mid_state.to_dict())))
    assert via_dict.to_bytes() == mid_state.to_bytes()
    end_state, late_events, _ = run(restored, rest, t_mid)

    assert early_events + late_events == straight_events
    assert end_state.to_bytes() == straight_state.to_bytes()


def test_round_trip_keeps_latched_and_acknowledged_state() -> None:
    limit = Limit("spo2", Side.LOW, 90.0, AlarmPriority.HIGH, 0.0, 0.0, 1.0, latching=True)
    tech = (TechnicalLimit("sensor_off", "sensor off", latching=True),)
    cfg = build_config(["bed1"], ["spo2"], {"bed1": [limit]}, tech)
    state = initial_state(cfg)
    state, _ = step(state, 1.0, [[85.0]], [[True]], [[True]])
    state, _ = step(state, 2.0, [[95.0]], [[True]], [[False]])
    state, _ = acknowledge(state, 3.0, "bed1", "sensor_off")
    restored = AlarmState.from_bytes(state.to_bytes())
    assert restored.to_bytes() == state.to_bytes()
    _, a = acknowledge(state, 4.0, "bed1")
    _, b = acknowledge(restored, 4.0, "bed1")
    assert a == b
    assert len(a) == 1
    assert a[0].priority is AlarmPriority.HIGH


def test_step_does_not_change_its_input_state() -> None:
    limit = Limit("spo2", Side.LOW, 90.0, AlarmPriority.LOW, 0.0)
    state = initial_state(build_config(["bed1"], ["spo2"], {"bed1": [limit]}))
    before = state.to_bytes()
    new, events = step(state, 0.0, [[80.0]], [[True]])
    assert len(events) == 1
    assert state.to_bytes() == before
    assert new.to_bytes() != before
    with pytest.raises(ValueError, match="read-only"):
        new.physiological.phase[0, 0] = 0


def test_serialised_form_is_plain_json() -> None:
    state = initial_state(build_config(["bed1"], ["spo2"], {}))
    data = json.loads(state.to_bytes())
    assert data["format"] == 1
    assert data["t_s"] is None
    with pytest.raises(ValueError, match="format"):
        AlarmState.from_dict({**data, "format": 99})
    state, _ = step(state, 5.5, [[math.nan]], [[False]])
    assert json.loads(state.to_bytes())["t_s"] == 5.5
