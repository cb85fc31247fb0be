"""Continuous Glucose Monitoring: CGM Measurement (0x2AA7) and CGM Feature (0x2AA8).

One 0x2AA7 notification carries one or more records back to back. Each record is: Size
(u8, counts the whole record including itself and the CRC), Flags (u8: bit0 Trend, bit1
Quality present, bits2-4 reserved, bits5/6/7 annunciation octets present), Glucose
Concentration (SFLOAT mg/dL), Time Offset (u16 minutes since session start), up to three
Sensor Status Annunciation octets, Trend (SFLOAT (mg/dL)/min), Quality (SFLOAT %), and the
E2E-CRC (u16) when the CGM Feature says E2E-CRC is supported (``crc_present``).

Annunciation octets are read in flag-bit order 5, 6, 7 and placed as bits 0-7 (status
group: session stopped .. general device fault), 8-15 (calibration/temperature group) and
16-23 (warning group: patient low/high, hypo/hyper, rates, device range) of the 24-bit
annunciation. Flag bits 5 and 7 are named "Warning" and "Status" in the SIG text, but both
public sensor stacks we checked (Nordic and Infineon/Cypress) put the session-stopped group
first on the wire when bit 5 is set; with all three octets this is the plain little-endian
24-bit field either way.

E2E-CRC: CRC-16/MCRF4XX (polynomial 0x1021 reflected, initial 0xFFFF, no final XOR) over
the record without its CRC.

CGM Feature (6 bytes): features (u24; bit12 = E2E-CRC supported), Type-Sample Location (u8:
low nibble type, high nibble location) and an E2E-CRC that is checked when bit12 is set
(0xFFFF otherwise).

Errors: FramingError for a Size below 6, beyond the notification, or not matching the
flags (+2 when ``crc_present``); ChecksumError for a CRC mismatch (the whole notification
is rejected); FieldError for a reserved type or location in the CGM Feature.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from drivers.ble import metrics, uuids
from drivers.ble.date_time import device_time_ns
from drivers.ble.glucose import GlucoseType, SampleLocation
from drivers.ble.ieee11073 import MderFloat
from drivers.ble.reader import Reader
from gateway.codes import Metric
from gateway.errors import ChecksumError
from gateway.model import Measurement, Quality, ReceiveTime

MEASUREMENT_SOURCE = uuids.source(uuids.CGM_MEASUREMENT)
FEATURE_SOURCE = uuids.source(uuids.CGM_FEATURE)
MIN_RECORD_SIZE = 6
E2E_CRC_SUPPORTED = 1 << 12


def crc16_mcrf4xx(data: bytes) -> int:
    """CRC-16/MCRF4XX: reflected 0x1021 (0x8408), init 0xFFFF, no final XOR."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
    return crc


@dataclass(frozen=True, slots=True)
class CgmSensorStatus:
    raw: int  # 24-bit annunciation; absent octets are 0
    status_octet_present: bool  # flag bit 5, bits 0-7
    cal_temp_octet_present: bool  # flag bit 6, bits 8-15
    warning_octet_present: bool  # flag bit 7, bits 16-23
    session_stopped: bool
    device_battery_low: bool
    sensor_type_incorrect: bool
    sensor_malfunction: bool
    device_specific_alert: bool
    general_device_fault: bool
    time_sync_required: bool
    calibration_not_allowed: bool
    calibration_recommended: bool
    calibration_required: bool
    sensor_temperature_too_high: bool
    sensor_temperature_too_low: bool
    result_lower_than_patient_low: bool
    result_higher_than_patient_high: bool
    result_lower_than_hypo: bool
    result_higher_than_hyper: bool
    rate_of_decrease_exceeded: bool
    rate_of_increase_exceeded: bool
    result_lower_than_device_can_process: bool
    result_higher_than_device_can_process: bool

    @classmethod
    def from_octets(
        cls, status: int | None, cal_temp: int | None, warning: int | None
    ) -> CgmSensorStatus:
        raw = (status or 0) | (cal_temp or 0) << 8 | (warning or 0) << 16
        bits = [*range(6), *range(8, 14), *range(16, 24)]
        return cls(
            raw,
            status is not None,
            cal_temp is not None,
            warning is not None,
            *(bool(raw >> bit & 1) for bit in bits),
        )

    def quality(self) -> Quality:
        q = Quality(0)
        if self.sensor_malfunction or self.general_device_fault or self.sensor_type_incorrect:
            q |= Quality.INVALID
        if self.result_higher_than_device_can_process:
            q |= Quality.OVER_RANGE
        if self.result_lower_than_device_can_process:
            q |= Quality.UNDER_RANGE
        if (
            self.sensor_temperature_too_high
            or self.sensor_temperature_too_low
            or self.calibration_required
        ):
            q |= Quality.QUESTIONABLE
        return q


@dataclass(frozen=True, slots=True)
class CgmRecord:
    size: int
    glucose_mg_dl: MderFloat
    time_offset_min: int
    sensor_status: CgmSensorStatus | None
    trend_mg_dl_per_min: MderFloat | None
    quality_percent: MderFloat | None
    e2e_crc: int | None  # checked when present


@dataclass(frozen=True, slots=True)
class CgmMeasurement:
    """One 0x2AA7 notification: its records in wire order."""

    records: tuple[CgmRecord, ...]


@dataclass(frozen=True, slots=True)
class CgmFeature:
    raw: int
    glucose_type: GlucoseType
    sample_location: SampleLocation
    e2e_crc: int
    calibration_supported: bool
    patient_high_low_alerts_supported: bool
    hypo_alerts_supported: bool
    hyper_alerts_supported: bool
    rate_of_increase_decrease_alerts_supported: bool
    device_specific_alert_supported: bool
    sensor_malfunction_detection_supported: bool
    sensor_temperature_high_low_detection_supported: bool
    sensor_result_high_low_detection_supported: bool
    low_battery_detection_supported: bool
    sensor_type_error_detection_supported: bool
    general_device_fault_supported: bool
    e2e_crc_supported: bool
    multiple_bond_supported: bool
    multiple_sessions_supported: bool
    trend_information_supported: bool
    quality_supported: bool


def _record_size(flags: int, crc_present: bool) -> int:
    size = MIN_RECORD_SIZE + 2 * ((flags & 0x01) + (flags >> 1 & 0x01))
    size += (flags >> 5 & 1) + (flags >> 6 & 1) + (flags >> 7 & 1)
    return size + 2 if crc_present else size


def parse_cgm_measurement(
    data: bytes | bytearray | memoryview, crc_present: bool
) -> CgmMeasurement:
    """Parse one 0x2AA7 notification (see module docstring for the errors raised).

    ``crc_present`` comes from the CGM Feature (0x2AA8) bit "E2E-CRC supported".
    """
    r = Reader(MEASUREMENT_SOURCE, data)
    if not r.data:
        raise r.framing_error(0, "empty notification: at least one record is needed")
    records: list[CgmRecord] = []
    while r.remaining:
        start = r.pos
        size = r.u8("size")
        if size < MIN_RECORD_SIZE or start + size > len(r.data):
            raise r.framing_error(
                start, f"record size {size} is below 6 or runs past the {len(r.data)}-byte value"
            )
        flags = r.data[start + 1]
        expected = _record_size(flags, crc_present)
        if size != expected:
            hint = " (E2E-CRC present? check crc_present)" if size == expected + 2 else ""
            raise r.framing_error(
                start, f"record size {size} but flags 0x{flags:02X} account for {expected}{hint}"
            )
        crc = None
        if crc_present:
            end = start + size - 2
            crc = r.data[end] | r.data[end + 1] << 8
            computed = crc16_mcrf4xx(r.data[start:end])
            if crc != computed:
                raise ChecksumError(
                    MEASUREMENT_SOURCE,
                    end,
                    r.data,
                    f"E2E-CRC 0x{crc:04X} but record computes to 0x{computed:04X}",
                )
        r.u8("flags")
        glucose = r.sfloat("glucose concentration")
        offset = r.u16("time offset")
        status = None
        if flags & 0xE0:
            status = CgmSensorStatus.from_octets(
                r.u8("annunciation (status)") if flags & 0x20 else None,
                r.u8("annunciation (cal/temp)") if flags & 0x40 else None,
                r.u8("annunciation (warning)") if flags & 0x80 else None,
            )
        trend = r.sfloat("trend") if flags & 0x01 else None
        quality = r.sfloat("quality") if flags & 0x02 else None
        if crc_present:
            r.u16("E2E-CRC")
        records.append(CgmRecord(size, glucose, offset, status, trend, quality, crc))
    return CgmMeasurement(tuple(records))


def infer_crc_present(data: bytes | bytearray | memoryview) -> bool:
    """Guess ``crc_present`` from the first record's Size (for tools without the CGM Feature)."""
    value = bytes(data)
    if len(value) < 2:
        return False
    return value[0] == _record_size(value[1], True)


def parse_cgm_feature(data: bytes | bytearray | memoryview) -> CgmFeature:
    """Parse 0x2AA8 (see module docstring for the errors raised)."""
    r = Reader(FEATURE_SOURCE, data)
    raw = r.u24("CGM feature")
    at = r.pos
    packed = r.u8("type-sample location")
    crc_at = r.pos
    crc = r.u16("E2E-CRC")
    r.end()
    if raw & E2E_CRC_SUPPORTED:
        computed = crc16_mcrf4xx(r.data[:4])
        if crc != computed:
            raise ChecksumError(
                FEATURE_SOURCE,
                crc_at,
                r.data,
                f"E2E-CRC 0x{crc:04X} but computes to 0x{computed:04X}",
            )
    try:
        gtype = GlucoseType(packed & 0x0F)
    except ValueError:
        raise r.field_error(at, f"CGM type {packed & 0x0F} is reserved") from None
    try:
        location = SampleLocation(packed >> 4)
    except ValueError:
        raise r.field_error(at, f"CGM sample location {packed >> 4} is reserved") from None
    return CgmFeature(raw, gtype, location, crc, *(bool(raw >> bit & 1) for bit in range(17)))


def to_measurements(
    parsed: CgmMeasurement,
    device_id: str,
    received: ReceiveTime,
    glucose_metric: Metric = metrics.MDC_CONC_GLU_ISF,
    session_start: datetime | None = None,
) -> list[Measurement]:
    """Glucose (mg/dL), trend (mg/dL/min) and quality (%) of every record.

    ``glucose_metric`` follows the CGM Feature type (interstitial fluid by default).
    ``session_start`` (CGM Session Start Time, device local time) gives device times as
    start + offset; without it ``device_time_ns`` is ``None``.
    """
    out: list[Measurement] = []
    for rec in parsed.records:
        base = Quality(0) if rec.sensor_status is None else rec.sensor_status.quality()
        device_ns = None
        if session_start is not None:
            device_ns = device_time_ns(session_start + timedelta(minutes=rec.time_offset_min))
        for metric, number in (
            (glucose_metric, rec.glucose_mg_dl),
            (metrics.EDGETWIN_BLE_CGM_TREND, rec.trend_mg_dl_per_min),
            (metrics.EDGETWIN_BLE_CGM_QUALITY, rec.quality_percent),
        ):
            if number is not None:
                out.append(
                    metrics.measurement(
                        metric, number.value, base | number.quality, device_id, received, device_ns
                    )
                )
    return out
