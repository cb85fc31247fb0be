"""``edgetwin buffer inspect|export``: what is waiting in a gateway's outbox, and a copy of it.

Both open the SQLite buffer read-only, so they are safe beside a running gateway. ``export``
writes every waiting envelope as one JSON line (``--format jsonl``) or, per envelope, one FHIR
R4 transaction Bundle per line (``--format fhir``, numeric and wave envelopes only). Long
work shows a progress bar on stderr when stderr is a terminal.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, TextIO

from gateway.errors import BufferError_, EdgeTwinError
from gateway.runtime import BUFFER_FILE

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2
CHUNK_ROWS = 500
FHIR_MODULE = "gateway.fhir"
FHIR_FUNCTIONS = ("to_bundle", "envelope_to_bundle")


class Progress:
    """A one-line progress bar on stderr, drawn only when stderr is a terminal."""

    def __init__(
        self,
        total: int | None,
        label: str,
        stream: TextIO | None = None,
        enabled: bool | None = None,
        unit: str = "",
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = _isatty(self.stream) if enabled is None else enabled
        self.total = total
        self.label = label
        self.unit = unit
        self.done = 0
        self._drawn = 0.0

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def update(self, n: int = 1) -> None:
        self.set(self.done + n)

    def set(self, done: int) -> None:
        self.done = done
        now = time.monotonic()
        if self.enabled and (now - self._drawn >= 0.1 or done == self.total):
            self._drawn = now
            self.stream.write("\r" + self.render())
            self.stream.flush()

    def render(self, width: int = 30) -> str:
        if not self.total:
            return f"{self.label} {self.done}{self.unit}"
        frac = min(1.0, self.done / self.total)
        bar = "#" * round(frac * width)
        return (
            f"{self.label} [{bar:<{width}}] {frac * 100:3.0f}% {self.done}/{self.total}{self.unit}"
        )

    def close(self) -> None:
        if self.enabled and self._drawn:
            self.stream.write("\r" + self.render() + "\n")
            self.stream.flush()


def _isatty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``buffer inspect`` and ``buffer export``."""
    parser = subparsers.add_parser("buffer", help="inspect or export what waits in the outbox")
    sub = parser.add_subparsers(dest="buffer_command", required=True, metavar="ACTION")
    inspect = sub.add_parser("inspect", help="per stream: rows, records and oldest age waiting")
    inspect.add_argument("--data-dir", type=Path, default=Path("edgetwin-data"))
    inspect.add_argument("--json", action="store_true", help="print JSON")
    inspect.set_defaults(func=run_inspect)
    export = sub.add_parser("export", help="write the waiting envelopes as JSON lines or FHIR")
    export.add_argument("--data-dir", type=Path, default=Path("edgetwin-data"))
    export.add_argument("--format", choices=("jsonl", "fhir"), default="jsonl")
    export.add_argument("--out", type=Path, help="output file (default: standard output)")
    export.set_defaults(func=run_export)


@contextlib.contextmanager
def open_readonly(data_dir: Path) -> Iterator[sqlite3.Connection]:
    path = data_dir / BUFFER_FILE
    if not path.exists():
        raise BufferError_(f"no gateway buffer at {path} (is --data-dir right?)")
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        db.execute("PRAGMA busy_timeout=5000")
    except sqlite3.Error as exc:
        raise BufferError_(f"cannot open {path}: {exc}") from exc
    try:
        yield db
    except sqlite3.Error as exc:
        raise BufferError_(f"cannot read {path}: {exc}") from exc
    finally:
        db.close()


# -- inspect ---------------------------------------------------------------------------------


def inspect_buffer(data_dir: Path, now_ns: int | None = None) -> dict[str, Any]:
    now_ns = time.time_ns() if now_ns is None else now_ns
    with open_readonly(data_dir) as db:
        streams = [
            {
                "stream": stream,
                "kind": kind,
                "device": device or "",
                "rows": rows,
                "records": records,
                "bytes": size,
                "oldest_age_s": round((now_ns - oldest) / 1e9, 1),
            }
            for stream, kind, device, rows, records, size, oldest in db.execute(
                "SELECT o.stream_id, o.kind, s.device_id, count(*), sum(o.n), "
                "sum(length(o.payload)), min(o.created_ns) FROM outbox o "
                "LEFT JOIN streams s ON s.stream_id = o.stream_id "
                "GROUP BY o.stream_id, o.kind ORDER BY min(o.priority), o.stream_id"
            )
        ]
        meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
    return {
        "gateway": meta.get("gateway_id", "?"),
        "site": meta.get("site", "?"),
        "uplink": meta.get("uplink_state", "unknown"),
        "rows": sum(s["rows"] for s in streams),
        "records": sum(s["records"] for s in streams),
        "bytes": sum(s["bytes"] for s in streams),
        "oldest_age_s": max((s["oldest_age_s"] for s in streams), default=None),
        "streams": streams,
    }


def format_inspect(report: dict[str, Any]) -> str:
    lines = [
        f"gateway {report['gateway']} at {report['site']}; uplink {report['uplink']}",
    ]
    if not report["streams"]:
        lines.append("outbox empty: everything has been acknowledged upstream")
        return "\n".join(lines)
    lines.append(
        f"{report['records']} records in {report['rows']} batches waiting "
        f"({_size(report['bytes'])}); oldest {report['oldest_age_s']} s"
    )
    lines.append("")
    width = max(len(s["stream"]) for s in report["streams"])
    lines.append(
        f"{'stream':<{width}}  {'kind':<7} {'rows':>7} {'records':>9} {'bytes':>10} {'oldest':>10}"
    )
    for s in report["streams"]:
        lines.append(
            f"{s['stream']:<{width}}  {s['kind']:<7} {s['rows']:>7} {s['records']:>9} "
            f"{_size(s['bytes']):>10} {s['oldest_age_s']:>8} s"
        )
    return "\n".join(lines)


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def run_inspect(args: argparse.Namespace) -> int:
    report = inspect_buffer(args.data_dir)
    print(json.dumps(report, indent=2) if args.json else format_inspect(report))
    return EXIT_OK


# -- export ----------------------------------------------------------------------------------


def fhir_mapper() -> Callable[[dict[str, Any]], dict[str, Any] | None]:
    """The envelope -> FHIR Bundle function of :mod:`gateway.fhir`, or a clear error."""
    try:
        module = importlib.import_module(FHIR_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name != FHIR_MODULE:
            raise
        raise EdgeTwinError(
            "FHIR export needs gateway/fhir.py, which this EdgeTwin does not have; "
            "use --format jsonl"
        ) from None
    for name in FHIR_FUNCTIONS:
        fn = getattr(module, name, None)
        if callable(fn):
            mapper: Callable[[dict[str, Any]], dict[str, Any] | None] = fn
            return mapper
    raise EdgeTwinError(
        f"{FHIR_MODULE} has none of {', '.join(FHIR_FUNCTIONS)}; use --format jsonl"
    )


def export_buffer(
    data_dir: Path,
    out: IO[bytes],
    fmt: str = "jsonl",
    progress: Progress | None = None,
) -> dict[str, int]:
    """Write the waiting envelopes; return counts (envelopes, records, bundles, skipped)."""
    mapper = fhir_mapper() if fmt == "fhir" else None
    counts = {"envelopes": 0, "records": 0, "bundles": 0, "skipped": 0}
    with open_readonly(data_dir) as db:
        (total,) = db.execute("SELECT count(*) FROM outbox").fetchone()
        if progress is not None:
            progress.total = total
        last_id = 0
        while True:
            rows = db.execute(
                "SELECT id, n, payload FROM outbox WHERE id > ? ORDER BY id LIMIT ?",
                (last_id, CHUNK_ROWS),
            ).fetchall()
            if not rows:
                break
            for row_id, n, payload in rows:
                last_id = row_id
                counts["envelopes"] += 1
                counts["records"] += n
                if mapper is None:
                    out.write(bytes(payload).rstrip(b"\n") + b"\n")
                else:
                    bundle = mapper(json.loads(payload))
                    if bundle is None:  # alarms, events, twin state and gaps are not mapped
                        counts["skipped"] += 1
                        continue
                    counts["bundles"] += 1
                    out.write(json.dumps(bundle, separators=(",", ":")).encode() + b"\n")
            if progress is not None:
                progress.update(len(rows))
    return counts


def run_export(args: argparse.Namespace) -> int:
    if args.format == "fhir":
        fhir_mapper()  # fail before creating any file
    with Progress(None, "exporting", unit=" batches") as progress:
        if args.out is None:
            counts = export_buffer(args.data_dir, sys.stdout.buffer, args.format, progress)
            sys.stdout.flush()
        else:
            counts = _export_to_file(args.data_dir, args.out, args.format, progress)
    where = "standard output" if args.out is None else str(args.out)
    extra = (
        f"; {counts['bundles']} FHIR bundles, {counts['skipped']} envelopes not mapped "
        "(alarms, events, twin state, gaps)"
        if args.format == "fhir"
        else ""
    )
    print(
        f"edgetwin buffer export: {counts['envelopes']} envelopes "
        f"({counts['records']} records) to {where}{extra}",
        file=sys.stderr,
    )
    return EXIT_OK


def _export_to_file(data_dir: Path, out: Path, fmt: str, progress: Progress) -> dict[str, int]:
    """Write next to ``out`` and rename at the end: a partial export never looks complete."""
    tmp = out.with_name(f".{out.name}.partial-{os.getpid()}")
    try:
        with tmp.open("wb") as f:
            counts = export_buffer(data_dir, f, fmt, progress)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(out)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return counts
