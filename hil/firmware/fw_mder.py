"""IEEE 11073-20601 SFLOAT (16 bit) and FLOAT (32 bit) encoders (portable core).

``value = mantissa * 10**exponent``; two's-complement fields, no exponent bias. SFLOAT:
exponent bits 15..12 (-8..7), mantissa bits 11..0 (-2048..2047). FLOAT: exponent bits 31..24
(-128..127), mantissa bits 23..0 (-2**23..2**23-1). ``None`` and NaN encode as NaN; a value
too large for any exponent becomes +/-INFINITY. Runs on CPython and MicroPython.
"""

SFLOAT_NAN = 0x07FF
SFLOAT_NRES = 0x0800
SFLOAT_POS_INF = 0x07FE
SFLOAT_NEG_INF = 0x0802
SFLOAT_RESERVED = 0x0801

FLOAT_NAN = 0x007FFFFF
FLOAT_NRES = 0x00800000
FLOAT_POS_INF = 0x007FFFFE
FLOAT_NEG_INF = 0x00800002
FLOAT_RESERVED = 0x00800001

_SFLOAT_M = 2047  # +2047 is fine as a number except at exponent 0 (0x07FF is NaN)
_FLOAT_M = 0x7FFFFF


def _round_half_up(x: float) -> int:
    """Round to the nearest integer, halves away from zero (same on every interpreter)."""
    if x >= 0:
        return int(x + 0.5)
    return -int(-x + 0.5)


def _scaled(value: float, exponent: int) -> int:
    if exponent < 0:
        return _round_half_up(value * (10 ** (-exponent)))
    return _round_half_up(value / (10**exponent))


def _encode(
    value: "float | None", exponent: int, limit: int, e_max: int, width: int
) -> "int | None":
    """Raw word, or None when the value needs a special code (NaN / +INF / -INF)."""
    if value is None or value * 0 != 0:  # None, NaN or an infinity
        return None
    while exponent <= e_max:
        m = _scaled(value, exponent)
        if -limit - 1 <= m <= limit:
            # reject words that collide with the special codes (exponent 0, mantissa +-2**k-1..)
            if exponent == 0 and (m >= limit - 1 or m <= -limit + 1):
                exponent += 1
                continue
            bits = width - 4 if width == 16 else width - 8  # mantissa bits: 12 or 24
            return ((exponent & ((1 << (width - bits)) - 1)) << bits) | (m & ((1 << bits) - 1))
        exponent += 1
    return None


def sfloat(value: "float | None", exponent: int = 0) -> int:
    """16-bit SFLOAT word for ``value`` at resolution ``10**exponent`` (-8..7).

    When the mantissa does not fit, the exponent is raised (resolution lost) until it does.
    """
    if not -8 <= exponent <= 7:
        raise ValueError("SFLOAT exponent must be within -8..7")
    word = _encode(value, exponent, _SFLOAT_M, 7, 16)
    if word is not None:
        return word
    if value is None or value != value:
        return SFLOAT_NAN
    return SFLOAT_POS_INF if value > 0 else SFLOAT_NEG_INF


def float32(value: "float | None", exponent: int = 0) -> int:
    """32-bit FLOAT word for ``value`` at resolution ``10**exponent`` (-128..127)."""
    if not -128 <= exponent <= 127:
        raise ValueError("FLOAT exponent must be within -128..127")
    word = _encode(value, exponent, _FLOAT_M, 127, 32)
    if word is not None:
        return word
    if value is None or value != value:
        return FLOAT_NAN
    return FLOAT_POS_INF if value > 0 else FLOAT_NEG_INF


def sfloat_bytes(value: "float | None", exponent: int = 0) -> bytes:
    """SFLOAT as 2 little-endian bytes."""
    w = sfloat(value, exponent)
    return bytes((w & 0xFF, w >> 8))


def float_bytes(value: "float | None", exponent: int = 0) -> bytes:
    """FLOAT as 4 little-endian bytes."""
    w = float32(value, exponent)
    return bytes((w & 0xFF, (w >> 8) & 0xFF, (w >> 16) & 0xFF, w >> 24))


def raw_sfloat_bytes(word: int) -> bytes:
    """A raw SFLOAT word (e.g. a special value) as 2 little-endian bytes."""
    return bytes((word & 0xFF, (word >> 8) & 0xFF))


def raw_float_bytes(word: int) -> bytes:
    """A raw FLOAT word (e.g. a special value) as 4 little-endian bytes."""
    return bytes((word & 0xFF, (word >> 8) & 0xFF, (word >> 16) & 0xFF, (word >> 24) & 0xFF))
