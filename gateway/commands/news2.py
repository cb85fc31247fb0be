"""``edgetwin news2``: score one set of observations with NEWS2 and print JSON.

Numbers are read as decimals (``36.05`` stays 36.05 and rounds half-up to 36.1). Invalid
input gives one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from decimal import Decimal, InvalidOperation

from edge_models.news2 import (
    Consciousness,
    News2Inputs,
    Parameter,
    SpO2Scale,
    domain_error,
    score_news2,
)

EXIT_OK, EXIT_USAGE = 0, 2

#: Option -> (NEWS2 parameter, attribute name in the parsed arguments).
_NUMERIC_OPTIONS: tuple[tuple[str, Parameter, str], ...] = (
    ("--resp-rate", Parameter.RESPIRATION_RATE, "resp_rate"),
    ("--spo2", Parameter.SPO2, "spo2"),
    ("--systolic-bp", Parameter.SYSTOLIC_BP, "systolic_bp"),
    ("--pulse", Parameter.PULSE, "pulse"),
    ("--temperature", Parameter.TEMPERATURE, "temperature"),
)


class _UsageError(Exception):
    """Invalid command-line input; the message is the one line shown to the user."""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``news2`` sub-command."""
    parser = subparsers.add_parser(
        "news2",
        help="NEWS2 early-warning score of one set of observations (JSON)",
        description="Score observations on the RCP NEWS2 chart (2017) and print JSON with "
        "the total, the risk band, the per-parameter scores, missing and partial.",
    )
    # Values are validated in run() so any problem is reported as one line, exit 2.
    units = {
        "--resp-rate": "breaths/min",
        "--spo2": "%",
        "--systolic-bp": "mmHg",
        "--pulse": "beats/min",
        "--temperature": "degC",
    }
    for option, _, dest in _NUMERIC_OPTIONS:
        parser.add_argument(option, dest=dest, metavar="N", help=f"required, {units[option]}")
    parser.add_argument(
        "--spo2-scale", default="1", metavar="1|2", help="SpO2 scale (2 only if prescribed)"
    )
    parser.add_argument(
        "--on-oxygen", action="store_true", help="patient receives supplemental oxygen"
    )
    parser.add_argument("--consciousness", metavar="A|C|V|P|U", help="required, ACVPU")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Score and print; return the exit code."""
    try:
        inputs = _inputs(args)
    except _UsageError as exc:
        print(f"edgetwin news2: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(json.dumps(score_news2(inputs).to_dict(), indent=2))
    return EXIT_OK


def _inputs(args: argparse.Namespace) -> News2Inputs:
    numbers: dict[Parameter, Decimal] = {}
    for option, parameter, dest in _NUMERIC_OPTIONS:
        text = getattr(args, dest)
        if text is None:
            raise _UsageError(f"{option} is required")
        try:
            value = Decimal(text.strip())
        except InvalidOperation:
            raise _UsageError(f"{option}: not a number: {text!r}") from None
        problem = "must be a number" if value.is_nan() else domain_error(parameter, value)
        if problem is not None:
            raise _UsageError(f"{option} {problem}, got {text!r}")
        numbers[parameter] = value
    if args.spo2_scale not in ("1", "2"):
        raise _UsageError(f"--spo2-scale must be 1 or 2, got {args.spo2_scale!r}")
    if args.consciousness is None:
        raise _UsageError("--consciousness is required (A, C, V, P or U)")
    try:
        consciousness = Consciousness(args.consciousness.strip().upper())
    except ValueError:
        raise _UsageError(
            f"--consciousness must be one of A, C, V, P, U, got {args.consciousness!r}"
        ) from None
    return News2Inputs(
        respiration_rate=numbers[Parameter.RESPIRATION_RATE],
        spo2=numbers[Parameter.SPO2],
        on_oxygen=bool(args.on_oxygen),
        systolic_bp=numbers[Parameter.SYSTOLIC_BP],
        pulse=numbers[Parameter.PULSE],
        consciousness=consciousness,
        temperature=numbers[Parameter.TEMPERATURE],
        spo2_scale=SpO2Scale(int(args.spo2_scale)),
    )
