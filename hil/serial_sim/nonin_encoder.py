"""Nonin serial data formats 7 and 8, encoded from the OEM specification.

Format 7: 25 frames of 5 bytes per packet, 75 frames/s. Each frame is
``STATUS, PLETH MSB, PLETH LSB, FLOAT, CHK`` with CHK = sum of the first four mod 256.
STATUS always has bit 7 set; bit 0 (SYNC) is set in frame 1 only. Float bytes by frame:
1/2 HR MSB/LSB, 3 SpO2, 4 SREV, 6/7 TMR MSB/LSB, 8 STAT2, 9 SpO2-D, 10 SpO2 fast,
11 SpO2 beat-to-beat, 14/15 E-HR, 16 E-SpO2, 17 E-SpO2-D, 20/21 HR-D, 22/23 E-HR-D,
5, 12, 13, 18, 19, 24, 25 reserved (0). A 9-bit rate R is sent as MSB = R >> 7 (bits 1-0)
and LSB = R & 0x7F.

Format 8: one 4-byte record per second, no checksum: STATUS (bit 7 set, bits 6-2 flags,
bits 1-0 HR bits 8-7), HR bits 6-0, SpO2, STATUS2.

Fault helpers return new byte strings; nothing here mutates its input.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field

# Format 7 status bits.
SYNC = 0x01
GPRF = 0x02
RPRF = 0x04
SNSA = 0x08
OOT = 0x10
ARTF = 0x20
SNSD = 0x40
BIT7 = 0x80

# Format 8 status bits.
F8_ARTF = 0x04
F8_MPRF = 0x08
F8_LPRF = 0x10
F8_OOT = 0x20
F8_SNSD = 0x40

# STAT2 bits.
LOW_BATTERY = 0x01
CRITICAL_BATTERY = 0x02
SPOT_CHECK = 0x04
SENSOR_FAULT = 0x08
SMARTPOINT = 0x20

FRAMES = 25


@dataclass(frozen=True, slots=True)
class PacketValues:
    """Everything one format 7 packet carries besides the pleth and per-frame status."""

    hr: int = 72
    spo2: int = 97
    srev: int = 0x42
    timer: int = 0
    stat2: int = 0
    spo2_d: int = 97
    spo2_fast: int = 97
    spo2_bb: int = 97
    e_hr: int = 72
    e_spo2: int = 97
    e_spo2_d: int = 97
    hr_d: int = 72
    e_hr_d: int = 72
    pleth: Sequence[int] = field(default_factory=lambda: [0] * FRAMES)
    statuses: Sequence[int] = field(default_factory=lambda: [0] * FRAMES)  # bits 6-1


def encode_frame7(status: int, pleth: int, value: int) -> bytes:
    """One frame; ``status`` gets bit 7 forced on. No other bit is touched."""
    s = (status | BIT7) & 0xFF
    hi, lo = (pleth >> 8) & 0xFF, pleth & 0xFF
    return bytes((s, hi, lo, value & 0xFF, (s + hi + lo + (value & 0xFF)) % 256))


def float_bytes(v: PacketValues) -> list[int]:
    """The 25 float bytes of a packet, frame 1 first."""
    out = [0] * FRAMES
    out[0], out[1] = (v.hr >> 7) & 0x03, v.hr & 0x7F
    out[2] = v.spo2 & 0x7F
    out[3] = v.srev & 0xFF
    out[5], out[6] = (v.timer >> 7) & 0x7F, v.timer & 0x7F
    out[7] = v.stat2 & 0xFF
    out[8] = v.spo2_d & 0x7F
    out[9] = v.spo2_fast & 0x7F
    out[10] = v.spo2_bb & 0x7F
    out[13], out[14] = (v.e_hr >> 7) & 0x03, v.e_hr & 0x7F
    out[15] = v.e_spo2 & 0x7F
    out[16] = v.e_spo2_d & 0x7F
    out[19], out[20] = (v.hr_d >> 7) & 0x03, v.hr_d & 0x7F
    out[21], out[22] = (v.e_hr_d >> 7) & 0x03, v.e_hr_d & 0x7F
    return out


def encode_packet7(v: PacketValues) -> bytes:
    """125 bytes: 25 frames with SYNC on frame 1 only."""
    if len(v.pleth) != FRAMES or len(v.statuses) != FRAMES:
        raise ValueError("a packet has 25 pleth samples and 25 status bytes")
    values = float_bytes(v)
    frames = []
    for k in range(FRAMES):
        status = v.statuses[k] & 0x7E  # caller's flags, never SYNC or bit 7
        if k == 0:
            status |= SYNC
        frames.append(encode_frame7(status, v.pleth[k], values[k]))
    return b"".join(frames)


def encode_record8(status: int, hr: int, spo2: int, stat2: int = 0) -> bytes:
    """One format 8 record; ``status`` holds the flag bits 6-2 only."""
    return bytes(
        (
            BIT7 | (status & 0x7C) | ((hr >> 7) & 0x03),
            hr & 0x7F,
            spo2 & 0x7F,
            stat2 & 0x7F,
        )
    )


# --- fault injection ----------------------------------------------------------------------


def garbage(n: int, rng: random.Random) -> bytes:
    return bytes(rng.randrange(256) for _ in range(n))


def insert_garbage(stream: bytes, at: int, junk: bytes) -> bytes:
    return stream[:at] + junk + stream[at:]


def truncate(frame: bytes, keep: int) -> bytes:
    """The first ``keep`` bytes of a frame (a frame cut off mid-way)."""
    return frame[:keep]


def bad_checksum(frame: bytes) -> bytes:
    """A format 7 frame with its checksum byte off by one."""
    return frame[:4] + bytes([(frame[4] + 1) % 256]) + frame[5:]


def flip_bit(stream: bytes, index: int, bit: int) -> bytes:
    return stream[:index] + bytes([stream[index] ^ (1 << bit)]) + stream[index + 1 :]
