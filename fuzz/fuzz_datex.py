"""Fuzz the Datex-Ohmeda S/5 deframer, record parser, frame decoder and mapping.

Bit 6 of the first byte set: the rest is taken as one record, framed with a correct
checksum (so mutations reach the record parser through the stream); clear: the rest is
wire bytes. Either way it is fed in the chunks of :func:`fuzz.harness.split`, and also
parsed directly as a record. Documented: bad input gives or raises
:class:`~gateway.errors.ParseError`; the deframer holds at most ``MAX_WIRE`` bytes.
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
    from drivers.datex.decode import decode_frame
    from drivers.datex.framing import MAX_WIRE, encode_frame
    from drivers.datex.measurements import to_records
    from drivers.datex.records import (
        DatexDecoder,
        OtherRecord,
        PhdbRecord,
        WaveRecord,
        parse_record,
    )

TARGET = "datex"
RECORDS = (PhdbRecord, WaveRecord, OtherRecord)


def decode(data: bytes) -> list[object]:
    """Stream ``data`` (or, with bit 6 of its first byte, the framed record) and map it."""
    if data and data[0] & 0x40:
        data = data[:1] + encode_frame(data[1:])
    items = feed_all(DatexDecoder(), split(data), RECORDS, MAX_WIRE)
    for record in parsed(items):
        assert isinstance(record, RECORDS)
        to_records(record, "fuzz", RECEIVED)
    return items


def fuzz_one(data: bytes) -> None:
    decode(data)
    body = data[1:]
    with contextlib.suppress(ParseError):
        to_records(parse_record(body), "fuzz", RECEIVED)
    with contextlib.suppress(ParseError):
        decode_frame(body)


if __name__ == "__main__":
    main(fuzz_one)
