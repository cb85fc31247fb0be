"""Datex-Ohmeda records (DRI specification 8005313): header, subrecords, PHDB and waves.

All fields are little-endian and packed. A record is a 40-byte header followed by up to
1450 data bytes split into at most 8 subrecords::

    off  size  field
    0    2     r_len       total record length incl. header (signed)
    2    1     r_nbr
    3    1     dri_level   2 = '95 ... 11 = '15 (requests may send 0)
    4    2     plug_id
    6    4     r_time      Unix seconds
    10   1     n_subnet
    11   1     reserved2
    12   2     reserved3
    14   2     r_maintype  0 PHDB, 1 WAVE, 4 ALARM, 5 NETWORK, 8 FO
    16   8x3   sr_desc     {sr_offset i16 from byte 40, sr_type u8}; sr_type 0xFF ends the list

Physiological subrecords (``dri_phdb``, 278 bytes): time u32, 270 bytes of class data,
marker u8, reserved u8, cl_drilvl_subt u16 (bits 8-11 = class). Only the basic class is
decoded into groups; the ext classes are kept as bytes. Waveform subrecords: act_len i16,
status u16, label u16, then act_len int16 samples. Values <= -32001 (numerics) and
<= -32000 (waves) are control codes, not measurements (:func:`special_quality`).
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from drivers.datex.framing import HEADER_LEN, SOURCE, Deframer
from gateway.errors import FieldError, FramingError, ParseError
from gateway.model import Quality

EOL = 0xFF
MAX_SUBRECORDS = 8
PHDB_SUBRECORD_LEN = 278
PHDB_CLASS_LEN = 270
AUX_INFO_LEN = 114
PHDB_REQUEST_LEN = 9
WAVE_REQUEST_LEN = 32
ALARM_REQUEST_LEN = 12
WAVE_HEADER_LEN = 6
DATA_INVALID_LIMIT = -32001  # numerics: values <= this are control codes
WAVE_CONTROL_LIMIT = -32000  # waves: samples <= this are control codes


class MainType(enum.IntEnum):
    PHDB = 0
    WAVE = 1
    ALARM = 4
    NETWORK = 5
    FO = 8


class PhdbType(enum.IntEnum):
    REQUEST = 0
    DISPLAYED = 1
    TREND_10S = 2
    TREND_60S = 3
    AUX_INFO = 4


class PhdbClass(enum.IntEnum):
    BASIC = 0
    EXT1 = 1
    EXT2 = 2
    EXT3 = 3


class WaveType(enum.IntEnum):
    CMD = 0
    ECG1 = 1
    ECG2 = 2
    ECG3 = 3
    INVP1 = 4
    INVP2 = 5
    INVP3 = 6
    INVP4 = 7
    PLETH = 8
    CO2 = 9
    O2 = 10
    N2O = 11
    AA = 12
    AWP = 13
    FLOW = 14
    RESP = 15
    INVP5 = 16
    INVP6 = 17
    EEG1 = 18
    EEG2 = 19
    EEG3 = 20
    EEG4 = 21
    ECG12 = 22
    VOL = 23
    TONO_PRESS = 24
    SPI_LOOP_STATUS = 29
    ENT_100 = 32
    EEG_BIS = 35
    INVP7 = 36
    INVP8 = 37
    PLETH_2 = 38
    RESP_100 = 39


#: Samples per second of each waveform (DRI spec table 5-3; EEG may also run at 200/s).
WAVE_RATES: dict[int, int] = {
    **dict.fromkeys((WaveType.ECG1, WaveType.ECG2, WaveType.ECG3), 300),
    WaveType.ECG12: 500,
    **dict.fromkeys(
        (
            WaveType.INVP1,
            WaveType.INVP2,
            WaveType.INVP3,
            WaveType.INVP4,
            WaveType.INVP5,
            WaveType.INVP6,
            WaveType.INVP7,
            WaveType.INVP8,
        ),
        100,
    ),
    WaveType.PLETH: 100,
    **dict.fromkeys(
        (
            WaveType.CO2,
            WaveType.O2,
            WaveType.N2O,
            WaveType.AA,
            WaveType.AWP,
            WaveType.FLOW,
            WaveType.VOL,
            WaveType.RESP,
            WaveType.TONO_PRESS,
            WaveType.SPI_LOOP_STATUS,
        ),
        25,
    ),
    **dict.fromkeys((WaveType.EEG1, WaveType.EEG2, WaveType.EEG3, WaveType.EEG4), 100),
    WaveType.ENT_100: 100,
    WaveType.EEG_BIS: 300,
}


class Special(enum.IntEnum):
    """Control codes in place of a measurement value."""

    INVALID = -32767
    NOT_UPDATED = -32766
    DISCONT = -32765
    UNDER_RANGE = -32764
    OVER_RANGE = -32763
    NOT_CALIBRATED = -32762


SPECIAL_QUALITY: dict[int, Quality] = {
    Special.INVALID: Quality.INVALID,
    Special.NOT_UPDATED: Quality.NOT_UPDATED,
    # A discontinuity (e.g. during calibration) leaves no usable value.
    Special.DISCONT: Quality.QUESTIONABLE | Quality.UNAVAILABLE,
    Special.UNDER_RANGE: Quality.UNDER_RANGE,
    Special.OVER_RANGE: Quality.OVER_RANGE,
    Special.NOT_CALIBRATED: Quality.CALIBRATING,
}


def special_quality(raw: int, limit: int = DATA_INVALID_LIMIT) -> Quality | None:
    """The quality flags of a control code, or None for a real value."""
    if raw > limit:
        return None
    return SPECIAL_QUALITY.get(raw, Quality.INVALID)


class WaveStatus(enum.IntFlag):
    GAP = 0x0001  # samples were lost before this subrecord
    PACER_DET = 0x0004
    LEAD_OFF = 0x0008


@dataclass(frozen=True, slots=True)
class SubrecordDesc:
    offset: int  # from the start of the data area (byte 40)
    sr_type: int


@dataclass(frozen=True, slots=True)
class RecordHeader:
    r_len: int
    r_nbr: int
    dri_level: int
    plug_id: int
    r_time: int
    n_subnet: int
    r_maintype: int
    subrecords: tuple[SubrecordDesc, ...]


_HEADER = struct.Struct("<hBBHIBBHh" + "hB" * MAX_SUBRECORDS)


def parse_header(record: bytes) -> RecordHeader:
    """Parse and check the 40-byte header; ``r_len`` must equal ``len(record)``."""
    if len(record) < HEADER_LEN:
        raise FramingError(SOURCE, len(record), record, "record shorter than its 40-byte header")
    f = _HEADER.unpack_from(record)
    r_len, r_nbr, dri_level, plug_id, r_time, n_subnet, _r2, _r3, maintype = f[:9]
    if r_len != len(record):
        raise FramingError(SOURCE, 0, record[:HEADER_LEN], f"r_len {r_len} != {len(record)} bytes")
    descs: list[SubrecordDesc] = []
    data_len = len(record) - HEADER_LEN
    for k in range(MAX_SUBRECORDS):
        offset, sr_type = f[9 + 2 * k], f[10 + 2 * k]
        if sr_type == EOL:
            break
        if not 0 <= offset < data_len:
            raise FieldError(
                SOURCE, 16 + 3 * k, record[:HEADER_LEN], f"sr_offset {offset} outside data area"
            )
        descs.append(SubrecordDesc(offset, sr_type))
    return RecordHeader(r_len, r_nbr, dri_level, plug_id, r_time, n_subnet, maintype, tuple(descs))


# --- physiological database ------------------------------------------------------------

#: Basic class layout: (group, has a 6-byte group header, int16 value names), in order.
BASIC_LAYOUT: tuple[tuple[str, bool, tuple[str, ...]], ...] = (
    ("ecg", True, ("hr", "st1", "st2", "st3", "imp_rr")),
    *((f"p{n}", True, ("sys", "dia", "mean", "hr")) for n in range(1, 5)),
    ("nibp", True, ("sys", "dia", "mean", "hr")),
    *((f"t{n}", True, ("temp",)) for n in range(1, 5)),
    ("spo2", True, ("spo2", "pr", "ir_amp", "svo2")),
    ("co2", True, ("et", "fi", "rr", "amb_press")),
    ("o2", True, ("et", "fi")),
    ("n2o", True, ("et", "fi")),
    ("aa", True, ("et", "fi", "mac_sum")),
    (
        "flow_vol",
        True,
        ("rr", "ppeak", "peep", "pplat", "tv_insp", "tv_exp", "compliance", "mv_exp"),
    ),
    ("co_wedge", True, ("co", "blood_temp", "rightef", "pcwp")),
    ("nmt", True, ("t1", "tratio", "ptc")),
    ("ecg_extra", False, ("hr_ecg", "hr_max", "hr_min")),
    ("svo2", True, ("svo2",)),
    *((f"p{n}", True, ("sys", "dia", "mean", "hr")) for n in (5, 6)),
)
_BASIC = struct.Struct(
    "<" + "".join(("IH" if hdr else "") + "h" * len(names) for _, hdr, names in BASIC_LAYOUT) + "2x"
)
assert _BASIC.size == PHDB_CLASS_LEN


@dataclass(frozen=True, slots=True)
class Group:
    """One parameter group: header status bits and label, then raw int16 values."""

    name: str
    status: int
    label: int
    names: tuple[str, ...]
    values: tuple[int, ...]

    def __getitem__(self, key: str) -> int:
        return self.values[self.names.index(key)]

    @property
    def exists(self) -> bool:
        return bool(self.status & 0x1)

    @property
    def active(self) -> bool:
        return bool(self.status & 0x2)


@dataclass(frozen=True, slots=True)
class BasicPhdb:
    groups: tuple[Group, ...]

    def group(self, name: str) -> Group:
        for g in self.groups:
            if g.name == name:
                return g
        raise KeyError(name)


def parse_basic(data: bytes) -> BasicPhdb:
    """Decode the 270 bytes of a basic-class subrecord."""
    if len(data) != PHDB_CLASS_LEN:
        raise FramingError(SOURCE, 0, data, f"basic class needs {PHDB_CLASS_LEN} bytes")
    raw = _BASIC.unpack(data)
    groups = []
    k = 0
    for name, has_hdr, names in BASIC_LAYOUT:
        status = label = 0
        if has_hdr:
            status, label = raw[k], raw[k + 1]
            k += 2
        groups.append(Group(name, status, label, names, tuple(raw[k : k + len(names)])))
        k += len(names)
    return BasicPhdb(tuple(groups))


@dataclass(frozen=True, slots=True)
class PhdbSubrecord:
    """Displayed or trended values (``dri_phdb``) of one class."""

    sr_type: int  # PhdbType.DISPLAYED, TREND_10S or TREND_60S
    time: int  # Unix seconds
    phdb_class: int  # PhdbClass
    marker: int
    cl_drilvl_subt: int
    data: bytes  # the 270 class bytes
    basic: BasicPhdb | None  # decoded when phdb_class is BASIC


@dataclass(frozen=True, slots=True)
class PhdbRequest:
    record_type: int
    tx_ival: int  # seconds; 0 stops, -1 sends once
    class_bf: int


@dataclass(frozen=True, slots=True)
class RawSubrecord:
    """A subrecord this module does not decode (aux info, alarm status, ECG12, ...)."""

    sr_type: int
    data: bytes


_PHDB_TAIL = struct.Struct("<BBH")
_PHDB_REQ = struct.Struct("<BhIh")


def _slice(record: bytes, desc: SubrecordDesc, size: int, end: int | None = None) -> bytes:
    """The ``size`` bytes of a subrecord, which must fit before data offset ``end``."""
    start = HEADER_LEN + desc.offset
    limit = len(record) if end is None else min(len(record), HEADER_LEN + end)
    if start + size > limit:
        raise FramingError(
            SOURCE,
            start,
            record[start:],
            f"subrecord type {desc.sr_type} needs {size} bytes, has {limit - start}",
        )
    return record[start : start + size]


def parse_phdb_subrecord(record: bytes, desc: SubrecordDesc, end: int) -> PhdbSubrecord:
    raw = _slice(record, desc, PHDB_SUBRECORD_LEN, end)
    (time,) = struct.unpack_from("<I", raw)
    marker, _reserved, cl = _PHDB_TAIL.unpack_from(raw, 4 + PHDB_CLASS_LEN)
    cls = (cl >> 8) & 0x0F
    data = raw[4 : 4 + PHDB_CLASS_LEN]
    basic = parse_basic(data) if cls == PhdbClass.BASIC else None
    return PhdbSubrecord(desc.sr_type, time, cls, marker, cl, data, basic)


# --- waveforms ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, eq=False)
class WaveSubrecord:
    wave_type: int
    status: WaveStatus
    label: int
    samples: npt.NDArray[np.int16]


@dataclass(frozen=True, slots=True)
class WaveRequest:
    req_type: int  # 0 start, 1 stop
    types: tuple[int, ...]  # requested WaveType ids, up to the 0xFF terminator


_WAVE_HDR = struct.Struct("<hHH")
_WAVE_REQ = struct.Struct("<hh8s16s4x")
assert _WAVE_REQ.size == WAVE_REQUEST_LEN


def parse_wave_subrecord(record: bytes, desc: SubrecordDesc, end: int) -> WaveSubrecord:
    """Parse a waveform subrecord that must end before data offset ``end``."""
    head = _slice(record, desc, WAVE_HEADER_LEN, end)
    act_len, status, label = _WAVE_HDR.unpack(head)
    start = HEADER_LEN + desc.offset + WAVE_HEADER_LEN
    if act_len < 0:
        raise FieldError(SOURCE, start - WAVE_HEADER_LEN, head, f"act_len {act_len} < 0")
    if start + 2 * act_len > HEADER_LEN + end:
        raise FramingError(
            SOURCE,
            start,
            head,
            f"{act_len} samples of wave type {desc.sr_type} run past the subrecord end",
        )
    samples = np.frombuffer(record, dtype="<i2", count=act_len, offset=start)
    return WaveSubrecord(desc.sr_type, WaveStatus(status & 0x000D), label, samples)


def _terminated(ids: bytes) -> tuple[int, ...]:
    end = ids.find(EOL)
    return tuple(ids if end < 0 else ids[:end])


# --- records -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PhdbRecord:
    header: RecordHeader
    subrecords: tuple[PhdbSubrecord | PhdbRequest | RawSubrecord, ...]


@dataclass(frozen=True, slots=True)
class WaveRecord:
    header: RecordHeader
    subrecords: tuple[WaveSubrecord | WaveRequest | RawSubrecord, ...]


@dataclass(frozen=True, slots=True)
class AlarmRequest:
    cmd: int  # 0 transmit status, 2 enter differential mode, 3 exit


@dataclass(frozen=True, slots=True)
class OtherRecord:
    """Alarm, network and FO records: header checked, subrecords kept as bytes."""

    header: RecordHeader
    subrecords: tuple[AlarmRequest | RawSubrecord, ...]


DatexRecord = PhdbRecord | WaveRecord | OtherRecord


def _ends(header: RecordHeader, data_len: int) -> list[int]:
    """Data offset where each subrecord must end: the next larger offset, or the end."""
    offsets = sorted({d.offset for d in header.subrecords})
    ends = []
    for d in header.subrecords:
        later = [o for o in offsets if o > d.offset]
        ends.append(later[0] if later else data_len)
    return ends


def parse_record(record: bytes) -> DatexRecord:
    """Parse one unescaped record (without its checksum byte)."""
    header = parse_header(record)
    data_len = len(record) - HEADER_LEN
    ends = _ends(header, data_len)
    if header.r_maintype == MainType.PHDB:
        phdb: list[PhdbSubrecord | PhdbRequest | RawSubrecord] = []
        for desc, end in zip(header.subrecords, ends, strict=True):
            if desc.sr_type == PhdbType.REQUEST:
                req = _slice(record, desc, PHDB_REQUEST_LEN, end)
                rtype, ival, bf, _ = _PHDB_REQ.unpack(req)
                phdb.append(PhdbRequest(rtype, ival, bf))
            elif desc.sr_type in (PhdbType.DISPLAYED, PhdbType.TREND_10S, PhdbType.TREND_60S):
                phdb.append(parse_phdb_subrecord(record, desc, end))
            else:
                phdb.append(RawSubrecord(desc.sr_type, _slice(record, desc, end - desc.offset)))
        return PhdbRecord(header, tuple(phdb))
    if header.r_maintype == MainType.WAVE:
        waves: list[WaveSubrecord | WaveRequest | RawSubrecord] = []
        for desc, end in zip(header.subrecords, ends, strict=True):
            if desc.sr_type == WaveType.CMD:
                raw_req = _slice(record, desc, WAVE_REQUEST_LEN, end)
                req, _res, ids, _addl = _WAVE_REQ.unpack(raw_req)
                waves.append(WaveRequest(req, _terminated(ids)))
            elif desc.sr_type == WaveType.ECG12:
                waves.append(RawSubrecord(desc.sr_type, _slice(record, desc, end - desc.offset)))
            else:
                waves.append(parse_wave_subrecord(record, desc, end))
        return WaveRecord(header, tuple(waves))
    other: list[AlarmRequest | RawSubrecord] = []
    for desc, end in zip(header.subrecords, ends, strict=True):
        if header.r_maintype == MainType.ALARM and desc.sr_type == 0:
            (cmd,) = struct.unpack_from("<h", _slice(record, desc, ALARM_REQUEST_LEN, end))
            other.append(AlarmRequest(cmd))
        else:
            other.append(RawSubrecord(desc.sr_type, _slice(record, desc, end - desc.offset)))
    return OtherRecord(header, tuple(other))


class DatexDecoder:
    """Streaming decoder: deframe, check the checksum, parse records; errors as values."""

    def __init__(self) -> None:
        self._deframer = Deframer()

    @property
    def pending(self) -> int:
        return self._deframer.pending

    def feed(self, data: bytes) -> list[DatexRecord | ParseError]:
        out: list[DatexRecord | ParseError] = []
        for item in self._deframer.feed(data):
            if isinstance(item, ParseError):
                out.append(item)
                continue
            try:
                out.append(parse_record(item.record))
            except ParseError as exc:
                out.append(exc)
        return out
