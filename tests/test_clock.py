"""Wall-clock steps: flagged and reported, ordering by sequence number unaffected."""

from __future__ import annotations

import json
from pathlib import Path

from gateway.buffer import Buffer
from gateway.clock import ClockWatch
from gateway.model import Measurement, Quality, ReceiveTime, Record

WALL0 = 1_795_000_000_000_000_000


def m(i: int, wall_shift_s: float = 0.0) -> Measurement:
    mono = i * 1_000_000_000
    wall = WALL0 + mono + int(wall_shift_s * 1e9)
    return Measurement("oxi", "oxi.150456", 150456, "%", 97.0, Quality(0), ReceiveTime(wall, mono))


def test_slew_is_followed_and_steps_are_flagged_both_ways() -> None:
    watch = ClockWatch()
    slewing: list[Record] = [m(i, wall_shift_s=i * 0.0005) for i in range(100)]  # NTP slew
    out, step = watch.flag(slewing)
    assert step == 0
    assert all(r.quality == Quality(0) for r in out if isinstance(r, Measurement))
    back: list[Record] = [m(100 + i, wall_shift_s=-3600.0) for i in range(3)]  # 1 h back
    out, step = watch.flag(back)
    assert abs(step / 1e9 + 3600.05) < 0.01
    assert all(Quality.CLOCK_STEPPED in r.quality for r in out if isinstance(r, Measurement))
    calm, step = watch.flag([m(103, wall_shift_s=-3600.0)])
    assert step == 0
    assert isinstance(calm[0], Measurement)
    assert calm[0].quality == Quality(0)
    forward, step = watch.flag([m(104, wall_shift_s=+120.0)])
    assert step > 0
    assert isinstance(forward[0], Measurement)
    assert Quality.CLOCK_STEPPED in forward[0].quality
    assert watch.steps == 2


async def test_sequence_numbers_follow_arrival_not_wall_time(tmp_path: Path) -> None:
    buf = await Buffer.open(tmp_path / "b.sqlite3", "gw", "lab")
    records: list[Record] = [m(0), m(1), m(2, wall_shift_s=-7200), m(3, wall_shift_s=-7200)]
    out = await buf.commit(records, lambda d: "p")
    rows = await buf.unsent(10)
    await buf.close()
    assert out == {"oxi.150456": (1, 4)}
    samples = json.loads(rows[0].payload)["samples"]
    assert [s["seq"] for s in samples] == [1, 2, 3, 4]
    walls = [s["t_rx_ns"] for s in samples]
    assert walls != sorted(walls)  # the wall clock went backwards, the numbering did not
