"""Bluetooth SIG 16-bit UUIDs of the health services and characteristics EdgeTwin reads.

Characteristic names are the SIG names; :func:`source` gives the ``"0x2A37 Heart Rate
Measurement"`` form that every :class:`~gateway.errors.ParseError` of this package names.
"""

from __future__ import annotations

import re

BASE_UUID_SUFFIX = "-0000-1000-8000-00805f9b34fb"

# Services
HEART_RATE_SERVICE = 0x180D
BLOOD_PRESSURE_SERVICE = 0x1810
HEALTH_THERMOMETER_SERVICE = 0x1809
PULSE_OXIMETER_SERVICE = 0x1822
WEIGHT_SCALE_SERVICE = 0x181D
GLUCOSE_SERVICE = 0x1808
CGM_SERVICE = 0x181F
BATTERY_SERVICE = 0x180F
DEVICE_INFORMATION_SERVICE = 0x180A
CURRENT_TIME_SERVICE = 0x1805

# Characteristics
DATE_TIME = 0x2A08
TEMPERATURE_MEASUREMENT = 0x2A1C
TEMPERATURE_TYPE = 0x2A1D
INTERMEDIATE_TEMPERATURE = 0x2A1E
BATTERY_LEVEL = 0x2A19
GLUCOSE_MEASUREMENT = 0x2A18
MODEL_NUMBER = 0x2A24
SERIAL_NUMBER = 0x2A25
FIRMWARE_REVISION = 0x2A26
HARDWARE_REVISION = 0x2A27
SOFTWARE_REVISION = 0x2A28
MANUFACTURER_NAME = 0x2A29
CURRENT_TIME = 0x2A2B
GLUCOSE_MEASUREMENT_CONTEXT = 0x2A34
BLOOD_PRESSURE_MEASUREMENT = 0x2A35
INTERMEDIATE_CUFF_PRESSURE = 0x2A36
HEART_RATE_MEASUREMENT = 0x2A37
BODY_SENSOR_LOCATION = 0x2A38
BLOOD_PRESSURE_FEATURE = 0x2A49
RECORD_ACCESS_CONTROL_POINT = 0x2A52
PLX_SPOT_CHECK_MEASUREMENT = 0x2A5E
PLX_CONTINUOUS_MEASUREMENT = 0x2A5F
PLX_FEATURES = 0x2A60
WEIGHT_MEASUREMENT = 0x2A9D
WEIGHT_SCALE_FEATURE = 0x2A9E
CGM_MEASUREMENT = 0x2AA7
CGM_FEATURE = 0x2AA8

NAMES: dict[int, str] = {
    DATE_TIME: "Date Time",
    TEMPERATURE_MEASUREMENT: "Temperature Measurement",
    TEMPERATURE_TYPE: "Temperature Type",
    INTERMEDIATE_TEMPERATURE: "Intermediate Temperature",
    BATTERY_LEVEL: "Battery Level",
    GLUCOSE_MEASUREMENT: "Glucose Measurement",
    MODEL_NUMBER: "Model Number String",
    SERIAL_NUMBER: "Serial Number String",
    FIRMWARE_REVISION: "Firmware Revision String",
    HARDWARE_REVISION: "Hardware Revision String",
    SOFTWARE_REVISION: "Software Revision String",
    MANUFACTURER_NAME: "Manufacturer Name String",
    CURRENT_TIME: "Current Time",
    GLUCOSE_MEASUREMENT_CONTEXT: "Glucose Measurement Context",
    BLOOD_PRESSURE_MEASUREMENT: "Blood Pressure Measurement",
    INTERMEDIATE_CUFF_PRESSURE: "Intermediate Cuff Pressure",
    HEART_RATE_MEASUREMENT: "Heart Rate Measurement",
    BODY_SENSOR_LOCATION: "Body Sensor Location",
    BLOOD_PRESSURE_FEATURE: "Blood Pressure Feature",
    RECORD_ACCESS_CONTROL_POINT: "Record Access Control Point",
    PLX_SPOT_CHECK_MEASUREMENT: "PLX Spot-Check Measurement",
    PLX_CONTINUOUS_MEASUREMENT: "PLX Continuous Measurement",
    PLX_FEATURES: "PLX Features",
    WEIGHT_MEASUREMENT: "Weight Measurement",
    WEIGHT_SCALE_FEATURE: "Weight Scale Feature",
    CGM_MEASUREMENT: "CGM Measurement",
    CGM_FEATURE: "CGM Feature",
}

_SHORT = re.compile(r"^(?:0x)?([0-9a-f]{4})$")
_FULL = re.compile(r"^0000([0-9a-f]{4})" + re.escape(BASE_UUID_SUFFIX) + "$")


def source(uuid16: int) -> str:
    """``"0x2A37 Heart Rate Measurement"``: the name errors of this package carry."""
    return f"0x{uuid16:04X} {NAMES.get(uuid16, 'Unknown characteristic')}"


def uuid128(uuid16: int) -> str:
    """The lower-case 128-bit form bleak uses, e.g. ``00002a37-0000-1000-8000-00805f9b34fb``."""
    return f"0000{uuid16:04x}{BASE_UUID_SUFFIX}"


def parse_uuid16(text: str) -> int:
    """Accept ``"2a37"``, ``"0x2A37"`` or the full 128-bit SIG form; raise ValueError otherwise."""
    cleaned = text.strip().lower()
    match = _SHORT.match(cleaned) or _FULL.match(cleaned)
    if match is None:
        raise ValueError(
            f"not a Bluetooth SIG UUID: {text!r} (use 2a37, 0x2A37 or 0000xxxx{BASE_UUID_SUFFIX})"
        )
    return int(match.group(1), 16)
