"""IntelliVue MIB/RS232 framing: BOF/EOF, 0x7D escaping, CRC-16/X.25 FCS, streaming deframer.

On the wire (all of it between BOF and EOF escaped)::

    C0 | 11 01 LL LL | user data (LL LL bytes, big-endian length) | FCS lo FCS hi | C1

* Escaping: a byte in {0xC0, 0xC1, 0x7D} becomes ``7D`` followed by the byte XOR 0x20. It
  covers the 4-byte header, the user data and the FCS. A receiver XORs whatever follows a
  ``7D`` (as PPP does); a raw ``7D`` right before ``C1`` marks an aborted frame.
* FCS: CRC-16/X.25 (reflected polynomial 0x8408, register starts at 0xFFFF, the ones'
  complement is sent low byte first) over the unescaped header and user data. Running the
  CRC over header, data and FCS leaves the residue 0xF0B8 in a good frame.

:class:`Deframer` is sans-IO: ``feed(bytes)`` returns complete :class:`Frame` objects and
:class:`~gateway.errors.ParseError` values (garbage between frames, aborted, oversized,
truncated or corrupt frames) and resynchronises at the next BOF. Its buffer is bounded.
"""

from __future__ import annotations

import binascii
import re
from dataclasses import dataclass

from gateway.errors import ChecksumError, FieldError, FramingError, ParseError

SOURCE = "intellivue"

BOF = 0xC0
EOF = 0xC1
ESC = 0x7D
ESC_XOR = 0x20
#: Header bytes of every data-export frame: protocol id and message type.
HEADER_PROTOCOL_ID = 0x11
MSG_TYPE = 0x01
HEADER_LEN = 4
FCS_LEN = 2
#: CRC register after a good frame's header, data and FCS.
GOOD_RESIDUE = 0xF0B8
#: Largest user data we accept by default. The monitor negotiates at most 1456 bytes
#: (max_mtu) and the longest frame seen in a real capture held 886.
MAX_USER_DATA = 4096

_POLY_REFLECTED = 0x8408
_DELIMITER = re.compile(rb"[\xc0\xc1]")
_ESCAPED = re.compile(rb"\x7d(.)", re.DOTALL)


def _make_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ _POLY_REFLECTED if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_TABLE = _make_table()
#: Byte with its bits in reverse order, used to run the reflected CRC on binascii's
#: non-reflected CRC-CCITT (same polynomial 0x1021).
_REVERSED = bytes(int(f"{i:08b}"[::-1], 2) for i in range(256))


def _reverse16(value: int) -> int:
    return (_REVERSED[value & 0xFF] << 8) | _REVERSED[value >> 8]


def crc16_x25_table(data: bytes, crc: int = 0xFFFF) -> int:
    """CRC register after ``data`` (table-driven reference form, no final complement)."""
    for byte in data:
        crc = (crc >> 8) ^ _TABLE[(crc ^ byte) & 0xFF]
    return crc


def crc16_x25(data: bytes, crc: int = 0xFFFF) -> int:
    """CRC register after ``data`` (no final complement); C-speed via :mod:`binascii`.

    A reflected CRC equals the bit-reversal of the plain CRC of the bit-reversed input.
    """
    return _reverse16(binascii.crc_hqx(bytes(data).translate(_REVERSED), _reverse16(crc)))


def fcs(data: bytes) -> int:
    """The FCS to send after ``data``: the ones' complement of the CRC register."""
    return crc16_x25(data) ^ 0xFFFF


def escape(data: bytes) -> bytes:
    """Escape every BOF, EOF and ESC byte as ``7D`` + (byte XOR 0x20)."""
    if b"\x7d" in data:  # first, so that the escapes added below are not escaped again
        data = data.replace(b"\x7d", b"\x7d\x5d")
    if b"\xc0" in data:
        data = data.replace(b"\xc0", b"\x7d\xe0")
    if b"\xc1" in data:
        data = data.replace(b"\xc1", b"\x7d\xe1")
    return data


def unescape(data: bytes) -> bytes:
    """Undo :func:`escape`. A trailing lone ``7D`` (nothing left to unescape) is an error."""
    if b"\x7d" not in data:
        return data
    if _trailing_escape(data):
        raise FramingError(SOURCE, len(data) - 1, data, "escape byte 7D at end of frame")
    return _ESCAPED.sub(lambda m: bytes((m.group(1)[0] ^ ESC_XOR,)), data)


def _trailing_escape(raw: bytes) -> bool:
    """True when ``raw`` ends in a 7D that escapes nothing (an odd run of 7D bytes)."""
    run = len(raw) - len(raw.rstrip(b"\x7d"))
    return run % 2 == 1


def encode_frame(user_data: bytes) -> bytes:
    """Frame ``user_data``: header, FCS, escaping, BOF and EOF."""
    if len(user_data) > 0xFFFF:
        raise ValueError(f"user data of {len(user_data)} bytes does not fit a 16-bit length")
    header = bytes((HEADER_PROTOCOL_ID, MSG_TYPE)) + len(user_data).to_bytes(2, "big")
    body = header + bytes(user_data)
    body += fcs(body).to_bytes(2, "little")
    return b"\xc0" + escape(body) + b"\xc1"


@dataclass(frozen=True, slots=True)
class Frame:
    """A frame whose header and FCS checked out: the user data (an APDU) and its FCS."""

    user_data: bytes
    fcs: int


def decode_body(body: bytes, max_user_data: int = MAX_USER_DATA) -> Frame:
    """Check one unescaped frame body (header, user data, FCS) and return its user data."""
    if len(body) < HEADER_LEN + FCS_LEN:
        raise FramingError(SOURCE, 0, body, f"frame of {len(body)} bytes is shorter than 6")
    residue = crc16_x25(body)
    if residue != GOOD_RESIDUE:
        sent = int.from_bytes(body[-2:], "little")
        wanted = fcs(body[:-2])
        raise ChecksumError(
            SOURCE, len(body) - 2, body, f"FCS {sent:#06x} does not match computed {wanted:#06x}"
        )
    if body[0] != HEADER_PROTOCOL_ID or body[1] != MSG_TYPE:
        raise FieldError(
            SOURCE, 0, body, f"header {body[0]:02x} {body[1]:02x} is not data export 11 01"
        )
    length = int.from_bytes(body[2:4], "big")
    if length != len(body) - HEADER_LEN - FCS_LEN:
        raise FramingError(
            SOURCE,
            2,
            body,
            f"header length {length} but {len(body) - HEADER_LEN - FCS_LEN} bytes of user data",
        )
    if length > max_user_data:
        raise FramingError(SOURCE, 2, body, f"user data of {length} bytes exceeds {max_user_data}")
    return Frame(body[HEADER_LEN:-FCS_LEN], int.from_bytes(body[-2:], "little"))


@dataclass(slots=True)
class DeframerStats:
    """Counters of what the deframer saw, for metrics."""

    frames: int = 0
    errors: int = 0
    aborted: int = 0
    oversized: int = 0
    garbage_bytes: int = 0


_HUNT, _FRAME, _SKIP = 0, 1, 2
_SHOWN = 64  # bytes kept for an error message about discarded input


class Deframer:
    """Push parser: ``feed`` arbitrary chunks, get frames and errors in stream order.

    Bytes outside a frame are reported as one error per run when the next BOF arrives. A
    frame whose escaped size exceeds twice the largest allowed frame is reported once and
    the rest of it skipped, so memory stays bounded whatever arrives.
    """

    def __init__(self, max_user_data: int = MAX_USER_DATA) -> None:
        self.max_user_data = max_user_data
        self._max_raw = 2 * (HEADER_LEN + max_user_data + FCS_LEN)
        self._buf = bytearray()
        self._state = _HUNT
        self._garbage = 0
        self._garbage_head = bytearray()
        self.stats = DeframerStats()

    @property
    def pending(self) -> int:
        """Bytes of a half-received frame held in the buffer."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[Frame | ParseError]:
        out: list[Frame | ParseError] = []
        pos, end = 0, len(data)
        while pos < end:
            if self._state == _HUNT:
                start = data.find(b"\xc0", pos)
                stop = end if start < 0 else start
                self._note_garbage(data[pos:stop])
                if start < 0:
                    break
                if self._garbage:
                    out.append(self._garbage_error())
                self._state, pos = _FRAME, start + 1
                continue
            match = _DELIMITER.search(data, pos)
            stop = end if match is None else match.start()
            if self._state == _FRAME:
                self._buf += data[pos:stop]
                if len(self._buf) > self._max_raw:
                    out.append(self._oversized())
            if match is None:
                break
            out.extend(self._delimiter(data[stop]))
            pos = stop + 1
        return out

    def _delimiter(self, byte: int) -> list[Frame | ParseError]:
        """Handle a BOF or EOF met inside (or while skipping) a frame."""
        skipping = self._state == _SKIP
        raw = bytes(self._buf)
        self._buf.clear()
        self._state = _HUNT if byte == EOF else _FRAME
        if skipping:
            return []
        if byte == BOF:
            if not raw:
                return []
            return [self._error(FramingError(SOURCE, len(raw), raw, "frame cut short by BOF"))]
        return [self._finish(raw)]

    def _finish(self, raw: bytes) -> Frame | ParseError:
        if _trailing_escape(raw):
            self.stats.aborted += 1
            return self._error(FramingError(SOURCE, len(raw), raw, "aborted frame (7D C1)"))
        try:
            frame = decode_body(unescape(raw), self.max_user_data)
        except ParseError as exc:
            return self._error(exc)
        self.stats.frames += 1
        return frame

    def _oversized(self) -> ParseError:
        head = bytes(self._buf[:_SHOWN])
        self._buf.clear()
        self._state = _SKIP
        self.stats.oversized += 1
        return self._error(
            FramingError(SOURCE, self._max_raw, head, f"frame longer than {self._max_raw} bytes")
        )

    def _note_garbage(self, chunk: bytes) -> None:
        if not chunk:
            return
        self._garbage += len(chunk)
        self.stats.garbage_bytes += len(chunk)
        room = _SHOWN - len(self._garbage_head)
        if room > 0:
            self._garbage_head += chunk[:room]

    def _garbage_error(self) -> ParseError:
        count, head = self._garbage, bytes(self._garbage_head)
        self._garbage = 0
        self._garbage_head.clear()
        return self._error(FramingError(SOURCE, 0, head, f"{count} bytes outside a frame"))

    def _error(self, exc: ParseError) -> ParseError:
        self.stats.errors += 1
        return exc
