"""to_measurements: MDC codes, UCUM units, quality flags, stream ids and device time."""

from __future__ import annotations

import math
from datetime import datetime

import pytest

from drivers.ble import (
    battery,
    blood_pressure,
    cgm,
    glucose,
    heart_rate,
    plx,
    thermometer,
    weight,
)
from drivers.ble.measurements import to_measurements
from drivers.ble.metrics import BLE_METRICS
from gateway import codes
from gateway.model import Measurement, Quality, ReceiveTime
from hil.ble import encoders

RECEIVED = ReceiveTime(wall_ns=1_700_000_000_000_000_000, mono_ns=42)
DEV = "bed01-ble"
STAMP = datetime(2024, 5, 20, 7, 30)  # noqa: DTZ001
STAMP_NS = 1_716_190_200 * 1_000_000_000  # 2024-05-20T07:30:00 counted as UTC


def by_code(ms: list[Measurement]) -> dict[int, list[Measurement]]:
    out: dict[int, list[Measurement]] = {}
    for m in ms:
        out.setdefault(m.mdc_code, []).append(m)
        assert m.stream_id == f"{DEV}.{m.mdc_code}"
        assert m.device_id == DEV and m.received == RECEIVED
        assert m.mdc_code in BLE_METRICS
    return out


def test_heart_rate() -> None:
    parsed = heart_rate.parse_heart_rate_measurement(
        encoders.heart_rate_measurement(72, contact=False, energy_kj=0xFFFF, rr_1024=[1024, 512])
    )
    ms = by_code(to_measurements(parsed, DEV, RECEIVED))
    (hr,) = ms[147842]
    assert (hr.value, hr.unit, hr.quality) == (72, "/min", Quality.QUESTIONABLE)  # no contact
    assert [m.value for m in ms[147240]] == [1000.0, 500.0]  # RR in ms
    assert ms[147240][0].unit == "ms"
    (energy,) = ms[1024 << 16 | 0x0101]
    assert energy.quality == Quality.OVER_RANGE and energy.unit == "kJ"
    assert hr.device_time_ns is None


def test_blood_pressure_special_values_and_status() -> None:
    parsed = blood_pressure.parse_blood_pressure_measurement(
        encoders.blood_pressure_measurement(
            120, 80, "nan", kpa=False, timestamp=STAMP, pulse_rate="+inf",
            status=encoders.bp_status(cuff_too_loose=True),
        )
    )  # fmt: skip
    ms = by_code(to_measurements(parsed, DEV, RECEIVED))
    sys_, dia, mean = ms[150021][0], ms[150022][0], ms[150023][0]
    assert (sys_.value, sys_.unit, sys_.quality) == (120, "mm[Hg]", Quality.QUESTIONABLE)
    assert dia.value == 80
    assert math.isnan(mean.value) and mean.quality == Quality.QUESTIONABLE | Quality.INVALID
    pulse = ms[149546][0]
    assert math.isnan(pulse.value) and Quality.OVER_RANGE in pulse.quality
    assert sys_.device_time_ns == STAMP_NS


def test_intermediate_cuff_pressure_kpa() -> None:
    parsed = blood_pressure.parse_intermediate_cuff_pressure(
        encoders.intermediate_cuff_pressure((185, -1), kpa=True)
    )
    (cuff,) = to_measurements(parsed, DEV, RECEIVED)
    assert (cuff.mdc_code, cuff.value, cuff.unit) == (150300, 18.5, "kPa")


def test_plx_status_quality_and_clock_not_set() -> None:
    parsed = plx.parse_plx_spot_check(
        encoders.plx_spot_check(
            98, 72, timestamp=STAMP, measurement_status=1 << 11, device_sensor_status=1 << 15,
            pai="-inf", clock_not_set=True,
        )
    )  # fmt: skip
    ms = by_code(to_measurements(parsed, DEV, RECEIVED))
    spo2 = ms[codes.MDC_PULS_OXIM_SAT_O2.mdc_code][0]
    assert spo2.value == 98 and spo2.unit == "%"
    assert spo2.quality == Quality.TEST | Quality.UNAVAILABLE  # testing data, sensor disconnected
    assert spo2.device_time_ns is None  # clock not set: the timestamp is not trusted
    pai = ms[codes.MDC_PULS_OXIM_PERF_REL.mdc_code][0]
    assert math.isnan(pai.value) and Quality.UNDER_RANGE in pai.quality


def test_plx_continuous_fast_slow_private_codes() -> None:
    parsed = plx.parse_plx_continuous(encoders.plx_continuous(97, 60, fast=(96, 61), slow=(95, 59)))
    ms = by_code(to_measurements(parsed, DEV, RECEIVED))
    assert ms[150456][0].value == 97 and ms[149530][0].value == 60
    assert ms[1024 << 16 | 0x0102][0].value == 96 and ms[1024 << 16 | 0x0103][0].value == 61
    assert ms[1024 << 16 | 0x0104][0].value == 95 and ms[1024 << 16 | 0x0105][0].value == 59


@pytest.mark.parametrize(
    ("kind", "code"),
    [(None, 150364), (1, 188452), (2, 150364), (6, 188424), (7, 188420), (9, 150392)],
)
def test_temperature_site_codes(kind: int | None, code: int) -> None:
    parsed = thermometer.parse_temperature_measurement(
        encoders.temperature_measurement((3760, -2), temperature_type=kind, timestamp=STAMP)
    )
    (t,) = to_measurements(parsed, DEV, RECEIVED)
    assert (t.mdc_code, t.value, t.unit, t.quality) == (code, 37.6, "Cel", Quality(0))
    assert t.device_time_ns == STAMP_NS


def test_temperature_static_site_and_intermediate() -> None:
    parsed = thermometer.parse_intermediate_temperature(
        encoders.intermediate_temperature((997, -1), fahrenheit=True)
    )
    (t,) = thermometer.to_measurements(
        parsed, DEV, RECEIVED, site=thermometer.TemperatureType.MOUTH
    )
    assert (t.mdc_code, t.value, t.unit, t.quality) == (
        188424,
        99.7,
        "[degF]",
        Quality.QUESTIONABLE,
    )


def test_weight() -> None:
    parsed = weight.parse_weight_measurement(
        encoders.weight_measurement(14008, bmi_height_raw=(229, 1758), timestamp=STAMP)
    )
    ms = by_code(to_measurements(parsed, DEV, RECEIVED))
    assert (ms[188736][0].value, ms[188736][0].unit) == (70.04, "kg")
    assert (ms[188752][0].value, ms[188752][0].unit) == (22.9, "kg/m2")
    assert (ms[188740][0].value, ms[188740][0].unit) == (1.758, "m")
    failed = weight.parse_weight_measurement(encoders.weight_measurement(0xFFFF, imperial=True))
    (w,) = to_measurements(failed, DEV, RECEIVED)
    assert math.isnan(w.value) and w.quality == Quality.INVALID and w.unit == "[lb_av]"


def test_glucose_units_types_and_time() -> None:
    parsed = glucose.parse_glucose_measurement(
        encoders.glucose_measurement(
            3, STAMP, time_offset_min=-30, concentration=(95, -5), glucose_type=2,
            sensor_status=1 << 6,
        )
    )  # fmt: skip
    (g,) = to_measurements(parsed, DEV, RECEIVED)
    assert (g.mdc_code, g.value, g.unit) == (160188, 95.0, "mg/dL")  # capillary plasma
    assert g.quality == Quality.UNDER_RANGE  # below the device's range
    assert g.device_time_ns == STAMP_NS - 30 * 60 * 1_000_000_000
    control = glucose.parse_glucose_measurement(
        encoders.glucose_measurement(
            4, STAMP, concentration=(54, -4), mol_per_l=True, glucose_type=10, sample_location=4
        )
    )
    (c,) = to_measurements(control, DEV, RECEIVED)
    assert (c.mdc_code, c.value, c.unit, c.quality) == (160208, 5.4, "mmol/L", Quality.TEST)
    empty = glucose.parse_glucose_measurement(encoders.glucose_measurement(5, STAMP))
    assert to_measurements(empty, DEV, RECEIVED) == []


def test_glucose_context() -> None:
    parsed = glucose.parse_glucose_measurement_context(
        encoders.glucose_measurement_context(
            3, carbohydrate=(2, (50, -3)), exercise=(0xFFFF, 40), medication=(4, (5, -6)),
            hba1c=(57, -1),
        )
    )  # fmt: skip
    ms = by_code(to_measurements(parsed, DEV, RECEIVED))
    carbs = ms[128 << 16 | 29164][0]  # lunch
    assert (carbs.value, carbs.unit) == (50.0, "g")
    assert ms[128 << 16 | 29152][0].value == 40  # exercise intensity %
    duration = ms[1024 << 16 | 0x0106][0]
    assert math.isnan(duration.value) and duration.quality == Quality.OVER_RANGE  # overrun
    med = ms[128 << 16 | 29204][0]  # long-acting insulin
    assert (med.value, med.unit) == (5.0, "mg")
    assert ms[160220][0].value == 5.7


def test_cgm_records_and_session_start() -> None:
    parsed = cgm.parse_cgm_measurement(
        encoders.cgm_measurement(
            [
                encoders.cgm_record(120, 5, warning_octet=0x80, trend=(-15, -1)),
                encoders.cgm_record("nres", 10, quality=90),
            ]
        ),
        crc_present=False,
    )
    ms = cgm.to_measurements(parsed, DEV, RECEIVED, session_start=STAMP)
    codes_seen = [m.mdc_code for m in ms]
    assert codes_seen == [160212, 1024 << 16 | 0x0107, 160212, 1024 << 16 | 0x0108]
    first, trend, second, quality = ms
    assert first.value == 120 and first.quality == Quality.OVER_RANGE
    assert trend.value == -1.5 and trend.unit == "mg/dL/min"
    assert first.device_time_ns == STAMP_NS + 5 * 60 * 1_000_000_000
    assert math.isnan(second.value) and second.quality == Quality.UNAVAILABLE
    assert quality.value == 90
    assert all(m.device_time_ns is None for m in to_measurements(parsed, DEV, RECEIVED))


def test_battery_and_non_numeric() -> None:
    (b,) = to_measurements(battery.parse_battery_level(bytes([87])), DEV, RECEIVED)
    assert (b.mdc_code, b.value, b.unit) == (67996, 87, "%")
    assert to_measurements(heart_rate.parse_body_sensor_location(bytes([1])), DEV, RECEIVED) == []
    with pytest.raises(TypeError):
        to_measurements(object(), DEV, RECEIVED)
