"""``edgetwin ingest``: consume envelopes from a broker, dedup them, write FHIR R4 Bundles.

Runs until SIGINT/SIGTERM (or ``--seconds``), then prints its counters and the open gaps as
JSON. Invalid options give one line on stderr and exit code 2; a broker that cannot be
reached, or output that cannot be written, one line and exit code 1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import signal
import sqlite3
import sys
from pathlib import Path
from typing import Any

from gateway.errors import EdgeTwinError
from gateway.ingest import (
    DEFAULT_GROUP,
    DirectorySink,
    FhirServerSink,
    Ingestor,
    Sink,
    consume,
    shared_filter,
)

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


class _UsageError(Exception):
    """Invalid command-line input; the message is the one line shown."""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``ingest`` sub-command."""
    parser = subparsers.add_parser(
        "ingest",
        help="consume envelopes: dedup, gap report, FHIR R4 transaction Bundles",
        description="Subscribe to edgetwin/v1/# as a member of an MQTT 5 shared-subscription "
        "group, keep every record exactly once (state in an SQLite file), report sequence "
        "gaps, and write one FHIR R4 transaction Bundle per message to a directory or a "
        "FHIR server.",
    )
    # Values are validated in run() so every problem is one line and exit code 2.
    parser.add_argument("--broker", metavar="HOST:PORT", help="MQTT broker (required)")
    parser.add_argument(
        "--group", default=DEFAULT_GROUP, metavar="NAME", help="shared-subscription group"
    )
    parser.add_argument("--out", type=Path, metavar="DIR", help="write Bundles as JSON files")
    parser.add_argument(
        "--fhir-url", metavar="URL", help="POST Bundles to this FHIR base URL (not with --out)"
    )
    parser.add_argument(
        "--state",
        type=Path,
        default=Path("edgetwin-ingest.sqlite"),
        metavar="FILE",
        help="dedup and gap state (SQLite; may be shared by the consumers of one group)",
    )
    parser.add_argument("--seconds", metavar="N", help="stop after N seconds")
    parser.add_argument(
        "--client-id",
        metavar="ID",
        help="persistent MQTT session: unacknowledged messages come back after a restart",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Consume until stopped; print the summary; return the exit code."""
    try:
        host, port = parse_broker(args.broker)
        seconds = _seconds(args.seconds)
        shared_filter(args.group)
        if args.client_id is not None and not args.client_id:
            raise _UsageError("--client-id must not be empty")
        if args.out is not None and args.fhir_url is not None:
            raise _UsageError("give --out or --fhir-url, not both")
        sink: Sink | None = None
        if args.fhir_url is not None:
            sink = FhirServerSink(args.fhir_url)
    except (_UsageError, ValueError) as exc:
        print(f"edgetwin ingest: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        if args.out is not None:
            sink = DirectorySink(args.out)
        with Ingestor(args.state, sink) as ingestor:
            asyncio.run(_consume(ingestor, host, port, args.group, args.client_id, seconds))
            summary = _summary(ingestor)
    except (EdgeTwinError, OSError, sqlite3.Error) as exc:
        print(f"edgetwin ingest: error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    print(json.dumps(summary, indent=2))
    return EXIT_OK


def parse_broker(text: str | None) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6addr]:PORT`` for IPv6) -> (host, port)."""
    if not text:
        raise _UsageError("--broker HOST:PORT is required")
    host, sep, port_text = text.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise _UsageError(f"--broker must be HOST:PORT with a port from 1 to 65535, not {text!r}")
    return host, int(port_text)


def _seconds(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        raise _UsageError(f"--seconds must be a number, not {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise _UsageError("--seconds must be above 0")
    return value


async def _consume(
    ingestor: Ingestor,
    host: str,
    port: int,
    group: str,
    client_id: str | None,
    seconds: float | None,
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
    if seconds is not None:
        loop.call_later(seconds, stop.set)
    await consume(ingestor, host, port, stop, group=group, client_id=client_id)


def _summary(ingestor: Ingestor) -> dict[str, Any]:
    gaps = ingestor.open_gaps()
    stats = ingestor.stats.as_dict()
    stats["gaps_open"] = len(gaps)
    stats["missing_records"] = sum(g.size for g in gaps)
    return {
        "stats": stats,
        "open_gaps": [
            {"gateway": g.gateway, "stream": g.stream, "first": g.first, "last": g.last}
            for g in gaps
        ],
    }
