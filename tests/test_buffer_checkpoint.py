"""Driver checkpoints are stored in the same SQLite transaction as the records they cover."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from gateway.buffer import Buffer, read_cursor
from gateway.errors import BufferError_
from gateway.model import Checkpoint, Measurement, Quality, ReceiveTime

NOW = ReceiveTime(1_700_000_000_000_000_000, 1)


def reading(value: float) -> Measurement:
    return Measurement("cuff", "cuff.150021", 150021, "mm[Hg]", value, Quality(0), NOW)


def checkpoint(last: int) -> Checkpoint:
    return Checkpoint("cuff", "cuff.checkpoint", "ble_transfer", f'{{"last_sequence":{last}}}', NOW)


async def test_checkpoint_is_kept_out_of_the_outbox_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "buffer.sqlite3"
    buf = await Buffer.open(path, "gw", "site")
    try:
        assert read_cursor(path, "cuff", "ble_transfer") is None
        numbered = await buf.commit([reading(120), reading(121), checkpoint(2)], lambda _: "p1")
        await buf.commit([reading(122), checkpoint(3)], lambda _: "p1")
        assert numbered == {"cuff.150021": (1, 2)}
        rows = await buf.unsent(100)
        assert [r.stream_id for r in rows] == ["cuff.150021", "cuff.150021"]
    finally:
        await buf.close()
    assert read_cursor(path, "cuff", "ble_transfer") == '{"last_sequence":3}'
    assert read_cursor(path, "other", "ble_transfer") is None


async def test_a_failed_commit_stores_neither_the_records_nor_the_checkpoint(
    tmp_path: Path,
) -> None:
    path = tmp_path / "buffer.sqlite3"
    buf = await Buffer.open(path, "gw", "site")
    try:
        await buf.commit([reading(120), checkpoint(1)], lambda _: "p1")
        # make the checkpoint write fail inside the transaction, after the readings' insert
        db = sqlite3.connect(path)
        db.execute(
            "CREATE TRIGGER refuse BEFORE UPDATE ON cursors "
            "BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
        )
        db.commit()
        db.close()
        with pytest.raises(BufferError_):
            await buf.commit([reading(121), reading(122), checkpoint(3)], lambda _: "p1")
        stats = await buf.stats()
        assert stats.outbox_records == 1  # the two readings rolled back with the checkpoint
    finally:
        await buf.close()
    assert read_cursor(path, "cuff", "ble_transfer") == '{"last_sequence":1}'


def test_a_buffer_from_before_checkpoints_reads_as_no_state(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    db.commit()
    db.close()
    assert read_cursor(path, "cuff", "ble_transfer") is None
    assert read_cursor(tmp_path / "missing.sqlite3", "cuff", "ble_transfer") is None
