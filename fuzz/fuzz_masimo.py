"""Fuzz the Masimo ASCII line parser and its streaming decoder, then the measurement mapping.

Documented: malformed lines give :class:`~gateway.errors.ParseError` values (decoder) or
raise them (``parse_line``); the decoder holds at most ``MAX_LINE`` bytes between feeds.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

if __name__ == "__main__":  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fuzz.harness import RECEIVED, feed_all, instrumented, main, parsed, split
from gateway.errors import ParseError

with instrumented(__name__ == "__main__"):
    from drivers.masimo.codec import MAX_LINE, MasimoDecoder, MasimoReading, parse_line
    from drivers.masimo.measurements import to_measurements

TARGET = "masimo"


def decode(data: bytes) -> list[object]:
    """Stream ``data`` (cut per :func:`fuzz.harness.split`) through the decoder and mapping."""
    items = feed_all(MasimoDecoder(), split(data), MasimoReading, MAX_LINE)
    for reading in parsed(items):
        assert isinstance(reading, MasimoReading)
        to_measurements(reading, "fuzz", RECEIVED)
    return items


def fuzz_one(data: bytes) -> None:
    decode(data)
    with contextlib.suppress(ParseError):
        to_measurements(parse_line(data), "fuzz", RECEIVED)


if __name__ == "__main__":
    main(fuzz_one)
