"""Decode one Nonin frame, packet or record into a JSON-able dict (for CLI and debugging).

Unlike the streaming decoders this does not reject a bad checksum or a clear bit 7: it
reports them (``checksum.ok``, ``problems``) so a captured frame can be inspected. Input of
the wrong length raises :class:`~gateway.errors.FramingError`.
"""

from __future__ import annotations

from drivers.nonin.codec import (
    FLOAT_TABLE,
    FRAME_LEN,
    FRAMES_PER_PACKET,
    PACKET_LEN,
    RECORD8_LEN,
    SOURCE,
    Frame7,
    Stat2,
    Status,
    Status8,
    assemble_packet,
    frame_checksum,
    join_hr,
    perfusion_of,
)
from gateway.errors import FramingError


def _flag_names(flags: Status | Status8 | Stat2) -> list[str]:
    return [f.name.lower() for f in type(flags) if f in flags and f.name is not None]


def _frame(data: bytes, number: int | None) -> dict[str, object]:
    b0, b1, b2, b3, b4 = data
    computed = frame_checksum(b0, b1, b2, b3)
    problems = []
    if not b0 & Status.ALWAYS:
        problems.append("status byte has bit 7 clear")
    if computed != b4:
        problems.append("checksum mismatch")
    out: dict[str, object] = {
        "status": b0,
        "flags": _flag_names(Status(b0 & 0x7F)),
        "perfusion": perfusion_of(b0).value,
        "pleth": (b1 << 8) | b2,
        "value": b3,
        "checksum": {"received": b4, "computed": computed, "ok": computed == b4},
        "problems": problems,
    }
    if number is not None:
        out["frame"] = number
        out["carries"] = FLOAT_TABLE[number]
    return out


def decode_frame(data: bytes, fmt: int = 7) -> dict[str, object]:
    """Decode a 5-byte frame or 125-byte packet (format 7) or a 4-byte record (format 8)."""
    if fmt == 7:
        if len(data) == FRAME_LEN:
            return {"protocol": SOURCE, "format": 7, "kind": "frame", **_frame(data, None)}
        if len(data) == PACKET_LEN:
            return _packet(data)
        raise FramingError(
            SOURCE, len(data), data, f"format 7 needs {FRAME_LEN} or {PACKET_LEN} bytes"
        )
    if fmt == 8:
        if len(data) != RECORD8_LEN:
            raise FramingError(SOURCE, len(data), data, f"format 8 needs {RECORD8_LEN} bytes")
        return _record8(data)
    raise ValueError(f"unsupported Nonin data format {fmt}; supported: 7, 8")


def _packet(data: bytes) -> dict[str, object]:
    frames = [
        _frame(data[k : k + FRAME_LEN], k // FRAME_LEN + 1) for k in range(0, PACKET_LEN, FRAME_LEN)
    ]
    sums_ok = all(
        frame_checksum(*data[k : k + 4]) == data[k + 4] for k in range(0, PACKET_LEN, FRAME_LEN)
    )
    bits_ok = all(data[k] & Status.ALWAYS for k in range(0, PACKET_LEN, FRAME_LEN))
    synced = bool(data[0] & Status.SYNC)
    out: dict[str, object] = {
        "protocol": SOURCE,
        "format": 7,
        "kind": "packet",
        "frames": frames,
        "checksum": {"ok": sums_ok},
        "problems": [] if synced else ["frame 1 has no SYNC bit"],
    }
    if sums_ok and bits_ok and synced:
        packet = assemble_packet(
            [
                Frame7(data[k], (data[k + 1] << 8) | data[k + 2], data[k + 3], data[k + 4])
                for k in range(0, PACKET_LEN, FRAME_LEN)
            ]
        )
        out["values"] = {
            "hr": packet.hr,
            "spo2": packet.spo2,
            "srev": packet.srev,
            "timer": packet.timer,
            "stat2": _flag_names(packet.stat2),
            "spo2_d": packet.spo2_d,
            "spo2_fast": packet.spo2_fast,
            "spo2_bb": packet.spo2_bb,
            "e_hr": packet.e_hr,
            "e_spo2": packet.e_spo2,
            "e_spo2_d": packet.e_spo2_d,
            "hr_d": packet.hr_d,
            "e_hr_d": packet.e_hr_d,
        }
        out["flags"] = _flag_names(packet.flags)
        out["pleth"] = list(packet.pleth)
    assert len(frames) == FRAMES_PER_PACKET
    return out


def _record8(data: bytes) -> dict[str, object]:
    b0, b1, b2, b3 = data
    problems = []
    if not b0 & 0x80:
        problems.append("status byte has bit 7 clear")
    problems += [f"byte {k + 1} has bit 7 set" for k, b in enumerate(data) if k and b & 0x80]
    return {
        "protocol": SOURCE,
        "format": 8,
        "kind": "record",
        "flags": _flag_names(Status8(b0 & 0x7C)),
        "hr": join_hr(b0, b1),
        "spo2": b2 & 0x7F,
        "stat2": _flag_names(Stat2(b3 & sum(Stat2))),
        "checksum": None,  # format 8 has no checksum
        "problems": problems,
    }
