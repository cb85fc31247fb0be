"""A periodic job over n items spread over its period (gateway/spread.py)."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from gateway.spread import Spread


def test_the_first_round_comes_at_once_then_items_are_spread_over_the_period() -> None:
    spread = Spread(5.0)
    calls = {t: spread.due(float(t), 10) for t in range(100, 121)}
    assert calls[100] == list(range(10))
    assert all(calls[t] == [] for t in range(101, 105))
    assert calls[105] == [0]
    assert all(len(calls[t]) == 2 for t in range(106, 121))  # ten items over 5 s
    emitted = [(t, i) for t, items in sorted(calls.items()) for i in items]
    for item in range(10):  # each item every 5 s once spread
        times = [t for t, i in emitted if i == item][1:]
        assert all(b - a == 5 for a, b in itertools.pairwise(times)), (item, times)


def test_a_pause_of_a_whole_period_starts_a_round_at_once() -> None:
    spread = Spread(5.0)
    spread.due(0.0, 4)
    spread.due(6.0, 4)  # part of a round
    assert spread.due(60.0, 4) == [1, 2, 3]  # the rest of the round, late
    assert spread.due(61.0, 4) == []
    assert spread.due(120.0, 4) == [0, 1, 2, 3]  # a round behind: all of it now


def test_resume_takes_a_saved_position_and_refuses_one_out_of_range() -> None:
    spread = Spread(5.0)
    spread.resume(100.0, 2, False, 4)
    assert spread.due(103.0, 4) == [2]
    spread.resume(100.0, 9, False, 4)  # fewer items than when saved
    assert spread.due(100.5, 4) == [0, 1, 2, 3]


@given(
    st.integers(min_value=0, max_value=40),
    st.floats(min_value=0.1, max_value=30.0),
    st.lists(st.floats(min_value=0.0, max_value=20.0), min_size=1, max_size=80),
)
def test_items_always_come_in_order_each_once_a_round(
    n: int, period: float, gaps: list[float]
) -> None:
    spread = Spread(period)
    t, out = 1000.0, []
    for gap in gaps:
        t += gap
        out += spread.due(t, n)
    assert out == ([k % n for k in range(len(out))] if n else [])
