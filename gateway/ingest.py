"""The reference consumer behind ``edgetwin ingest``: envelopes in, FHIR R4 Bundles out.

Per message, in arrival order (the messages already queued are taken together, in one
transaction: group commit, one fsync for all):

1. The topic and envelope are checked; a malformed message is counted, logged and dropped.
2. In one SQLite transaction on the state file (``BEGIN IMMEDIATE``, so the consumers of one
   shared-subscription group may share the file): the records already seen are dropped
   (dedup on ``(gateway, stream, seq)``), the new ones are mapped by :mod:`gateway.fhir` and
   written (one JSON file per message, or one POST to a FHIR server), and only then are their
   sequence numbers stored.
3. The MQTT message is acknowledged (PUBACK) after that commit. A crash before it leaves the
   message unacknowledged; with a persistent session (``client_id``) the broker redelivers it
   and step 2 drops what was already stored. Together: exactly once at the output.

Gaps: per stream, the ledger holds the seen sequence ranges, plus the ranges the gateway
announced as lost (``kind = "gap"`` envelopes, e.g. evicted at its disk budget). A hole
between them is an open gap, reported with its bounds when it opens and again when late
records fill it. The first sequence number seen of a stream is its baseline (a consumer
that joins a running fleet does not report the history it never subscribed to).
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import hashlib
import itertools
import json
import logging
import os
import re
import sqlite3
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, Self

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from gateway import envelope, fhir
from gateway.backoff import Backoff
from gateway.errors import BrokerUnavailableError, EdgeTwinError
from gateway.model import SEQ_MAX

log = logging.getLogger(__name__)

DEFAULT_GROUP = "edgetwin-ingest"
TOPIC_FILTER = "edgetwin/v1/#"
RECEIVE_MAXIMUM = 64  # unacknowledged messages the broker may send ahead
GROUP_COMMIT_MAX = 64  # messages stored in one state-file transaction
STATE_SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS seen (
    gateway TEXT NOT NULL, stream TEXT NOT NULL, first INTEGER NOT NULL, last INTEGER NOT NULL,
    PRIMARY KEY (gateway, stream, first)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS lost (
    gateway TEXT NOT NULL, stream TEXT NOT NULL, first INTEGER NOT NULL, last INTEGER NOT NULL,
    reason TEXT NOT NULL, t_ns INTEGER,
    PRIMARY KEY (gateway, stream, first, last)
) WITHOUT ROWID;
"""

Range = tuple[int, int]


class IngestError(EdgeTwinError):
    """The consumer cannot store its state or write its output."""


@dataclass(frozen=True, slots=True, order=True)
class Gap:
    """Sequence numbers ``first..last`` of one stream that have not arrived."""

    gateway: str
    stream: str
    first: int
    last: int

    @property
    def size(self) -> int:
        return self.last - self.first + 1

    def __str__(self) -> str:
        return f"{self.gateway}/{self.stream} seq {self.first}..{self.last}"


@dataclass(slots=True)
class IngestStats:
    """Counters of one consumer process.

    ``gaps_open`` and ``missing_records`` are the state file's, as of this process's last
    message of each stream (consumers sharing the file: :meth:`Ingestor.open_gaps` is exact).
    """

    messages: int = 0  # envelopes taken in (status messages and rejected ones excluded)
    records_new: int = 0
    duplicates: int = 0
    gaps_open: int = 0
    missing_records: int = 0
    lost_records: int = 0  # announced lost by the gateway (gap envelopes)
    bundles: int = 0  # FHIR Bundles produced (written, when there is an output)
    unmapped: int = 0  # messages of kinds FHIR does not carry (alarm, event, twin, unknown)
    mapping_errors: int = 0
    rejected: int = 0  # malformed messages

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one message did."""

    new: tuple[int, ...] = ()
    duplicates: int = 0
    opened: tuple[Gap, ...] = ()
    closed: tuple[Gap, ...] = ()
    written: str | None = None
    rejected: str | None = None


# -- interval arithmetic -------------------------------------------------------------------


def merge(ranges: Iterable[Range]) -> list[Range]:
    """Sorted, disjoint, non-adjacent ranges covering the same numbers."""
    out: list[Range] = []
    for first, last in sorted(ranges):
        if out and first <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], last))
        else:
            out.append((first, last))
    return out


def holes(ranges: Iterable[Range]) -> list[Range]:
    """The numbers missing between the lowest and the highest covered one."""
    merged = merge(ranges)
    return [(a[1] + 1, b[0] - 1) for a, b in itertools.pairwise(merged)]


def covered(merged: list[Range], seq: int) -> bool:
    """Whether ``seq`` lies in one of ``merged`` (sorted and disjoint)."""
    i = bisect.bisect_right(merged, (seq, SEQ_MAX + 1)) - 1
    return i >= 0 and merged[i][0] <= seq <= merged[i][1]


# -- the state file ------------------------------------------------------------------------


class Ledger:
    """Seen and lost sequence ranges per (gateway, stream), in SQLite (WAL, synchronous)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        except (OSError, sqlite3.Error) as exc:
            raise IngestError(f"cannot open state file {path}: {exc}") from exc
        try:
            db.execute("PRAGMA busy_timeout=30000")
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > STATE_SCHEMA_VERSION:
                raise IngestError(
                    f"state file {path} has schema {version}, newer than this EdgeTwin "
                    f"({STATE_SCHEMA_VERSION})"
                )
            db.executescript(_SCHEMA)
            db.execute(f"PRAGMA user_version={STATE_SCHEMA_VERSION}")
        except sqlite3.Error as exc:
            db.close()
            raise IngestError(f"cannot use state file {path}: {exc}") from exc
        except BaseException:
            db.close()
            raise
        self._db = db

    def close(self) -> None:
        self._db.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """One write transaction; the file is locked for other consumers until it ends."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise IngestError(f"cannot lock state file {self.path}: {exc}") from exc
        try:
            yield
            self._db.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("ROLLBACK")
            raise

    def seen(self, gateway: str, stream: str) -> list[Range]:
        return [
            (row[0], row[1])
            for row in self._db.execute(
                "SELECT first, last FROM seen WHERE gateway = ? AND stream = ? ORDER BY first",
                (gateway, stream),
            )
        ]

    def replace_seen(self, gateway: str, stream: str, ranges: list[Range]) -> None:
        self._db.execute("DELETE FROM seen WHERE gateway = ? AND stream = ?", (gateway, stream))
        self._db.executemany(
            "INSERT INTO seen VALUES (?, ?, ?, ?)", [(gateway, stream, a, b) for a, b in ranges]
        )

    def add_lost(
        self, gateway: str, stream: str, span: Range, reason: str, t_ns: int | None
    ) -> bool:
        """Record a range the gateway says will never come; ``False`` if already known."""
        cursor = self._db.execute(
            "INSERT OR IGNORE INTO lost VALUES (?, ?, ?, ?, ?, ?)",
            (gateway, stream, span[0], span[1], reason, t_ns),
        )
        return cursor.rowcount == 1

    def gaps(self, gateway: str, stream: str) -> list[Gap]:
        rows = self._db.execute(
            "SELECT first, last FROM seen WHERE gateway = ?1 AND stream = ?2 "
            "UNION ALL SELECT first, last FROM lost WHERE gateway = ?1 AND stream = ?2",
            (gateway, stream),
        ).fetchall()
        return [Gap(gateway, stream, a, b) for a, b in holes((r[0], r[1]) for r in rows)]

    def all_gaps(self) -> list[Gap]:
        spans: dict[tuple[str, str], list[Range]] = defaultdict(list)
        for gateway, stream, first, last in self._db.execute(
            "SELECT gateway, stream, first, last FROM seen "
            "UNION ALL SELECT gateway, stream, first, last FROM lost"
        ):
            spans[(gateway, stream)].append((first, last))
        return sorted(
            Gap(gateway, stream, a, b)
            for (gateway, stream), ranges in spans.items()
            for a, b in holes(ranges)
        )


# -- outputs -------------------------------------------------------------------------------


class Sink(Protocol):
    def write(self, name: str, bundle: Mapping[str, Any]) -> str:
        """Store one Bundle durably (``name`` is stable for the same records); say where."""
        ...


class DirectorySink:
    """One JSON file per message, written atomically (temporary file, fsync, rename)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise IngestError(f"cannot create output directory {path}: {exc}") from exc

    def write(self, name: str, bundle: Mapping[str, Any]) -> str:
        data = json.dumps(bundle, separators=(",", ":"), allow_nan=False).encode()
        target = self.path / name
        fd, tmp = tempfile.mkstemp(dir=self.path, prefix=f".{name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, target)
            dir_fd = os.open(self.path, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise IngestError(f"cannot write {target}: {exc}") from exc
        return str(target)


class FhirServerSink:
    """POST each transaction Bundle to a FHIR server's base URL (stdlib urllib)."""

    def __init__(self, base_url: str, timeout_s: float = 30.0) -> None:
        parts = urllib.parse.urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"FHIR base URL must be http(s)://host/..., not {base_url!r}")
        self.url = base_url.rstrip("/")
        self.timeout_s = timeout_s

    def write(self, name: str, bundle: Mapping[str, Any]) -> str:
        data = json.dumps(bundle, separators=(",", ":"), allow_nan=False).encode()
        request = urllib.request.Request(  # noqa: S310 (scheme checked in __init__)
            self.url,
            data=data,
            method="POST",
            headers={
                "Content-Type": "application/fhir+json",
                "Accept": "application/fhir+json",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:  # noqa: S310
                status = response.status
                response.read()
        except urllib.error.HTTPError as exc:
            with contextlib.closing(exc):
                detail = exc.read()[:300].decode("utf-8", "replace")
            raise IngestError(
                f"FHIR server {self.url} refused {name}: HTTP {exc.code} {detail}"
            ) from exc
        except (urllib.error.URLError, OSError) as exc:
            raise IngestError(f"FHIR server {self.url} unreachable: {exc}") from exc
        return f"{self.url} (HTTP {status})"


def bundle_name(gateway: str, stream: str, first: int, last: int) -> str:
    """A file name that is safe, unique per (gateway, stream) and stable across resends."""
    parts = []
    for part in (gateway, stream):
        safe = re.sub(r"[^A-Za-z0-9._-]", "_", part)[:80]
        if safe != part or safe.startswith("."):
            digest = hashlib.sha256(part.encode()).hexdigest()[:8]
            safe = f"{safe.lstrip('.')}~{digest}"
        parts.append(safe)
    return f"{parts[0]}__{parts[1]}__{first}-{last}.json"


# -- parsing -------------------------------------------------------------------------------


class _Rejected(Exception):
    """A malformed message; the text says why."""


@dataclass(frozen=True, slots=True)
class _Message:
    gateway: str
    stream: str
    kind: str
    body: dict[str, Any]
    samples: tuple[dict[str, Any], ...]


def _parse(topic: str, payload: bytes) -> _Message | None:
    """The envelope on ``topic``; ``None`` for a gateway status message."""
    levels = topic.split("/")
    if levels[:2] != ["edgetwin", "v1"]:
        raise _Rejected("topic is not under edgetwin/v1/")
    if len(levels) == 5 and levels[4] == "status":
        return None
    if len(levels) != 6 or not all(levels[2:]):
        raise _Rejected("topic is not edgetwin/v1/{site}/{gateway}/{kind}/{stream}")
    _, _, site, gateway, kind, stream = levels
    try:
        body: Any = envelope.decode(payload)  # JSON, or whatever else the gateway may send
    except Exception as exc:  # bytes from the network: any decoder's error is a reject
        raise _Rejected(f"payload is not a v1 envelope: {exc}") from exc
    if not isinstance(body, dict):
        raise _Rejected("payload is not a map")
    if body.get("v") != envelope.VERSION:
        raise _Rejected(f"unsupported envelope version {body.get('v')!r}")
    for key, expected in (("site", site), ("gateway", gateway), ("kind", kind), ("stream", stream)):
        if body.get(key) != expected:
            raise _Rejected(f"envelope {key} {body.get(key)!r} does not match the topic")
    if kind == "gap":
        span = body.get("seq")
        if not (isinstance(span, list) and len(span) == 2 and all(_is_seq(s) for s in span)):
            raise _Rejected("gap envelope needs seq [first, last]")
        if span[0] > span[1]:
            raise _Rejected("gap envelope has first > last")
        return _Message(gateway, stream, kind, body, ())
    samples = body.get("samples")
    if not isinstance(samples, list) or not samples:
        raise _Rejected("envelope has no samples")
    for sample in samples:
        if not isinstance(sample, dict) or not _is_seq(sample.get("seq")):
            raise _Rejected("every sample needs a seq from 1 to 2**63-1")
    return _Message(gateway, stream, kind, body, tuple(samples))


def _is_seq(x: object) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and 1 <= x <= SEQ_MAX


# -- the consumer core (synchronous, no MQTT) ----------------------------------------------

GapListener = Callable[[str, Gap], None]  # ("opened" | "closed", gap)


@dataclass
class _Result:
    """What one message did inside the transaction (accounted for after the commit)."""

    before: list[Gap]
    after: list[Gap] = field(default_factory=list)
    new: list[dict[str, Any]] = field(default_factory=list)
    duplicates: int = 0
    lost: int = 0
    written: str | None = None
    bundled: bool = False
    mapping_error: bool = False


class Ingestor:
    """Dedup, gap tracking and output for envelopes, one call per MQTT message.

    Not thread-safe: use it from one thread at a time (:func:`consume` uses one worker).
    """

    def __init__(
        self, state: Path, sink: Sink | None = None, on_gap: GapListener | None = None
    ) -> None:
        self.ledger = Ledger(state)
        self.sink = sink
        self.on_gap = on_gap
        self.stats = IngestStats()
        self._gaps: dict[tuple[str, str], list[Gap]] = defaultdict(list)
        for gap in self.ledger.all_gaps():
            self._gaps[(gap.gateway, gap.stream)].append(gap)
        self._count_gaps()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self.ledger.close()

    def open_gaps(self) -> list[Gap]:
        """Every open gap in the state file (all consumers sharing it), read now."""
        return self.ledger.all_gaps()

    def handle(self, topic: str, payload: bytes) -> Outcome:
        """Take one message. Raises :class:`IngestError` if the output cannot be written:
        then nothing is recorded, and the message must not be acknowledged."""
        return self.handle_many([(topic, payload)])[0]

    def handle_many(self, messages: Sequence[tuple[str, bytes]]) -> list[Outcome]:
        """Take several messages in one state-file transaction (group commit: one fsync for
        all). All or nothing: on :class:`IngestError` none of them is recorded and none may
        be acknowledged. Outcomes in the order given."""
        parsed: list[_Message | Outcome] = []
        for topic, payload in messages:
            try:
                message = _parse(topic, payload)
            except _Rejected as exc:
                self.stats.rejected += 1
                # the last topic level is a stream id, which may carry a patient's id
                log.warning("rejected message on %s/...: %s", topic.rsplit("/", 1)[0], exc)
                parsed.append(Outcome(rejected=str(exc)))
                continue
            parsed.append(Outcome() if message is None else message)
        work = [m for m in parsed if isinstance(m, _Message)]
        if not work:
            return [m for m in parsed if isinstance(m, Outcome)]
        results: list[_Result] = []
        with self.ledger.transaction():
            for message in work:
                results.append(self._take(message))
        # committed: only now does anything count
        done = iter(self._account(m, r) for m, r in zip(work, results, strict=True))
        return [next(done) if isinstance(m, _Message) else m for m in parsed]

    def _take(self, message: _Message) -> _Result:
        """Inside the transaction: dedup, map, write, and record one message."""
        key = (message.gateway, message.stream)
        r = _Result(before=self.ledger.gaps(*key))
        if message.kind == "gap":
            first, last = message.body["seq"]
            reason = message.body.get("reason")
            t_ns = message.body.get("t_ns")
            if self.ledger.add_lost(
                *key,
                (first, last),
                reason if isinstance(reason, str) else "",
                t_ns if isinstance(t_ns, int) else None,
            ):
                r.lost = last - first + 1
        else:
            seen = self.ledger.seen(*key)
            fresh: set[int] = set()
            for sample in message.samples:
                seq = sample["seq"]
                if seq in fresh or covered(seen, seq):
                    r.duplicates += 1
                else:
                    fresh.add(seq)
                    r.new.append(sample)
            if r.new and message.kind in fhir.MAPPED_KINDS:
                try:
                    bundle = fhir.to_bundle({**message.body, "samples": r.new})
                except fhir.MappingError as exc:
                    r.mapping_error = True
                    log.error("cannot map %s/%s to FHIR: %s", *key, exc)
                else:
                    r.bundled = bundle is not None
                    if bundle is not None and self.sink is not None:
                        name = bundle_name(*key, min(fresh), max(fresh))
                        r.written = self.sink.write(name, bundle)
            if fresh:
                self.ledger.replace_seen(*key, merge([*seen, *((s, s) for s in fresh)]))
        r.after = self.ledger.gaps(*key)
        return r

    def _account(self, message: _Message, r: _Result) -> Outcome:
        """After the commit: statistics, gap reports, the outcome."""
        key = (message.gateway, message.stream)
        stats = self.stats
        stats.messages += 1
        stats.records_new += len(r.new)
        stats.duplicates += r.duplicates
        stats.lost_records += r.lost
        stats.bundles += int(r.bundled)
        stats.mapping_errors += int(r.mapping_error)
        stats.unmapped += int(message.kind not in fhir.MAPPED_KINDS and message.kind != "gap")
        opened = tuple(g for g in r.after if g not in r.before)
        closed = tuple(g for g in r.before if g not in r.after)
        self._gaps[key] = r.after
        self._count_gaps()
        for gap in closed:
            log.info("gap closed: %s", gap)
            if self.on_gap is not None:
                self.on_gap("closed", gap)
        for gap in opened:
            log.warning("gap: %s missing (%d records)", gap, gap.size)
            if self.on_gap is not None:
                self.on_gap("opened", gap)
        return Outcome(
            new=tuple(s["seq"] for s in r.new),
            duplicates=r.duplicates,
            opened=opened,
            closed=closed,
            written=r.written,
        )

    def _count_gaps(self) -> None:
        gaps = [g for stream_gaps in self._gaps.values() for g in stream_gaps]
        self.stats.gaps_open = len(gaps)
        self.stats.missing_records = sum(g.size for g in gaps)


# -- MQTT ----------------------------------------------------------------------------------


def shared_filter(group: str) -> str:
    """The MQTT 5 shared-subscription filter of a consumer group."""
    if not group or any(c in group for c in "/+#"):
        raise ValueError(f"group name must be non-empty, without '/', '+' or '#': {group!r}")
    return f"$share/{group}/{TOPIC_FILTER}"


async def consume(
    ingestor: Ingestor,
    host: str,
    port: int,
    stop: asyncio.Event,
    *,
    group: str = DEFAULT_GROUP,
    client_id: str | None = None,
    session_expiry_s: int = 3600,
    ready: asyncio.Event | None = None,
    backoff: Backoff | None = None,
) -> None:
    """Consume until ``stop`` is set; reconnect with backoff once the first connect worked.

    With ``client_id`` the MQTT session is persistent (clean start off, expiry
    ``session_expiry_s``): messages not yet acknowledged when the consumer stopped or
    crashed are redelivered to it when it comes back. Without, a random id and a session
    that ends with the connection. Raises :class:`BrokerUnavailableError` if the first
    connect fails and :class:`IngestError` if output cannot be written.
    """
    topic_filter = shared_filter(group)
    backoff = backoff or Backoff()
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="edgetwin-ingest")
    attempt = 0
    subscribed = False
    try:
        while not stop.is_set():
            client = _client(host, port, client_id, session_expiry_s)
            try:
                async with client:
                    await client.subscribe(topic_filter, qos=1)
                    subscribed, attempt = True, 0
                    log.info("consuming %s from %s:%d", topic_filter, host, port)
                    if ready is not None:
                        ready.set()
                    await _pump(client, ingestor, executor, stop)
                return
            except aiomqtt.MqttError as exc:
                if not subscribed:
                    raise BrokerUnavailableError(
                        f"cannot subscribe at MQTT broker {host}:{port}: {exc}"
                    ) from exc
                delay = backoff.delay(attempt)
                attempt += 1
                log.warning(
                    "lost MQTT broker %s:%d (%s); retrying in %.1f s", host, port, exc, delay
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
    finally:
        executor.shutdown(wait=True)


def _client(host: str, port: int, client_id: str | None, session_expiry_s: int) -> aiomqtt.Client:
    persistent = client_id is not None
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = session_expiry_s if persistent else 0
    # Messages are acknowledged one by one after their commit; this bounds how many the
    # broker sends ahead (and so the memory the incoming queue can take).
    props.ReceiveMaximum = RECEIVE_MAXIMUM
    client = aiomqtt.Client(
        host,
        port,
        identifier=client_id or f"edgetwin-ingest-{uuid.uuid4().hex[:12]}",
        protocol=aiomqtt.ProtocolVersion.V5,
        clean_start=not persistent,
        properties=props,
        keepalive=30,
        timeout=10,
    )
    # aiomqtt 2.x has no manual-ack API; paho's is needed so the PUBACK follows the commit.
    client._client.manual_ack_set(True)
    return client


async def _pump(
    client: aiomqtt.Client, ingestor: Ingestor, executor: ThreadPoolExecutor, stop: asyncio.Event
) -> None:
    loop = asyncio.get_running_loop()

    def data(message: aiomqtt.Message) -> tuple[str, bytes]:
        payload = message.payload
        return str(message.topic), bytes(payload) if isinstance(payload, bytes | bytearray) else b""

    async def receive() -> None:
        messages = client.messages
        async for message in messages:
            # group commit: what is already queued goes in the same transaction
            batch = [message]
            while len(batch) < GROUP_COMMIT_MAX and len(messages) > 0:
                batch.append(await anext(messages))
            await loop.run_in_executor(executor, ingestor.handle_many, [data(m) for m in batch])
            for m in batch:  # PUBACKs only after the commit, in arrival order
                if m.qos > 0:
                    client._client.ack(m.mid, m.qos)

    receiver = asyncio.create_task(receive(), name="edgetwin-ingest-receive")
    stopper = asyncio.create_task(stop.wait(), name="edgetwin-ingest-stop")
    try:
        await asyncio.wait({receiver, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
        if not receiver.done():
            receiver.cancel()
        await asyncio.gather(stopper, return_exceptions=True)
        with contextlib.suppress(asyncio.CancelledError):
            await receiver  # re-raises what ended it (MqttError, IngestError)
