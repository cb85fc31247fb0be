"""GE/Datex-Ohmeda S/5 records and frames, encoded from the specifications.

Sources: S/5 Computer Interface Specification M1017617 (framing, checksum, requests) and
S/5 DRI Specification 8005313 (record header, physiological and waveform subrecords).

* Frame: ``7E``, then the record and its checksum with every 7E sent as ``7D 5E`` and every
  7D as ``7D 5D``, then ``7E``. Checksum: the record's bytes summed mod 256.
* Header (40 bytes, little-endian, packed): r_len i16, r_nbr u8, dri_level u8, plug_id u16,
  r_time u32, n_subnet u8, reserved u8, reserved u16, r_maintype i16, then 8 descriptors
  {sr_offset i16 from byte 40, sr_type u8}, the first unused one with sr_type 0xFF.
* ``dri_phdb`` (278 bytes): time u32, 270 class bytes, marker u8, reserved u8,
  cl_drilvl_subt u16 with the class in bits 8-11.
* Waveform subrecord: act_len i16, status u16, label u16, act_len samples i16.

Written without the parser in ``drivers/datex``; byte offsets of the basic class are
listed here by hand from the DRI structures.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

FLAG = 0x7E
ESC = 0x7D

MT_PHDB = 0
MT_WAVE = 1
MT_ALARM = 4

DISPLAYED = 1
TREND_10S = 2
TREND_60S = 3

CLASS_BASIC = 0
CLASS_EXT1 = 1

# Special values (DRI spec table 3-9, plus the discontinuity code).
INVALID = -32767
NOT_UPDATED = -32766
DISCONT = -32765
UNDER_RANGE = -32764
OVER_RANGE = -32763
NOT_CALIBRATED = -32762

#: Byte offset inside the 270-byte basic class of each group, and its int16 field names.
#: Groups with a header start with status u32 and label u16 (6 bytes); ecg_extra has none.
BASIC_GROUPS: dict[str, tuple[int, bool, tuple[str, ...]]] = {
    "ecg": (0, True, ("hr", "st1", "st2", "st3", "imp_rr")),
    "p1": (16, True, ("sys", "dia", "mean", "hr")),
    "p2": (30, True, ("sys", "dia", "mean", "hr")),
    "p3": (44, True, ("sys", "dia", "mean", "hr")),
    "p4": (58, True, ("sys", "dia", "mean", "hr")),
    "nibp": (72, True, ("sys", "dia", "mean", "hr")),
    "t1": (86, True, ("temp",)),
    "t2": (94, True, ("temp",)),
    "t3": (102, True, ("temp",)),
    "t4": (110, True, ("temp",)),
    "spo2": (118, True, ("spo2", "pr", "ir_amp", "svo2")),
    "co2": (132, True, ("et", "fi", "rr", "amb_press")),
    "o2": (146, True, ("et", "fi")),
    "n2o": (156, True, ("et", "fi")),
    "aa": (166, True, ("et", "fi", "mac_sum")),
    "flow_vol": (
        178,
        True,
        ("rr", "ppeak", "peep", "pplat", "tv_insp", "tv_exp", "compliance", "mv_exp"),
    ),
    "co_wedge": (200, True, ("co", "blood_temp", "rightef", "pcwp")),
    "nmt": (214, True, ("t1", "tratio", "ptc")),
    "ecg_extra": (226, False, ("hr_ecg", "hr_max", "hr_min")),
    "svo2": (232, True, ("svo2",)),
    "p5": (240, True, ("sys", "dia", "mean", "hr")),
    "p6": (254, True, ("sys", "dia", "mean", "hr")),
}


def checksum(record: bytes) -> int:
    total = 0
    for b in record:
        total = (total + b) & 0xFF
    return total


def escape(data: bytes) -> bytes:
    out = bytearray()
    for b in data:
        if b in (FLAG, ESC):
            out += bytes((ESC, b & ~0x20 & 0xFF))
        else:
            out.append(b)
    return bytes(out)


def frame(record: bytes) -> bytes:
    """Wire bytes of one record."""
    return bytes([FLAG]) + escape(record + bytes([checksum(record)])) + bytes([FLAG])


def header(
    r_len: int,
    maintype: int,
    subrecords: Sequence[tuple[int, int]],
    *,
    r_nbr: int = 0,
    dri_level: int = 0,
    plug_id: int = 0,
    r_time: int = 0,
) -> bytes:
    """40 header bytes; ``subrecords`` are (offset, type) pairs, at most 8."""
    if len(subrecords) > 8:
        raise ValueError("at most 8 subrecords")
    descs = b"".join(struct.pack("<hB", off, typ) for off, typ in subrecords)
    if len(subrecords) < 8:
        descs += struct.pack("<hB", 0, 0xFF)
    descs = descs.ljust(24, b"\x00")
    fixed = struct.pack("<hBBHIBBHh", r_len, r_nbr, dri_level, plug_id, r_time, 0, 0, 0, maintype)
    return fixed + descs


def record(maintype: int, subrecords: Sequence[tuple[int, bytes]], **header_fields: int) -> bytes:
    """A record whose subrecords ``(type, bytes)`` are laid out back to back."""
    offsets: list[tuple[int, int]] = []
    data = b""
    for typ, body in subrecords:
        offsets.append((len(data), typ))
        data += body
    return header(40 + len(data), maintype, offsets, **header_fields) + data


def basic_class(values: Mapping[str, Mapping[str, int]]) -> bytes:
    """270 bytes. ``values[group]`` may hold ``status``, ``label`` and int16 fields.

    Groups not given are filled as absent modules: status 0, label 0, fields INVALID.
    """
    out = bytearray(270)
    for name, (off, has_hdr, fields) in BASIC_GROUPS.items():
        g = values.get(name, {})
        pos = off
        if has_hdr:
            struct.pack_into("<IH", out, pos, g.get("status", 0), g.get("label", 0))
            pos += 6
        for f in fields:
            struct.pack_into("<h", out, pos, g.get(f, INVALID))
            pos += 2
    return bytes(out)


def phdb_subrecord(
    time: int, class_data: bytes, phdb_class: int = CLASS_BASIC, marker: int = 0
) -> bytes:
    """One 278-byte ``dri_phdb``."""
    if len(class_data) != 270:
        raise ValueError("class data is 270 bytes")
    return struct.pack("<I", time) + class_data + struct.pack("<BBH", marker, 0, phdb_class << 8)


def phdb_record(
    time: int,
    basic: Mapping[str, Mapping[str, int]],
    *,
    sr_type: int = DISPLAYED,
    ext_classes: Sequence[int] = (),
    **header_fields: int,
) -> bytes:
    """A PHDB record with a basic subrecord and optional empty ext-class subrecords."""
    subs = [(sr_type, phdb_subrecord(time, basic_class(basic)))]
    subs += [(sr_type, phdb_subrecord(time, bytes(270), cls)) for cls in ext_classes]
    return record(MT_PHDB, subs, r_time=time, **header_fields)


@dataclass(frozen=True, slots=True)
class Wave:
    wave_type: int
    samples: Sequence[int]
    status: int = 0
    label: int = 0
    extra: bytes = field(default=b"")  # bytes after the samples (padding), rarely used


def wave_subrecord(w: Wave) -> bytes:
    body = struct.pack("<hHH", len(w.samples), w.status, w.label)
    body += struct.pack(f"<{len(w.samples)}h", *w.samples)
    return body + w.extra


def wave_record(waves: Sequence[Wave], **header_fields: int) -> bytes:
    return record(MT_WAVE, [(w.wave_type, wave_subrecord(w)) for w in waves], **header_fields)


# --- host requests (the layouts of the Computer Interface spec, Appendix A) ---------------


def phdb_request(record_type: int, interval: int, class_bf: int) -> bytes:
    return record(MT_PHDB, [(0, struct.pack("<BhIh", record_type, interval, class_bf, 0))])


def wave_request(req_type: int, types: Sequence[int]) -> bytes:
    ids = bytes(types) + b"\xff" if len(types) < 8 else bytes(types)
    body = struct.pack("<hh", req_type, 0) + ids.ljust(8, b"\x00") + bytes(16) + bytes(4)
    return record(MT_WAVE, [(0, body)])


def alarm_request(cmd: int) -> bytes:
    return record(MT_ALARM, [(0, struct.pack("<6h", cmd, 0, 0, 0, 0, 0))])


# --- fault injection ----------------------------------------------------------------------


def garbage(n: int, rng: random.Random, *, flags: bool = True) -> bytes:
    """Random bytes; with ``flags=False`` they contain no 0x7E."""
    out = bytes(rng.randrange(256) for _ in range(n))
    return out if flags else out.replace(b"\x7e", b"\x00")


def bad_checksum_frame(rec: bytes) -> bytes:
    """A correctly escaped frame whose checksum is off by one."""
    wrong = (checksum(rec) + 1) % 256
    return bytes([FLAG]) + escape(rec + bytes([wrong])) + bytes([FLAG])


def truncated_frame(rec: bytes, keep: int) -> bytes:
    """The first ``keep`` wire bytes of a frame, with no closing flag."""
    return frame(rec)[:keep]


def unterminated_escape_frame(rec: bytes) -> bytes:
    """A frame whose last content byte is a lone 0x7D (escape with nothing after it)."""
    body = escape(rec + bytes([checksum(rec)]))
    return bytes([FLAG]) + body + bytes([ESC, FLAG])
