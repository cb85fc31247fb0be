"""Bluetooth SIG health characteristic encoders (portable core, CPython and MicroPython).

Little-endian layouts from the SIG service specs (HRS, PLXS, HTS, BLS, BAS, DIS); see
``../shared/reference/ble_profiles.md`` (beside the repository). Every function returns the
characteristic value as ``bytes``. Date Time values are
``(year, month, day, hours, minutes, seconds)`` tuples.
"""

import struct

from fw_mder import float_bytes, sfloat_bytes

# 16-bit UUIDs of the services and characteristics the reference wearable exposes
HEART_RATE_SERVICE = 0x180D
HEART_RATE_MEASUREMENT = 0x2A37
BODY_SENSOR_LOCATION = 0x2A38
PULSE_OXIMETER_SERVICE = 0x1822
PLX_CONTINUOUS = 0x2A5F
PLX_FEATURES = 0x2A60
HEALTH_THERMOMETER_SERVICE = 0x1809
TEMPERATURE_MEASUREMENT = 0x2A1C
TEMPERATURE_TYPE = 0x2A1D
BLOOD_PRESSURE_SERVICE = 0x1810
BLOOD_PRESSURE_MEASUREMENT = 0x2A35
BLOOD_PRESSURE_FEATURE = 0x2A49
RECORD_ACCESS_CONTROL_POINT = 0x2A52
BATTERY_SERVICE = 0x180F
BATTERY_LEVEL = 0x2A19
DEVICE_INFORMATION_SERVICE = 0x180A
MANUFACTURER_NAME = 0x2A29
MODEL_NUMBER = 0x2A24
SERIAL_NUMBER = 0x2A25
FIRMWARE_REVISION = 0x2A26

# Heart Rate Measurement sensor contact (flags bits 1-2)
CONTACT_NOT_SUPPORTED = 0
CONTACT_NOT_DETECTED = 2
CONTACT_DETECTED = 3

# PLX Measurement Status (uint16) and Device and Sensor Status (uint24) bits we use
PLX_MS_MEASUREMENT_ONGOING = 1 << 5
PLX_MS_VALIDATED = 1 << 7
PLX_MS_FOR_TESTING = 1 << 11
PLX_MS_UNAVAILABLE = 1 << 13
PLX_DSS_LOW_PERFUSION = 1 << 5
PLX_DSS_SENSOR_DISCONNECTED = 1 << 15

# PLX Features (uint16) bits
PLX_FEAT_MEASUREMENT_STATUS = 1 << 0
PLX_FEAT_DEVICE_SENSOR_STATUS = 1 << 1
PLX_FEAT_PAI = 1 << 6

TEMP_TYPE_BODY = 2
TEMP_TYPE_FINGER = 4


def date_time(stamp: "tuple[int, int, int, int, int, int]") -> bytes:
    """Date Time (7 bytes): year u16, month, day, hours, minutes, seconds."""
    y, mo, d, h, mi, s = stamp
    return struct.pack("<HBBBBB", y, mo, d, h, mi, s)


def heart_rate_measurement(
    bpm: int,
    contact: int = CONTACT_NOT_SUPPORTED,
    energy_kj: "int | None" = None,
    rr_1024: "list[int] | tuple[int, ...]" = (),
) -> bytes:
    """0x2A37: flags, HR (uint8 when it fits, else uint16), Energy Expended, RR-Intervals."""
    if bpm < 0 or bpm > 0xFFFF:
        raise ValueError("heart rate out of range")
    flags = (contact & 0x03) << 1
    wide = bpm > 0xFF
    if wide:
        flags |= 0x01
    if energy_kj is not None:
        flags |= 0x08
    if rr_1024:
        flags |= 0x10
    out = bytearray((flags,))
    out += struct.pack("<H", bpm) if wide else bytes((bpm,))
    if energy_kj is not None:
        out += struct.pack("<H", min(energy_kj, 0xFFFF))
    for rr in rr_1024:
        out += struct.pack("<H", rr)
    return bytes(out)


def body_sensor_location(location: int) -> bytes:
    """0x2A38: one byte (1 chest, 2 wrist, 3 finger, ...)."""
    return bytes((location,))


def plx_continuous(
    spo2: "float | None",
    pulse_rate: "float | None",
    measurement_status: "int | None" = None,
    device_sensor_status: "int | None" = None,
    pai: "float | None" = None,
) -> bytes:
    """0x2A5F: flags, SpO2PR-Normal (2 SFLOAT), status words and PAI when given.

    ``None`` for SpO2 or PR encodes NaN (no value). Fast/slow pairs are not sent.
    """
    flags = 0
    if measurement_status is not None:
        flags |= 0x04
    if device_sensor_status is not None:
        flags |= 0x08
    if pai is not None:
        flags |= 0x10
    out = bytearray((flags,))
    out += sfloat_bytes(spo2, 0)
    out += sfloat_bytes(pulse_rate, 0)
    if measurement_status is not None:
        out += struct.pack("<H", measurement_status)
    if device_sensor_status is not None:
        out += bytes(
            (
                device_sensor_status & 0xFF,
                (device_sensor_status >> 8) & 0xFF,
                (device_sensor_status >> 16) & 0xFF,
            )
        )
    if pai is not None:
        out += sfloat_bytes(pai, -2)
    return bytes(out)


def plx_features(
    features: int, measurement_status_support: int = 0, device_sensor_status_support: int = 0
) -> bytes:
    """0x2A60: supported features (uint16), then the support masks its bits 0 and 1 announce."""
    out = bytearray(struct.pack("<H", features))
    if features & PLX_FEAT_MEASUREMENT_STATUS:
        out += struct.pack("<H", measurement_status_support)
    if features & PLX_FEAT_DEVICE_SENSOR_STATUS:
        d = device_sensor_status_support
        out += bytes((d & 0xFF, (d >> 8) & 0xFF, (d >> 16) & 0xFF))
    return bytes(out)


def temperature_measurement(
    value: "float | None",
    fahrenheit: bool = False,
    stamp: "tuple[int, int, int, int, int, int] | None" = None,
    temp_type: "int | None" = None,
    exponent: int = -2,
) -> bytes:
    """0x2A1C: flags (bit0 unit F, bit1 time stamp, bit2 type), FLOAT, stamp, type."""
    flags = 0x01 if fahrenheit else 0
    if stamp is not None:
        flags |= 0x02
    if temp_type is not None:
        flags |= 0x04
    out = bytearray((flags,))
    out += float_bytes(value, exponent)
    if stamp is not None:
        out += date_time(stamp)
    if temp_type is not None:
        out += bytes((temp_type,))
    return bytes(out)


def temperature_type(temp_type: int) -> bytes:
    """0x2A1D: one byte."""
    return bytes((temp_type,))


def blood_pressure_measurement(
    systolic: "float | None",
    diastolic: "float | None",
    mean: "float | None",
    stamp: "tuple[int, int, int, int, int, int] | None" = None,
    pulse_rate: "float | None" = None,
    user_id: "int | None" = None,
    status: "int | None" = None,
    kpa: bool = False,
) -> bytes:
    """0x2A35: flags, systolic/diastolic/MAP SFLOAT, stamp, pulse SFLOAT, user, status u16."""
    flags = 0x01 if kpa else 0
    if stamp is not None:
        flags |= 0x02
    if pulse_rate is not None:
        flags |= 0x04
    if user_id is not None:
        flags |= 0x08
    if status is not None:
        flags |= 0x10
    exp = -1 if kpa else 0
    out = bytearray((flags,))
    out += sfloat_bytes(systolic, exp)
    out += sfloat_bytes(diastolic, exp)
    out += sfloat_bytes(mean, exp)
    if stamp is not None:
        out += date_time(stamp)
    if pulse_rate is not None:
        out += sfloat_bytes(pulse_rate, 0)
    if user_id is not None:
        out += bytes((user_id,))
    if status is not None:
        out += struct.pack("<H", status)
    return bytes(out)


def blood_pressure_feature(features: int) -> bytes:
    """0x2A49: uint16 feature bits."""
    return struct.pack("<H", features)


def battery_level(percent: "float | None") -> bytes:
    """0x2A19: uint8 percent, rounded and clamped to 0..100 (None reads as 0)."""
    p = 0 if percent is None else int(percent + 0.5)
    return bytes((max(0, min(100, p)),))


def utf8_string(text: str) -> bytes:
    """Device Information strings (0x2A24-0x2A29): UTF-8, no terminator."""
    return text.encode("utf-8")
