"""The buffer seals payloads at rest when a key is configured (gateway.sealing wired in)."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from gateway.buffer import Buffer
from gateway.errors import BufferError_
from gateway.model import Measurement, Quality, ReceiveTime
from gateway.sealing import Sealer

NOW = ReceiveTime(1_700_000_000_000_000_000, 1)


def reading(value: float) -> Measurement:
    return Measurement("ox", "ox.150456", 150456, "%", value, Quality(0), NOW)


def raw_payloads(path: Path) -> list[bytes]:
    db = sqlite3.connect(path)
    try:
        return [bytes(p) for (p,) in db.execute("SELECT payload FROM outbox ORDER BY id")]
    finally:
        db.close()


async def test_rows_are_sealed_on_disk_and_open_for_the_uplink(tmp_path: Path) -> None:
    path = tmp_path / "buffer.sqlite3"
    sealer = Sealer(os.urandom(32))
    buf = await Buffer.open(path, "gw", "site", sealer=sealer)
    try:
        await buf.commit([reading(97.0), reading(96.5)], lambda _: "patient-7731")
        rows = await buf.unsent(10)
    finally:
        await buf.close()
    assert len(rows) == 1
    assert b'"value":97.0' in rows[0].payload.replace(b" ", b"")
    (on_disk,) = raw_payloads(path)
    assert on_disk[0] == 1  # sealing format version, then key id, nonce, ciphertext, tag
    assert b"patient-7731" not in on_disk
    assert b"97.0" not in on_disk


async def test_rows_queued_before_encryption_stay_readable_and_new_ones_are_sealed(
    tmp_path: Path,
) -> None:
    path = tmp_path / "buffer.sqlite3"
    buf = await Buffer.open(path, "gw", "site")
    await buf.commit([reading(90.0)], lambda _: "p1")
    await buf.close()
    buf = await Buffer.open(path, "gw", "site", sealer=Sealer(os.urandom(32)))
    try:
        await buf.commit([reading(91.0)], lambda _: "p1")
        rows = await buf.unsent(10)
    finally:
        await buf.close()
    assert [b"90.0" in r.payload for r in rows] == [True, False]
    assert [b"91.0" in r.payload for r in rows] == [False, True]
    plain, sealed = raw_payloads(path)
    assert plain.startswith(b"{")
    assert sealed[0] == 1


async def test_a_tampered_row_is_skipped_not_sent(tmp_path: Path) -> None:
    path = tmp_path / "buffer.sqlite3"
    sealer = Sealer(os.urandom(32))
    buf = await Buffer.open(path, "gw", "site", sealer=sealer)
    try:
        await buf.commit([reading(97.0)], lambda _: "p1")
        await buf.commit([reading(98.0)], lambda _: "p1")
        db = sqlite3.connect(path)
        first_id, blob = db.execute("SELECT id, payload FROM outbox ORDER BY id").fetchone()
        flipped = bytes(blob[:-1]) + bytes([blob[-1] ^ 1])
        db.execute("UPDATE outbox SET payload = ? WHERE id = ?", (flipped, first_id))
        db.commit()
        db.close()
        rows = await buf.unsent(10)
    finally:
        await buf.close()
    assert [b"98.0" in r.payload for r in rows] == [True]
    assert buf.unreadable_rows == {first_id}


async def test_another_key_moves_the_file_aside_and_no_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "buffer.sqlite3"
    buf = await Buffer.open(path, "gw", "site", sealer=Sealer(os.urandom(32)))
    await buf.commit([reading(97.0)], lambda _: "p1")
    await buf.close()
    with pytest.raises(BufferError_, match="key_file"):
        await Buffer.open(path, "gw", "site")
    buf = await Buffer.open(path, "gw", "site", sealer=Sealer(os.urandom(32)))
    try:
        assert (await buf.stats()).outbox_rows == 0  # a fresh file
    finally:
        await buf.close()
    assert [p.name for p in tmp_path.glob("buffer.sqlite3.aside-*")]
