"""IEEE 11073-20601 SFLOAT (16 bit) and FLOAT (32 bit) numbers as used by Bluetooth health profiles.

``value = mantissa * 10**exponent`` with two's-complement fields and no exponent bias:

* SFLOAT: exponent = bits 15..12 (-8..7), mantissa = bits 11..0 (-2048..2047).
* FLOAT: exponent = bits 31..24 (-128..127), mantissa = bits 23..0 (-2**23..2**23-1).

Special values are whole raw words (exponent 0) and never become numbers: they give a
:class:`Special` reason instead, which maps onto a :class:`gateway.model.Quality` flag.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from decimal import Decimal

from gateway.model import Quality


class Special(enum.Enum):
    """Why an SFLOAT/FLOAT carries no number."""

    NAN = "nan"
    NRES = "nres"
    POSITIVE_INFINITY = "+inf"
    NEGATIVE_INFINITY = "-inf"
    RESERVED = "reserved"

    @property
    def quality(self) -> Quality:
        return _QUALITY[self]


_QUALITY: dict[Special, Quality] = {
    Special.NAN: Quality.INVALID,
    Special.NRES: Quality.UNAVAILABLE,
    Special.POSITIVE_INFINITY: Quality.OVER_RANGE,
    Special.NEGATIVE_INFINITY: Quality.UNDER_RANGE,
    Special.RESERVED: Quality.INVALID,
}

SFLOAT_SPECIALS: dict[int, Special] = {
    0x07FF: Special.NAN,
    0x0800: Special.NRES,
    0x07FE: Special.POSITIVE_INFINITY,
    0x0802: Special.NEGATIVE_INFINITY,
    0x0801: Special.RESERVED,
}
FLOAT_SPECIALS: dict[int, Special] = {
    0x007FFFFF: Special.NAN,
    0x00800000: Special.NRES,
    0x007FFFFE: Special.POSITIVE_INFINITY,
    0x00800002: Special.NEGATIVE_INFINITY,
    0x00800001: Special.RESERVED,
}


@dataclass(frozen=True, slots=True)
class MderFloat:
    """One decoded SFLOAT/FLOAT: exact (mantissa, exponent), or a special reason."""

    mantissa: int
    exponent: int
    special: Special | None = None

    @property
    def value(self) -> float | None:
        """The number, or ``None`` for a special value."""
        if self.special is not None:
            return None
        return self.scaled(0)

    def scaled(self, power: int) -> float | None:
        """``value * 10**power`` rounded once (exact decimal arithmetic), ``None`` if special."""
        if self.special is not None:
            return None
        exp = self.exponent + power
        if exp >= 0:
            return float(self.mantissa * 10**exp)
        divisor: int = 10**-exp
        return self.mantissa / divisor

    def as_float(self) -> float:
        """The number, or NaN for a special value (pair it with :attr:`quality`)."""
        value = self.value
        return math.nan if value is None else value

    @property
    def quality(self) -> Quality:
        """No flag for a number; the special value's flag otherwise."""
        return Quality(0) if self.special is None else self.special.quality

    def to_decimal(self) -> Decimal | None:
        """Exact decimal value (keeps the device's resolution), ``None`` if special."""
        if self.special is not None:
            return None
        return Decimal(self.mantissa).scaleb(self.exponent)


def decode_sfloat(raw: int) -> MderFloat:
    """Decode a 16-bit SFLOAT word (0..0xFFFF)."""
    mantissa = raw & 0x0FFF
    if mantissa >= 0x0800:
        mantissa -= 0x1000
    exponent = raw >> 12
    if exponent >= 8:
        exponent -= 16
    return MderFloat(mantissa, exponent, SFLOAT_SPECIALS.get(raw))


def decode_float(raw: int) -> MderFloat:
    """Decode a 32-bit FLOAT word (0..0xFFFFFFFF)."""
    mantissa = raw & 0x00FFFFFF
    if mantissa >= 0x00800000:
        mantissa -= 0x01000000
    exponent = raw >> 24
    if exponent >= 0x80:
        exponent -= 0x100
    return MderFloat(mantissa, exponent, FLOAT_SPECIALS.get(raw))
