"""Fuzz the upstream envelope decoder (JSON, CBOR, zstd) and ``edgetwin ingest``'s checks.

The input is an MQTT payload on a fixed topic. :func:`gateway.envelope.decode` may raise
only its decoders' own errors: ValueError (bad JSON or UTF-8, not a map, wrong version),
``cbor2.CBORError`` (not a ValueError since cbor2 6) or ``zstandard.ZstdError``; the
ingest parser turns everything into a reject.
Invariants: a zstd frame declaring more than :data:`MAX_DECODED` bytes is refused, never
accepted (a decompression bomb; the decoder must not even try to allocate what the header
declares), and nesting too deep for the stack is a ValueError, not a RecursionError.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

if __name__ == "__main__":  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cbor2
import zstandard

from fuzz.harness import instrumented, main

with instrumented(__name__ == "__main__"):
    from gateway import envelope, ingest
    from gateway.payload import MAX_DECODED_BYTES, ZSTD_MAGIC

TARGET = "envelope"
TOPIC = "edgetwin/v1/site-1/gw-1/numeric/dev-1.150456"
#: Largest decompressed envelope the decoder may accept (its own documented cap).
MAX_DECODED = MAX_DECODED_BYTES
ALLOWED = (ValueError, cbor2.CBORError, zstandard.ZstdError)


def _declared_size(data: bytes) -> int:
    """Content size a zstd frame header declares (-1 unknown), 0 for other payloads."""
    if not data.startswith(ZSTD_MAGIC):
        return 0
    try:
        return int(zstandard.frame_content_size(data))
    except zstandard.ZstdError:
        return 0


def decode(data: bytes) -> list[object]:
    """The decoded envelope, or its documented error as a value; then ingest's verdict."""
    try:
        out: list[object] = [envelope.decode(data)]
    except ALLOWED as exc:
        out = [exc]
    else:
        assert _declared_size(data) <= MAX_DECODED, "decompression bomb inflated, not refused"
    with contextlib.suppress(ingest._Rejected):
        ingest._parse(TOPIC, data)
    return out


def fuzz_one(data: bytes) -> None:
    decode(data)


if __name__ == "__main__":
    main(fuzz_one)
