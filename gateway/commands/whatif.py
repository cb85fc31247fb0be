"""``edgetwin whatif``: replay recorded vitals through the current and a candidate policy.

Prints, per patient and priority, the alarms each policy would have raised, the time in
alarm, NEWS2 time per risk band, and the differences (a table, or JSON with ``--json``).
Any invalid input (a policy file, the data, ``--since``) gives one line on stderr and exit
code 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from pathlib import Path

from gateway.config import Patient
from gateway.errors import EdgeTwinError
from gateway.whatif import (
    Observations,
    default_policy,
    format_report,
    load_policy,
    parse_since,
    read_buffer,
    read_record,
    to_json,
    whatif,
)

EXIT_OK, EXIT_USAGE = 0, 2


class _UsageError(Exception):
    """Invalid command-line input; the message is the one line shown."""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``whatif`` sub-command."""
    parser = subparsers.add_parser(
        "whatif",
        help="replay recorded vitals through the current and a candidate alarm/NEWS2 policy",
        description="Replay a gateway's buffered numerics (--data-dir), a PhysioNet MIMIC-II "
        "numerics CSV or exported envelopes (--record) through two alarm/NEWS2 policies and "
        "compare the alarms each would have raised, per patient and priority.",
    )
    parser.add_argument(
        "--config",
        type=Path,
        required=True,
        metavar="CANDIDATE.toml",
        help="candidate policy: a gateway configuration, or just its [alarms], [twin] and "
        "[[patients]] tables",
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        metavar="CURRENT.toml",
        help="current policy (default: the built-in ward defaults with the candidate's "
        "patient inputs)",
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--data-dir",
        type=Path,
        metavar="DIR",
        help="a gateway's data directory (default: the candidate's [gateway] data_dir)",
    )
    source.add_argument(
        "--record",
        type=Path,
        metavar="PATH",
        help="derived_*_numerics_per_minute.csv, or envelopes as .jsonl (buffer export)",
    )
    parser.add_argument(
        "--patient",
        metavar="ID",
        help="patient id for a PhysioNet record (default: the candidate's first patient)",
    )
    parser.add_argument(
        "--since",
        metavar="T",
        help="start at an offset into the data (90s, 45m, 2h) or at an ISO 8601 time",
    )
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Replay, compare and print; return the exit code."""
    try:
        candidate = load_policy(args.config)
        baseline = (
            load_policy(args.baseline)
            if args.baseline is not None
            else default_policy(candidate.patients)
        )
        obs = _observations(args, candidate.patients, candidate.data_dir)
        since = None if args.since is None else parse_since(args.since, obs.epoch_ns)
        report = whatif(obs, baseline, candidate, since)
    except (_UsageError, EdgeTwinError, ValueError) as exc:
        print(f"edgetwin whatif: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(to_json(report) if args.json else format_report(report))
    return EXIT_OK


def _observations(
    args: argparse.Namespace, patients: Mapping[str, Patient], data_dir: Path | None
) -> Observations:
    if args.record is not None:
        if not args.record.is_file():
            raise _UsageError(f"--record {args.record}: no such file")
        patient = args.patient or next(iter(patients), "record")
        return read_record(args.record, patient)
    directory = args.data_dir if args.data_dir is not None else data_dir
    if directory is None:
        raise _UsageError(
            "give --data-dir DIR or --record PATH (the candidate has no [gateway] data_dir)"
        )
    return read_buffer(directory)
