"""Device Information Service strings: manufacturer, model, serial, firmware, hardware, software.

Each is a UTF-8 string (``utf8s``) filling the whole value, with no length prefix. Trailing
NUL bytes, which some devices send as C-string padding, are removed.

Errors: FieldError when the bytes are not valid UTF-8.
"""

from __future__ import annotations

from dataclasses import dataclass

from drivers.ble import uuids
from gateway.errors import FieldError

#: Characteristic -> snake_case field name.
STRING_CHARACTERISTICS: dict[int, str] = {
    uuids.MANUFACTURER_NAME: "manufacturer_name",
    uuids.MODEL_NUMBER: "model_number",
    uuids.SERIAL_NUMBER: "serial_number",
    uuids.FIRMWARE_REVISION: "firmware_revision",
    uuids.HARDWARE_REVISION: "hardware_revision",
    uuids.SOFTWARE_REVISION: "software_revision",
}


@dataclass(frozen=True, slots=True)
class DeviceInformationString:
    characteristic: int  # e.g. 0x2A29
    field: str  # e.g. "manufacturer_name"
    value: str


def parse_device_information_string(
    uuid16: int, data: bytes | bytearray | memoryview
) -> DeviceInformationString:
    """Parse one DIS string characteristic (``uuid16`` in :data:`STRING_CHARACTERISTICS`)."""
    if uuid16 not in STRING_CHARACTERISTICS:
        raise ValueError(f"0x{uuid16:04X} is not a Device Information string characteristic")
    raw = bytes(data).rstrip(b"\x00")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FieldError(
            uuids.source(uuid16), exc.start, bytes(data), f"not UTF-8: {exc.reason}"
        ) from None
    return DeviceInformationString(uuid16, STRING_CHARACTERISTICS[uuid16], text)
