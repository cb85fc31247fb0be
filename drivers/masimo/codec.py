"""Pure parser for the Masimo Radical-7 / Rad-8 ASCII serial output ("Serial 1" mode).

The oximeter sends one line per second at 9600 8N1, terminated by CR LF::

    05/15/07 08:12:21 SN=0000070986 SPO2=098% BPM=072 PI=02.34% SPCO=--.-% SPMET=--.-%
    DESAT=-- PIDELTA=+-- PVI=--- ALARM=0000 EXC=000000

(one line on the wire). A 17-character device timestamp ``MM/DD/YY HH:MM:SS`` is followed by
``KEY=value`` words separated by spaces. A value made of dashes (``---``, ``--.-``) means no
value: it becomes ``None``, never zero. ``ALARM`` and ``EXC`` are hexadecimal bit words; the
exception bits are documented in the Rad-8 operator's manual (``EXCEPTION_BITS``). Models
and firmware differ in which words they send (Rad-8 omits SPCO/SPMET/PVI; colour
Radical-7 adds SPHB, SPOC, RESVD and EXC1), so words are read by name, not by position.

The parser is sans-IO: :class:`MasimoDecoder` takes bytes as they arrive and returns
complete :class:`MasimoReading` objects or :class:`~gateway.errors.ParseError` values,
resynchronising at the next line end after bad input.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import datetime

from gateway.errors import FieldError, FramingError, ParseError

SOURCE = "masimo"
#: Longest line we accept; real lines are about 150 characters.
MAX_LINE = 512
_TIMESTAMP_LEN = 17
_WORD = re.compile(r"^([A-Z][A-Z0-9]*)=(\S*)$")
_NUMBER = re.compile(r"^[+-]?\d+(?:\.\d+)?$")
_DASHES = re.compile(r"^[+-]?-+(?:\.-+)?$")
_HEX = re.compile(r"^[0-9A-Fa-f]+$")

#: Words whose value is a decimal number (with an optional trailing %).
NUMERIC_WORDS = ("SPO2", "BPM", "PI", "SPCO", "SPMET", "SPHB", "SPOC", "DESAT", "PIDELTA", "PVI")
#: Words whose value is a hexadecimal bit word.
HEX_WORDS = ("ALARM", "EXC", "EXC1")


class Exception_(enum.IntFlag):
    """Bits of the ``EXC`` word (Rad-8 operator's manual, trend data format)."""

    NO_SENSOR = 0x001
    DEFECTIVE_SENSOR = 0x002
    LOW_PERFUSION = 0x004
    PULSE_SEARCH = 0x008
    INTERFERENCE = 0x010
    SENSOR_OFF = 0x020
    AMBIENT_LIGHT = 0x040
    UNRECOGNIZED_SENSOR = 0x080
    LOW_SIGNAL_IQ = 0x400
    MASIMO_SET = 0x800


#: Exceptions that make SpO2 and pulse rate unusable.
SENSOR_FAULTS = (
    Exception_.NO_SENSOR
    | Exception_.DEFECTIVE_SENSOR
    | Exception_.SENSOR_OFF
    | Exception_.UNRECOGNIZED_SENSOR
)
#: Exceptions that make values doubtful.
SIGNAL_DOUBTS = (
    Exception_.LOW_PERFUSION
    | Exception_.PULSE_SEARCH
    | Exception_.INTERFERENCE
    | Exception_.AMBIENT_LIGHT
    | Exception_.LOW_SIGNAL_IQ
)


@dataclass(frozen=True, slots=True)
class MasimoReading:
    """One output line. Numeric values are ``None`` where the device sent dashes."""

    device_time: datetime  # the oximeter's own clock, no time zone
    serial_number: str | None
    values: dict[str, float | None]
    alarm: int
    exceptions: Exception_
    raw_exceptions: int

    @property
    def sensor_fault(self) -> bool:
        return bool(self.exceptions & SENSOR_FAULTS)

    @property
    def signal_doubt(self) -> bool:
        return bool(self.exceptions & SIGNAL_DOUBTS)


def parse_line(line: bytes) -> MasimoReading:
    """Parse one line (without or with its CR LF) into a :class:`MasimoReading`."""
    text_bytes = line.rstrip(b"\r\n")
    if len(text_bytes) > MAX_LINE:
        raise FramingError(SOURCE, MAX_LINE, line, f"line longer than {MAX_LINE} bytes")
    try:
        text = text_bytes.decode("ascii")
    except UnicodeDecodeError as exc:
        raise FramingError(SOURCE, exc.start, line, "non-ASCII byte") from None
    if len(text) < _TIMESTAMP_LEN:
        raise FramingError(SOURCE, len(text), line, "line shorter than its timestamp")
    device_time = _parse_timestamp(text[:_TIMESTAMP_LEN], line)
    serial_number: str | None = None
    values: dict[str, float | None] = {}
    alarm: int | None = None
    raw_exc: int | None = None
    offset = _TIMESTAMP_LEN
    for word in text[_TIMESTAMP_LEN:].split(" "):
        if not word:
            offset += 1
            continue
        match = _WORD.match(word)
        if match is None:
            raise FramingError(SOURCE, offset, line, f"word {word!r} is not KEY=value")
        key, value = match.group(1), match.group(2)
        if key == "SN":
            serial_number = None if _DASHES.match(value) else value
        elif key in NUMERIC_WORDS:
            values[key] = _parse_number(key, value.removesuffix("%"), offset, line)
        elif key in HEX_WORDS:
            word_value = _parse_hex(key, value, offset, line)
            if key == "ALARM":
                alarm = word_value
            elif key == "EXC":
                raw_exc = word_value
        # Other words (RESVD and future ones) are skipped on purpose: they carry no value
        # we map, and rejecting them would lose whole lines on newer firmware.
        offset += len(word) + 1
    for required in ("SPO2", "BPM"):
        if required not in values:
            raise FramingError(SOURCE, len(text), line, f"line has no {required}= word")
    if alarm is None or raw_exc is None:
        raise FramingError(SOURCE, len(text), line, "line has no ALARM= or EXC= word")
    known = Exception_(raw_exc & sum(Exception_))
    return MasimoReading(device_time, serial_number, values, alarm, known, raw_exc)


def _parse_timestamp(stamp: str, line: bytes) -> datetime:
    try:
        return datetime.strptime(stamp, "%m/%d/%y %H:%M:%S")  # noqa: DTZ007 - device local
    except ValueError:
        raise FieldError(SOURCE, 0, line, f"timestamp {stamp!r} is not MM/DD/YY HH:MM:SS") from None


def _parse_number(key: str, value: str, offset: int, line: bytes) -> float | None:
    if not value or _DASHES.match(value):
        return None
    if not _NUMBER.match(value):
        raise FieldError(SOURCE, offset, line, f"{key} value {value!r} is not a number")
    return float(value)


def _parse_hex(key: str, value: str, offset: int, line: bytes) -> int:
    if not _HEX.match(value):
        raise FieldError(SOURCE, offset, line, f"{key} value {value!r} is not hexadecimal")
    return int(value, 16)


class MasimoDecoder:
    """Streaming line splitter and parser: feed bytes, get readings or errors back."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._discarding = False

    def feed(self, data: bytes) -> list[MasimoReading | ParseError]:
        out: list[MasimoReading | ParseError] = []
        self._buffer += data
        while True:
            end = self._buffer.find(b"\n")
            if end < 0:
                break
            line = bytes(self._buffer[: end + 1])
            del self._buffer[: end + 1]
            if self._discarding:
                self._discarding = False  # the tail of an over-long line: drop quietly
                continue
            if not line.strip():
                continue
            try:
                out.append(parse_line(line))
            except ParseError as exc:
                out.append(exc)
        if len(self._buffer) > MAX_LINE:
            out.append(
                FramingError(SOURCE, MAX_LINE, bytes(self._buffer), "no line end within limit")
            )
            self._buffer.clear()
            self._discarding = True
        return out

    @property
    def pending(self) -> int:
        """Bytes held for an incomplete line (dropped and counted at disconnect)."""
        return len(self._buffer)
