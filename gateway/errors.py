"""One exception tree for all of EdgeTwin.

::

    EdgeTwinError
    ├── ConfigError            invalid configuration file (names file, key, expectation)
    ├── ParseError             bytes that do not follow the protocol (names where and what)
    │   ├── FramingError       framing, escaping or length is wrong
    │   ├── ChecksumError      checksum / CRC mismatch
    │   └── FieldError         a field holds a reserved or out-of-range value
    ├── DeviceError            a device or its port misbehaves
    │   ├── DeviceNotFoundError
    │   └── DeviceTimeoutError
    ├── BufferError_           the SQLite store cannot take or give data
    │   └── DiskFullError
    └── UplinkError            the broker refused or dropped us
        ├── BrokerUnavailableError
        ├── PublishRefusedError
        └── TlsError           TLS credentials unusable or refused (names the file and fix)

Callers branch on the class (and on ``reason`` fields), never on message text.
"""

from __future__ import annotations


class EdgeTwinError(Exception):
    """Root of every error EdgeTwin raises on purpose."""


class ConfigError(EdgeTwinError):
    """The configuration is invalid; the message names the file, the key and what was expected."""

    def __init__(self, file: str, key: str, expected: str) -> None:
        self.file = file
        self.key = key
        self.expected = expected
        super().__init__(f"{file}: {key}: {expected}")


class ParseError(EdgeTwinError):
    """Bytes that do not follow the protocol.

    ``source`` names the protocol or characteristic, ``offset`` the byte where the problem
    was found, and ``data`` the bytes that were being parsed.
    """

    def __init__(self, source: str, offset: int, data: bytes, reason: str) -> None:
        self.source = source
        self.offset = offset
        self.data = bytes(data)
        self.reason = reason
        shown = self.data[:64].hex(" ")
        more = "" if len(self.data) <= 64 else f" … ({len(self.data)} bytes)"
        super().__init__(f"{source}: {reason} at offset {offset} in [{shown}{more}]")


class FramingError(ParseError):
    """Framing, escaping or length does not match the protocol."""


class ChecksumError(ParseError):
    """A checksum or CRC does not match."""


class FieldError(ParseError):
    """A field holds a reserved or out-of-range value."""


class DeviceError(EdgeTwinError):
    """A device or the port it hangs on misbehaves."""


class DeviceNotFoundError(DeviceError):
    """The device or its port is not there."""


class DeviceTimeoutError(DeviceError):
    """The device went silent for longer than its supervision timeout."""


class BufferError_(EdgeTwinError):
    """The SQLite buffer cannot take or give data."""


class DiskFullError(BufferError_):
    """The disk (or the configured budget) is full."""


class UplinkError(EdgeTwinError):
    """The broker refused or dropped the uplink."""


class BrokerUnavailableError(UplinkError):
    """No broker could be reached."""


class PublishRefusedError(UplinkError):
    """The broker acknowledged a publish with a failure reason code (e.g. ACL)."""


__all__ = [
    "BrokerUnavailableError",
    "BufferError_",
    "ChecksumError",
    "ConfigError",
    "DeviceError",
    "DeviceNotFoundError",
    "DeviceTimeoutError",
    "DiskFullError",
    "EdgeTwinError",
    "FieldError",
    "FramingError",
    "ParseError",
    "PublishRefusedError",
    "TlsError",
    "UplinkError",
]


class TlsError(UplinkError):
    """TLS credentials are unusable (names the file and the fix) or the broker refused them."""
