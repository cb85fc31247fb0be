"""Link quality: lost readings from stream gaps, Wilson interval, counters, reconnects, RSSI."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_models.link import (
    FloatArray,
    LinkState,
    StreamGaps,
    add_counters,
    add_drop,
    add_readings,
    add_rssi,
    stream_gaps,
    summary,
    wilson,
)


def feed(
    times: list[float], stream: int = 0, state: StreamGaps | None = None
) -> tuple[StreamGaps, FloatArray, FloatArray]:
    state = state or StreamGaps.empty()
    s = np.full(len(times), stream, np.intp)
    return stream_gaps(state, s, np.array(times, dtype=np.float64))


def test_a_one_hertz_stream_missing_three_readings() -> None:
    # 12 readings 1 s apart (period learned), then 16 s: readings 13, 14, 15 never came
    state, received, missed = feed([float(k) for k in range(12)] + [15.0, 16.0])
    assert received.sum() == 14
    assert missed.tolist() == [0.0] * 12 + [3.0, 0.0]
    assert state.period[0] == pytest.approx(1.0)


def test_outages_and_bursts_are_not_lost_readings() -> None:
    times = [float(k) for k in range(12)] + [11.0 + 120.0]  # 2 min silence: an outage
    _, _, missed = feed(times)
    assert missed.sum() == 0
    burst = [k * 0.01 for k in range(20)] + [5.0]  # stored records: no period to miss
    _, _, missed = feed(burst)
    assert missed.sum() == 0


def test_late_readings_are_ignored() -> None:
    state, _, _ = feed([float(k) for k in range(12)])
    _, received, missed = feed([5.0], state=state)
    assert received.tolist() == [0.0] and missed.tolist() == [0.0]


@settings(max_examples=60, deadline=None)
@given(
    dropped=st.sets(st.integers(12, 199), max_size=50),  # no run reaches an outage
    cuts=st.lists(st.integers(1, 199), max_size=30),
    streams=st.integers(1, 3),
)
def test_every_dropped_reading_is_counted_whatever_the_batches(
    dropped: set[int], cuts: list[int], streams: int
) -> None:
    """Regular 1 Hz streams with readings dropped after the learning window: the total
    missed equals the number dropped before the last received reading, for any batching."""
    kept = [k for k in range(200) if k not in dropped]
    rows = [(s, float(k) + 0.1 * s) for k in kept for s in range(streams)]
    bounds = sorted({0, len(rows), *[min(c * streams, len(rows)) for c in cuts]})
    state = StreamGaps.empty()
    total = 0.0
    for a, b in itertools.pairwise(bounds):
        chunk = rows[a:b]
        s = np.array([r[0] for r in chunk], np.intp)
        t = np.array([r[1] for r in chunk])
        state, _, missed = stream_gaps(state, s, t)
        total += missed.sum()
    expected = sum(1 for k in dropped if k < kept[-1])
    assert total == expected * streams


def test_wilson_interval_known_values() -> None:
    low, high = wilson(5, 100, 1.96)  # textbook: 5/100 -> (0.0215, 0.1118)
    assert low == pytest.approx(0.0215, abs=1e-4)
    assert high == pytest.approx(0.1118, abs=1e-4)
    assert wilson(0, 0, 1.96) == (0.0, 1.0)


def test_loss_rate_and_its_interval() -> None:
    link = LinkState()
    for k in range(300):
        link = add_readings(link, float(k), 1.0, 1.0 if k % 10 == 0 else 0.0)  # 30 of 330
    s = summary(link, 300.0)
    assert s.loss is not None and s.loss_low is not None and s.loss_high is not None
    assert s.loss == pytest.approx(30 / 330, rel=0.1)
    assert s.loss_low < s.loss < s.loss_high


def test_serial_error_rate_from_cumulative_counters() -> None:
    link = LinkState()
    link = add_counters(link, 0.0, 1000, 3)  # baseline
    link = add_counters(link, 10.0, 2000, 8)  # +1000 frames, +5 errors
    s = summary(link, 10.0)
    assert s.errors_per_1000 == pytest.approx(1000 * 5 / 1005, rel=0.01)
    link = add_counters(link, 20.0, 10, 0)  # driver restarted: counters reset, new baseline
    link = add_counters(link, 30.0, 1010, 0)
    assert summary(link, 30.0).errors_per_1000 is not None
    assert summary(link, 30.0).errors_per_1000 < s.errors_per_1000  # type: ignore[operator]


def test_reconnects_per_hour() -> None:
    link = LinkState()
    for t in (0.0, 600.0, 1200.0, 1800.0, 4000.0):
        link = add_drop(link, t)
    s = summary(link, 4000.0)
    assert s.drops_last_hour == 4  # 600, 1200, 1800, 4000 (0 is older than an hour)
    assert s.drops_per_hour == pytest.approx(5 / (4000 / 3600))


def test_rssi_trend_falls() -> None:
    link = LinkState()
    for k in range(30):
        link = add_rssi(link, 60.0 * k, -60.0 - 0.5 * k + (2.0 if k % 3 == 0 else 0.0))
    s = summary(link, 1800.0)
    assert s.rssi_slope_db_per_h == pytest.approx(-30.0, abs=3.0)
    assert s.rssi_slope_high_db_per_h is not None and s.rssi_slope_high_db_per_h < 0
    assert s.rssi_dbm is not None and -76 < s.rssi_dbm < -70


def test_states_round_trip_through_json() -> None:
    link = add_rssi(add_drop(add_readings(LinkState(), 5.0, 3.0, 1.0), 6.0), 7.0, -70.0)
    assert LinkState.from_dict(json.loads(json.dumps(link.to_dict()))) == link
    gaps, _, _ = feed([0.0, 1.0, 2.0])
    again = StreamGaps.from_dict(json.loads(json.dumps(gaps.to_dict())))
    for name in ("last_t", "period", "seen"):
        np.testing.assert_array_equal(getattr(again, name), getattr(gaps, name))
