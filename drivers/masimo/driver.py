"""Masimo Radical-7 / Rad-8 serial driver (config ``kind = "masimo"``): 9600 8N1, 1 line/s."""

from __future__ import annotations

from drivers.base import DeviceSpec, DriverCounters
from drivers.masimo.codec import MasimoDecoder, MasimoReading
from drivers.masimo.measurements import to_measurements
from drivers.serial.session import PortSettings, SerialProtocol, SerialSession

PROTOCOL: SerialProtocol[MasimoReading] = SerialProtocol(
    name="masimo",
    settings=PortSettings(baudrate=9600),
    new_decoder=MasimoDecoder,
    to_records=to_measurements,
    silence_timeout_s=5.0,
)


def DRIVER(spec: DeviceSpec, counters: DriverCounters) -> SerialSession[MasimoReading]:
    return SerialSession(spec, counters, PROTOCOL)
