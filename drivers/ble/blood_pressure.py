"""Blood Pressure: Measurement (0x2A35), Intermediate Cuff Pressure (0x2A36), Feature (0x2A49).

Flags (both): bit0 unit kPa (else mmHg), bit1 Time Stamp, bit2 Pulse Rate, bit3 User ID,
bit4 Measurement Status present; bits5-7 reserved (ignored). Fields: three SFLOATs
(systolic, diastolic, MAP; in 0x2A36 the first is the current cuff pressure and the other
two are unused and ignored), Time Stamp (7), Pulse Rate (SFLOAT /min), User ID (u8, 0xFF
unknown user), Measurement Status (u16: bit0 body movement, bit1 cuff too loose, bit2
irregular pulse, bits3-4 pulse rate range 0 within / 1 above upper / 2 below lower /
3 reserved, bit5 improper position; bits6-15 reserved).

Feature (u16): bit0 body movement, bit1 cuff fit, bit2 irregular pulse, bit3 pulse rate
range, bit4 measurement position detection, bit5 multiple bonds, bit6 E2E-CRC, bit7 User
Data Service, bit8 user facing time supported; bits9-15 reserved (ignored).

Errors: FramingError when shorter than the flags ask for or with trailing bytes; FieldError
for pulse rate range 3 or an out-of-range time stamp.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from drivers.ble import metrics, uuids
from drivers.ble.date_time import device_time_ns, read_date_time
from drivers.ble.ieee11073 import MderFloat
from drivers.ble.reader import Reader
from gateway import codes
from gateway.model import Measurement, Quality, ReceiveTime

MEASUREMENT_SOURCE = uuids.source(uuids.BLOOD_PRESSURE_MEASUREMENT)
CUFF_SOURCE = uuids.source(uuids.INTERMEDIATE_CUFF_PRESSURE)
FEATURE_SOURCE = uuids.source(uuids.BLOOD_PRESSURE_FEATURE)
UNKNOWN_USER = 0xFF


class PressureUnit(enum.Enum):
    """The pressure unit the flags select; the value is the UCUM code."""

    MMHG = "mm[Hg]"
    KPA = "kPa"


class PulseRateRange(enum.Enum):
    WITHIN_RANGE = "within_range"
    EXCEEDS_UPPER_LIMIT = "exceeds_upper_limit"
    BELOW_LOWER_LIMIT = "below_lower_limit"


_RANGES = (
    PulseRateRange.WITHIN_RANGE,
    PulseRateRange.EXCEEDS_UPPER_LIMIT,
    PulseRateRange.BELOW_LOWER_LIMIT,
)


@dataclass(frozen=True, slots=True)
class BpMeasurementStatus:
    raw: int
    body_movement_detected: bool
    cuff_too_loose: bool
    irregular_pulse_detected: bool
    pulse_rate_range: PulseRateRange
    improper_measurement_position: bool

    def quality(self) -> Quality:
        doubtful = (
            self.body_movement_detected
            or self.cuff_too_loose
            or self.irregular_pulse_detected
            or self.improper_measurement_position
        )
        return Quality.QUESTIONABLE if doubtful else Quality(0)


@dataclass(frozen=True, slots=True)
class BloodPressureMeasurement:
    unit: PressureUnit
    systolic: MderFloat
    diastolic: MderFloat
    mean_arterial_pressure: MderFloat
    timestamp: datetime | None
    pulse_rate_bpm: MderFloat | None
    user_id: int | None  # 0xFF = unknown user
    measurement_status: BpMeasurementStatus | None


@dataclass(frozen=True, slots=True)
class IntermediateCuffPressure:
    unit: PressureUnit
    cuff_pressure: MderFloat
    timestamp: datetime | None
    pulse_rate_bpm: MderFloat | None
    user_id: int | None
    measurement_status: BpMeasurementStatus | None


@dataclass(frozen=True, slots=True)
class BloodPressureFeature:
    raw: int
    body_movement_detection_supported: bool
    cuff_fit_detection_supported: bool
    irregular_pulse_detection_supported: bool
    pulse_rate_range_detection_supported: bool
    measurement_position_detection_supported: bool
    multiple_bonds_supported: bool
    e2e_crc_supported: bool
    user_data_service_supported: bool
    user_facing_time_supported: bool


@dataclass(frozen=True, slots=True)
class _Common:
    unit: PressureUnit
    pressures: tuple[MderFloat, MderFloat, MderFloat]
    timestamp: datetime | None
    pulse_rate: MderFloat | None
    user_id: int | None
    status: BpMeasurementStatus | None


def _parse(source: str, data: bytes | bytearray | memoryview) -> _Common:
    r = Reader(source, data)
    flags = r.u8("flags")
    unit = PressureUnit.KPA if flags & 0x01 else PressureUnit.MMHG
    pressures = (r.sfloat("systolic"), r.sfloat("diastolic"), r.sfloat("mean arterial pressure"))
    stamp = read_date_time(r) if flags & 0x02 else None
    pulse = r.sfloat("pulse rate") if flags & 0x04 else None
    user = r.u8("user id") if flags & 0x08 else None
    status = None
    if flags & 0x10:
        at = r.pos
        raw = r.u16("measurement status")
        rng = raw >> 3 & 0x03
        if rng == 3:
            raise r.field_error(at, "pulse rate range value 3 is reserved")
        status = BpMeasurementStatus(
            raw,
            bool(raw & 0x01),
            bool(raw & 0x02),
            bool(raw & 0x04),
            _RANGES[rng],
            bool(raw & 0x20),
        )
    r.end()
    return _Common(unit, pressures, stamp, pulse, user, status)


def parse_blood_pressure_measurement(
    data: bytes | bytearray | memoryview,
) -> BloodPressureMeasurement:
    """Parse 0x2A35 (see module docstring for the errors raised)."""
    c = _parse(MEASUREMENT_SOURCE, data)
    return BloodPressureMeasurement(
        c.unit, *c.pressures, c.timestamp, c.pulse_rate, c.user_id, c.status
    )


def parse_intermediate_cuff_pressure(
    data: bytes | bytearray | memoryview,
) -> IntermediateCuffPressure:
    """Parse 0x2A36 (same layout; only the first SFLOAT is kept)."""
    c = _parse(CUFF_SOURCE, data)
    return IntermediateCuffPressure(
        c.unit, c.pressures[0], c.timestamp, c.pulse_rate, c.user_id, c.status
    )


def parse_blood_pressure_feature(data: bytes | bytearray | memoryview) -> BloodPressureFeature:
    """Parse 0x2A49. FramingError: not 2 bytes."""
    r = Reader(FEATURE_SOURCE, data)
    raw = r.u16("blood pressure feature")
    r.end()
    return BloodPressureFeature(raw, *(bool(raw >> bit & 1) for bit in range(9)))


def to_measurements(
    parsed: BloodPressureMeasurement | IntermediateCuffPressure,
    device_id: str,
    received: ReceiveTime,
) -> list[Measurement]:
    """Systolic/diastolic/MAP (or cuff pressure) in mm[Hg] or kPa, and pulse rate (/min).

    Body movement, loose cuff, irregular pulse or improper position make the values
    QUESTIONABLE.
    """
    base = Quality(0) if parsed.measurement_status is None else parsed.measurement_status.quality()
    device_ns = None if parsed.timestamp is None else device_time_ns(parsed.timestamp)
    unit = parsed.unit.value
    if isinstance(parsed, BloodPressureMeasurement):
        pressures = [
            (codes.MDC_PRESS_BLD_NONINV_SYS, parsed.systolic),
            (codes.MDC_PRESS_BLD_NONINV_DIA, parsed.diastolic),
            (codes.MDC_PRESS_BLD_NONINV_MEAN, parsed.mean_arterial_pressure),
        ]
    else:
        pressures = [(metrics.MDC_PRESS_CUFF, parsed.cuff_pressure)]
    out = [
        metrics.measurement(
            metric, number.value, base | number.quality, device_id, received, device_ns, unit
        )
        for metric, number in pressures
    ]
    if parsed.pulse_rate_bpm is not None:
        pulse = parsed.pulse_rate_bpm
        out.append(
            metrics.measurement(
                codes.MDC_PULS_RATE_NON_INV,
                pulse.value,
                base | pulse.quality,
                device_id,
                received,
                device_ns,
            )
        )
    return out
