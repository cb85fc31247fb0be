"""Date Time (0x2A08, 7 bytes, also embedded in measurements) and Current Time (0x2A2B, 10 bytes).

Date Time: ``year u16 (1582..9999, 0 unknown) | month u8 (1..12, 0 unknown) | day u8 (1..31,
0 unknown) | hours u8 (0..23) | minutes u8 (0..59) | seconds u8 (0..59)``. It is the device's
local wall clock with no time zone, so it becomes a *naive* :class:`datetime`; an unknown
year, month or day gives ``None`` (the caller falls back to the receive time). Reserved
values (year 1..1581 or >9999, month >12, day >31, hours >23, minutes/seconds >59, or a
day that the month does not have) raise :class:`~gateway.errors.FieldError`.

Current Time: Date Time, Day of Week (0 unknown, 1 Monday..7 Sunday), Fractions256
(1/256 s) and Adjust Reason bits (manual update, external reference update, time-zone
change, DST change).
"""

from __future__ import annotations

import calendar
import enum
from dataclasses import dataclass
from datetime import datetime

from drivers.ble import uuids
from drivers.ble.reader import Reader

DATE_TIME_SIZE = 7


def read_date_time(r: Reader, what: str = "time stamp") -> datetime | None:
    """Read 7 Date Time bytes from ``r``; ``None`` when the date is unknown."""
    start = r.pos
    raw = r.raw(DATE_TIME_SIZE, what)
    year = raw[0] | raw[1] << 8
    month, day, hours, minutes, seconds = raw[2], raw[3], raw[4], raw[5], raw[6]
    if year != 0 and not 1582 <= year <= 9999:
        raise r.field_error(start, f"{what}: year {year} outside 1582..9999")
    if month > 12:
        raise r.field_error(start + 2, f"{what}: month {month} outside 1..12")
    if day > 31:
        raise r.field_error(start + 3, f"{what}: day {day} outside 1..31")
    if hours > 23:
        raise r.field_error(start + 4, f"{what}: hours {hours} outside 0..23")
    if minutes > 59:
        raise r.field_error(start + 5, f"{what}: minutes {minutes} outside 0..59")
    if seconds > 59:
        raise r.field_error(start + 6, f"{what}: seconds {seconds} outside 0..59")
    if year == 0 or month == 0 or day == 0:
        return None
    if day > calendar.monthrange(year, month)[1]:
        raise r.field_error(start + 3, f"{what}: {year:04d}-{month:02d} has no day {day}")
    # The device's local wall clock: no zone on the wire, so the datetime stays naive.
    return datetime(year, month, day, hours, minutes, seconds)  # noqa: DTZ001


def device_time_ns(stamp: datetime) -> int:
    """Nanoseconds of a naive device wall-clock time counted as if it were UTC (no zone known)."""
    seconds = calendar.timegm(stamp.timetuple())
    return seconds * 1_000_000_000 + stamp.microsecond * 1_000


class DayOfWeek(enum.IntEnum):
    MONDAY = 1
    TUESDAY = 2
    WEDNESDAY = 3
    THURSDAY = 4
    FRIDAY = 5
    SATURDAY = 6
    SUNDAY = 7


@dataclass(frozen=True, slots=True)
class DateTimeValue:
    """A Date Time characteristic (0x2A08): naive device time or ``None`` when unknown."""

    timestamp: datetime | None


@dataclass(frozen=True, slots=True)
class CurrentTime:
    """A Current Time characteristic (0x2A2B)."""

    timestamp: datetime | None  # includes Fractions256 as microseconds
    day_of_week: DayOfWeek | None  # None = unknown
    fractions256: int
    manual_time_update: bool
    external_reference_time_update: bool
    change_of_time_zone: bool
    change_of_dst: bool


def parse_date_time(data: bytes | bytearray | memoryview) -> DateTimeValue:
    """Parse 0x2A08. FramingError: not 7 bytes. FieldError: reserved field values."""
    r = Reader(uuids.source(uuids.DATE_TIME), data)
    stamp = read_date_time(r, "date time")
    r.end()
    return DateTimeValue(stamp)


def parse_current_time(data: bytes | bytearray | memoryview) -> CurrentTime:
    """Parse 0x2A2B. FramingError: not 10 bytes. FieldError: reserved date or day of week."""
    r = Reader(uuids.source(uuids.CURRENT_TIME), data)
    stamp = read_date_time(r, "exact time")
    dow_at = r.pos
    dow = r.u8("day of week")
    if dow > 7:
        raise r.field_error(dow_at, f"day of week {dow} outside 0..7")
    fractions = r.u8("fractions256")
    reason = r.u8("adjust reason")
    r.end()
    if stamp is not None:
        stamp = stamp.replace(microsecond=fractions * 1_000_000 // 256)
    return CurrentTime(
        timestamp=stamp,
        day_of_week=DayOfWeek(dow) if dow else None,
        fractions256=fractions,
        manual_time_update=bool(reason & 0x01),
        external_reference_time_update=bool(reason & 0x02),
        change_of_time_zone=bool(reason & 0x04),
        change_of_dst=bool(reason & 0x08),
    )
