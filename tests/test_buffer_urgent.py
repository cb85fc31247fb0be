"""The urgent lane: alarms are committed on their own connection while batches commit."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from gateway.buffer import Buffer
from gateway.model import Alarm, AlarmKind, AlarmPriority, Measurement, Quality, ReceiveTime

NOW = ReceiveTime(1_700_000_000_000_000_000, 1)


def alarm(i: int) -> Alarm:
    return Alarm(
        "p1.alarms", f"a{i}", "p1", AlarmPriority.HIGH, AlarmKind.PHYSIOLOGICAL, "SpO2 low", 1, NOW
    )


def readings(stream: int, n: int) -> list[Measurement]:
    return [
        Measurement("ox", f"ox.{stream}", 150456, "%", 90.0 + i % 9, Quality(0), NOW)
        for i in range(n)
    ]


async def test_alarms_and_batches_commit_side_by_side_with_gap_free_numbers(
    tmp_path: Path,
) -> None:
    path = tmp_path / "buffer.sqlite3"
    buf = await Buffer.open(path, "gw", "site")
    try:
        batches = [buf.commit(readings(s, 2000), lambda _: "p1") for s in range(6)]
        alarms = [buf.commit_urgent([alarm(i)], lambda _: "p1") for i in range(20)]
        await asyncio.gather(*batches, *alarms)
        with pytest.raises(ValueError, match="alarms only"):
            await buf.commit_urgent(readings(9, 1), lambda _: "p1")
    finally:
        await buf.close()
    db = sqlite3.connect(path)
    spans = db.execute(
        "SELECT stream_id, seq_first, seq_last FROM outbox ORDER BY stream_id, seq_first"
    ).fetchall()
    next_seq = dict(db.execute("SELECT stream_id, next_seq FROM streams").fetchall())
    db.close()
    by_stream: dict[str, list[tuple[int, int]]] = {}
    for stream, first, last in spans:
        by_stream.setdefault(stream, []).append((first, last))
    assert len(by_stream["p1.alarms"]) == 20
    for stream, ranges in by_stream.items():
        expected = 1
        for first, last in ranges:
            assert first == expected, stream
            expected = last + 1
        assert next_seq[stream] == expected
