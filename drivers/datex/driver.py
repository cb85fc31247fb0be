"""GE/Datex-Ohmeda S/5 Computer Interface driver (config ``kind = "datex-s5"``).

19200 bit/s, 8E1, RTS/CTS, fixed by the monitor. On open it asks for displayed values every
``interval_s`` seconds (option, default 10) and, when the option ``waves`` lists waveform
names (e.g. ``["ECG1", "PLETH"]``), for continuous waveforms; on close it sends the
matching stop requests.
"""

from __future__ import annotations

from collections.abc import Sequence

import serial

from drivers.base import DeviceSpec, DriverCounters
from drivers.datex.measurements import to_records
from drivers.datex.records import DatexDecoder, DatexRecord, WaveType
from drivers.datex.requests import (
    displayed_values_request,
    stop_displayed_values,
    to_wire,
    wave_request,
    wave_stop,
)
from drivers.serial.session import PortSettings, SerialProtocol, SerialSession


def _interval(spec: DeviceSpec) -> int:
    value = spec.options.get("interval_s", 10)
    # the monitor sends displayed values at most every 5 s (the request builder checks too)
    if isinstance(value, bool) or not isinstance(value, int) or not 5 <= value <= 3600:
        raise ValueError(f"interval_s: whole seconds from 5 to 3600, got {value!r}")
    return value


def _waves(spec: DeviceSpec) -> list[int]:
    names = spec.options.get("waves", [])
    if not isinstance(names, list):
        raise ValueError(f"waves: a list of waveform names, got {names!r}")
    try:
        return [WaveType[str(n).upper()].value for n in names]
    except KeyError as exc:
        known = ", ".join(w.name for w in WaveType if w.name != "CMD")
        raise ValueError(f"waves: unknown waveform {exc}; known: {known}") from None


def opening(spec: DeviceSpec) -> Sequence[bytes]:
    frames = [to_wire(displayed_values_request(_interval(spec)))]
    waves = _waves(spec)
    if waves:
        frames.append(to_wire(wave_request(waves)))
    return frames


def closing(spec: DeviceSpec) -> Sequence[bytes]:
    frames = [to_wire(stop_displayed_values())]
    if _waves(spec):
        frames.append(to_wire(wave_stop()))
    return frames


PROTOCOL: SerialProtocol[DatexRecord] = SerialProtocol(
    name="datex-s5",
    settings=PortSettings(baudrate=19200, parity=serial.PARITY_EVEN, rtscts=True),
    new_decoder=DatexDecoder,
    to_records=to_records,
    silence_timeout_s=25.0,  # displayed values come every interval_s (default 10 s)
    opening=opening,
    closing=closing,
)


def validate(spec: DeviceSpec) -> None:
    _waves(spec)
    _interval(spec)


def DRIVER(spec: DeviceSpec, counters: DriverCounters) -> SerialSession[DatexRecord]:
    return SerialSession(spec, counters, PROTOCOL)
