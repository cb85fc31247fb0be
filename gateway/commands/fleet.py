"""``edgetwin fleet``: many simulated gateways against one broker, consumers on a shared
subscription; prints broker messages/s, consumer records/s and the dedup check.

A load generator for sizing the upstream side (see docs/scaling.md), never a test of time.
Invalid options give one line on stderr and exit code 2; a failed dedup check exit code 1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from gateway.commands.ingest import parse_broker
from gateway.errors import EdgeTwinError

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``fleet`` sub-command."""
    parser = subparsers.add_parser(
        "fleet",
        help="simulate a fleet of gateways and scaled-out consumers against one broker",
        description="N simulated gateways (MQTT 5 clients publishing real envelopes) against "
        "one broker (a private mosquitto unless --broker), K consumers in one shared-"
        "subscription group; reports messages/s, records/s and whether every record was "
        "counted exactly once. Use a test broker: the consumers subscribe to edgetwin/v1/#.",
    )
    parser.add_argument("--gateways", type=int, default=20, metavar="N")
    parser.add_argument("--seconds", type=float, default=5.0, metavar="S")
    parser.add_argument("--consumers", type=int, default=2, metavar="K")
    parser.add_argument("--beds", type=int, default=2, metavar="B", help="beds per gateway")
    parser.add_argument(
        "--flush-ms", type=int, default=250, metavar="MS", help="gateway flush interval"
    )
    parser.add_argument(
        "--duplicates", type=float, default=0.01, metavar="F", help="fraction published twice"
    )
    parser.add_argument("--broker", metavar="HOST:PORT", help="use this broker (default: private)")
    parser.add_argument(
        "--state-dir", type=Path, metavar="DIR", help="consumers' state file here (default: temp)"
    )
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="run the consumers as tasks in this process instead of edgetwin ingest processes",
    )
    parser.add_argument(
        "--bridge",
        action="store_true",
        help="gateways publish to a site mosquitto bridged to the broker (mosquitto bridge)",
    )
    parser.add_argument("--drain-timeout", type=float, default=60.0, metavar="S")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from hil.fleet import FleetOptions, format_report, run_fleet

    try:
        host: str | None = None
        port = 1883
        if args.broker is not None:
            host, port = parse_broker(args.broker)
        if not 0 < args.drain_timeout <= 3600:
            raise ValueError("--drain-timeout must be above 0 and at most 3600")
        opts = FleetOptions(
            gateways=args.gateways,
            seconds=args.seconds,
            consumers=args.consumers,
            beds=args.beds,
            flush_s=args.flush_ms / 1000,
            duplicate_fraction=args.duplicates,
            drain_timeout_s=args.drain_timeout,
            host=host,
            port=port,
            state_dir=args.state_dir,
            consumer_processes=not args.in_process,
            bridge=args.bridge,
        )
        opts.check()
        if args.state_dir is not None and not args.state_dir.is_dir():
            raise ValueError(f"--state-dir {args.state_dir}: not a directory")
    except Exception as exc:  # noqa: BLE001 (every option problem is one line, exit 2)
        print(f"edgetwin fleet: error: {exc}", file=sys.stderr)
        return EXIT_USAGE

    def say(msg: str) -> None:
        if not args.json:
            print(f"edgetwin fleet: {msg}", file=sys.stderr)

    try:
        report = asyncio.run(run_fleet(opts, say))
    except (EdgeTwinError, OSError, RuntimeError, TimeoutError) as exc:
        print(f"edgetwin fleet: error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    print(json.dumps(report.as_dict(), indent=2) if args.json else format_report(report))
    return EXIT_OK if report.dedup["ok"] else EXIT_FAILURE
