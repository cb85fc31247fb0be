"""Pulse Oximeter Service: PLX Spot-Check (0x2A5E), PLX Continuous (0x2A5F), PLX Features (0x2A60).

Spot-Check flags: bit0 Timestamp, bit1 Measurement Status, bit2 Device and Sensor Status,
bit3 Pulse Amplitude Index present, bit4 device clock not set; fields SpO2 (SFLOAT %),
PR (SFLOAT /min), Timestamp (7), Measurement Status (u16), Device and Sensor Status (u24),
PAI (SFLOAT %).

Continuous flags: bit0 SpO2PR-Fast, bit1 SpO2PR-Slow, bit2 Measurement Status, bit3 Device
and Sensor Status, bit4 PAI present; fields SpO2PR-Normal (2 SFLOAT), Fast, Slow, then as
above. No timestamp.

Features: u16 supported features (bit0 Measurement Status support present, bit1 Device and
Sensor Status support present, bit2 spot-check storage, bit3 spot-check timestamp, bit4
SpO2PR-Fast, bit5 SpO2PR-Slow, bit6 PAI, bit7 multiple bonds), then the optional u16
Measurement Status support and u24 Device and Sensor Status support bit masks.

Reserved flag and status bits are ignored. Errors: FramingError when too short for the
flags or with trailing bytes; FieldError for an out-of-range time stamp.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from drivers.ble import metrics, uuids
from drivers.ble.date_time import device_time_ns, read_date_time
from drivers.ble.ieee11073 import MderFloat
from drivers.ble.reader import Reader
from gateway import codes
from gateway.codes import Metric
from gateway.model import Measurement, Quality, ReceiveTime

SPOT_CHECK_SOURCE = uuids.source(uuids.PLX_SPOT_CHECK_MEASUREMENT)
CONTINUOUS_SOURCE = uuids.source(uuids.PLX_CONTINUOUS_MEASUREMENT)
FEATURES_SOURCE = uuids.source(uuids.PLX_FEATURES)


@dataclass(frozen=True, slots=True)
class PlxMeasurementStatus:
    """Measurement Status (u16; bits 0-4 reserved). Also used for the "supported" mask."""

    raw: int
    measurement_ongoing: bool
    early_estimated_data: bool
    validated_data: bool
    fully_qualified_data: bool
    data_from_measurement_storage: bool
    data_for_demonstration: bool
    data_for_testing: bool
    calibration_ongoing: bool
    measurement_unavailable: bool
    questionable_measurement_detected: bool
    invalid_measurement_detected: bool

    @classmethod
    def from_raw(cls, raw: int) -> PlxMeasurementStatus:
        return cls(raw, *(bool(raw >> bit & 1) for bit in range(5, 16)))

    def quality(self) -> Quality:
        q = Quality(0)
        if self.invalid_measurement_detected:
            q |= Quality.INVALID
        if self.questionable_measurement_detected:
            q |= Quality.QUESTIONABLE
        if self.measurement_unavailable:
            q |= Quality.UNAVAILABLE
        if self.calibration_ongoing:
            q |= Quality.CALIBRATING
        if self.data_for_demonstration:
            q |= Quality.DEMO
        if self.data_for_testing:
            q |= Quality.TEST
        return q


@dataclass(frozen=True, slots=True)
class PlxDeviceSensorStatus:
    """Device and Sensor Status (u24; bits 16-23 reserved). Also used for the "supported" mask."""

    raw: int
    extended_display_update_ongoing: bool
    equipment_malfunction_detected: bool
    signal_processing_irregularity_detected: bool
    inadequate_signal_detected: bool
    poor_signal_detected: bool
    low_perfusion_detected: bool
    erratic_signal_detected: bool
    nonpulsatile_signal_detected: bool
    questionable_pulse_detected: bool
    signal_analysis_ongoing: bool
    sensor_interference_detected: bool
    sensor_unconnected_to_user: bool
    unknown_sensor_connected: bool
    sensor_displaced: bool
    sensor_malfunctioning: bool
    sensor_disconnected: bool

    @classmethod
    def from_raw(cls, raw: int) -> PlxDeviceSensorStatus:
        return cls(raw, *(bool(raw >> bit & 1) for bit in range(16)))

    def quality(self) -> Quality:
        q = Quality(0)
        if self.equipment_malfunction_detected or self.sensor_malfunctioning:
            q |= Quality.INVALID
        if self.sensor_disconnected or self.sensor_unconnected_to_user:
            q |= Quality.UNAVAILABLE
        if self.raw & _SIGNAL_DOUBT_BITS:
            q |= Quality.QUESTIONABLE
        return q


# signal processing irregularity .. questionable pulse, interference, unknown sensor, displaced
_SIGNAL_DOUBT_BITS = 0x01FC | 1 << 10 | 1 << 12 | 1 << 13


@dataclass(frozen=True, slots=True)
class PlxSpotCheckMeasurement:
    spo2_percent: MderFloat
    pulse_rate_bpm: MderFloat
    timestamp: datetime | None
    device_clock_not_set: bool
    measurement_status: PlxMeasurementStatus | None
    device_sensor_status: PlxDeviceSensorStatus | None
    pulse_amplitude_index_percent: MderFloat | None


@dataclass(frozen=True, slots=True)
class PlxContinuousMeasurement:
    spo2_percent: MderFloat
    pulse_rate_bpm: MderFloat
    spo2_fast_percent: MderFloat | None
    pulse_rate_fast_bpm: MderFloat | None
    spo2_slow_percent: MderFloat | None
    pulse_rate_slow_bpm: MderFloat | None
    measurement_status: PlxMeasurementStatus | None
    device_sensor_status: PlxDeviceSensorStatus | None
    pulse_amplitude_index_percent: MderFloat | None


@dataclass(frozen=True, slots=True)
class PlxFeatures:
    raw: int
    measurement_status_support: PlxMeasurementStatus | None
    device_sensor_status_support: PlxDeviceSensorStatus | None
    measurement_status_support_present: bool
    device_sensor_status_support_present: bool
    spot_check_storage_supported: bool
    spot_check_timestamp_supported: bool
    spo2pr_fast_supported: bool
    spo2pr_slow_supported: bool
    pulse_amplitude_index_supported: bool
    multiple_bonds_supported: bool


def _statuses(
    r: Reader, has_ms: bool, has_dss: bool
) -> tuple[PlxMeasurementStatus | None, PlxDeviceSensorStatus | None]:
    ms = PlxMeasurementStatus.from_raw(r.u16("measurement status")) if has_ms else None
    dss = PlxDeviceSensorStatus.from_raw(r.u24("device and sensor status")) if has_dss else None
    return ms, dss


def parse_plx_spot_check(data: bytes | bytearray | memoryview) -> PlxSpotCheckMeasurement:
    """Parse 0x2A5E (see module docstring for the errors raised)."""
    r = Reader(SPOT_CHECK_SOURCE, data)
    flags = r.u8("flags")
    spo2 = r.sfloat("SpO2")
    pr = r.sfloat("PR")
    stamp = read_date_time(r) if flags & 0x01 else None
    ms, dss = _statuses(r, bool(flags & 0x02), bool(flags & 0x04))
    pai = r.sfloat("pulse amplitude index") if flags & 0x08 else None
    r.end()
    return PlxSpotCheckMeasurement(spo2, pr, stamp, bool(flags & 0x10), ms, dss, pai)


def parse_plx_continuous(data: bytes | bytearray | memoryview) -> PlxContinuousMeasurement:
    """Parse 0x2A5F (see module docstring for the errors raised)."""
    r = Reader(CONTINUOUS_SOURCE, data)
    flags = r.u8("flags")
    spo2 = r.sfloat("SpO2 (normal)")
    pr = r.sfloat("PR (normal)")
    fast_spo2 = fast_pr = slow_spo2 = slow_pr = None
    if flags & 0x01:
        fast_spo2 = r.sfloat("SpO2 (fast)")
        fast_pr = r.sfloat("PR (fast)")
    if flags & 0x02:
        slow_spo2 = r.sfloat("SpO2 (slow)")
        slow_pr = r.sfloat("PR (slow)")
    ms, dss = _statuses(r, bool(flags & 0x04), bool(flags & 0x08))
    pai = r.sfloat("pulse amplitude index") if flags & 0x10 else None
    r.end()
    return PlxContinuousMeasurement(spo2, pr, fast_spo2, fast_pr, slow_spo2, slow_pr, ms, dss, pai)


def parse_plx_features(data: bytes | bytearray | memoryview) -> PlxFeatures:
    """Parse 0x2A60. FramingError: shorter than the support masks it announces, or trailing."""
    r = Reader(FEATURES_SOURCE, data)
    raw = r.u16("supported features")
    ms_support, dss_support = _statuses(r, bool(raw & 0x01), bool(raw & 0x02))
    r.end()
    return PlxFeatures(
        raw,
        ms_support,
        dss_support,
        *(bool(raw >> bit & 1) for bit in range(8)),
    )


def _status_quality(ms: PlxMeasurementStatus | None, dss: PlxDeviceSensorStatus | None) -> Quality:
    q = Quality(0)
    if ms is not None:
        q |= ms.quality()
    if dss is not None:
        q |= dss.quality()
    return q


def _emit(
    out: list[Measurement],
    metric: Metric,
    number: MderFloat | None,
    base: Quality,
    device_id: str,
    received: ReceiveTime,
    device_ns: int | None,
) -> None:
    if number is not None:
        out.append(
            metrics.measurement(
                metric, number.value, base | number.quality, device_id, received, device_ns
            )
        )


def to_measurements(
    parsed: PlxSpotCheckMeasurement | PlxContinuousMeasurement,
    device_id: str,
    received: ReceiveTime,
) -> list[Measurement]:
    """SpO2 (%), PR (/min) and PAI (%) (+ fast/slow for continuous, under private codes).

    Status bits become quality flags (invalid, questionable, unavailable, calibrating, demo,
    test; sensor faults INVALID, disconnection UNAVAILABLE, signal doubts QUESTIONABLE).
    Spot-check readings carry the device time unless the device says its clock is not set.
    """
    base = _status_quality(parsed.measurement_status, parsed.device_sensor_status)
    out: list[Measurement] = []
    device_ns: int | None = None
    if (
        isinstance(parsed, PlxSpotCheckMeasurement)
        and parsed.timestamp is not None
        and not parsed.device_clock_not_set
    ):
        device_ns = device_time_ns(parsed.timestamp)
    args = (base, device_id, received, device_ns)
    _emit(out, codes.MDC_PULS_OXIM_SAT_O2, parsed.spo2_percent, *args)
    _emit(out, codes.MDC_PULS_OXIM_PULS_RATE, parsed.pulse_rate_bpm, *args)
    if isinstance(parsed, PlxContinuousMeasurement):
        _emit(out, metrics.EDGETWIN_BLE_SPO2_FAST, parsed.spo2_fast_percent, *args)
        _emit(out, metrics.EDGETWIN_BLE_PR_FAST, parsed.pulse_rate_fast_bpm, *args)
        _emit(out, metrics.EDGETWIN_BLE_SPO2_SLOW, parsed.spo2_slow_percent, *args)
        _emit(out, metrics.EDGETWIN_BLE_PR_SLOW, parsed.pulse_rate_slow_bpm, *args)
    _emit(out, codes.MDC_PULS_OXIM_PERF_REL, parsed.pulse_amplitude_index_percent, *args)
    return out
