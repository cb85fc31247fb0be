"""Disagreement between two sources (CUSUM): detection delay, artefacts, hysteresis, real data."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_models.drift import DriftParams, DriftSpec, DriftState, drift_step, reset

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "mimic2wdb-numerics"
SPO2 = DriftSpec(sigma=1.0, shift=3.0)  # k = 1.5, h = 5, clip 4


def run(
    residuals: Sequence[float | None], spec: DriftSpec = SPO2, dt: float = 10.0
) -> tuple[list[int], list[int], DriftState]:
    """Feed one pair; return (starts, ends) as sample indices, and the final state."""
    state = DriftState.empty(1)
    params = DriftParams.of([spec])
    starts: list[int] = []
    ends: list[int] = []
    for i, r in enumerate(residuals):
        valid = np.array([r is not None])
        state, s, e = drift_step(state, params, i * dt, np.array([r or 0.0]), valid)
        if s[0]:
            starts.append(i)
        if e[0]:
            ends.append(i)
    return starts, ends, state


def test_a_four_percent_offset_alarms_on_the_third_sample() -> None:
    # z = 4, k = 1.5: C+ = 2.5, 5.0, 7.5 -> above h = 5 at the third offset sample
    starts, ends, state = run([0.0] * 5 + [4.0] * 10)
    assert starts == [7]
    assert ends == []
    assert state.active[0] == 1
    assert state.since[0] == 50.0  # the change point: the first offset sample
    assert state.offset[0] == 4.0


def test_negative_offsets_alarm_low() -> None:
    starts, _, state = run([0.0] * 3 + [-3.5] * 10)
    # z = -3.5: C- = 2, 4, 6 -> third sample
    assert starts == [5]
    assert state.active[0] == -1 and state.offset[0] == -3.5


def test_single_artefacts_never_alarm() -> None:
    starts, _, _ = run([0.0, 0.0, 60.0, 0.0, 0.0, -60.0, 0.0, 0.0, 45.0, 0.0] * 20)
    assert starts == []


def test_small_offsets_within_tolerance_never_alarm() -> None:
    starts, _, _ = run([1.4] * 500)  # below k * sigma = 1.5: the sum never grows
    assert starts == []


def test_clears_only_after_agreement_held_and_does_not_flap() -> None:
    # offset for 30 samples, then back within shift/2 = 1.5: the EWMA (tau 120 s) must come
    # down and stay down for 300 s (30 samples) before the end
    residuals = [4.0] * 30 + [0.0] * 80
    starts, ends, _ = run(residuals)
    assert starts == [2]
    assert len(ends) == 1
    assert 30 + 30 <= ends[0] <= 30 + 30 + 20
    # chattering around the limit while in alarm: no end, no new start
    starts, ends, _ = run([4.0] * 30 + [4.0, 1.0] * 100)
    assert starts == [2] and ends == []


def test_missing_pairs_pause_the_detector() -> None:
    starts, _, _ = run([4.0, 4.0, None, None, None, 4.0])
    assert starts == [5]


def test_reset_restarts_the_sums() -> None:
    _, _, state = run([4.0, 4.0])
    assert state.pos[0] == 5.0
    state = reset(state, np.array([True]))
    assert state.pos[0] == 0.0 and math.isnan(state.pos_t[0])


def test_state_round_trips_through_json() -> None:
    _, _, state = run([0.0, 4.0, 4.0, 4.0, 1.0])
    again = DriftState.from_dict(json.loads(json.dumps(state.to_dict())))
    for name in ("pos", "neg", "pos_t", "active", "since", "offset", "ewma"):
        np.testing.assert_array_equal(getattr(again, name), getattr(state, name))
    with pytest.raises(ValueError, match="version"):
        DriftState.from_dict({"version": 99})


@settings(max_examples=80, deadline=None)
@given(
    offset=st.floats(3.0, 30.0),
    sign=st.sampled_from([1.0, -1.0]),
    lead=st.integers(0, 40),
    noise=st.lists(st.floats(-0.5, 0.5), min_size=60, max_size=60),
)
def test_detection_within_a_bounded_number_of_samples(
    offset: float, sign: float, lead: int, noise: list[float]
) -> None:
    """Any offset of at least the configured shift alarms within ceil(h / (z - k)) + 1 samples
    (noise up to half a sigma), on the right side, with the change point near the onset."""
    residuals = list(noise[:lead]) + [sign * offset + n for n in noise]
    starts, _, state = run(residuals)
    z = min(offset - 0.5, SPO2.clip * SPO2.sigma) / SPO2.sigma
    bound = math.ceil(SPO2.h / (z - SPO2.k)) + 1
    assert starts and starts[0] - lead < bound
    assert state.active[0] == sign
    assert lead * 10.0 - 30.0 <= state.since[0] <= (lead + bound) * 10.0


def test_real_record_ecg_heart_rate_against_pleth_pulse() -> None:
    """MIMIC-II s00001 (32 h, one value a minute): HR from the ECG against pleth pulse rate.

    Untouched, the two agree (median |difference| 0.6 /min); the only alerts are episodes in
    which the pulse really sits >= 5 /min (k * sigma) off for several minutes. With +12 /min
    added to the pulse from the first clean 20-minute stretch after minute 100, the alert
    comes within 3 minutes.
    """
    with (DATA / "derived_s00001_numerics_per_minute.csv").open() as f:
        rows = list(csv.DictReader(f))
    hr = np.array([float(r["HR_bpm"] or 0) for r in rows])
    pulse = np.array([float(r["PULSE_bpm"] or 0) for r in rows])
    both = (hr > 0) & (pulse > 0)  # 0 = no signal on these monitors
    diff = pulse - hr
    rate = DriftSpec(sigma=3.0, shift=10.0)
    residuals = [float(d) if ok else None for d, ok in zip(diff, both, strict=True)]
    starts, ends, _ = run(residuals, rate, dt=60.0)
    print(f"\ns00001 HR vs pulse: {len(starts)} alerts at minutes {starts}, ends {ends}")
    assert len(starts) <= 3  # in 1,936 minutes
    for i in starts:
        before = [
            abs(d) for d, ok in zip(diff[i - 2 : i + 1], both[i - 2 : i + 1], strict=True) if ok
        ]
        assert len(before) >= 2 and min(before) > 5.0  # a real, sustained disagreement
    onset = next(i for i in range(100, len(rows)) if all(both[i : i + 20]))  # clean stretch
    shifted = [
        None if r is None else (r + 12.0 if i >= onset else r) for i, r in enumerate(residuals)
    ]
    s2, _, _ = run(shifted, rate, dt=60.0)
    assert any(onset <= i <= onset + 2 for i in s2)
