"""Scenario engine properties (hypothesis) through its CPython path ``hil.scenarios.engine``."""

from __future__ import annotations

import contextlib
import itertools
import math
import struct
from pathlib import Path
from typing import Any

import engine as flat_engine
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hil.scenarios import engine
from hil.scenarios.engine import Scenario

EXAMPLES = settings(max_examples=120, deadline=None)


def base(**extra: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "scenario": {"name": "p", "duration_s": 1000.0, "seed": 5},
        "vitals": {"heart_rate": 80.0, "spo2": 96.0, "systolic": 120.0, "battery": 100.0},
    }
    spec.update(extra)
    return spec


def test_flat_name_is_the_gateway_module() -> None:
    """The firmware's ``engine`` is the file the gateway imports (copied flat to a board)."""
    assert flat_engine is engine
    assert Path(engine.__file__).parent.name == "scenarios"


@EXAMPLES
@given(
    st.floats(min_value=0, max_value=500),
    st.floats(min_value=0, max_value=500),
    st.floats(min_value=0, max_value=250),
    st.floats(min_value=0, max_value=1000),
)
def test_ramp_stays_between_its_ends(start: float, length: float, to: float, t: float) -> None:
    s = Scenario(
        base(ramp=[{"vital": "heart_rate", "start_s": start, "end_s": start + length, "to": to}])
    )
    v = s.value("heart_rate", t)
    assert v is not None
    lo, hi = min(80.0, to), max(80.0, to)
    assert lo - 1e-9 <= v <= hi + 1e-9
    if t < start:
        assert v == 80.0
    if t >= start + length:
        assert v == to


@EXAMPLES
@given(st.integers(min_value=0, max_value=2**31), st.floats(min_value=0, max_value=1e5))
def test_noise_is_a_function_of_seed_vital_and_second(seed: int, t: float) -> None:
    spec = base(noise={"spo2": 1.5, "heart_rate": 3.0})
    spec["scenario"]["seed"] = seed
    a, b = Scenario(spec), Scenario(spec)
    assert a.vitals(t) == b.vitals(t)
    assert a.value("spo2", t) == a.value("spo2", math.floor(t) + 0.999)
    z = engine.unit_normal(seed, "heart_rate", math.floor(t))
    assert a.value("heart_rate", t) == pytest.approx(max(0.0, 80.0 + 3.0 * z))


@EXAMPLES
@given(st.integers(min_value=0, max_value=2**32 - 1), st.text(max_size=12), st.integers())
def test_unit_normal_survives_single_precision(seed: int, vital: str, second: int) -> None:
    """ESP32 floats are 32 bit: the integer part is exact, only the final division rounds."""
    z = engine.unit_normal(seed, vital, second)
    z32 = struct.unpack("<f", struct.pack("<f", z))[0]
    assert abs(z - z32) <= 1e-6
    assert -6.0 <= z <= 6.0


events = st.lists(
    st.one_of(
        st.builds(
            lambda at, n: {"at_s": at, "kind": "corrupt", "count": n},
            st.floats(min_value=0, max_value=1000),
            st.integers(min_value=1, max_value=5),
        ),
        st.builds(
            lambda at, d, tg: {"at_s": at, "kind": "link_drop", "duration_s": d, "target": tg},
            st.floats(min_value=0, max_value=1000),
            st.floats(min_value=0.1, max_value=100),
            st.sampled_from(["all", "ble", "serial"]),
        ),
    ),
    max_size=8,
)


@EXAMPLES
@given(events, st.lists(st.floats(min_value=0, max_value=1200), max_size=6))
def test_events_between_windows_partition_the_timeline(
    evs: list[dict[str, Any]], cuts: list[float]
) -> None:
    s = Scenario(base(event=evs))
    points = [0.0, *sorted(cuts), 2000.0]
    pieces: list[dict[str, Any]] = []
    for a, b in itertools.pairwise(points):
        pieces += s.events_between(a, b)
    assert pieces == s.events_between(0.0, 2000.0)
    assert [e["at_s"] for e in pieces] == sorted(e["at_s"] for e in pieces)
    assert len(pieces) == len(evs)


@EXAMPLES
@given(events, st.floats(min_value=0, max_value=1200))
def test_active_matches_definition(evs: list[dict[str, Any]], t: float) -> None:
    s = Scenario(base(event=evs))
    for target in ("all", "ble", "serial"):
        want = any(
            e["kind"] == "link_drop"
            and (target == "all" or e.get("target", "all") in ("all", target))
            and e["at_s"] <= t < e["at_s"] + e["duration_s"]
            for e in evs
        )
        assert s.active("link_drop", t, target) == want


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
keys = st.sampled_from(["scenario", "vitals", "noise", "ramp", "event", "expect"])


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(keys, json_values, max_size=6))
def test_fuzz_bad_specs_raise_only_value_error(spec: dict[str, Any]) -> None:
    with contextlib.suppress(ValueError):
        Scenario(spec)


@settings(max_examples=100, deadline=None)
@given(
    st.fixed_dictionaries(
        {
            "at_s": json_values,
            "kind": st.sampled_from(list(engine.EVENT_KINDS)),
        },
        optional={
            "duration_s": json_values,
            "count": json_values,
            "to": json_values,
            "over_s": json_values,
            "vital": json_values,
            "rate_per_h": json_values,
            "error_rate": json_values,
            "target": json_values,
        },
    )
)
def test_fuzz_events_raise_only_value_error(event: dict[str, Any]) -> None:
    try:
        Scenario(base(event=[event]))
    except ValueError as exc:
        message = str(exc)
    else:
        return
    assert message.startswith("event[0]")
