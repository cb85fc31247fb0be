"""Philips IntelliVue driver over MIB/RS232 (config ``kind = "intellivue"``).

115200 bit/s, 8N1. Options: ``port`` (required), ``waves`` (poll real-time waves, default
false), ``alerts`` (poll the alarm lists, default true), ``utc_offset_s`` (the monitor's
local clock offset from UTC, default 0), ``keep_alive_s`` (5), ``poll_period_s`` (30),
``silence_timeout_s`` (5), ``association_timeout_s`` (5). See
:mod:`drivers.intellivue.session` for the dialogue.

:data:`PROTOCOL` is the monitor-to-host decode path as a
:class:`~drivers.serial.session.SerialProtocol`, for ``edgetwin replay``: relative times are
anchored at the capture's MDS Create event; a capture that starts after it has no anchor,
so its numerics carry no device time and its waves are dated by the receive time.
"""

from __future__ import annotations

from drivers.base import DeviceSpec, DriverCounters
from drivers.intellivue.session import (
    NAME,
    SETTINGS,
    Inbound,
    IntelliVueSession,
    MonitorStream,
    inbound_records,
    parse_options,
)
from drivers.serial.session import SerialProtocol

PROTOCOL: SerialProtocol[Inbound] = SerialProtocol(
    name=NAME,
    settings=SETTINGS,
    new_decoder=MonitorStream,
    to_records=inbound_records,
    silence_timeout_s=5.0,
)


def validate(spec: DeviceSpec) -> None:
    parse_options(spec)


def DRIVER(spec: DeviceSpec, counters: DriverCounters) -> IntelliVueSession:
    return IntelliVueSession(spec, counters)
