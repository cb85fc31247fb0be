"""Little-endian cursor over one characteristic value that raises ParseErrors, never IndexError.

Every read names the field; a short value raises :class:`~gateway.errors.FramingError` at the
offset of the missing field, and :meth:`Reader.end` rejects trailing bytes the flags do not
account for.
"""

from __future__ import annotations

from drivers.ble.ieee11073 import MderFloat, decode_float, decode_sfloat
from gateway.errors import FieldError, FramingError


class Reader:
    """Sequential reads from ``data``; errors name ``source``, the offset and the bytes."""

    __slots__ = ("data", "pos", "source")

    def __init__(self, source: str, data: bytes | bytearray | memoryview) -> None:
        self.source = source
        self.data = bytes(data)
        self.pos = 0

    @property
    def remaining(self) -> int:
        return len(self.data) - self.pos

    def _take(self, size: int, what: str) -> int:
        start = self.pos
        if start + size > len(self.data):
            raise FramingError(
                self.source,
                start,
                self.data,
                f"{what} needs {size} byte(s), {len(self.data) - start} left",
            )
        self.pos = start + size
        return start

    def u8(self, what: str) -> int:
        return self.data[self._take(1, what)]

    def u16(self, what: str) -> int:
        start = self._take(2, what)
        return self.data[start] | self.data[start + 1] << 8

    def s16(self, what: str) -> int:
        value = self.u16(what)
        return value - 0x10000 if value & 0x8000 else value

    def u24(self, what: str) -> int:
        start = self._take(3, what)
        return int.from_bytes(self.data[start : start + 3], "little")

    def u32(self, what: str) -> int:
        start = self._take(4, what)
        return int.from_bytes(self.data[start : start + 4], "little")

    def raw(self, size: int, what: str) -> bytes:
        start = self._take(size, what)
        return self.data[start : start + size]

    def sfloat(self, what: str) -> MderFloat:
        return decode_sfloat(self.u16(what))

    def float32(self, what: str) -> MderFloat:
        return decode_float(self.u32(what))

    def field_error(self, offset: int, reason: str) -> FieldError:
        """A FieldError for a reserved or out-of-range value found at ``offset``."""
        return FieldError(self.source, offset, self.data, reason)

    def framing_error(self, offset: int, reason: str) -> FramingError:
        return FramingError(self.source, offset, self.data, reason)

    def end(self) -> None:
        """Raise FramingError if bytes are left that the flags do not account for."""
        if self.pos != len(self.data):
            raise FramingError(
                self.source,
                self.pos,
                self.data,
                f"{len(self.data) - self.pos} trailing byte(s) not accounted for by the flags",
            )
