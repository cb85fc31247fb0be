"""``edgetwin hil``: run the scenario library on a rig, render a report, flash a board.

* ``run [--rig FILE] [--scenario NAME ...] [--speed X] [--json OUT]``: every scenario
  through the real gateway (:mod:`hil.runner`); prints the summary, exit 1 if any fails.
* ``report RESULT.json``: the readable summary of a saved run; exit 1 if it had failures.
* ``flash --port P --scenario NAME [--profile ble|uart] [--board esp32|pico-w]``: copy the
  companion firmware (``hil/firmware``), the scenario engine, ``scenario.json`` and
  ``config.json`` to a board with ``mpremote`` and reset it. A missing ``mpremote`` or port
  is one error line and exit 1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

EXIT_OK, EXIT_FAILURE = 0, 1
ROOT = Path(__file__).resolve().parents[2]
FIRMWARE = ROOT / "hil" / "firmware"
ENGINE = ROOT / "hil" / "scenarios" / "engine.py"
BOARDS = ("esp32", "esp32-c3", "esp32-s3", "pico-w", "pico2-w")
UART_PROTOCOLS = ("nonin7", "nonin8", "masimo")
#: aioble is frozen into the Pico W firmware; on ESP32 it is installed with mip.
AIOBLE_PACKAGES = ("aioble-peripheral", "aioble-server")
#: Loggers that report every intended fault of a scenario (link drops, damaged frames).
_CHATTY = ("bumble", "drivers")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``hil`` sub-command and its ``run``, ``report`` and ``flash`` actions."""
    parser = subparsers.add_parser(
        "hil", help="hardware-in-the-loop: run scenarios, report, flash boards"
    )
    sub = parser.add_subparsers(dest="hil_command", required=True, metavar="ACTION")

    run = sub.add_parser("run", help="run a scenario suite on a rig through the gateway")
    run.add_argument("--rig", type=Path, default=None, help="rig file (default: emulated)")
    run.add_argument("--scenario", action="append", default=None, metavar="NAME", help="repeatable")
    run.add_argument("--speed", type=float, default=None, help="scenario speed (emulated rigs)")
    run.add_argument("--json", type=Path, default=None, metavar="OUT", help="write the report")
    run.set_defaults(func=_cmd_run)

    report = sub.add_parser("report", help="print the summary of a saved run")
    report.add_argument("result", type=Path, metavar="RESULT.json")
    report.set_defaults(func=_cmd_report)

    flash = sub.add_parser("flash", help="copy firmware and a scenario to a board (mpremote)")
    flash.add_argument("--port", required=True, help="board port, /dev/serial/by-id/... or id:SN")
    flash.add_argument("--scenario", required=True, metavar="NAME", help="library scenario")
    flash.add_argument("--profile", choices=("ble", "uart"), default="ble")
    flash.add_argument("--board", choices=BOARDS, default="esp32")
    flash.add_argument("--protocol", choices=UART_PROTOCOLS, default=None, help="uart only")
    flash.add_argument("--speed", type=float, default=1.0, help="scenario speed on the board")
    flash.add_argument("--no-mip", action="store_true", help="do not mip-install aioble (ESP32)")
    flash.add_argument("--dry-run", action="store_true", help="print the mpremote command only")
    flash.set_defaults(func=_cmd_flash)


def _quiet() -> None:
    if logging.getLogger().getEffectiveLevel() >= logging.WARNING:
        for name in _CHATTY:
            logging.getLogger(name).setLevel(logging.ERROR)


def _cmd_run(args: argparse.Namespace) -> int:
    from hil.report import ScenarioResult, format_summary, to_json
    from hil.rig import load_rig
    from hil.runner import run_suite
    from hil.scenarios.loader import library_path

    if args.speed is not None and not 0.1 <= args.speed <= 1000:
        raise ValueError("--speed must be from 0.1 to 1000")
    rig = load_rig(args.rig)
    for name in args.scenario or ():
        library_path(name)  # an unknown name fails before anything starts
    _quiet()

    def progress(result: ScenarioResult) -> None:
        print(f"{result.scenario}: {result.status} ({result.wall_s:.1f} s)", file=sys.stderr)

    results = asyncio.run(run_suite(rig, args.scenario, args.speed, progress))
    if args.json is not None:
        args.json.write_text(to_json(results) + "\n", encoding="utf-8")
    print(format_summary(results))
    return EXIT_OK if all(r.passed for r in results) else EXIT_FAILURE


def _cmd_report(args: argparse.Namespace) -> int:
    from hil.report import format_summary, from_json

    results = from_json(args.result.read_text(encoding="utf-8"))
    print(format_summary(results))
    return EXIT_OK if all(r.passed for r in results) else EXIT_FAILURE


def board_config(args: argparse.Namespace) -> dict[str, object]:
    """The board's ``config.json`` (the firmware completes it with its defaults)."""
    config: dict[str, object] = {"mode": args.profile, "speed": args.speed}
    if args.profile == "uart":
        config["profile"] = args.protocol or "nonin7"
    elif args.protocol is not None:
        raise ValueError("--protocol applies to --profile uart only")
    return config


def flash_command(
    mpremote: str, args: argparse.Namespace, files: list[Path], staged: Path
) -> list[str]:
    """One chained mpremote invocation: (mip install,) copy everything, reset."""
    cmd = [mpremote, "connect", args.port]
    if args.profile == "ble" and args.board.startswith("esp32") and not args.no_mip:
        cmd += ["mip", "install", *AIOBLE_PACKAGES, "+"]
    cmd += ["fs", "cp", *(str(f) for f in files), ":", "+"]
    cmd += ["fs", "cp", str(staged / "scenario.json"), ":scenario.json", "+"]
    cmd += ["fs", "cp", str(staged / "config.json"), ":config.json", "+", "reset"]
    return cmd


def firmware_files() -> list[Path]:
    """Device files: the firmware's modules and the portable scenario engine."""
    files = sorted(FIRMWARE.glob("*.py"))
    if not files:
        raise FileNotFoundError(f"no firmware in {FIRMWARE}")
    return [*files, ENGINE]


def _fail(message: str) -> int:
    print(f"edgetwin hil flash: error: {message}", file=sys.stderr)
    return EXIT_FAILURE


def _cmd_flash(args: argparse.Namespace) -> int:
    from hil.scenarios.loader import library_path, load_spec, to_json

    spec = load_spec(library_path(args.scenario))
    if not 0.1 <= args.speed <= 1000:
        raise ValueError("--speed must be from 0.1 to 1000")
    config = board_config(args)
    mpremote = shutil.which("mpremote")
    if mpremote is None and not args.dry_run:
        return _fail("mpremote is not installed (pip install mpremote)")
    special = args.port.startswith(("id:", "rfc2217://")) or args.port in ("auto",)
    if not special and not Path(args.port).exists() and not args.dry_run:
        return _fail(f"port {args.port} does not exist (is the board plugged in?)")
    with tempfile.TemporaryDirectory(prefix="edgetwin-flash-") as tmp:
        staged = Path(tmp)
        (staged / "scenario.json").write_text(to_json(spec), encoding="utf-8")
        (staged / "config.json").write_text(json.dumps(config, indent=1), encoding="utf-8")
        cmd = flash_command(mpremote or "mpremote", args, firmware_files(), staged)
        if args.dry_run:
            print(" ".join(cmd))
            return EXIT_OK
        try:
            done = subprocess.run(cmd, check=False, timeout=300)
        except subprocess.TimeoutExpired:
            return _fail("mpremote did not finish within 300 s")
    if done.returncode != 0:
        return _fail(f"mpremote failed with exit code {done.returncode} (see its output above)")
    print(f"flashed {args.scenario} ({args.profile}) to {args.board} on {args.port}")
    return EXIT_OK
