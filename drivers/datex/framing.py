"""Framing of the GE/Datex-Ohmeda S/5 Computer Interface (protocol id ``datex-s5``).

Per the S/5 Computer Interface Specification (M1017617)::

    7E | escaped( Datex record + checksum byte ) | 7E

* The checksum is the 8-bit unsigned sum of every byte of the (unescaped) record.
* Escaping covers the checksum byte too: 0x7E -> 7D 5E, 0x7D -> 7D 5D (bit 5 cleared);
  on receive 7D xx -> xx with bit 5 set. Only 5E and 5D may follow 7D.
* There is no length in the framing; ``r_len`` sits in the record header
  (:mod:`drivers.datex.records`). A record is at most 40 + 1450 bytes.

:class:`Deframer` is a sans-IO push parser: every flag ends the current frame candidate, an
empty candidate (two flags in a row) is ignored, and an over-long run without a flag is
rejected and skipped up to the next flag, so the buffer never exceeds :data:`MAX_WIRE`.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.errors import ChecksumError, FramingError, ParseError

SOURCE = "datex-s5"
FLAG = 0x7E
CTRL = 0x7D
HEADER_LEN = 40
MAX_DATA = 1450
MAX_RECORD = HEADER_LEN + MAX_DATA
#: Longest escaped content (record + checksum, every byte escaped) between two flags.
MAX_WIRE = 2 * (MAX_RECORD + 1)

_FLAG_B = b"\x7e"
_CTRL_B = b"\x7d"
_ESC_FLAG = b"\x7d\x5e"
_ESC_CTRL = b"\x7d\x5d"


def checksum(record: bytes | bytearray) -> int:
    """8-bit unsigned sum of the record bytes."""
    return sum(record) & 0xFF


def escape(data: bytes) -> bytes:
    return data.replace(_CTRL_B, _ESC_CTRL).replace(_FLAG_B, _ESC_FLAG)


def unescape(data: bytes, offset: int = 0) -> bytes:
    """Undo the byte stuffing; raise FramingError on a 7D not followed by 5D or 5E."""
    n_ctrl = data.count(_CTRL_B)
    if not n_ctrl:
        return data
    if n_ctrl != data.count(_ESC_CTRL) + data.count(_ESC_FLAG):
        at = _bad_escape_at(data)
        raise FramingError(SOURCE, offset + at, data, "0x7D not followed by 0x5D or 0x5E")
    return data.replace(_ESC_FLAG, _FLAG_B).replace(_ESC_CTRL, _CTRL_B)


def _bad_escape_at(data: bytes) -> int:
    i = data.find(_CTRL_B)
    while i >= 0:
        if i + 1 >= len(data) or data[i + 1] not in (0x5D, 0x5E):
            return i
        i = data.find(_CTRL_B, i + 2)
    return 0


def encode_frame(record: bytes) -> bytes:
    """Wire bytes for one record: flag, escaped record and checksum, flag."""
    return _FLAG_B + escape(record + bytes([checksum(record)])) + _FLAG_B


@dataclass(frozen=True, slots=True)
class Frame:
    """The unescaped record of one frame whose checksum matched."""

    record: bytes
    checksum: int
    offset: int  # stream offset of the first byte after the opening flag


def parse_frame_content(content: bytes, offset: int = 0) -> Frame:
    """Check the escaped bytes between two flags; return the record they carry."""
    if len(content) > MAX_WIRE:
        raise FramingError(SOURCE, offset, content[:64], f"frame longer than {MAX_WIRE} bytes")
    body = unescape(content, offset)
    if len(body) < 2:
        raise FramingError(SOURCE, offset, body, "frame too short for a record and checksum")
    if len(body) > MAX_RECORD + 1:
        raise FramingError(SOURCE, offset, body[:64], f"record longer than {MAX_RECORD} bytes")
    record = body[:-1]
    received = body[-1]
    computed = checksum(record)
    if computed != received:
        raise ChecksumError(
            SOURCE,
            offset + len(content),
            body,
            f"checksum {received:#04x}, computed {computed:#04x}",
        )
    return Frame(record, received, offset)


class Deframer:
    """Streaming deframer: feed bytes, get :class:`Frame` values or ParseError values."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._pos = 0  # stream offset of self._buf[0]
        self._hunting = True  # before the first flag, or after an over-long run
        self._lost = 0  # bytes dropped while hunting (reported once a flag arrives)
        self._report_lost = True  # False after an over-long run, which is reported already

    @property
    def pending(self) -> int:
        """Bytes of a frame that has not been closed yet."""
        return 0 if self._hunting else len(self._buf)

    def feed(self, data: bytes) -> list[Frame | ParseError]:
        out: list[Frame | ParseError] = []
        buf = self._buf
        buf += data
        start = 0
        while True:
            end = buf.find(FLAG, start)
            if end < 0:
                break
            if self._hunting:
                self._lost += end - start
                if self._lost and self._report_lost:
                    out.append(
                        FramingError(
                            SOURCE,
                            self._pos + end - self._lost,
                            bytes(buf[max(end - self._lost, 0) : end][:64]),
                            f"skipped {self._lost} bytes before a flag",
                        )
                    )
                self._hunting = False
                self._lost = 0
                self._report_lost = True
            elif end > start:
                try:
                    out.append(parse_frame_content(bytes(buf[start:end]), self._pos + start))
                except ParseError as exc:
                    out.append(exc)
            start = end + 1
        if self._hunting:
            self._lost += len(buf) - start
            start = len(buf)
            if self._lost >= MAX_WIRE and self._report_lost:
                out.append(
                    FramingError(SOURCE, self._pos, b"", f"skipped {self._lost} bytes, no flag")
                )
                self._lost = 0
                self._report_lost = False  # reported; stay quiet until the next flag
        elif len(buf) - start > MAX_WIRE:
            out.append(
                FramingError(
                    SOURCE,
                    self._pos + start,
                    bytes(buf[start : start + 64]),
                    f"no closing flag within {MAX_WIRE} bytes",
                )
            )
            self._hunting = True
            self._report_lost = False
            start = len(buf)
        del buf[:start]
        self._pos += start
        return out
