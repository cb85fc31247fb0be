"""Envelope bodies on the wire: JSON (default) or CBOR for metered links, optionally zstd.

Payloads describe themselves, so a receiver needs no side channel: a zstd frame starts with
its magic number ``28 B5 2F FD``; a JSON envelope starts with ``{``; anything else is a CBOR
map. The MQTT 5 content type (and payload-format indicator) is derived the same way.
``cbor2`` and ``zstandard`` are optional (``pip install edgetwin[metered]``).
"""

from __future__ import annotations

import json
from typing import Any

ENCODINGS = ("json", "cbor")
COMPRESSIONS = ("none", "zstd")
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def check_available(encoding: str, compression: str) -> str | None:
    """``None`` if usable here, else what to install."""
    try:
        if encoding == "cbor":
            import cbor2  # noqa: F401
        if compression == "zstd":
            import zstandard  # noqa: F401
    except ImportError as exc:
        return f"{exc.name} is not installed (pip install 'edgetwin[metered]')"
    return None


def encode_body(body: dict[str, Any], encoding: str = "json", compression: str = "none") -> bytes:
    if encoding == "cbor":
        import cbor2

        raw: bytes = cbor2.dumps(body)
    else:
        raw = json.dumps(body, separators=(",", ":"), allow_nan=False).encode()
    return compress(raw, compression)


def compress(raw: bytes, compression: str = "none") -> bytes:
    if compression == "zstd":
        import zstandard

        return zstandard.ZstdCompressor(level=3).compress(raw)
    return raw


#: Largest decompressed envelope accepted: a zstd frame can declare or inflate to far more.
MAX_DECODED_BYTES = 64 * 1024 * 1024


def decode_body(payload: bytes) -> dict[str, Any]:
    if payload.startswith(ZSTD_MAGIC):
        import zstandard

        # streamed and capped: decompress() would allocate whatever the frame header declares
        with zstandard.ZstdDecompressor().stream_reader(payload) as reader:
            payload = reader.read(MAX_DECODED_BYTES + 1)
        if len(payload) > MAX_DECODED_BYTES:
            raise ValueError(f"envelope inflates past {MAX_DECODED_BYTES} bytes")
    try:
        if payload[:1] == b"{":
            body: Any = json.loads(payload)
        else:
            import cbor2

            body = cbor2.loads(payload)
    except RecursionError:
        raise ValueError("envelope nested too deeply") from None
    if not isinstance(body, dict):
        raise ValueError("an envelope must be a map")
    return body


def content_type(payload: bytes) -> tuple[str, int]:
    """MQTT 5 content type and payload-format indicator (1 = UTF-8 text) of a payload."""
    if payload.startswith(ZSTD_MAGIC):
        return "application/zstd", 0
    if payload[:1] == b"{":
        return "application/json", 1
    return "application/cbor", 0
