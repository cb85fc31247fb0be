"""Fuzz the desired-state parser: the one document the gateway takes from the broker.

The input is the payload of ``edgetwin/v1/{site}/{gateway}/desired`` for a gateway with
patients ``p-1`` and ``p-2``. Documented: :func:`gateway.desired.parse_desired` raises
ValueError naming the first problem, nothing else (a compromised broker must not be able
to make the handler fail in any other way).
"""

from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__":  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fuzz.harness import instrumented, main

with instrumented(__name__ == "__main__"):
    from gateway.desired import parse_desired

TARGET = "desired"
PATIENTS = {"p-1", "p-2"}


def decode(data: bytes) -> list[object]:
    """The validated document, or its ValueError as a value."""
    try:
        return [parse_desired(data, PATIENTS)]
    except ValueError as exc:
        return [exc]


def fuzz_one(data: bytes) -> None:
    decode(data)


if __name__ == "__main__":
    main(fuzz_one)
