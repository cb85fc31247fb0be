"""One read-only look at a gateway's SQLite buffer: what the status page and metrics show.

Built on :func:`gateway.status.read_status` (gateway, uplink, buffer and device rows) plus
what the page needs beyond it: the latest value of every stream with its patient, the latest
twin snapshot per patient, and the buffer's size. Works on a running or a stopped gateway.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.errors import BufferError_
from gateway.runtime import BUFFER_FILE
from gateway.status import read_status


@dataclass(frozen=True, slots=True)
class LatestValue:
    """The newest value of one numeric stream."""

    stream_id: str
    device_id: str
    patient: str
    mdc_code: int
    unit: str
    value: float | None
    quality: int
    received_ns: int


@dataclass(frozen=True, slots=True)
class TwinState:
    """The newest twin snapshot of one patient (``vitals``, ``news2``, ``alarms``)."""

    state: dict[str, Any]
    received_ns: int


@dataclass(frozen=True, slots=True)
class DbView:
    exists: bool
    status: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, str] = field(default_factory=dict)
    latest: tuple[LatestValue, ...] = ()
    twins: dict[str, TwinState] = field(default_factory=dict)
    committed_by_device: dict[str, int] = field(default_factory=dict)
    oldest_unsent_ns: int | None = None
    used_bytes: int = 0
    file_bytes: int = 0
    evicted_records: int = 0
    error: str = ""


def buffer_path(data_dir: Path) -> Path:
    return data_dir / BUFFER_FILE


def read_view(data_dir: Path) -> DbView:
    """Read everything the page shows; a missing or unreadable buffer gives ``exists=False``."""
    path = buffer_path(data_dir)
    if not path.exists():
        return DbView(False, error=f"no buffer yet at {path}")
    try:
        status = read_status(data_dir)
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except (BufferError_, sqlite3.Error) as exc:
        return DbView(False, error=str(exc))
    try:
        return _extras(db, status, _file_bytes(path))
    except sqlite3.Error as exc:
        return DbView(False, status=status, error=f"cannot read {path}: {exc}")
    finally:
        db.close()


def _extras(db: sqlite3.Connection, status: dict[str, Any], file_bytes: int) -> DbView:
    meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
    latest = tuple(
        LatestValue(*row)
        for row in db.execute(
            "SELECT l.stream_id, l.device_id, coalesce(s.patient, ''), l.mdc_code, l.unit, "
            "l.value, l.quality, l.received_ns FROM latest l "
            "LEFT JOIN streams s ON s.stream_id = l.stream_id ORDER BY l.stream_id"
        )
    )
    twins: dict[str, TwinState] = {}
    for patient, state, received_ns in db.execute(
        "SELECT patient_id, state, received_ns FROM twin_latest"
    ):
        try:
            decoded = json.loads(state)
        except ValueError:
            continue
        if isinstance(decoded, dict):
            twins[patient] = TwinState(decoded, received_ns)
    committed = {
        device: int(n)
        for device, n in db.execute(
            "SELECT device_id, sum(committed) FROM streams WHERE device_id != '' GROUP BY device_id"
        )
    }
    (evicted,) = db.execute("SELECT coalesce(sum(evicted), 0) FROM streams").fetchone()
    (oldest,) = db.execute("SELECT min(created_ns) FROM outbox").fetchone()
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    free = db.execute("PRAGMA freelist_count").fetchone()[0]
    size = db.execute("PRAGMA page_size").fetchone()[0]
    return DbView(
        True,
        status=status,
        meta=meta,
        latest=latest,
        twins=twins,
        committed_by_device=committed,
        oldest_unsent_ns=oldest,
        used_bytes=int((pages - free) * size),
        file_bytes=file_bytes,
        evicted_records=int(evicted),
    )


def _file_bytes(path: Path) -> int:
    total = 0
    for suffix in ("", "-wal", "-shm"):
        try:
            total += Path(f"{path}{suffix}").stat().st_size
        except OSError:
            continue
    return total
