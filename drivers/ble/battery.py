"""Battery Service: Battery Level (0x2A19), one uint8 in percent (0..100).

Errors: FramingError when the value is not exactly one byte; FieldError above 100 %.
"""

from __future__ import annotations

from dataclasses import dataclass

from drivers.ble import metrics, uuids
from drivers.ble.reader import Reader
from gateway import codes
from gateway.model import Measurement, Quality, ReceiveTime


@dataclass(frozen=True, slots=True)
class BatteryLevel:
    level_percent: int


def parse_battery_level(data: bytes | bytearray | memoryview) -> BatteryLevel:
    """Parse 0x2A19 (see module docstring for the errors raised)."""
    r = Reader(uuids.source(uuids.BATTERY_LEVEL), data)
    level = r.u8("battery level")
    r.end()
    if level > 100:
        raise r.field_error(0, f"battery level {level} % is over 100 %")
    return BatteryLevel(level)


def to_measurements(
    parsed: BatteryLevel, device_id: str, received: ReceiveTime
) -> list[Measurement]:
    """The charge in % (MDC_ATTR_VAL_BATT_CHARGE); no device time."""
    return [
        metrics.measurement(
            codes.MDC_ATTR_VAL_BATT_CHARGE,
            parsed.level_percent,
            Quality(0),
            device_id,
            received,
            None,
        )
    ]
