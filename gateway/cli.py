"""The ``edgetwin`` command line. Errors are one clear line on stderr and a non-zero exit."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from gateway import __version__
from gateway.errors import EdgeTwinError, ParseError
from gateway.logging_json import setup_logging

#: Optional sub-command modules (``register(subparsers)``), added as they land.
COMMAND_MODULES: tuple[str, ...] = (
    "gateway.commands.news2",
    "gateway.commands.ingest",
    "gateway.commands.doctor",
    "gateway.commands.devices",
    "gateway.commands.buffer",
    "gateway.commands.hil",
    "gateway.commands.fleet",
    "gateway.commands.whatif",
    "gateway.commands.keys",
)

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(
        args.log_level.upper(),
        json=None if args.log_format is None else args.log_format == "json",
    )
    try:
        code: int = args.func(args)
        return code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # output piped into head and the like: not an error
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    except (EdgeTwinError, ValueError, OSError) as exc:
        print(f"edgetwin: error: {exc}", file=sys.stderr)
        return EXIT_USAGE if isinstance(exc, ValueError | ParseError) else EXIT_FAILURE


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edgetwin", description="Bedside and home-monitoring edge gateway."
    )
    parser.add_argument("--version", action="version", version=f"edgetwin {__version__}")
    parser.add_argument(
        "--log-level", default="warning", choices=["debug", "info", "warning", "error"]
    )
    parser.add_argument(
        "--log-format",
        choices=["text", "json"],
        default=None,
        help="json: one JSON object per line (for journald); default text, or $EDGETWIN_LOG_FORMAT",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run the gateway from a TOML configuration")
    run.add_argument("--config", required=True, type=Path, help="configuration file (TOML)")
    run.set_defaults(func=_cmd_run)

    demo = sub.add_parser("demo", help="run the gateway on a simulated ward (embedded defaults)")
    demo.add_argument("--seconds", type=float, default=None, help="stop after N seconds")
    demo.add_argument("--beds", type=int, default=4, help="number of simulated beds (default 4)")
    demo.add_argument(
        "--rate", type=float, default=1.0, help="lines per second per oximeter (device: 1)"
    )
    demo.add_argument("--data-dir", type=Path, default=Path("edgetwin-demo-data"))
    demo.add_argument(
        "--status-port", type=int, default=8080, help="status page port on 127.0.0.1 (0: off)"
    )
    demo.set_defaults(func=_cmd_demo)

    status = sub.add_parser("status", help="show a gateway's state from its data directory")
    status.add_argument("--data-dir", type=Path, default=Path("edgetwin-data"))
    status.add_argument("--json", action="store_true", help="print JSON")
    status.set_defaults(func=_cmd_status)

    decode = sub.add_parser("decode", help="decode a captured payload given as hex, print JSON")
    decode_sub = decode.add_subparsers(dest="transport", required=True, metavar="TRANSPORT")
    serial = decode_sub.add_parser("serial", help="one framed serial frame or line")
    serial.add_argument("protocol", help="protocol id: masimo, nonin, nonin-8, datex-s5")
    serial.add_argument("hex", help="the bytes as hex")
    serial.set_defaults(func=_cmd_decode_serial)

    replay = sub.add_parser("replay", help="decode a raw serial capture through a driver")
    replay.add_argument("protocol", help="protocol id, e.g. masimo, nonin, datex-s5")
    replay.add_argument("capture", type=Path, help="file with the bytes the device sent")
    replay.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    replay.set_defaults(func=_cmd_replay)

    ble = decode_sub.add_parser("ble", help="one GATT characteristic value")
    ble.add_argument("characteristic", help="e.g. 2a37, 0x2A37 or the full 128-bit UUID")
    ble.add_argument("hex", help="the characteristic value as hex")
    ble.set_defaults(func=_cmd_decode_ble)

    bench = sub.add_parser("bench", help="measure throughput, alarm latency and disk writes")
    bench.add_argument("--beds", type=int, default=32)
    bench.add_argument("--seconds", type=float, default=10.0)
    bench.add_argument("--alarms", type=int, default=100, help="alarms injected during a backlog")
    bench.add_argument(
        "--backlog-s", type=float, default=3600.0, help="outage backlog draining during alarms"
    )
    bench.add_argument(
        "--no-capacity", action="store_true", help="skip the search for the largest ward"
    )
    bench.add_argument(
        "--soak",
        action="store_true",
        help="instead: run --seconds of random kill -9, broker restarts and link drops; "
        "report loss (must be 0), memory over time and log counts",
    )
    bench.add_argument("--seed", type=int, default=1, help="fault schedule seed (--soak)")
    bench.add_argument(
        "--faults",
        default="kill9,broker_restart,link_drop",
        help="--soak: comma-separated faults to draw from (kill9, broker_restart, link_drop)",
    )
    bench.add_argument(
        "--allocator",
        choices=("auto", "jemalloc", "glibc"),
        default="auto",
        help="--soak: the gateway's memory allocator (auto: jemalloc when installed, as the "
        "service unit runs it)",
    )
    bench.add_argument("--json", action="store_true")
    bench.set_defaults(func=_cmd_bench)

    for module in COMMAND_MODULES:
        importlib.import_module(module).register(sub)
    return parser


def _cmd_run(args: argparse.Namespace) -> int:
    from gateway.config import load_config
    from gateway.runtime import Gateway, install_signal_handlers

    config = load_config(args.config)

    async def go() -> None:
        stop = asyncio.Event()
        install_signal_handlers(stop)
        await Gateway(config).run(stop)

    asyncio.run(go())
    return EXIT_OK


def _cmd_demo(args: argparse.Namespace) -> int:
    from gateway.demo import format_summary, run_demo

    if args.beds < 1 or args.beds > 64:
        raise ValueError("--beds must be from 1 to 64")
    if args.rate <= 0 or args.rate > 1000:
        raise ValueError("--rate must be above 0 and at most 1000")
    if not 0 <= args.status_port <= 65535:
        raise ValueError("--status-port must be 0..65535")
    summary = asyncio.run(
        run_demo(args.data_dir, args.seconds, args.beds, args.rate, args.status_port)
    )
    print(format_summary(summary))
    return EXIT_OK


def _cmd_status(args: argparse.Namespace) -> int:
    from gateway.status import format_status, read_status

    status = read_status(args.data_dir)
    print(json.dumps(status, indent=2) if args.json else format_status(status))
    return EXIT_OK


def _cmd_decode_serial(args: argparse.Namespace) -> int:
    from gateway.decode import decode_serial

    print(json.dumps(decode_serial(args.protocol, args.hex), indent=2))
    return EXIT_OK


def _cmd_decode_ble(args: argparse.Namespace) -> int:
    from drivers.ble.decode import decode_characteristic
    from gateway.decode import parse_hex

    print(json.dumps(decode_characteristic(args.characteristic, parse_hex(args.hex)), indent=2))
    return EXIT_OK


def _cmd_bench(args: argparse.Namespace) -> int:
    from gateway.bench import main_bench

    if not 1 <= args.beds <= 512 or not 1 <= args.seconds <= 86400 * 7:
        raise ValueError("--beds must be 1..512 and --seconds 1..604800")
    if args.soak:
        from gateway.soak import main_soak

        faults = tuple(f.strip() for f in args.faults.split(",") if f.strip())
        return main_soak(args.beds, args.seconds, args.json, args.seed, faults, args.allocator)
    return main_bench(
        args.beds, args.seconds, args.json, args.alarms, args.backlog_s, not args.no_capacity
    )


def _cmd_replay(args: argparse.Namespace) -> int:
    from gateway.replay import run_replay

    return run_replay(args.protocol, args.capture, args.json)


if __name__ == "__main__":
    sys.exit(main())
