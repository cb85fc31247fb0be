"""Fuzz every BLE characteristic parser, the JSON decoder, the session decoder and mapping.

The first byte picks the target (modulo the number of targets), the rest is the
characteristic value. Targets: each characteristic of :data:`drivers.ble.decode.PARSERS`
through :func:`~drivers.ble.decode.decode_characteristic` and
:func:`~drivers.ble.measurements.to_measurements`; CGM Measurement with and without
E2E-CRC; RACP responses; and each profile's streamed characteristics through a
:class:`~drivers.ble.profiles.ProfileDecoder` that has read its context on connect.
Documented: a malformed value raises :class:`~gateway.errors.ParseError`, nothing else.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

if __name__ == "__main__":  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fuzz.harness import RECEIVED, instrumented, main
from gateway.errors import ParseError
from hil.ble import encoders

with instrumented(__name__ == "__main__"):
    from drivers.ble import cgm, racp, thermometer, uuids
    from drivers.ble.decode import PARSERS, decode_characteristic
    from drivers.ble.measurements import to_measurements
    from drivers.ble.profiles import CGM_SESSION_START_TIME, PROFILES, ProfileDecoder

TARGET = "ble"
SESSION_START = datetime(2024, 5, 20, 7, 30)  # noqa: DTZ001


def _characteristic(uuid16: int) -> Callable[[bytes], object]:
    def run(data: bytes) -> object:
        decode_characteristic(f"{uuid16:04x}", data)
        value = PARSERS[uuid16](data)
        to_measurements(value, "fuzz", RECEIVED)
        return value

    return run


def _cgm(crc: bool) -> Callable[[bytes], object]:
    def run(data: bytes) -> object:
        value = cgm.parse_cgm_measurement(data, crc)
        cgm.to_measurements(value, "fuzz", RECEIVED, session_start=SESSION_START)
        return value

    return run


def _session(profile: str, uuid16: int) -> Callable[[bytes], object]:
    def run(data: bytes) -> object:
        decoder = ProfileDecoder(PROFILES[profile], "fuzz")
        decoder.learn(uuids.TEMPERATURE_TYPE, encoders.temperature_type(2))
        decoder.learn(CGM_SESSION_START_TIME, encoders.date_time(SESSION_START) + b"\x00\x00")
        value = decoder.parse(uuid16, data)
        decoder.records(value, RECEIVED)
        return value

    return run


#: (name, target); the input's first byte picks one.
TARGETS: list[tuple[str, Callable[[bytes], object]]] = [
    *((f"0x{u:04X}", _characteristic(u)) for u in sorted(PARSERS)),
    ("cgm+crc", _cgm(True)),
    ("cgm", _cgm(False)),
    ("racp-response", racp.parse_racp_response),
    ("temperature-site", lambda d: thermometer.parse_temperature_type(d)),
    *(
        (f"{name}:0x{u:04X}", _session(name, u))
        for name, profile in sorted(PROFILES.items())
        for u in profile.streams
    ),
]


def target_index(name: str) -> int:
    """The first input byte that selects target ``name`` (for seeds and tests)."""
    return [n for n, _ in TARGETS].index(name)


def decode(data: bytes) -> list[object]:
    """The selected target's value, or its ParseError as a value."""
    if not data:
        return []
    _, run = TARGETS[data[0] % len(TARGETS)]
    try:
        return [run(data[1:])]
    except ParseError as exc:
        return [exc]


def fuzz_one(data: bytes) -> None:
    decode(data)


if __name__ == "__main__":
    main(fuzz_one)
