"""One ``to_measurements`` for any parsed BLE value: dispatches on the parsed type.

Values without numeric content (features, locations, device information, RACP, time
characteristics) give an empty list; an object this package did not produce raises
TypeError. Profile-specific options (thermometer site, CGM session start and glucose
type) are on the profile modules' own ``to_measurements``.
"""

from __future__ import annotations

from drivers.ble import (
    battery,
    blood_pressure,
    cgm,
    date_time,
    device_info,
    glucose,
    heart_rate,
    plx,
    racp,
    thermometer,
    weight,
)
from gateway.model import Measurement, ReceiveTime

#: Parsed types that carry no measurement.
NON_NUMERIC: tuple[type, ...] = (
    heart_rate.BodySensorLocationValue,
    plx.PlxFeatures,
    blood_pressure.BloodPressureFeature,
    thermometer.TemperatureTypeValue,
    weight.WeightScaleFeature,
    cgm.CgmFeature,
    device_info.DeviceInformationString,
    date_time.DateTimeValue,
    date_time.CurrentTime,
    racp.RacpResponse,
    racp.RacpNumberOfRecords,
    racp.RacpRequest,
)


def to_measurements(parsed: object, device_id: str, received: ReceiveTime) -> list[Measurement]:
    """Every numeric field of ``parsed`` as a Measurement (MDC code, UCUM unit, quality)."""
    match parsed:
        case heart_rate.HeartRateMeasurement():
            return heart_rate.to_measurements(parsed, device_id, received)
        case plx.PlxSpotCheckMeasurement() | plx.PlxContinuousMeasurement():
            return plx.to_measurements(parsed, device_id, received)
        case blood_pressure.BloodPressureMeasurement() | blood_pressure.IntermediateCuffPressure():
            return blood_pressure.to_measurements(parsed, device_id, received)
        case thermometer.TemperatureMeasurement():
            return thermometer.to_measurements(parsed, device_id, received)
        case weight.WeightMeasurement():
            return weight.to_measurements(parsed, device_id, received)
        case glucose.GlucoseMeasurement() | glucose.GlucoseMeasurementContext():
            return glucose.to_measurements(parsed, device_id, received)
        case cgm.CgmMeasurement():
            return cgm.to_measurements(parsed, device_id, received)
        case battery.BatteryLevel():
            return battery.to_measurements(parsed, device_id, received)
        case _ if isinstance(parsed, NON_NUMERIC):
            return []
    raise TypeError(f"not a parsed BLE value: {type(parsed).__name__}")
