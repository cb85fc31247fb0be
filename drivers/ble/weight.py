"""Weight Scale Service: Weight Measurement (0x2A9D) and Weight Scale Feature (0x2A9E).

Measurement flags: bit0 imperial (lb/in, else SI kg/m), bit1 Time Stamp, bit2 User ID,
bit3 BMI and Height present (always together); bits4-7 reserved (ignored). Fields: Weight
(u16, 0.005 kg or 0.01 lb; 0xFFFF = measurement unsuccessful), Time Stamp (7), User ID (u8,
0xFF unknown), BMI (u16, 0.1 kg/m2), Height (u16, 0.001 m or 0.1 in).

Feature (u32): bit0 time stamp, bit1 multiple users, bit2 BMI supported; bits3-6 weight
resolution (0 unspecified, 1..7 = 0.5 .. 0.005 kg / 1 .. 0.01 lb; 8..15 reserved); bits7-9
height resolution (0 unspecified, 1..3 = 0.01/0.005/0.001 m, 1/0.5/0.1 in; 4..7 reserved);
bits10-31 reserved (ignored).

Errors: FramingError when shorter than the flags ask for or with trailing bytes; FieldError
for reserved resolutions or an out-of-range time stamp.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from drivers.ble import metrics, uuids
from drivers.ble.date_time import device_time_ns, read_date_time
from drivers.ble.reader import Reader
from gateway import codes
from gateway.model import Measurement, Quality, ReceiveTime

WEIGHT_UNSUCCESSFUL = 0xFFFF
UNKNOWN_USER = 0xFF
_WEIGHT_RES_KG = (None, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01, 0.005)
_WEIGHT_RES_LB = (None, 1.0, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01)
_HEIGHT_RES_M = (None, 0.01, 0.005, 0.001)
_HEIGHT_RES_IN = (None, 1.0, 0.5, 0.1)


@dataclass(frozen=True, slots=True)
class WeightMeasurement:
    imperial: bool
    weight_raw: int
    weight: float | None  # None when the device says the measurement was unsuccessful
    weight_unit: str  # UCUM: "kg" or "[lb_av]"
    measurement_unsuccessful: bool
    timestamp: datetime | None
    user_id: int | None  # 0xFF = unknown user
    bmi_kg_m2: float | None
    height: float | None
    height_unit: str  # UCUM: "m" or "[in_i]"


@dataclass(frozen=True, slots=True)
class WeightScaleFeature:
    raw: int
    time_stamp_supported: bool
    multiple_users_supported: bool
    bmi_supported: bool
    weight_resolution_kg: float | None  # None = not specified
    weight_resolution_lb: float | None
    height_resolution_m: float | None
    height_resolution_in: float | None


def parse_weight_measurement(data: bytes | bytearray | memoryview) -> WeightMeasurement:
    """Parse 0x2A9D (see module docstring for the errors raised)."""
    r = Reader(uuids.source(uuids.WEIGHT_MEASUREMENT), data)
    flags = r.u8("flags")
    imperial = bool(flags & 0x01)
    raw = r.u16("weight")
    stamp = read_date_time(r) if flags & 0x02 else None
    user = r.u8("user id") if flags & 0x04 else None
    bmi = height = None
    if flags & 0x08:
        bmi = r.u16("BMI") / 10
        height_raw = r.u16("height")
        height = height_raw / 10 if imperial else height_raw / 1000
    r.end()
    unsuccessful = raw == WEIGHT_UNSUCCESSFUL
    weight = None if unsuccessful else (raw / 100 if imperial else raw * 5 / 1000)
    return WeightMeasurement(
        imperial=imperial,
        weight_raw=raw,
        weight=weight,
        weight_unit="[lb_av]" if imperial else "kg",
        measurement_unsuccessful=unsuccessful,
        timestamp=stamp,
        user_id=user,
        bmi_kg_m2=bmi,
        height=height,
        height_unit="[in_i]" if imperial else "m",
    )


def parse_weight_scale_feature(data: bytes | bytearray | memoryview) -> WeightScaleFeature:
    """Parse 0x2A9E (see module docstring for the errors raised)."""
    r = Reader(uuids.source(uuids.WEIGHT_SCALE_FEATURE), data)
    raw = r.u32("weight scale feature")
    r.end()
    weight_res = raw >> 3 & 0x0F
    height_res = raw >> 7 & 0x07
    if weight_res >= len(_WEIGHT_RES_KG):
        raise r.field_error(0, f"weight resolution {weight_res} is reserved")
    if height_res >= len(_HEIGHT_RES_M):
        raise r.field_error(0, f"height resolution {height_res} is reserved")
    return WeightScaleFeature(
        raw=raw,
        time_stamp_supported=bool(raw & 0x01),
        multiple_users_supported=bool(raw & 0x02),
        bmi_supported=bool(raw & 0x04),
        weight_resolution_kg=_WEIGHT_RES_KG[weight_res],
        weight_resolution_lb=_WEIGHT_RES_LB[weight_res],
        height_resolution_m=_HEIGHT_RES_M[height_res],
        height_resolution_in=_HEIGHT_RES_IN[height_res],
    )


def to_measurements(
    parsed: WeightMeasurement, device_id: str, received: ReceiveTime
) -> list[Measurement]:
    """Weight (kg or [lb_av]; NaN + INVALID if unsuccessful), BMI (kg/m2), height (m or [in_i])."""
    device_ns = None if parsed.timestamp is None else device_time_ns(parsed.timestamp)
    quality = Quality.INVALID if parsed.measurement_unsuccessful else Quality(0)
    out = [
        metrics.measurement(
            codes.MDC_MASS_BODY_ACTUAL,
            parsed.weight,
            quality,
            device_id,
            received,
            device_ns,
            parsed.weight_unit,
        )
    ]
    if parsed.bmi_kg_m2 is not None:
        out.append(
            metrics.measurement(
                metrics.MDC_RATIO_MASS_BODY_LEN_SQ,
                parsed.bmi_kg_m2,
                Quality(0),
                device_id,
                received,
                device_ns,
            )
        )
    if parsed.height is not None:
        out.append(
            metrics.measurement(
                metrics.MDC_LEN_BODY_ACTUAL,
                parsed.height,
                Quality(0),
                device_id,
                received,
                device_ns,
                parsed.height_unit,
            )
        )
    return out
