"""Heart Rate Service: Heart Rate Measurement (0x2A37) and Body Sensor Location (0x2A38).

0x2A37 flags: bit0 HR is uint16 (else uint8); bits1-2 sensor contact (0/1 not supported,
2 supported but no contact, 3 contact); bit3 Energy Expended (uint16 kJ) present; bit4
RR-Intervals present (uint16 each, 1/1024 s, count from the remaining length); bits5-7
reserved (ignored). Fields follow in that order.

Errors: FramingError when the value is shorter than its flags ask for, when RR-Intervals
are flagged but none (or an odd byte) follow, or when bytes trail unflagged.
FieldError for a reserved Body Sensor Location.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from drivers.ble import metrics, uuids
from drivers.ble.reader import Reader
from gateway import codes
from gateway.model import Measurement, Quality, ReceiveTime

SOURCE = uuids.source(uuids.HEART_RATE_MEASUREMENT)
ENERGY_EXPENDED_MAX = 0xFFFF  # the field saturates here until the client resets it


@dataclass(frozen=True, slots=True)
class HeartRateMeasurement:
    heart_rate_bpm: int
    value_is_uint16: bool
    sensor_contact_supported: bool
    sensor_contact_detected: bool  # False when not supported
    energy_expended_kj: int | None
    rr_intervals_1024: tuple[int, ...]  # raw, units of 1/1024 s
    rr_intervals_s: tuple[float, ...]


class BodySensorLocation(enum.IntEnum):
    OTHER = 0
    CHEST = 1
    WRIST = 2
    FINGER = 3
    HAND = 4
    EAR_LOBE = 5
    FOOT = 6


@dataclass(frozen=True, slots=True)
class BodySensorLocationValue:
    """A Body Sensor Location characteristic (0x2A38)."""

    location: BodySensorLocation


def parse_heart_rate_measurement(data: bytes | bytearray | memoryview) -> HeartRateMeasurement:
    """Parse 0x2A37 (see module docstring for the errors raised)."""
    r = Reader(SOURCE, data)
    flags = r.u8("flags")
    wide = bool(flags & 0x01)
    hr = r.u16("heart rate (uint16)") if wide else r.u8("heart rate (uint8)")
    contact = (flags >> 1) & 0x03
    energy = r.u16("energy expended") if flags & 0x08 else None
    rr: tuple[int, ...] = ()
    if flags & 0x10:
        if r.remaining < 2:
            raise r.framing_error(r.pos, "RR-Interval flag set but no RR-Interval follows")
        rr = tuple(r.u16("RR-Interval") for _ in range(r.remaining // 2))
    r.end()
    return HeartRateMeasurement(
        heart_rate_bpm=hr,
        value_is_uint16=wide,
        sensor_contact_supported=contact >= 2,
        sensor_contact_detected=contact == 3,
        energy_expended_kj=energy,
        rr_intervals_1024=rr,
        rr_intervals_s=tuple(v / 1024 for v in rr),
    )


def parse_body_sensor_location(data: bytes | bytearray | memoryview) -> BodySensorLocationValue:
    """Parse 0x2A38. FramingError: not 1 byte. FieldError: value 7..255 (reserved)."""
    r = Reader(uuids.source(uuids.BODY_SENSOR_LOCATION), data)
    value = r.u8("body sensor location")
    r.end()
    if value > BodySensorLocation.FOOT:
        raise r.field_error(0, f"body sensor location {value} is reserved")
    return BodySensorLocationValue(BodySensorLocation(value))


def to_measurements(
    hrm: HeartRateMeasurement, device_id: str, received: ReceiveTime
) -> list[Measurement]:
    """HR (/min), each RR interval (ms) and Energy Expended (kJ). No device time on the wire.

    HR is QUESTIONABLE when the sensor supports contact detection and reports no contact;
    Energy Expended at 0xFFFF is OVER_RANGE (saturated, the device needs a reset).
    """
    contact_lost = hrm.sensor_contact_supported and not hrm.sensor_contact_detected
    hr_quality = Quality.QUESTIONABLE if contact_lost else Quality(0)
    out = [
        metrics.measurement(
            codes.MDC_ECG_HEART_RATE, hrm.heart_rate_bpm, hr_quality, device_id, received, None
        )
    ]
    out.extend(
        metrics.measurement(
            metrics.MDC_ECG_TIME_PD_RR_GL, raw * 1000 / 1024, hr_quality, device_id, received, None
        )
        for raw in hrm.rr_intervals_1024
    )
    if hrm.energy_expended_kj is not None:
        saturated = hrm.energy_expended_kj >= ENERGY_EXPENDED_MAX
        out.append(
            metrics.measurement(
                metrics.EDGETWIN_BLE_ENERGY_EXPENDED,
                hrm.energy_expended_kj,
                Quality.OVER_RANGE if saturated else Quality(0),
                device_id,
                received,
                None,
            )
        )
    return out
