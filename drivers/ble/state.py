"""Per-device transfer state of stored-record devices, kept in a small SQLite file.

One row per device: the last RACP sequence number fully delivered (measurement and its
context), the last measurement sequence number delivered (ahead of the former while a
context is still due), and for spot-check devices the device time of the last delivered
measurement plus digests of the values delivered at that same time.

The file is ``<state_dir>/ble_state.sqlite3`` (WAL). Without a ``state_dir`` the state
lives in memory and is lost on restart. Interim design: the state is written after the
records were handed on, not in the buffer's transaction (see the driver module).
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

STATE_FILE = "ble_state.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS ble_device_state (
    device_id TEXT PRIMARY KEY,
    last_sequence INTEGER,
    last_measurement_sequence INTEGER,
    watermark_ns INTEGER,
    watermark_digests TEXT NOT NULL DEFAULT '',
    updated_ns INTEGER NOT NULL
)
"""


@dataclass(frozen=True, slots=True)
class TransferState:
    last_sequence: int | None = None
    last_measurement_sequence: int | None = None
    watermark_ns: int | None = None
    watermark_digests: tuple[str, ...] = field(default=())

    def with_(self, **changes: object) -> TransferState:
        return replace(self, **changes)  # type: ignore[arg-type]


class StateStore:
    """Load and save :class:`TransferState` rows (SQLite file, or memory when ``path`` is None)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._memory: dict[str, TransferState] = {}
        self._db: sqlite3.Connection | None = None
        self._lock = asyncio.Lock()

    @classmethod
    def in_dir(cls, state_dir: str | Path | None) -> StateStore:
        return cls(None if state_dir is None else Path(state_dir) / STATE_FILE)

    def _connect(self) -> sqlite3.Connection | None:
        if self.path is None:
            return None
        if self._db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=5.0, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.execute(_SCHEMA)
            db.commit()
            self._db = db
        return self._db

    def _load_sync(self, device_id: str) -> TransferState:
        db = self._connect()
        if db is None:
            return self._memory.get(device_id, TransferState())
        row = db.execute(
            "SELECT last_sequence, last_measurement_sequence, watermark_ns, watermark_digests "
            "FROM ble_device_state WHERE device_id = ?",
            (device_id,),
        ).fetchone()
        if row is None:
            return TransferState()
        digests = tuple(d for d in str(row[3]).split(",") if d)
        return TransferState(row[0], row[1], row[2], digests)

    def _save_sync(self, device_id: str, state: TransferState) -> None:
        db = self._connect()
        if db is None:
            self._memory[device_id] = state
            return
        with db:
            db.execute(
                "INSERT INTO ble_device_state (device_id, last_sequence, "
                "last_measurement_sequence, watermark_ns, watermark_digests, updated_ns) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(device_id) DO UPDATE SET "
                "last_sequence = excluded.last_sequence, "
                "last_measurement_sequence = excluded.last_measurement_sequence, "
                "watermark_ns = excluded.watermark_ns, "
                "watermark_digests = excluded.watermark_digests, "
                "updated_ns = excluded.updated_ns",
                (
                    device_id,
                    state.last_sequence,
                    state.last_measurement_sequence,
                    state.watermark_ns,
                    ",".join(state.watermark_digests),
                    time.time_ns(),
                ),
            )

    async def load(self, device_id: str) -> TransferState:
        async with self._lock:
            return await asyncio.to_thread(self._load_sync, device_id)

    async def save(self, device_id: str, state: TransferState) -> None:
        async with self._lock:
            await asyncio.to_thread(self._save_sync, device_id, state)

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
