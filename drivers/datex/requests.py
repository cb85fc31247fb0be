"""Request records the host sends to an S/5 monitor (Computer Interface spec M1017617).

Each builder returns the unescaped record; :func:`to_wire` adds checksum, escaping and
flags. The layouts follow the specification's Appendix A examples byte for byte (record
header with ``dri_level`` 0, one subrecord of type 0 at offset 0, then 0xFF to end the
subrecord list):

* physiological request (main type 0): ``phdb_rcrd_type`` u8, ``tx_ival`` i16 seconds
  (0 stops, -1 sends once, >= 5 for displayed values), ``phdb_class_bf`` u32, reserved i16;
  49 bytes in all. A 10-s or 60-s trend is sent only after displayed values were requested.
* waveform request (main type 1): ``req_type`` i16 (0 start, 1 stop), reserved i16,
  ``type[8]`` ended by 0xFF, ``addl_type[16]``, reserved i16[2]; 72 bytes in all. The
  monitor ignores waveforms beyond 600 samples/s.
* alarm request (main type 4): ``cmd`` i16 (0 status once, 2 enter differential mode,
  3 exit), reserved i16[5]; 52 bytes in all.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Sequence

from drivers.datex.framing import encode_frame
from drivers.datex.records import EOL, WAVE_RATES, MainType, PhdbType, WaveType

MAX_WAVE_SAMPLES_PER_S = 600


class PhdbClassMask(enum.IntFlag):
    """``phdb_class_bf`` bits. Basic is sent unless DENY_BASIC is set."""

    DENY_BASIC = 0x1
    EXT1 = 0x2
    EXT2 = 0x4
    EXT3 = 0x8


ALL_CLASSES = PhdbClassMask.EXT1 | PhdbClassMask.EXT2 | PhdbClassMask.EXT3


class AlarmCommand(enum.IntEnum):
    XMIT_STATUS = 0
    ENTER_DIFFMODE = 2
    EXIT_DIFFMODE = 3


_HEADER = struct.Struct("<hBBHIBBHh" + "hB" * 8)


def _record(maintype: int, body: bytes, dri_level: int = 0) -> bytes:
    r_len = _HEADER.size + len(body)
    descs = [0, 0, 0, EOL] + [0, 0] * 6  # sr_desc[0] = (0, type 0), sr_desc[1] ends the list
    return _HEADER.pack(r_len, 0, dri_level, 0, 0, 0, 0, 0, maintype, *descs) + body


def phdb_request(
    record_type: PhdbType,
    interval_s: int,
    classes: PhdbClassMask = ALL_CLASSES,
    dri_level: int = 0,
) -> bytes:
    """Start (interval > 0), stop (0) or poll once (-1) a physiological subrecord type."""
    if record_type not in (PhdbType.DISPLAYED, PhdbType.TREND_10S, PhdbType.TREND_60S):
        raise ValueError(f"cannot request PHDB subrecord type {record_type}")
    if not -1 <= interval_s <= 32767:
        raise ValueError(f"interval {interval_s} s outside -1..32767")
    if record_type == PhdbType.DISPLAYED and 0 < interval_s < 5:
        raise ValueError("displayed values need an interval of at least 5 s")
    body = struct.pack("<BhIh", record_type, interval_s, int(classes), 0)
    return _record(MainType.PHDB, body, dri_level)


def displayed_values_request(interval_s: int = 10, classes: PhdbClassMask = ALL_CLASSES) -> bytes:
    return phdb_request(PhdbType.DISPLAYED, interval_s, classes)


def stop_displayed_values() -> bytes:
    return phdb_request(PhdbType.DISPLAYED, 0, PhdbClassMask(0))


def trend_request(record_type: PhdbType, classes: PhdbClassMask = ALL_CLASSES) -> bytes:
    """Start 10-s or 60-s trend records (the interval field carries the period)."""
    interval = {PhdbType.TREND_10S: 10, PhdbType.TREND_60S: 60}.get(record_type)
    if interval is None:
        raise ValueError(f"{record_type} is not a trend type")
    return phdb_request(record_type, interval, classes)


def stop_trend(record_type: PhdbType) -> bytes:
    return phdb_request(record_type, 0, PhdbClassMask(0))


def wave_request(types: Sequence[int], dri_level: int = 0) -> bytes:
    """Start continuous transmission of up to 8 waveforms (<= 600 samples/s together)."""
    if not 1 <= len(types) <= 8:
        raise ValueError("request 1 to 8 waveforms")
    if any(t == WaveType.CMD or not 0 < t < EOL for t in types):
        raise ValueError(f"invalid waveform id in {list(types)}")
    rate = sum(WAVE_RATES.get(t, 0) for t in types)
    if rate > MAX_WAVE_SAMPLES_PER_S:
        raise ValueError(f"{rate} samples/s requested, the monitor sends at most 600")
    ids = bytes(types) + (bytes([EOL]) if len(types) < 8 else b"")
    body = struct.pack("<hh8s16s4x", 0, 0, ids, b"")
    return _record(MainType.WAVE, body, dri_level)


def wave_stop(dri_level: int = 0) -> bytes:
    body = struct.pack("<hh8s16s4x", 1, 0, bytes([EOL]), b"")
    return _record(MainType.WAVE, body, dri_level)


def alarm_request(command: AlarmCommand, dri_level: int = 0) -> bytes:
    body = struct.pack("<h5h", command, 0, 0, 0, 0, 0)
    return _record(MainType.ALARM, body, dri_level)


def to_wire(record: bytes) -> bytes:
    """Frame a request for the serial line."""
    return encode_frame(record)
