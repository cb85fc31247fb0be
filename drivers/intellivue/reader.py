"""Bounds-checked big-endian reader used by the IntelliVue APDU decoders."""

from __future__ import annotations

import struct

from gateway.errors import FramingError

SOURCE = "intellivue"

U16 = struct.Struct(">H")
U32 = struct.Struct(">I")


class Reader:
    """Bounds-checked big-endian reader over ``data[pos:end]``; errors name the offset."""

    __slots__ = ("data", "end", "pos")

    def __init__(self, data: bytes, pos: int = 0, end: int | None = None) -> None:
        self.data = data
        self.pos = pos
        self.end = len(data) if end is None else end

    @property
    def remaining(self) -> int:
        return self.end - self.pos

    def need(self, n: int, what: str) -> None:
        if self.pos + n > self.end:
            raise FramingError(
                SOURCE, self.pos, self.data, f"{what} needs {n} bytes, {self.remaining} left"
            )

    def u8(self, what: str) -> int:
        self.need(1, what)
        self.pos += 1
        return self.data[self.pos - 1]

    def u16(self, what: str) -> int:
        self.need(2, what)
        value: int = U16.unpack_from(self.data, self.pos)[0]
        self.pos += 2
        return value

    def u32(self, what: str) -> int:
        self.need(4, what)
        value: int = U32.unpack_from(self.data, self.pos)[0]
        self.pos += 4
        return value

    def take(self, n: int, what: str) -> bytes:
        self.need(n, what)
        self.pos += n
        return self.data[self.pos - n : self.pos]

    def sub(self, n: int, what: str) -> Reader:
        """A cursor over the next ``n`` bytes; this one moves past them."""
        self.need(n, what)
        self.pos += n
        return Reader(self.data, self.pos - n, self.pos)

    def expect_end(self, what: str) -> None:
        if self.pos != self.end:
            raise FramingError(
                SOURCE, self.pos, self.data, f"{self.remaining} unexpected bytes after {what}"
            )

    def length_field(self, what: str) -> Reader:
        """Read a u16 length that must cover exactly the rest of this cursor."""
        at = self.pos
        length = self.u16(what)
        if length != self.remaining:
            raise FramingError(
                SOURCE, at, self.data, f"{what} is {length} but {self.remaining} bytes follow"
            )
        return Reader(self.data, self.pos, self.end)
