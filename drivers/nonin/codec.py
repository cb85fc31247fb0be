"""Pure parser for Nonin OEM serial data formats 7 and 8 (protocol id ``nonin``).

**Format 7** streams 5-byte frames at 75 frames/s (9600 8N1)::

    byte 1 STATUS   bit 7 always 1, bit 6 SNSD, bit 5 ARTF, bit 4 OOT, bit 3 SNSA,
                    bit 2 RPRF, bit 1 GPRF (both set = YPRF), bit 0 SYNC (frame 1 only)
    byte 2 PLETH MSB
    byte 3 PLETH LSB
    byte 4 FLOAT    one value byte, its meaning set by the frame number (FLOAT_TABLE)
    byte 5 CHK      (byte1 + byte2 + byte3 + byte4) mod 256

25 frames make one packet (3 packets/s); SYNC marks frame 1. A 9-bit heart rate is split
over two float bytes: the MSB byte carries HR bits 8-7 in its bits 1-0, the LSB byte HR bits
6-0 in its bits 6-0. HR 511 and SpO2 127 mean "no value".

**Format 8** sends one 4-byte record per second with no checksum::

    byte 1 STATUS   bit 7 always 1, bit 6 SNSD, bit 5 OOT, bit 4 LPRF, bit 3 MPRF,
                    bit 2 ARTF, bits 1-0 HR bits 8-7
    byte 2 HR       bit 7 0, bits 6-0 HR bits 6-0
    byte 3 SpO2     bit 7 0, bits 6-0 SpO2
    byte 4 STATUS2  bit 7 0, bit 5 SPA, bit 3 sensor fault, bit 2 spot-check mode,
                    bit 1 critical battery, bit 0 low battery

The decoders are sans-IO: feed bytes, get packets or :class:`~gateway.errors.ParseError`
values back. They resynchronise after garbage and keep at most one partial frame.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from gateway.errors import ChecksumError, FramingError, ParseError

SOURCE = "nonin"
FRAME_LEN = 5
FRAMES_PER_PACKET = 25
PACKET_LEN = FRAME_LEN * FRAMES_PER_PACKET
SAMPLE_RATE_HZ = 75
RECORD8_LEN = 4
MISSING_HR = 511
MISSING_SPO2 = 127
#: A run of garbage this long is reported even before sync is found again.
REPORT_SKIPPED_AFTER = 3 * PACKET_LEN


class Status(enum.IntFlag):
    """Format 7 status byte."""

    SYNC = 0x01
    GPRF = 0x02  # green perfusion: high signal amplitude
    RPRF = 0x04  # red perfusion: low signal amplitude (GPRF|RPRF = yellow, medium)
    SNSA = 0x08  # sensor alarm: sensor gives unusable data
    OOT = 0x10  # out of track: no consecutive good pulses
    ARTF = 0x20  # artifact: a beat did not match the pulse interval
    SNSD = 0x40  # sensor disconnected or inoperable
    ALWAYS = 0x80  # always set: marks the status byte


class Status8(enum.IntFlag):
    """Format 8 status byte (bits 1-0 hold HR bits 8-7 and are not flags)."""

    ARTF = 0x04
    MPRF = 0x08  # marginal perfusion for the whole period
    LPRF = 0x10  # low perfusion for the whole period
    OOT = 0x20
    SNSD = 0x40


class Stat2(enum.IntFlag):
    """STAT2 byte (format 7 frame 8, format 8 byte 4)."""

    LOW_BATTERY = 0x01
    CRITICAL_BATTERY = 0x02
    SPOT_CHECK = 0x04
    SENSOR_FAULT = 0x08  # documented for format 8 only
    SMARTPOINT = 0x20  # high-quality SmartPoint measurement


class Perfusion(enum.Enum):
    NONE = "none"
    GREEN = "green"
    RED = "red"
    YELLOW = "yellow"


#: Frame number (1-based) -> name of the value its float byte carries (format 7).
FLOAT_TABLE: dict[int, str] = {
    1: "hr_msb",
    2: "hr_lsb",
    3: "spo2",
    4: "srev",
    5: "reserved",
    6: "tmr_msb",
    7: "tmr_lsb",
    8: "stat2",
    9: "spo2_d",
    10: "spo2_fast",
    11: "spo2_bb",
    12: "reserved",
    13: "reserved",
    14: "e_hr_msb",
    15: "e_hr_lsb",
    16: "e_spo2",
    17: "e_spo2_d",
    18: "reserved",
    19: "reserved",
    20: "hr_d_msb",
    21: "hr_d_lsb",
    22: "e_hr_d_msb",
    23: "e_hr_d_lsb",
    24: "reserved",
    25: "reserved",
}


def frame_checksum(b0: int, b1: int, b2: int, b3: int) -> int:
    return (b0 + b1 + b2 + b3) & 0xFF


def join_hr(msb: int, lsb: int) -> int:
    """9-bit rate from an MSB byte (bits 1-0 = bits 8-7) and an LSB byte (bits 6-0)."""
    return ((msb & 0x03) << 7) | (lsb & 0x7F)


def perfusion_of(status: int) -> Perfusion:
    bits = status & (Status.GPRF | Status.RPRF)
    if bits == Status.GPRF | Status.RPRF:
        return Perfusion.YELLOW
    if bits == Status.RPRF:
        return Perfusion.RED
    if bits == Status.GPRF:
        return Perfusion.GREEN
    return Perfusion.NONE


@dataclass(frozen=True, slots=True)
class Frame7:
    """One 5-byte format 7 frame whose status bit 7 and checksum were checked."""

    status: int
    pleth: int
    value: int  # the float byte
    checksum: int

    @property
    def sync(self) -> bool:
        return bool(self.status & Status.SYNC)


def parse_frame7(data: bytes | bytearray, offset: int = 0) -> Frame7:
    """Parse the 5 bytes at ``offset``; raise FramingError or ChecksumError if they are bad."""
    raw = bytes(data[offset : offset + FRAME_LEN])
    if len(raw) < FRAME_LEN:
        raise FramingError(SOURCE, offset, raw, f"format 7 frame needs {FRAME_LEN} bytes")
    b0, b1, b2, b3, b4 = raw
    if not b0 & Status.ALWAYS:
        raise FramingError(SOURCE, offset, raw, "status byte has bit 7 clear")
    if frame_checksum(b0, b1, b2, b3) != b4:
        raise ChecksumError(
            SOURCE,
            offset + 4,
            raw,
            f"checksum {b4:#04x}, expected {frame_checksum(b0, b1, b2, b3):#04x}",
        )
    return Frame7(b0, (b1 << 8) | b2, b3, b4)


@dataclass(frozen=True, slots=True)
class Packet7:
    """25 frames of format 7: 25 pleth samples (75 Hz) and one set of numerics."""

    statuses: tuple[int, ...]
    pleth: tuple[int, ...]
    values: tuple[int, ...]  # the 25 float bytes, frame 1 first
    hr: int  # 4-beat average pulse rate, 511 = missing
    spo2: int  # 4-beat average SpO2, 127 = missing
    srev: int  # oximeter firmware revision
    timer: int
    stat2: Stat2
    spo2_d: int  # 4-beat SpO2 formatted for display
    spo2_fast: int
    spo2_bb: int  # beat to beat, no averaging
    e_hr: int  # 8-beat extended average
    e_spo2: int
    e_spo2_d: int
    hr_d: int
    e_hr_d: int

    @property
    def flags(self) -> Status:
        """All status bits seen in any frame of the packet (SYNC and bit 7 removed)."""
        union = 0
        for s in self.statuses:
            union |= s
        return Status(union & 0x7E)

    @property
    def perfusion(self) -> tuple[Perfusion, ...]:
        return tuple(perfusion_of(s) for s in self.statuses)


def assemble_packet(frames: list[Frame7]) -> Packet7:
    """Build a packet from 25 checked frames, frame 1 (SYNC) first."""
    if len(frames) != FRAMES_PER_PACKET or not frames[0].sync:
        raise FramingError(SOURCE, 0, b"", "a packet needs 25 frames starting at SYNC")
    v = tuple(f.value for f in frames)
    return Packet7(
        statuses=tuple(f.status for f in frames),
        pleth=tuple(f.pleth for f in frames),
        values=v,
        hr=join_hr(v[0], v[1]),
        spo2=v[2] & 0x7F,
        srev=v[3],
        timer=((v[5] & 0x7F) << 7) | (v[6] & 0x7F),
        stat2=Stat2(v[7] & sum(Stat2)),
        spo2_d=v[8] & 0x7F,
        spo2_fast=v[9] & 0x7F,
        spo2_bb=v[10] & 0x7F,
        e_hr=join_hr(v[13], v[14]),
        e_spo2=v[15] & 0x7F,
        e_spo2_d=v[16] & 0x7F,
        hr_d=join_hr(v[19], v[20]),
        e_hr_d=join_hr(v[21], v[22]),
    )


class Format7Decoder:
    """Streaming format 7 deframer and packet assembler.

    Out of sync it looks for a frame with SYNC and bit 7 set and a good checksum; frames
    with a good checksum that are not frame 1 are skipped quietly (joining mid-packet),
    other skipped bytes are reported as one FramingError per run. In sync, a frame with a
    bad status byte or checksum is reported and the decoder searches again from the next
    byte, so the first good frame after garbage is found.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._frames: list[Frame7] = []
        self._synced = False
        self._pos = 0  # stream offset of self._buf[0]
        self._skipped = 0  # garbage bytes skipped in the current run

    @property
    def pending(self) -> int:
        """Bytes held for frames of a packet that is not complete yet."""
        return len(self._buf) + FRAME_LEN * len(self._frames)

    def feed(self, data: bytes) -> list[Packet7 | ParseError]:
        out: list[Packet7 | ParseError] = []
        buf = self._buf
        buf += data
        i = 0
        n = len(buf)
        while n - i >= FRAME_LEN:
            b0, b1, b2, b3, b4 = buf[i], buf[i + 1], buf[i + 2], buf[i + 3], buf[i + 4]
            good = b0 & 0x80 and (b0 + b1 + b2 + b3) & 0xFF == b4
            if not self._synced:
                if good and b0 & 0x01:
                    self._flush_skipped(out, i)
                    self._synced = True
                elif good:
                    self._flush_skipped(out, i)
                    i += FRAME_LEN  # a frame of a packet we joined mid-way
                    continue
                else:
                    self._skipped += 1
                    i += 1
                    continue
            if not good:
                cls = ChecksumError if b0 & 0x80 else FramingError
                reason = (
                    f"checksum {b4:#04x}, expected {(b0 + b1 + b2 + b3) & 0xFF:#04x}"
                    if b0 & 0x80
                    else "status byte has bit 7 clear"
                )
                dropped = len(self._frames)
                out.append(
                    cls(
                        SOURCE,
                        self._pos + i,
                        bytes(buf[i : i + FRAME_LEN]),
                        f"lost sync: {reason}; dropped {dropped} frames of the packet",
                    )
                )
                self._frames = []
                self._synced = False
                i += 1
                continue
            frame = Frame7(b0, (b1 << 8) | b2, b3, b4)
            i += FRAME_LEN
            if frame.sync and self._frames:
                self._drop_packet(out, i - FRAME_LEN)
            elif not frame.sync and not self._frames:
                out.append(
                    FramingError(
                        SOURCE,
                        self._pos + i - FRAME_LEN,
                        bytes(buf[i - FRAME_LEN : i]),
                        "frame 26 of a packet: expected SYNC",
                    )
                )
                self._synced = False
                continue
            self._frames.append(frame)
            if len(self._frames) == FRAMES_PER_PACKET:
                out.append(assemble_packet(self._frames))
                self._frames = []
        if self._skipped >= REPORT_SKIPPED_AFTER:
            self._flush_skipped(out, i)
        del buf[:i]
        self._pos += i
        return out

    def _flush_skipped(self, out: list[Packet7 | ParseError], i: int) -> None:
        if self._skipped:
            start = i - self._skipped
            shown = bytes(self._buf[max(start, 0, i - 64) : i])
            out.append(
                FramingError(
                    SOURCE,
                    self._pos + start,
                    shown,
                    f"skipped {self._skipped} bytes searching for frame sync",
                )
            )
            self._skipped = 0

    def _drop_packet(self, out: list[Packet7 | ParseError], i: int) -> None:
        out.append(
            FramingError(
                SOURCE,
                self._pos + i,
                b"",
                f"SYNC after {len(self._frames)} of {FRAMES_PER_PACKET} frames: packet dropped",
            )
        )
        self._frames = []


@dataclass(frozen=True, slots=True)
class Record8:
    """One format 8 record (sent once per second)."""

    status: Status8
    hr: int  # 511 = missing
    spo2: int  # 127 = missing
    stat2: Stat2
    raw: bytes


def parse_record8(data: bytes | bytearray, offset: int = 0) -> Record8:
    """Parse the 4 bytes at ``offset``; raise FramingError if the sync bits are wrong."""
    raw = bytes(data[offset : offset + RECORD8_LEN])
    if len(raw) < RECORD8_LEN:
        raise FramingError(SOURCE, offset, raw, f"format 8 record needs {RECORD8_LEN} bytes")
    b0, b1, b2, b3 = raw
    if not b0 & 0x80:
        raise FramingError(SOURCE, offset, raw, "status byte has bit 7 clear")
    for k, b in enumerate((b1, b2, b3), start=1):
        if b & 0x80:
            raise FramingError(SOURCE, offset + k, raw, f"byte {k + 1} has bit 7 set")
    return Record8(
        status=Status8(b0 & 0x7C),
        hr=join_hr(b0, b1),
        spo2=b2 & 0x7F,
        stat2=Stat2(b3 & sum(Stat2)),
        raw=raw,
    )


class Format8Decoder:
    """Streaming format 8 decoder: a byte with bit 7 set followed by three without."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._pos = 0
        self._skipped = 0

    @property
    def pending(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes) -> list[Record8 | ParseError]:
        out: list[Record8 | ParseError] = []
        buf = self._buf
        buf += data
        i = 0
        n = len(buf)
        while n - i >= RECORD8_LEN:
            if buf[i] & 0x80 and not (buf[i + 1] | buf[i + 2] | buf[i + 3]) & 0x80:
                if self._skipped:
                    out.append(
                        FramingError(
                            SOURCE,
                            self._pos + i - self._skipped,
                            bytes(buf[max(i - self._skipped, 0) : i]),
                            f"skipped {self._skipped} bytes searching for a status byte",
                        )
                    )
                    self._skipped = 0
                out.append(parse_record8(buf, i))
                i += RECORD8_LEN
            else:
                self._skipped += 1
                i += 1
        if self._skipped >= REPORT_SKIPPED_AFTER:
            out.append(
                FramingError(
                    SOURCE,
                    self._pos + i - self._skipped,
                    bytes(buf[max(i - self._skipped, 0) : i][:64]),
                    f"skipped {self._skipped} bytes searching for a status byte",
                )
            )
            self._skipped = 0
        del buf[:i]
        self._pos += i
        return out
