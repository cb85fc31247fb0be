"""Trend: weighted least squares over time bins, checked against a direct scalar fit."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_models.trend import TrendState, staleness, trend_estimate, trend_update


def fit(state: TrendState, samples: list[tuple[int, int, float, float]]) -> TrendState:
    a = np.array(samples, dtype=np.float64).reshape(-1, 4)
    return trend_update(state, a[:, 0].astype(np.intp), a[:, 1].astype(np.intp), a[:, 2], a[:, 3])


def reference(
    points: list[tuple[float, float]], bin_s: float, bins: int, now: float
) -> tuple[float, float]:
    """Bin means at mean sample times, WLS with weights = samples per bin, via lstsq."""
    groups: dict[int, list[tuple[float, float]]] = {}
    for t, x in points:
        groups.setdefault(math.floor(t / bin_s), []).append((t, x))
    now_bin = math.floor(now / bin_s)
    keep = {b: g for b, g in groups.items() if now_bin - bins < b <= now_bin}
    if len(keep) < 3:
        return math.nan, math.nan
    tb = np.array([np.mean([p[0] for p in g]) for g in keep.values()])
    xb = np.array([np.mean([p[1] for p in g]) for g in keep.values()])
    w = np.array([len(g) for g in keep.values()], dtype=float)
    design = np.column_stack([np.ones_like(tb), tb - now]) * np.sqrt(w)[:, None]
    coef, *_ = np.linalg.lstsq(design, xb * np.sqrt(w), rcond=None)
    resid = xb - (coef[0] + coef[1] * (tb - now))
    sigma2 = float((w * resid**2).sum()) / (len(keep) - 2)
    tw = (w * tb).sum() / w.sum()
    se = math.sqrt(sigma2 / float((w * (tb - tw) ** 2).sum()))
    return float(coef[1]) * 3600, se * 3600


def test_a_straight_line_gives_its_slope_per_hour_and_zero_error() -> None:
    # SpO2 falling 6 % per hour, one sample every 7 s (irregular against 60 s bins)
    state = TrendState.empty(1, 2, bins=30, bin_s=60.0)
    samples = [(0, 1, float(t), 98.0 - 6.0 * t / 3600) for t in range(0, 1800, 7)]
    est = trend_estimate(fit(state, samples), 1799.0)
    assert abs(est.slope_per_h[0, 1] - (-6.0)) < 1e-9
    assert est.se_per_h[0, 1] < 1e-6
    assert math.isnan(est.slope_per_h[0, 0])  # no data in that cell


def test_fewer_than_three_bins_give_no_trend_and_old_bins_leave_the_window() -> None:
    state = TrendState.empty(1, 1, bins=5, bin_s=60.0)
    state = fit(state, [(0, 0, 10.0, 1.0), (0, 0, 70.0, 2.0)])
    assert math.isnan(trend_estimate(state, 100.0).slope_per_h[0, 0])
    state = fit(state, [(0, 0, 130.0, 3.0)])
    assert abs(trend_estimate(state, 130.0).slope_per_h[0, 0] - 60.0) < 1e-9  # 1 per minute
    # 5 bins of 60 s: at t = 350 the bin of t = 10 has left the window, two remain
    assert trend_estimate(state, 350.0).bins[0, 0] == 2


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(0, 2000, allow_nan=False), st.floats(-50, 50, allow_nan=False)),
        min_size=1,
        max_size=60,
    ),
    st.floats(0, 2500),
)
def test_vectorised_estimate_matches_a_scalar_weighted_fit(
    points: list[tuple[float, float]], now: float
) -> None:
    now = max(now, max(t for t, _ in points))
    state = fit(TrendState.empty(2, 1, bins=10, bin_s=120.0), [(1, 0, t, x) for t, x in points])
    est = trend_estimate(state, now)
    slope, se = reference(points, 120.0, 10, now)
    got_slope, got_se = est.slope_per_h[1, 0], est.se_per_h[1, 0]
    if math.isnan(slope):
        assert math.isnan(got_slope)
        return
    assert math.isclose(got_slope, slope, rel_tol=1e-6, abs_tol=1e-6)
    assert math.isclose(got_se, se, rel_tol=1e-6, abs_tol=1e-6)
    assert math.isnan(est.slope_per_h[0, 0])


def test_state_round_trips_bit_for_bit() -> None:
    state = fit(TrendState.empty(2, 3), [(1, 2, 5.5, 97.25), (0, 0, 65.0, -1.0)])
    back = TrendState.from_dict(state.to_dict())
    for name in ("bin_no", "n", "sum_dt", "sum_x"):
        assert getattr(back, name).tobytes() == getattr(state, name).tobytes()


def test_staleness_per_cell() -> None:
    last = np.array([[0.0, 50.0, np.nan]])
    age, stale = staleness(last, 100.0, np.array([60.0, 60.0, 60.0]))
    assert age[0, 0] == 100.0 and stale.tolist() == [[True, False, True]]
