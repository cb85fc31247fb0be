"""The IntelliVue 32-bit FLOAT: a signed 8-bit base-10 exponent over a signed 24-bit mantissa.

``value = mantissa * 10 ** exponent``, big-endian on the wire, e.g. ``00 00 00 3C`` is 60 and
``FD 00 7D 00`` is 32000e-3 = 32. Four bit patterns are special values and carry no number:

========== =====================================
0x007FFFFF NaN (not a number, e.g. no sensor)
0x00800000 NRes (not at this resolution)
0x007FFFFE +INF
0x00800002 -INF
========== =====================================

IEEE 11073-20601 reserves the whole mantissa range 0x7FFFFE..0x800002 for special values:
0x00800001 and any special mantissa under a non-zero exponent are reserved and give no
number either. Ordinary mantissas run from -8388605 to +8388605.
"""

from __future__ import annotations

import enum

NAN = 0x007FFFFF
NRES = 0x00800000
POS_INF = 0x007FFFFE
NEG_INF = 0x00800002


class FloatReason(enum.Enum):
    """Why a FLOAT has (or has no) value."""

    OK = "ok"
    NAN = "nan"
    NRES = "nres"
    POS_INF = "+inf"
    NEG_INF = "-inf"
    RESERVED = "reserved"


_SPECIAL = {
    NAN: FloatReason.NAN,
    NRES: FloatReason.NRES,
    POS_INF: FloatReason.POS_INF,
    NEG_INF: FloatReason.NEG_INF,
}
# Mantissas 2**23 - 2 .. 2**23 + 2 (as unsigned 24-bit) are the special-value range.
_SPECIAL_MANTISSAS = range(0x7FFFFE, 0x800003)


def decode_float(raw: int) -> tuple[float | None, FloatReason]:
    """Value of a 32-bit FLOAT given as an unsigned integer, or ``None`` and the reason."""
    special = _SPECIAL.get(raw)
    if special is not None:
        return None, special
    mantissa = raw & 0xFFFFFF
    if mantissa in _SPECIAL_MANTISSAS:
        return None, FloatReason.RESERVED
    if mantissa & 0x800000:
        mantissa -= 0x1000000
    exponent = (raw >> 24) & 0xFF
    if exponent & 0x80:
        exponent -= 0x100
    if exponent >= 0:
        return float(mantissa * 10**exponent), FloatReason.OK
    return mantissa / 10**-exponent, FloatReason.OK


def decode_float_bytes(data: bytes) -> tuple[float | None, FloatReason]:
    """Like :func:`decode_float` for 4 big-endian bytes."""
    return decode_float(int.from_bytes(data, "big"))
