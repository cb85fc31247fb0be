"""Nonin OEM oximeter serial driver (config ``kind = "nonin"``): 9600 8N1.

Option ``format`` selects data format 7 (default: 75 frames/s with pleth) or 8 (one
4-byte record per second). The oximeter only talks; nothing is sent to it.
"""

from __future__ import annotations

from drivers.base import DeviceSpec, DriverCounters
from drivers.nonin.codec import Format7Decoder, Format8Decoder, Packet7, Record8
from drivers.nonin.measurements import to_records
from drivers.serial.session import PortSettings, SerialProtocol, SerialSession

FORMAT7: SerialProtocol[Packet7 | Record8] = SerialProtocol(
    name="nonin",
    settings=PortSettings(baudrate=9600),
    new_decoder=Format7Decoder,
    to_records=to_records,
    silence_timeout_s=3.0,
)
FORMAT8: SerialProtocol[Packet7 | Record8] = SerialProtocol(
    name="nonin",
    settings=PortSettings(baudrate=9600),
    new_decoder=Format8Decoder,
    to_records=to_records,
    silence_timeout_s=5.0,
)
PROTOCOL = FORMAT7


def validate(spec: DeviceSpec) -> None:
    fmt = spec.options.get("format", 7)
    if isinstance(fmt, bool) or fmt not in (7, 8):
        raise ValueError(f"format: 7 or 8, got {fmt!r}")


def DRIVER(spec: DeviceSpec, counters: DriverCounters) -> SerialSession[Packet7 | Record8]:
    return SerialSession(spec, counters, FORMAT8 if spec.options.get("format") == 8 else FORMAT7)
