"""Time-aware EWMA: matches the scalar recurrence, order-independent, vectorised."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from edge_models.ewma import EwmaState, ewma_step


def scalar_ewma(samples: list[tuple[float, float]], tau: float) -> float:
    s = math.nan
    last = math.nan
    for t, x in sorted(samples, key=lambda s: s[0]):  # ties keep arrival order
        if math.isnan(s):
            s, last = x, t
            continue
        if t < last:
            continue
        s += (1 - math.exp(-(t - last) / tau)) * (x - s)
        last = t
    return s


def test_first_sample_is_taken_as_is_and_a_long_gap_counts_almost_fully() -> None:
    st0 = EwmaState.empty(1, 1)
    idx = np.array([0])
    s1 = ewma_step(st0, 10.0, idx, idx, np.array([0.0]), np.array([90.0]))
    assert s1.smoothed[0, 0] == 90.0
    s2 = ewma_step(s1, 10.0, idx, idx, np.array([1000.0]), np.array([80.0]))
    assert abs(s2.smoothed[0, 0] - 80.0) < 1e-9
    s3 = ewma_step(s1, 10.0, idx, idx, np.array([1.0]), np.array([80.0]))
    assert abs(s3.smoothed[0, 0] - (90 - 10 * (1 - math.exp(-0.1)))) < 1e-12


@given(
    st.lists(
        st.tuples(st.integers(0, 2), st.integers(0, 1), st.floats(0, 1e4), st.floats(-500, 500)),
        min_size=1,
        max_size=60,
    )
)
def test_vectorised_step_equals_scalar_recurrence_per_cell(
    samples: list[tuple[int, int, float, float]],
) -> None:
    p = np.array([s[0] for s in samples], dtype=np.intp)
    v = np.array([s[1] for s in samples], dtype=np.intp)
    t = np.array([s[2] for s in samples])
    x = np.array([s[3] for s in samples])
    out = ewma_step(EwmaState.empty(3, 2), 30.0, p, v, t, x)
    for pi in range(3):
        for vi in range(2):
            cell = [(s[2], s[3]) for s in samples if s[0] == pi and s[1] == vi]
            expected = scalar_ewma(cell, 30.0) if cell else math.nan
            got = out.smoothed[pi, vi]
            if math.isnan(expected):
                assert math.isnan(got)
            else:
                assert abs(got - expected) <= 1e-9 * max(1.0, abs(expected))


def test_state_round_trips_through_a_dict() -> None:
    idx = np.array([0, 1], dtype=np.intp)
    s = ewma_step(EwmaState.empty(2, 2), 5.0, idx, idx, np.array([1.0, 2.0]), np.array([3.0, 4.0]))
    back = EwmaState.from_dict(s.to_dict())
    np.testing.assert_array_equal(back.smoothed, s.smoothed)
    np.testing.assert_array_equal(back.last_t, s.last_t)
