"""The SQLite outbox on real files: numbering, durability across reopen, acks, full disk."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from gateway.buffer import Buffer
from gateway.errors import DiskFullError
from gateway.model import (
    Alarm,
    AlarmKind,
    AlarmPriority,
    Measurement,
    Quality,
    ReceiveTime,
    Record,
)


def m(device: str, value: float, i: int = 0) -> Measurement:
    return Measurement(
        device, f"{device}.150456", 150456, "%", value, Quality(0), ReceiveTime(1000 + i, i)
    )


def patient_of(device: str) -> str:
    return "p-" + device


async def test_sequence_numbers_are_gap_free_and_survive_reopen(tmp_path: Path) -> None:
    path = tmp_path / "b.sqlite3"
    buf = await Buffer.open(path, "gw", "site")
    first = await buf.commit([m("a", 90 + i, i) for i in range(5)], patient_of)
    await buf.close()
    assert first == {"a.150456": (1, 5)}
    buf = await Buffer.open(path, "gw", "site")
    second = await buf.commit([m("a", 1), m("b", 2), m("a", 3)], patient_of)
    await buf.close()
    assert second == {"a.150456": (6, 7), "b.150456": (1, 1)}


async def test_rows_are_envelopes_and_leave_only_when_acked(tmp_path: Path) -> None:
    buf = await Buffer.open(tmp_path / "b.sqlite3", "gw", "site")
    await buf.commit([m("a", 97.0, i) for i in range(3)], patient_of)
    rows = await buf.unsent(10)
    assert len(rows) == 1
    body = json.loads(rows[0].payload)
    assert body["seq"] == [1, 3]
    assert body["patient"] == "p-a"
    assert [s["value"] for s in body["samples"]] == [97.0, 97.0, 97.0]
    assert (await buf.unsent(10, frozenset({rows[0].id}))) == []
    await buf.ack([rows[0].id])
    await buf.ack([rows[0].id])  # a duplicate PUBACK after a resend changes nothing
    stats = await buf.stats()
    assert stats.outbox_rows == 0
    assert [(s.committed, s.acked) for s in stats.streams] == [(3, 3)]
    await buf.close()


async def test_alarms_and_twin_come_before_the_backlog(tmp_path: Path) -> None:
    buf = await Buffer.open(tmp_path / "b.sqlite3", "gw", "site")
    await buf.commit([m("a", 97.0, i) for i in range(3)], patient_of)
    alarm = Alarm(
        "p-a.alarms",
        "x1",
        "p-a",
        AlarmPriority.HIGH,
        AlarmKind.PHYSIOLOGICAL,
        "SpO2 low",
        5,
        ReceiveTime(5, 5),
        values=(("SpO2", 84.0),),
    )
    await buf.commit([alarm], patient_of)
    rows = await buf.unsent(10)
    assert [r.kind for r in rows] == ["alarm", "numeric"]
    await buf.close()


async def test_missing_values_travel_as_null_with_their_reason(tmp_path: Path) -> None:
    buf = await Buffer.open(tmp_path / "b.sqlite3", "gw", "site")
    nan = Measurement(
        "a", "a.150456", 150456, "%", float("nan"), Quality.UNAVAILABLE, ReceiveTime(1, 1)
    )
    await buf.commit([nan], patient_of)
    body = json.loads((await buf.unsent(1))[0].payload)
    assert body["samples"][0]["value"] is None
    assert body["samples"][0]["quality"] == ["unavailable"]
    await buf.close()


def test_nan_without_a_reason_is_refused() -> None:
    with pytest.raises(ValueError, match="NaN"):
        Measurement("a", "a.1", 1, "%", float("nan"), Quality.QUESTIONABLE, ReceiveTime(1, 1))


async def test_full_disk_raises_clearly_evicts_by_policy_and_reports_the_gap(
    tmp_path: Path,
) -> None:
    path = tmp_path / "b.sqlite3"
    buf = await Buffer.open(path, "gw", "site")
    await buf.commit([m("a", 95.0, i) for i in range(10)], patient_of)
    alarm = Alarm(
        "p-a.alarms",
        "x1",
        "p-a",
        AlarmPriority.HIGH,
        AlarmKind.PHYSIOLOGICAL,
        "SpO2 low",
        5,
        ReceiveTime(5, 5),
        values=(("SpO2", 84.0),),
    )
    await buf.commit([alarm], patient_of)
    # Emulate a full disk with SQLite's own page limit: the next write gets SQLITE_FULL.
    pages = sqlite3.connect(path).execute("PRAGMA page_count").fetchone()[0]
    assert buf._db is not None
    buf._db.execute(f"PRAGMA max_page_count={pages}")
    big: list[Record] = [m(f"dev{i}", 95.0, i) for i in range(2000)]
    with pytest.raises(DiskFullError, match="disk full"):
        await buf.commit(big, patient_of)
    buf._db.execute("PRAGMA max_page_count=1073741823")
    again = await buf.commit([m("a", 96.0)], patient_of)
    assert again == {"a.150456": (11, 11)}  # the failed transaction consumed no sequence numbers
    rows = await buf.unsent(10)
    await buf.close()
    kinds = [(r.kind, r.stream_id, r.seq_first, r.seq_last) for r in rows]
    # the alarm survives, the numerics were evicted and reported as one gap, then new data
    assert kinds == [
        ("alarm", "p-a.alarms", 1, 1),
        ("gap", "a.150456", 1, 10),
        ("numeric", "a.150456", 11, 11),
    ]
    gap = json.loads(rows[1].payload)
    assert gap["kind"] == "gap"
    assert gap["reason"].startswith("evicted")


async def test_budget_evicts_waves_before_numerics_and_never_alarms(tmp_path: Path) -> None:
    import numpy as np

    from gateway.model import WaveformChunk

    path = tmp_path / "b.sqlite3"
    buf = await Buffer.open(path, "gw", "site")
    wave = [
        WaveformChunk(
            "a",
            "a.pleth",
            150452,
            "1",
            i,
            8_000_000,
            np.arange(2000, dtype=np.int32),
            ReceiveTime(i, i),
        )
        for i in range(40)
    ]
    await buf.commit(wave, patient_of)
    await buf.commit([m("a", 95.0, i) for i in range(200)], patient_of)
    alarm = Alarm(
        "p-a.alarms",
        "x1",
        "p-a",
        AlarmPriority.HIGH,
        AlarmKind.PHYSIOLOGICAL,
        "SpO2 low",
        5,
        ReceiveTime(5, 5),
    )
    await buf.commit([alarm], patient_of)
    used = await buf._run(buf.used_bytes)
    buf.max_bytes = used - 4096  # just over budget: the waveforms must go, not the numerics
    await buf.commit([m("b", 90.0)], patient_of)
    rows = await buf.unsent(100)
    stats = await buf.stats()
    await buf.close()
    kinds = {r.kind for r in rows}
    assert "wave" not in kinds
    assert {"alarm", "numeric", "gap"} <= kinds
    gaps = [(r.stream_id, r.seq_first, r.seq_last) for r in rows if r.kind == "gap"]
    assert gaps == [("a.pleth", 1, 40)]
    assert buf.evicted_records == 40
    numeric = sum(s.committed for s in stats.streams if s.kind == "numeric")
    assert sum(r.n for r in rows if r.kind == "numeric") == numeric  # no numeric evicted


async def test_corrupt_buffer_is_moved_aside_and_a_fresh_one_started(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "b.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    buf = await Buffer.open(path, "gw", "site")
    out = await buf.commit([m("a", 97.0)], patient_of)
    await buf.close()
    assert out == {"a.150456": (1, 1)}
    assert list(tmp_path.glob("b.sqlite3.corrupt-*"))
    assert "integrity check" in caplog.text
