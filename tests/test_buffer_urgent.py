"""The urgent lane: alarms are committed on their own connection while batches commit."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
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


async def test_a_main_lane_transaction_steps_aside_for_a_waiting_alarm(tmp_path: Path) -> None:
    path = tmp_path / "buffer.sqlite3"
    buf = await Buffer.open(path, "gw", "site")
    inside = threading.Event()

    def trace(sql: str) -> None:  # runs on the main lane's thread, inside its transaction
        if sql.startswith("INSERT INTO outbox") and not inside.is_set():
            inside.set()
            end = time.monotonic() + 10
            while not buf._gate.urgent_waiting and time.monotonic() < end:
                time.sleep(0.001)  # until the alarm waits for the gate

    loop = asyncio.get_running_loop()
    try:
        await loop.run_in_executor(buf._executor, buf._require_db().set_trace_callback, trace)
        batch = asyncio.ensure_future(buf.commit(readings(1, 500), lambda _: "p1"))
        await asyncio.to_thread(inside.wait, 10)
        await buf.commit_urgent([alarm(0)], lambda _: "p1")
        await batch
        assert buf.write_yields == 1
    finally:
        await buf.close()
    db = sqlite3.connect(path)
    rows = db.execute("SELECT id, stream_id, seq_first, seq_last FROM outbox").fetchall()
    db.close()
    [alarm_id] = [row_id for row_id, stream, _f, _l in rows if stream == "p1.alarms"]
    batch_rows = [(row_id, first, last) for row_id, stream, first, last in rows if stream == "ox.1"]
    assert alarm_id < min(row_id for row_id, _f, _l in batch_rows)  # the alarm went first
    assert sorted((f, last) for _id, f, last in batch_rows) == [(1, 500)]  # the batch once
