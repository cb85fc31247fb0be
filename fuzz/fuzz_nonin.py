"""Fuzz the Nonin format 7 and format 8 decoders, the frame decoder and the mapping.

Bit 6 of the first byte selects format 8 (set) or 7 (clear); the chunking is that of
:func:`fuzz.harness.split`. Documented: bad bytes give :class:`~gateway.errors.ParseError`
values; a decoder keeps less than one packet (format 7) or one record (format 8) between
feeds; ``decode_frame`` raises FramingError for input of the wrong length.
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
    from drivers.nonin.codec import (
        PACKET_LEN,
        RECORD8_LEN,
        Format7Decoder,
        Format8Decoder,
        Packet7,
        Record8,
        parse_frame7,
        parse_record8,
    )
    from drivers.nonin.decode import decode_frame
    from drivers.nonin.measurements import to_records

TARGET = "nonin"


def decode(data: bytes) -> list[object]:
    """Stream ``data`` through the decoder of the format it selects, then map the packets."""
    if data and data[0] & 0x40:
        items = feed_all(Format8Decoder(), split(data), Record8, RECORD8_LEN - 1)
    else:
        items = feed_all(Format7Decoder(), split(data), Packet7, PACKET_LEN - 1)
    for item in parsed(items):
        assert isinstance(item, Packet7 | Record8)
        to_records(item, "fuzz", RECEIVED)
    return items


def fuzz_one(data: bytes) -> None:
    decode(data)
    body = data[1:]
    for fmt in (7, 8):
        with contextlib.suppress(ParseError):
            decode_frame(body, fmt)
    for parse in (parse_frame7, parse_record8):
        with contextlib.suppress(ParseError):
            parse(body)


if __name__ == "__main__":
    main(fuzz_one)
