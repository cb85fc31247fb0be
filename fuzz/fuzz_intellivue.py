"""Fuzz the IntelliVue deframer, APDU and session parsers, frame decoder, mapping and alarms.

Bit 6 of the first byte set: the rest is one APDU, framed with a correct FCS after a valid
MDS Create event (so poll results are anchored and mutations reach every layer through
:class:`MonitorStream`); clear: the rest is wire bytes. Either way it is fed in the chunks
of :func:`fuzz.harness.split` and also parsed directly as an APDU. Documented: bad input
gives or raises :class:`~gateway.errors.ParseError`; the deframer holds at most twice the
largest escaped frame.
"""

from __future__ import annotations

import contextlib
import sys
from datetime import datetime
from pathlib import Path

if __name__ == "__main__":  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fuzz.harness import RECEIVED, feed_all, instrumented, main, parsed, split
from gateway.errors import ParseError
from hil.intellivue_sim import encoder

with instrumented(__name__ == "__main__"):
    from drivers.intellivue.apdu import PollResult, parse_apdu
    from drivers.intellivue.decode import decode_frame, summarize
    from drivers.intellivue.framing import (
        FCS_LEN,
        HEADER_LEN,
        MAX_USER_DATA,
        decode_body,
        encode_frame,
    )
    from drivers.intellivue.measurements import to_records
    from drivers.intellivue.session import Inbound, MonitorStream, inbound_records

TARGET = "intellivue"
#: Buffer bound of the default deframer: twice the largest escaped frame body.
BOUND = 2 * (HEADER_LEN + MAX_USER_DATA + FCS_LEN)
#: A valid MDS Create event frame: it anchors the monitor clock for what follows.
MDS_CREATE = encoder.frame(
    encoder.mds_create_event(when=datetime(2024, 5, 20, 7, 30), rel_time=8000)  # noqa: DTZ001
)


def decode(data: bytes) -> list[object]:
    """Stream ``data`` (or, with bit 6 of its first byte, the framed APDU) and map it."""
    if data and data[0] & 0x40:
        data = data[:1] + MDS_CREATE + encode_frame(data[1 : 1 + MAX_USER_DATA])
    items = feed_all(MonitorStream(), split(data), Inbound, BOUND)
    for item in parsed(items):
        assert isinstance(item, Inbound)
        inbound_records(item, "fuzz", RECEIVED, patient="p")
        summarize(item.apdu)
    return items


def fuzz_one(data: bytes) -> None:
    decode(data)
    body = data[1:]
    try:
        apdu = parse_apdu(body)
    except ParseError:
        apdu = None
    if apdu is not None:
        summarize(apdu)
        if isinstance(apdu, PollResult):
            to_records(apdu.observations, "fuzz", RECEIVED, None)
    for direct in (decode_frame, decode_body):
        with contextlib.suppress(ParseError):
            direct(body)


if __name__ == "__main__":
    main(fuzz_one)
