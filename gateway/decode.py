"""``edgetwin decode``: captured payloads (hex) to JSON, one decoder per protocol."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from drivers.masimo.codec import parse_line


def parse_hex(text: str) -> bytes:
    cleaned = "".join(text.split()).removeprefix("0x").replace(":", "")
    try:
        return bytes.fromhex(cleaned)
    except ValueError:
        raise ValueError(f"not hexadecimal: {text[:40]!r}") from None


def _masimo(data: bytes) -> dict[str, Any]:
    reading = parse_line(data)
    return {
        "protocol": "masimo",
        "device_time": reading.device_time.isoformat(),
        "serial_number": reading.serial_number,
        "values": {k.lower(): v for k, v in reading.values.items()},
        "alarm_word": f"{reading.alarm:04X}",
        "exceptions": [
            e.name.lower() for e in type(reading.exceptions) if e in reading.exceptions and e.name
        ],
        "exception_word": f"{reading.raw_exceptions:06X}",
        "checksum": "none in this protocol",
    }


def _nonin7(data: bytes) -> dict[str, Any]:
    from drivers.nonin.decode import decode_frame

    return {"protocol": "nonin", **decode_frame(data, 7)}


def _nonin8(data: bytes) -> dict[str, Any]:
    from drivers.nonin.decode import decode_frame

    return {"protocol": "nonin-8", **decode_frame(data, 8)}


def _datex(data: bytes) -> dict[str, Any]:
    from drivers.datex.decode import decode_frame

    return {"protocol": "datex-s5", **decode_frame(data)}


def _intellivue(data: bytes) -> dict[str, Any]:
    from drivers.intellivue.decode import decode_frame

    return {"protocol": "intellivue", **decode_frame(data)}


SERIAL_DECODERS: dict[str, Callable[[bytes], dict[str, Any]]] = {
    "intellivue": _intellivue,
    "masimo": _masimo,
    "nonin": _nonin7,
    "nonin-8": _nonin8,
    "datex-s5": _datex,
}


def decode_serial(protocol: str, hex_text: str) -> dict[str, Any]:
    if protocol not in SERIAL_DECODERS:
        raise ValueError(
            f"unknown serial protocol {protocol!r}; known: {', '.join(SERIAL_DECODERS)}"
        )
    return SERIAL_DECODERS[protocol](parse_hex(hex_text))
