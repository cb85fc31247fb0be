"""The durable outbox: SQLite in WAL mode, owned by one worker thread.

Guarantees:

* A record is acknowledged (``commit`` returns) only after its SQLite transaction is
  durable (``synchronous=FULL``), so a power cut loses nothing acknowledged.
* Sequence numbers are stamped inside that same transaction from the persisted per-stream
  counter: gap-free, 64-bit, and never reused for data that was committed.
* Rows are batches (one row per stream per flush) holding the encoded upstream envelope;
  a row leaves the outbox only when the broker's PUBACK for it has been recorded.
* A buffer that fails its integrity check is moved aside with a loud error and a fresh one
  is started: the gateway never refuses to start because of its buffer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shutil
import sqlite3
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from gateway import envelope, sql_batch
from gateway.errors import BufferError_, DiskFullError
from gateway.model import (
    PRIORITY,
    SEQ_MAX,
    Alarm,
    Checkpoint,
    DeviceEvent,
    Measurement,
    Record,
    TwinSnapshot,
    WaveformChunk,
)
from gateway.sealing import Sealer, SealingError, outbox_aad
from gateway.write_gate import WriteGate

log = logging.getLogger(__name__)
T = TypeVar("T")

SCHEMA_VERSION = 4
#: Rows of these priorities may be evicted when the disk budget is reached (waves first,
#: then numerics, oldest first); alarms, twin state, events and gap records never are.
EVICTABLE = {PRIORITY["wave"], PRIORITY["numeric"]}
GAP_PRIORITY = PRIORITY["twin"]
#: Rows of this priority and above are the data backlog; below it, the urgent lane.
BACKLOG_PRIORITY = PRIORITY["numeric"]
#: A backlog spanning more rows than this shares the send window between oldest and newest.
DEEP_BACKLOG_ROWS = 2000
#: Fresh starts of one main-lane transaction to let waiting alarms in (then it holds on).
MAX_YIELDS = 3
#: Acknowledged rows are deleted in one transaction per this many seconds or rows.
ACK_FLUSH_S = 1.0
ACK_FLUSH_ROWS = 512
#: The status tables (latest value per stream, latest twin per patient) are rewritten at
#: most this often per stream (``edgetwin status`` may show values this much older).
LATEST_EVERY_S = 5.0
_OUTBOX_COLUMNS = "priority, stream_id, kind, seq_first, seq_last, n, created_ns, payload"
_MARKS_8 = ", ".join("?" * 8)
#: WAL bytes (estimated) after which the main lane checkpoints, outside the write gate
WAL_CHECKPOINT_BYTES = 4 << 20
#: WAL bytes counted per deleted outbox row (its leaf and freelist pages, roughly)
WAL_BYTES_PER_DELETE = 256
_MIGRATIONS: dict[int, str] = {
    1: """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE streams (
        stream_id TEXT PRIMARY KEY,
        device_id TEXT NOT NULL,
        patient TEXT NOT NULL,
        kind TEXT NOT NULL,
        next_seq INTEGER NOT NULL,
        committed INTEGER NOT NULL DEFAULT 0,
        acked INTEGER NOT NULL DEFAULT 0,
        acked_seq INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        priority INTEGER NOT NULL,
        stream_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        seq_first INTEGER NOT NULL,
        seq_last INTEGER NOT NULL,
        n INTEGER NOT NULL,
        created_ns INTEGER NOT NULL,
        payload BLOB NOT NULL
    );
    CREATE INDEX outbox_order ON outbox (priority, id);
    CREATE TABLE latest (
        stream_id TEXT PRIMARY KEY,
        device_id TEXT NOT NULL,
        mdc_code INTEGER NOT NULL,
        unit TEXT NOT NULL,
        value REAL,
        quality INTEGER NOT NULL,
        received_ns INTEGER NOT NULL,
        seq INTEGER NOT NULL
    );
    CREATE TABLE devices (
        device_id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        state TEXT NOT NULL,
        since_ns INTEGER NOT NULL,
        last_seen_ns INTEGER,
        detail TEXT NOT NULL DEFAULT ''
    );
    """,
    2: """
    ALTER TABLE streams ADD COLUMN evicted INTEGER NOT NULL DEFAULT 0
    """,
    3: """
    CREATE TABLE twin_latest (
        patient_id TEXT PRIMARY KEY,
        state TEXT NOT NULL,
        received_ns INTEGER NOT NULL,
        seq INTEGER NOT NULL
    )
    """,
    4: """
    CREATE TABLE cursors (
        device_id TEXT NOT NULL,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        updated_ns INTEGER NOT NULL,
        PRIMARY KEY (device_id, key)
    )
    """,
}


def read_cursor(path: Path, device_id: str, key: str) -> str | None:
    """A driver's last committed :class:`Checkpoint` value, read from the buffer file.

    Opens its own read-only connection (drivers run beside the buffer's writer; WAL lets
    them read while it writes). No file or no row yet: ``None``.
    """
    if not path.exists():
        return None
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5.0)
    except sqlite3.Error:
        return None
    try:
        row = db.execute(
            "SELECT value FROM cursors WHERE device_id = ? AND key = ?", (device_id, key)
        ).fetchone()
    except sqlite3.OperationalError:  # a buffer from before schema 4: no checkpoints yet
        return None
    finally:
        db.close()
    return None if row is None else str(row[0])


@dataclass(frozen=True, slots=True)
class OutboxRow:
    id: int
    priority: int
    stream_id: str
    kind: str
    seq_first: int
    seq_last: int
    n: int
    created_ns: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class StreamCounts:
    stream_id: str
    device_id: str
    kind: str
    committed: int
    acked: int
    last_seq: int


@dataclass(frozen=True, slots=True)
class BufferStats:
    outbox_rows: int
    outbox_records: int
    oldest_unsent_ns: int | None
    streams: tuple[StreamCounts, ...]


class Buffer:
    """Async facade over one SQLite connection that lives in one worker thread."""

    def __init__(
        self,
        path: Path,
        gateway: str,
        site: str,
        max_bytes: int | None = None,
        min_free_bytes: int = 0,
        encoding: str = "json",
        compression: str = "none",
        sealer: Sealer | None = None,
    ) -> None:
        self.path = path
        self.sealer = sealer
        self.encoding = encoding
        self.compression = compression
        self.gateway = gateway
        self.site = site
        self.max_bytes = max_bytes
        self.min_free_bytes = min_free_bytes
        self.evicted_records = 0
        self.eviction_runs = 0
        #: Totals since open, for metrics and ``edgetwin bench`` (disk bytes per payload byte).
        self.committed_payload_bytes = 0
        self.committed_records = 0
        self.committed_samples = 0  # a waveform chunk counts its samples
        self._pending_acks: set[int] = set()
        self._flushing: set[int] = set()  # acknowledged ids being deleted right now
        self._latest_due: dict[str, float] = {}  # stream -> when its latest row is due
        self._ack_task: asyncio.Future[None] | None = None
        self._sealed_after_id = 0  # rows above this id are sealed (encryption at rest)
        self.unreadable_rows: set[int] = set()  # sealed rows that failed authentication
        self._last_ack_flush = time.monotonic()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="edgetwin-buffer")
        # the uplink reads the outbox on its own connection and thread (WAL: readers do not
        # wait for the writer), so a large commit never stalls the send window
        self._read_executor = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="edgetwin-buffer-read"
        )
        self._reader: sqlite3.Connection | None = None
        self._urgent_executor = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="edgetwin-buffer-urgent"
        )
        self._urgent: sqlite3.Connection | None = None
        self._db: sqlite3.Connection | None = None
        self._next_seq: dict[str, int] = {}
        # one writer at a time, alarms first (instead of SQLite's sleeping busy handler)
        self._gate = WriteGate()
        # the WAL is checkpointed by us, outside the gate (see _maybe_checkpoint)
        self._wal_bytes = 0
        #: called (on the event loop) with each urgent commit's new rows, ready to publish
        self.on_urgent: Callable[[list[OutboxRow]], None] | None = None
        #: called on the urgent lane's thread right after the commit, before the event loop
        #: hears of it; True: it took the rows (the alarm connection), so ``on_urgent`` is
        #: not called. Must be safe to call from that thread.
        self.urgent_sink: Callable[[list[OutboxRow]], bool] | None = None

    # -- lifecycle -----------------------------------------------------------------------

    @classmethod
    async def open(
        cls,
        path: Path,
        gateway: str,
        site: str,
        max_bytes: int | None = None,
        min_free_bytes: int = 0,
        encoding: str = "json",
        compression: str = "none",
        sealer: Sealer | None = None,
    ) -> Buffer:
        buffer = cls(path, gateway, site, max_bytes, min_free_bytes, encoding, compression, sealer)
        await buffer._run(buffer._open_sync)
        return buffer

    async def close(self) -> None:
        if self._db is not None:
            with contextlib.suppress(BufferError_):
                await self.flush_acks()  # not fatal: those rows are sent again next time
            await self._run(self._close_sync)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._read_executor, self._close_reader)
        await loop.run_in_executor(self._urgent_executor, self._close_urgent)
        self._executor.shutdown(wait=True)
        self._read_executor.shutdown(wait=True)
        self._urgent_executor.shutdown(wait=True)

    def _close_urgent(self) -> None:
        if self._urgent is not None:
            self._urgent.close()
            self._urgent = None

    def _close_reader(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def _require_reader(self) -> sqlite3.Connection:
        """The read connection (created in, and only used from, the read thread)."""
        self._require_db()
        if self._reader is None:
            reader = sqlite3.connect(self.path, isolation_level=None)
            reader.execute("PRAGMA busy_timeout=5000")
            reader.execute("PRAGMA query_only=1")
            self._reader = reader
        return self._reader

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn`` on the main lane's thread, holding the write gate."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._gated, fn, *args)

    def _gated(self, fn: Callable[..., T], *args: Any) -> T:
        with self._gate.hold():
            return fn(*args)

    def _open_sync(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = self._connect_checked()
        except sqlite3.DatabaseError as exc:
            aside = _rename_aside(self.path, "corrupt")
            log.error(
                "buffer %s failed its integrity check (%s); moved aside to %s and starting a "
                "fresh buffer: recover the old file with 'sqlite3 .recover' if needed",
                self.path,
                exc,
                aside,
            )
            self._db = self._connect_checked()
        if not self._check_sealing(self._db):
            self._move_aside("was sealed with another key")
            self._db = self._connect_checked()
            self._check_sealing(self._db)
        db = self._db
        self._next_seq = {
            row[0]: row[1] for row in db.execute("SELECT stream_id, next_seq FROM streams")
        }

    def _move_aside(self, why: str) -> None:
        assert self._db is not None
        self._db.close()
        aside = _rename_aside(self.path, "aside")
        log.error(
            "buffer %s %s; moved aside to %s and starting a fresh buffer (the old rows "
            "open with the old key file)",
            self.path,
            why,
            aside,
        )

    def _check_sealing(self, db: sqlite3.Connection) -> bool:
        """Reconcile the file's sealing bookkeeping with the configured key.

        False: the file was sealed with another key (the caller moves it aside). Sealed
        rows without a configured key are an error that names the fix.
        """

        def meta(key: str) -> str | None:
            row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
            return None if row is None else str(row[0])

        stored_id = meta("seal_key_id")
        after = int(meta("sealed_after_id") or 0)
        (max_id,) = db.execute("SELECT coalesce(max(id), 0) FROM outbox").fetchone()
        if self.sealer is None:
            if stored_id is not None and max_id > after:
                raise BufferError_(
                    f"buffer {self.path} holds rows sealed with key {stored_id}; set "
                    "[buffer] key_file to that key (or move the file aside to start afresh)"
                )
            if stored_id is not None:
                db.execute("DELETE FROM meta WHERE key IN ('seal_key_id', 'sealed_after_id')")
            return True
        key_id = self.sealer.key_id.hex()
        if stored_id is None:
            # switched on now: rows already queued stay plaintext, new ones are sealed
            db.executemany(
                "INSERT OR REPLACE INTO meta VALUES (?, ?)",
                [("seal_key_id", key_id), ("sealed_after_id", str(max_id))],
            )
            after = max_id
        elif stored_id != key_id and max_id > after:
            log.error("buffer sealed with key %s, configured key is %s", stored_id, key_id)
            return False
        elif stored_id != key_id:
            db.execute("INSERT OR REPLACE INTO meta VALUES ('seal_key_id', ?)", (key_id,))
        self._sealed_after_id = after
        return True

    def _connect_checked(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            if db.execute("PRAGMA user_version").fetchone()[0] == 0:
                # before any table exists: lets evicted space go back to the file system
                db.execute("PRAGMA auto_vacuum=INCREMENTAL")
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.execute("PRAGMA busy_timeout=5000")
            # Debian builds SQLite with secure_delete on: every acknowledged row would be
            # zeroed in place, a second full write of the payload (SD card wear). FAST zeroes
            # what is rewritten anyway; freed pages keep old bytes until reused (soon, in a
            # ring-like outbox; ciphertext when the buffer is sealed). See docs/security.md.
            db.execute("PRAGMA secure_delete=FAST")
            # checkpoints run outside the write gate (_maybe_checkpoint), not inside a COMMIT
            db.execute("PRAGMA wal_autocheckpoint=0")
            result = db.execute("PRAGMA quick_check").fetchone()
            if result is None or result[0] != "ok":
                raise sqlite3.DatabaseError(f"quick_check: {result}")
            self._migrate(db)
        except sqlite3.DatabaseError:
            db.close()
            raise
        return db

    @staticmethod
    def _migrate(db: sqlite3.Connection) -> None:
        version: int = db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise BufferError_(
                f"buffer schema version {version} is newer than this EdgeTwin "
                f"({SCHEMA_VERSION}); upgrade EdgeTwin or point data_dir elsewhere"
            )
        for target in range(version + 1, SCHEMA_VERSION + 1):
            db.execute("BEGIN IMMEDIATE")
            try:
                for statement in _MIGRATIONS[target].split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute(f"PRAGMA user_version={target}")
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def _close_sync(self) -> None:
        assert self._db is not None
        self._db.close()
        self._db = None

    # -- writing -------------------------------------------------------------------------

    async def commit(
        self,
        records: Sequence[Record],
        patient_of: Callable[[str], str],
        last_seen: dict[str, int] | None = None,
    ) -> dict[str, tuple[int, int]]:
        """Number and store records durably; return each stream's (first, last) numbers.

        ``last_seen`` (device -> wall ns) updates the devices' last-seen times in the same
        transaction (one WAL commit instead of two).
        """
        if not records:
            if last_seen:
                await self.touch_devices(last_seen)
            return {}
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._executor, self._commit_sync, records, patient_of, last_seen
        )

    async def commit_urgent(
        self, records: Sequence[Record], patient_of: Callable[[str], str]
    ) -> dict[str, tuple[int, int]]:
        """Commit alarms on the urgent lane: its own connection and thread, so an alarm does
        not queue behind a large batch being encoded on the main lane (it waits at most for
        that batch's inserts). Only alarm streams may be committed here; a stream must
        always be written by the same lane."""
        if not records:
            return {}
        if not all(isinstance(r, Alarm) for r in records):
            raise ValueError("the urgent lane takes alarms only")
        loop = asyncio.get_running_loop()
        numbered, hot, taken = await loop.run_in_executor(
            self._urgent_executor, self._commit_urgent_sync, records, patient_of
        )
        if self.on_urgent is not None and not taken:
            self.on_urgent(hot)  # straight to the uplink: no wait for the next outbox read
        return numbered

    def _commit_urgent_sync(
        self, records: Sequence[Record], patient_of: Callable[[str], str]
    ) -> tuple[dict[str, tuple[int, int]], list[OutboxRow], bool]:
        self._require_db()
        if self._urgent is None:
            urgent = sqlite3.connect(self.path, isolation_level=None)
            urgent.execute("PRAGMA busy_timeout=10000")
            urgent.execute("PRAGMA synchronous=FULL")
            urgent.execute("PRAGMA secure_delete=FAST")
            urgent.execute("PRAGMA wal_autocheckpoint=0")  # never pays for a checkpoint
            self._urgent = urgent
        hot: list[OutboxRow] = []
        numbered = self._commit_sync(records, patient_of, None, self._urgent, hot)
        sink = self.urgent_sink
        # from this thread: the event loop may be busy for tens of milliseconds at load
        taken = sink is not None and bool(hot) and sink(hot)
        return numbered, hot, taken

    def _commit_sync(
        self,
        records: Sequence[Record],
        patient_of: Callable[[str], str],
        last_seen: dict[str, int] | None = None,
        db: sqlite3.Connection | None = None,
        hot: list[OutboxRow] | None = None,
    ) -> dict[str, tuple[int, int]]:
        """Encode, number and store ``records``; with ``hot``, also return the new rows
        (ids and plain payloads) there, ready to publish."""
        db = db or self._require_db()
        by_stream: dict[str, list[Record]] = defaultdict(list)
        checkpoints: list[Checkpoint] = []
        for record in records:
            if isinstance(record, Checkpoint):
                checkpoints.append(record)
            else:
                by_stream[record.stream_id].append(record)
        numbered: dict[str, tuple[int, int]] = {}
        new_next: dict[str, int] = {}
        payload_bytes = records_n = samples_n = 0
        now = time.time_ns()
        # Encode (and seal) before taking the write lock, so another writer (the urgent
        # lane) waits only for the inserts. A stream is written by one lane only, so the
        # numbers taken here from the in-memory counters stay ours until we commit.
        rows: list[tuple[str, Record, str, int, int, int, bytes, bool]] = []
        plain: list[bytes] = []
        for stream_id, batch in by_stream.items():
            first = batch[0]
            patient = _patient(first, patient_of)
            known = self._next_seq.get(stream_id)
            seq = 1 if known is None else known
            if seq + len(batch) > SEQ_MAX:
                raise BufferError_(f"stream {stream_id}: sequence numbers exhausted")
            payload = envelope.encode_batch(
                batch,
                gateway=self.gateway,
                site=self.site,
                patient=patient,
                first_seq=seq,
                encoding=self.encoding,
                compression=self.compression,
            )
            last = seq + len(batch) - 1
            payload_bytes += len(payload)
            if hot is not None:
                plain.append(payload)
            if self.sealer is not None:
                payload = self.sealer.seal(payload, outbox_aad(stream_id, first.kind, seq, last))
            records_n += len(batch)
            samples_n += sum(len(r.samples) if isinstance(r, WaveformChunk) else 1 for r in batch)
            rows.append(
                (stream_id, batch[-1], patient, seq, last, len(batch), payload, known is None)
            )
        # statement parameters, built before the lock too: the lock is held for executemany
        streams_new = [
            (stream_id, _device(r), patient, r.kind)
            for stream_id, r, patient, _s, _l, _n, _p, new in rows
            if new
        ]
        outbox = [
            (PRIORITY[r.kind], stream_id, r.kind, seq, last, n, now, payload)
            for stream_id, r, _pt, seq, last, n, payload, _new in rows
        ]
        counters = [(last + 1, n, stream_id) for stream_id, _r, _pt, _s, last, n, _p, _new in rows]
        latest: list[tuple[object, ...]] = []
        twin_latest: list[tuple[object, ...]] = []
        mono = time.monotonic()
        for stream_id, r, _pt, seq, last, _n, _p, _new in rows:
            new_next[stream_id] = last + 1
            numbered[stream_id] = (seq, last)
            # the status tables take a stream's newest value at most every LATEST_EVERY_S:
            # rewriting hundreds of rows each second would cost SD-card writes for a view
            if mono >= self._latest_due.get(stream_id, 0.0):
                self._latest_due[stream_id] = mono + LATEST_EVERY_S
                _latest_row(r, last, latest, twin_latest)
        urgent = db is not self._db
        want_ids = hot is not None
        statements = self._commit_statements(
            streams_new, outbox, counters, latest, twin_latest, last_seen, want_ids
        )
        with self._gate.hold(urgent=urgent):
            ids = self._insert_sync(db, statements, outbox, checkpoints, now, want_ids)
        if hot is not None:
            hot.extend(
                OutboxRow(row_id, o[0], o[1], o[2], o[3], o[4], o[5], o[6], payload)
                for row_id, o, payload in zip(ids, outbox, plain, strict=True)
            )
        self._next_seq.update(new_next)
        self.committed_payload_bytes += payload_bytes
        self.committed_records += records_n
        self.committed_samples += samples_n
        self._wal_bytes += payload_bytes
        if not urgent:
            with self._gate.hold():
                self._evict_sync(force=False)
            self._maybe_checkpoint()
        return numbered

    @staticmethod
    def _commit_statements(
        streams_new: list[tuple[str, str, str, str]],
        outbox: list[tuple[int, str, str, int, int, int, int, bytes]],
        counters: list[tuple[int, int, str]],
        latest: list[tuple[object, ...]],
        twin_latest: list[tuple[object, ...]],
        last_seen: dict[str, int] | None,
        want_ids: bool,
    ) -> list[sql_batch.Statement]:
        """A commit's statements, multi-row (see gateway.sql_batch), built before the lock.

        The outbox rows are left out when their ids are wanted (inserted one by one)."""
        st: list[sql_batch.Statement] = []
        if streams_new:
            st += sql_batch.insert_values(
                "INSERT INTO streams (stream_id, device_id, patient, kind, next_seq)",
                [(*row, 1) for row in streams_new],
                5,
            )
        if not want_ids:
            st += sql_batch.insert_values(f"INSERT INTO outbox ({_OUTBOX_COLUMNS})", outbox, 8)
        st += sql_batch.update_from_values(
            "streams",
            "next_seq = v.column1, committed = committed + v.column2",
            "stream_id",
            counters,
            3,
        )
        if latest:
            st += sql_batch.insert_values("INSERT OR REPLACE INTO latest", latest, 8)
        if twin_latest:
            st += sql_batch.insert_values("INSERT OR REPLACE INTO twin_latest", twin_latest, 4)
        if last_seen:
            st += sql_batch.update_from_values(
                "devices",
                "last_seen_ns = v.column1",
                "device_id",
                [(ns, dev) for dev, ns in last_seen.items()],
                2,
            )
        return st

    def _insert_sync(
        self,
        db: sqlite3.Connection,
        statements: list[sql_batch.Statement],
        outbox: list[tuple[int, str, str, int, int, int, int, bytes]],
        checkpoints: list[Checkpoint],
        now: int,
        want_ids: bool,
    ) -> list[int]:
        """One commit in one transaction (the caller holds the write gate).

        With ``want_ids`` the outbox rows are inserted one by one and their ids returned
        (the urgent lane: a few alarms).
        """
        ids: list[int] = []

        def body(step_aside: Callable[[], None]) -> None:
            ids.clear()
            if want_ids:
                insert = f"INSERT INTO outbox ({_OUTBOX_COLUMNS}) VALUES ({_MARKS_8})"  # noqa: S608
                for values in outbox:
                    row_id = db.execute(insert, values).lastrowid
                    assert row_id is not None
                    ids.append(row_id)
            for sql, params in statements:
                step_aside()
                db.execute(sql, params)
            if checkpoints:
                step_aside()
                # the latest per (device, key) wins; records before it are in this
                # transaction or an earlier one, never a later one
                db.executemany(
                    "INSERT INTO cursors (device_id, key, value, updated_ns) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT(device_id, key) DO UPDATE SET value = excluded.value, "
                    "updated_ns = excluded.updated_ns",
                    [(c.device_id, c.key, c.value, now) for c in checkpoints],
                )

        try:
            self._transaction(db, body)
        except sqlite3.Error as exc:
            _rollback(db)
            error = _translate(exc, "commit records")
            if isinstance(error, DiskFullError) and db is self._db:
                # make room by the documented policy so the caller's retry can succeed
                self._evict_sync(force=True)
            raise error from exc
        except BaseException:
            _rollback(db)
            raise
        return ids

    def _transaction(
        self, db: sqlite3.Connection, body: Callable[[Callable[[], None]], None]
    ) -> None:
        """Run ``body`` in one IMMEDIATE transaction (the caller holds the write gate).

        ``body`` calls its argument between statements. On the main lane that argument
        steps aside while an alarm waits for the gate: roll back, let the alarm through,
        run ``body`` again (at most :data:`MAX_YIELDS` times, then it holds on). Nothing
        of a rolled-back attempt was durable and ``body`` keeps no state across attempts.
        """
        yields = 0

        def step_aside() -> None:
            if db is self._db and yields < MAX_YIELDS and self._gate.urgent_waiting:
                raise _StepAside

        while True:
            db.execute("BEGIN IMMEDIATE")
            try:
                body(step_aside)
                step_aside()
            except _StepAside:
                _rollback(db)
                self._gate.yield_to_urgent()
                yields += 1
                continue
            db.execute("COMMIT")
            return

    def _maybe_checkpoint(self) -> None:
        """Copy the WAL into the database once about 4 MiB were written (what SQLite's
        automatic checkpoint does at 1,000 pages), on the main lane's thread but outside
        the write gate: a PASSIVE checkpoint lets writers go on, so an alarm's commit never
        waits for one."""
        if self._wal_bytes < WAL_CHECKPOINT_BYTES:
            return
        self._wal_bytes = 0
        with contextlib.suppress(sqlite3.Error):  # a busy checkpoint is simply tried later
            self._require_db().execute("PRAGMA wal_checkpoint(PASSIVE)")

    # -- disk budget ---------------------------------------------------------------------

    def used_bytes(self) -> int:
        db = self._require_db()
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        free = db.execute("PRAGMA freelist_count").fetchone()[0]
        size: int = db.execute("PRAGMA page_size").fetchone()[0]
        return int((pages - free) * size)

    def _excess_bytes(self, force: bool) -> int:
        """Bytes to free now: down to 90 % of the budget, up to the free-space floor."""
        used = self.used_bytes()
        excess = 0
        if self.max_bytes is not None and used > self.max_bytes:
            excess = used - int(self.max_bytes * 0.9)
        if self.min_free_bytes:
            free = shutil.disk_usage(self.path.parent).free
            if free < self.min_free_bytes:
                excess = max(excess, self.min_free_bytes - free)
        if force:  # the disk itself is full: free a slice even if no budget says so
            excess = max(excess, used // 20, 1 << 16)
        return excess

    def _evict_sync(self, force: bool) -> int:
        """Evict the oldest waveforms, then the oldest numerics, until within budget.

        Each evicted batch becomes an explicit gap record (kind ``gap``) in the outbox, sent
        upstream like any other row, so the receiver knows exactly which sequence numbers of
        which stream will never come. Alarms, twin state, events and gaps are never evicted.
        """
        excess = self._excess_bytes(force)
        if excess <= 0:
            return 0
        evicted = self._evict_bytes(excess)
        if evicted == 0:
            log.error(
                "buffer %s is over its disk budget but holds nothing evictable (only alarms, "
                "twin state, events and gaps): raise buffer.max_bytes or free disk space",
                self.path,
            )
            return 0
        self.eviction_runs += 1
        self.evicted_records += evicted
        log.warning(
            "disk budget reached: evicted %d oldest records (waveforms first, then numerics); "
            "each eviction is reported upstream as a gap",
            evicted,
        )
        with contextlib.suppress(sqlite3.Error):
            self._require_db().execute("PRAGMA incremental_vacuum")
        return evicted

    def _evict_bytes(self, excess: int) -> int:
        db = self._require_db()
        try:
            db.execute("BEGIN IMMEDIATE")
            victims: list[tuple[int, str, int, int, int]] = []
            freed = 0
            for row in db.execute(
                "SELECT id, stream_id, seq_first, seq_last, n, length(payload) FROM outbox "
                "WHERE priority IN (?, ?) ORDER BY priority DESC, id",
                sorted(EVICTABLE),
            ):
                victims.append(row[:5])
                freed += row[5] + 64  # payload plus row overhead, roughly
                if freed >= excess:
                    break
            if not victims:
                db.execute("ROLLBACK")
                return 0
            ranges: dict[str, list[list[int]]] = defaultdict(list)
            counts: dict[str, int] = defaultdict(int)
            for _, stream_id, first, last, n in sorted(victims, key=lambda v: (v[1], v[2])):
                spans = ranges[stream_id]
                if spans and spans[-1][1] + 1 == first:
                    spans[-1][1] = last
                else:
                    spans.append([first, last])
                counts[stream_id] += n
            db.executemany("DELETE FROM outbox WHERE id = ?", [(v[0],) for v in victims])
            now = time.time_ns()
            for stream_id, spans in ranges.items():
                db.execute(
                    "UPDATE streams SET evicted = evicted + ? WHERE stream_id = ?",
                    (counts[stream_id], stream_id),
                )
                for first, last in spans:
                    payload = envelope.encode_gap(
                        gateway=self.gateway,
                        site=self.site,
                        stream=stream_id,
                        first=first,
                        last=last,
                        reason="evicted: disk budget reached",
                        t_ns=now,
                    )
                    if self.sealer is not None:
                        payload = self.sealer.seal(
                            payload, outbox_aad(stream_id, "gap", first, last)
                        )
                    db.execute(
                        "INSERT INTO outbox (priority, stream_id, kind, seq_first, seq_last, n, "
                        "created_ns, payload) VALUES (?, ?, 'gap', ?, ?, 0, ?, ?)",
                        (GAP_PRIORITY, stream_id, first, last, now, payload),
                    )
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            _rollback(db)
            log.error("eviction failed: %s", exc)
            return 0
        return sum(counts.values())

    async def set_device_state(
        self, device_id: str, kind: str, state: str, detail: str = ""
    ) -> None:
        await self._run(self._device_state_sync, device_id, kind, state, detail)

    def _device_state_sync(self, device_id: str, kind: str, state: str, detail: str) -> None:
        db = self._require_db()
        now = time.time_ns()
        try:
            db.execute(
                "INSERT INTO devices (device_id, kind, state, since_ns, last_seen_ns, detail) "
                "VALUES (?, ?, ?, ?, NULL, ?) ON CONFLICT(device_id) DO UPDATE SET "
                "state = excluded.state, since_ns = excluded.since_ns, detail = excluded.detail, "
                "kind = excluded.kind",
                (device_id, kind, state, now, detail),
            )
        except sqlite3.Error as exc:
            raise _translate(exc, "record device state") from exc

    async def touch_devices(self, last_seen: dict[str, int]) -> None:
        if last_seen:
            await self._run(self._touch_sync, dict(last_seen))

    def _touch_sync(self, last_seen: dict[str, int]) -> None:
        db = self._require_db()
        try:
            db.executemany(
                "UPDATE devices SET last_seen_ns = ? WHERE device_id = ?",
                [(ns, dev) for dev, ns in last_seen.items()],
            )
        except sqlite3.Error as exc:
            raise _translate(exc, "record last-seen times") from exc

    async def get_meta(self, key: str) -> str | None:
        return await self._run(self._get_meta_sync, key)

    def _get_meta_sync(self, key: str) -> str | None:
        row = self._require_db().execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    async def set_meta(self, values: dict[str, str]) -> None:
        await self._run(self._set_meta_sync, dict(values))

    def _set_meta_sync(self, values: dict[str, str]) -> None:
        db = self._require_db()
        try:
            db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", list(values.items()))
        except sqlite3.Error as exc:
            raise _translate(exc, "record gateway state") from exc

    # -- reading and acknowledging -------------------------------------------------------

    async def unsent(
        self, limit: int, exclude: frozenset[int] = frozenset(), backlog: int | None = None
    ) -> list[OutboxRow]:
        """Rows to send next: the urgent lane, then the backlog.

        Urgent rows (alarms, twin state, gap reports, events) come first, oldest first, up to
        ``limit``. Data rows fill at most ``backlog`` more places (default: what is left of
        ``limit``): oldest first, but when the backlog is deep, half of the places go to the
        newest rows so live data is not starved while an hour of backlog drains.
        """
        if self._pending_acks or self._flushing or self.unreadable_rows:
            exclude = exclude | self._pending_acks | self._flushing | self.unreadable_rows
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._read_executor, self._unsent_sync, limit, exclude, backlog
        )

    def _unsent_sync(
        self, limit: int, exclude: frozenset[int], backlog: int | None
    ) -> list[OutboxRow]:
        db = self._require_reader()
        # pick ids on the small columns first; read only the chosen rows' payloads
        cols = "id, priority, stream_id, kind, seq_first, seq_last, n, created_ns"
        urgent = [
            row
            for row in db.execute(
                f"SELECT {cols} FROM outbox WHERE priority < ? ORDER BY priority, id LIMIT ?",  # noqa: S608
                (BACKLOG_PRIORITY, limit + len(exclude)),
            )
            if row[0] not in exclude
        ][:limit]
        room = limit - len(urgent) if backlog is None else min(backlog, limit - len(urgent))
        if room <= 0:
            return self._with_payloads(db, urgent)
        oldest = [
            row
            for row in db.execute(
                f"SELECT {cols} FROM outbox WHERE priority >= ? ORDER BY priority, id LIMIT ?",  # noqa: S608
                (BACKLOG_PRIORITY, room + len(exclude)),
            )
            if row[0] not in exclude
        ]
        span = db.execute(
            "SELECT max(id) - min(id) FROM outbox WHERE priority >= ?", (BACKLOG_PRIORITY,)
        ).fetchone()[0]
        if span is None or span < DEEP_BACKLOG_ROWS or room < 2:
            return self._with_payloads(db, urgent + oldest[:room])
        newest_share = room // 2
        newest = [
            row
            for row in db.execute(
                f"SELECT {cols} FROM outbox WHERE priority >= ? ORDER BY id DESC LIMIT ?",  # noqa: S608
                (BACKLOG_PRIORITY, newest_share + len(exclude) + room),
            )
            if row[0] not in exclude
        ]
        picked = oldest[: room - newest_share]
        taken = {r[0] for r in picked}
        picked += [r for r in newest if r[0] not in taken][:newest_share]
        return self._with_payloads(db, urgent + picked)

    def _with_payloads(self, db: sqlite3.Connection, rows: list[Any]) -> list[OutboxRow]:
        if not rows:
            return []
        marks = ",".join("?" * len(rows))
        payloads = dict(
            db.execute(
                f"SELECT id, payload FROM outbox WHERE id IN ({marks})",  # noqa: S608
                [r[0] for r in rows],
            ).fetchall()
        )
        # a row acknowledged and deleted between the two reads is simply not offered
        out: list[OutboxRow] = []
        for r in rows:
            if r[0] not in payloads:
                continue
            try:
                payload = self._open(r, payloads[r[0]])
            except SealingError as exc:
                # never sent, never deleted: kept for investigation, skipped from now on
                self.unreadable_rows.add(r[0])
                log.error("outbox row %d cannot be opened (%s); skipping it", r[0], exc.reason)
                continue
            out.append(OutboxRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], payload))
        return out

    def _open(self, row: Any, payload: bytes) -> bytes:
        """The plaintext payload of a row (unsealed when encryption at rest is on).

        Rows written before encryption was switched on (ids up to ``sealed_after_id``) are
        plaintext. A row that fails authentication raises :class:`SealingError`.
        """
        if self.sealer is None or row[0] <= self._sealed_after_id:
            return payload
        return self.sealer.open(payload, outbox_aad(row[2], row[3], row[4], row[5]))

    @property
    def write_waits(self) -> int:
        """Times a writer found the other lane's transaction under way and waited for it."""
        return self._gate.waits

    @property
    def write_yields(self) -> int:
        """Times a main-lane transaction rolled back to let a waiting alarm through."""
        return self._gate.yields

    def acknowledged(self, row_id: int) -> bool:
        """True while an acknowledged row waits to be deleted (see :meth:`ack`)."""
        return row_id in self._pending_acks or row_id in self._flushing

    async def ack(self, ids: Sequence[int]) -> None:
        """The broker has these rows: delete them and advance the per-stream counters.

        Deletions are grouped: acknowledged ids wait in memory (and are no longer offered by
        :meth:`unsent`) until :data:`ACK_FLUSH_S` has passed or :data:`ACK_FLUSH_ROWS`
        gathered, then go in one transaction. Each small delete would otherwise rewrite the
        same pages and fsync the WAL again (SD card wear). A power cut before the flush
        only means those rows are sent again, which receivers drop by sequence number.
        """
        self.ack_nowait(ids)

    def ack_nowait(self, ids: Sequence[int]) -> None:
        """:meth:`ack` for a caller that cannot await (on the event loop's thread)."""
        self._pending_acks.update(ids)
        now = time.monotonic()
        due = len(self._pending_acks) >= ACK_FLUSH_ROWS or now - self._last_ack_flush >= ACK_FLUSH_S
        if due and (self._ack_task is None or self._ack_task.done()):
            # in the background: the sender must not wait behind a large commit on the
            # writer thread (the rows stay excluded from unsent() until they are gone)
            self._last_ack_flush = now
            self._ack_task = asyncio.ensure_future(self._flush_in_background())

    async def _flush_in_background(self) -> None:
        try:
            await self.flush_acks()
        except BufferError_ as exc:
            log.warning("cannot delete acknowledged rows yet (%s); will retry", exc)

    async def flush_acks(self) -> None:
        """Delete the rows acknowledged so far (see :meth:`ack`)."""
        task = self._ack_task
        if task is not None and not task.done() and task is not asyncio.current_task():
            await asyncio.shield(task)  # one flush at a time, in order
        self._last_ack_flush = time.monotonic()
        if self._pending_acks:
            ids = sorted(self._pending_acks)
            self._flushing.update(ids)
            self._pending_acks.clear()
            try:
                loop = asyncio.get_running_loop()
                await loop.run_in_executor(self._executor, self._ack_and_checkpoint, ids)
            except BaseException:
                self._pending_acks.update(ids)
                raise
            finally:
                self._flushing.difference_update(ids)

    def _ack_and_checkpoint(self, ids: list[int]) -> None:
        with self._gate.hold():
            self._ack_sync(ids)
        self._wal_bytes += WAL_BYTES_PER_DELETE * len(ids)
        self._maybe_checkpoint()

    def _ack_sync(self, ids: list[int]) -> None:
        db = self._require_db()

        def body(step_aside: Callable[[], None]) -> None:
            per_stream: dict[str, list[int]] = {}  # stream -> [records, highest seq]
            for first in range(0, len(ids), 500):
                step_aside()
                chunk = ids[first : first + 500]
                marks = ",".join("?" * len(chunk))
                for stream_id, n, seq_last, kind in db.execute(
                    f"SELECT stream_id, n, seq_last, kind FROM outbox WHERE id IN ({marks})",  # noqa: S608
                    chunk,
                ).fetchall():
                    if kind == "gap":
                        continue  # a gap report carries no records of its own
                    counts = per_stream.setdefault(stream_id, [0, 0])
                    counts[0] += n
                    counts[1] = max(counts[1], seq_last)
                # rows acknowledged twice (a resend) are simply gone already
                step_aside()
                db.execute(f"DELETE FROM outbox WHERE id IN ({marks})", chunk)  # noqa: S608
            step_aside()
            db.executemany(
                "UPDATE streams SET acked = acked + ?, acked_seq = max(acked_seq, ?) "
                "WHERE stream_id = ?",
                [(n, seq, stream) for stream, (n, seq) in per_stream.items()],
            )
            db.execute(
                "INSERT OR REPLACE INTO meta VALUES ('last_ack_ns', ?)", (str(time.time_ns()),)
            )

        try:
            self._transaction(db, body)
        except sqlite3.Error as exc:
            _rollback(db)
            raise _translate(exc, "record acknowledgements") from exc
        except BaseException:
            _rollback(db)
            raise

    async def stats(self) -> BufferStats:
        await self.flush_acks()
        return await self._run(self._stats_sync)

    def _stats_sync(self) -> BufferStats:
        db = self._require_db()
        return read_stats(db)

    def _require_db(self) -> sqlite3.Connection:
        if self._db is None:
            raise BufferError_("buffer is closed")
        return self._db


def read_stats(db: sqlite3.Connection) -> BufferStats:
    rows, records, oldest = db.execute(
        "SELECT count(*), coalesce(sum(n), 0), min(created_ns) FROM outbox"
    ).fetchone()
    streams = tuple(
        StreamCounts(*row)
        for row in db.execute(
            "SELECT stream_id, device_id, kind, committed, acked, next_seq - 1 FROM streams "
            "ORDER BY stream_id"
        )
    )
    return BufferStats(rows, records, oldest, streams)


def _patient(record: Record, patient_of: Callable[[str], str]) -> str:
    if isinstance(record, Alarm | TwinSnapshot):
        return record.patient_id
    return patient_of(record.device_id)


def _device(record: Record) -> str:
    if isinstance(record, Measurement | DeviceEvent):
        return record.device_id
    if isinstance(record, Alarm):
        return record.device_id
    if isinstance(record, TwinSnapshot):
        return ""
    return record.device_id


class _StepAside(Exception):
    """An alarm waits for the write gate: the main lane's transaction rolls back for it."""


def _rollback(db: sqlite3.Connection) -> None:
    with contextlib.suppress(sqlite3.Error):
        db.execute("ROLLBACK")


def _translate(exc: sqlite3.Error, doing: str) -> BufferError_:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        code &= 0xFF  # primary result code; extended codes add detail above bit 8
    if code == sqlite3.SQLITE_FULL:
        return DiskFullError(f"cannot {doing}: disk full ({exc}); free space or raise the budget")
    if code == sqlite3.SQLITE_READONLY:
        return BufferError_(f"cannot {doing}: file system is read-only ({exc})")
    return BufferError_(f"cannot {doing}: {exc}")


def _latest_row(
    last: Record, seq: int, latest: list[tuple[object, ...]], twin_latest: list[tuple[object, ...]]
) -> None:
    """The status tables' row for a stream's newest record (numerics and patient twins)."""
    if isinstance(last, TwinSnapshot) and last.stream_id == f"{last.patient_id}.twin":
        # patient twins only (device twins and desired-state reports have other streams)
        twin_latest.append((last.patient_id, json.dumps(last.state), last.received.wall_ns, seq))
    elif isinstance(last, Measurement):
        latest.append(
            (
                last.stream_id,
                last.device_id,
                last.mdc_code,
                last.unit,
                None if last.value != last.value else last.value,
                int(last.quality),
                last.received.wall_ns,
                seq,
            )
        )


def _rename_aside(path: Path, tag: str) -> Path:
    """Rename a buffer file with its WAL and shared-memory files to ``<name>.<tag>-<time>``."""
    aside = path.with_name(f"{path.name}.{tag}-{time.strftime('%Y%m%dT%H%M%S')}")
    for suffix in ("", "-wal", "-shm"):
        src = Path(f"{path}{suffix}")
        if src.exists():
            src.rename(Path(f"{aside}{suffix}"))
    return aside
