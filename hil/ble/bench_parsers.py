"""Parser throughput per BLE characteristic versus a bare ``struct`` unpack of the same bytes.

Run: ``PYTHONPATH=. python -m hil.ble.bench_parsers [--seconds 0.3]``. For each
characteristic one typical value (built with :mod:`hil.ble.encoders`) is parsed in a loop
and, in the same run, unpacked with a precompiled :class:`struct.Struct` laid out like the
value (no validation, no objects). It prints values per second for both and the ratio
(how many times slower the full parser is). Best of three timings each; figures are
wall-clock on this machine and only comparable within one run.
"""

from __future__ import annotations

import argparse
import struct
import time
from collections.abc import Callable
from datetime import datetime

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
    uuids,
    weight,
)
from hil.ble import encoders

STAMP = datetime(2024, 5, 20, 7, 30)  # noqa: DTZ001 - device local time
_CGM_RECORD = encoders.cgm_record(
    120, 5, status_octet=1, cal_temp_octet=0, warning_octet=0, trend=(-15, -1), quality=95
)

#: name, parser, value, struct layout of the value.
CASES: list[tuple[str, Callable[[bytes], object], bytes, str]] = [
    (
        "0x2A37 HR (uint8, 2 RR)",
        heart_rate.parse_heart_rate_measurement,
        encoders.heart_rate_measurement(72, contact=True, rr_1024=[800, 810]),
        "<BBHH",
    ),
    (
        "0x2A5E PLX spot-check (all)",
        plx.parse_plx_spot_check,
        encoders.plx_spot_check(
            98, 72, timestamp=STAMP, measurement_status=0x80, device_sensor_status=0, pai=2.5
        ),
        "<BHHHBBBBBH3sH",
    ),
    (
        "0x2A5F PLX continuous (fast+slow)",
        plx.parse_plx_continuous,
        encoders.plx_continuous(97, 60, fast=(96, 61), slow=(97, 59)),
        "<BHHHHHH",
    ),
    (
        "0x2A35 BP (all fields)",
        blood_pressure.parse_blood_pressure_measurement,
        encoders.blood_pressure_measurement(
            120, 80, 93, timestamp=STAMP, pulse_rate=70, user_id=1, status=0
        ),
        "<BHHHHBBBBBHBH",
    ),
    (
        "0x2A36 intermediate cuff",
        blood_pressure.parse_intermediate_cuff_pressure,
        encoders.intermediate_cuff_pressure(140),
        "<BHHH",
    ),
    (
        "0x2A1C temperature (time, type)",
        thermometer.parse_temperature_measurement,
        encoders.temperature_measurement(37.6, timestamp=STAMP, temperature_type=2),
        "<BIHBBBBBB",
    ),
    (
        "0x2A9D weight (all fields)",
        weight.parse_weight_measurement,
        encoders.weight_measurement(14008, timestamp=STAMP, user_id=1, bmi_height_raw=(229, 1758)),
        "<BHHBBBBBBHH",
    ),
    (
        "0x2A18 glucose (all fields)",
        glucose.parse_glucose_measurement,
        encoders.glucose_measurement(
            1, STAMP, time_offset_min=5, concentration=(95, -5), sensor_status=0
        ),
        "<BHHBBBBBhHBH",
    ),
    (
        "0x2A34 glucose context (all)",
        glucose.parse_glucose_measurement_context,
        encoders.glucose_measurement_context(
            1,
            extended_flags=0,
            carbohydrate=(1, (50, -3)),
            meal=1,
            tester_health=(1, 5),
            exercise=(600, 40),
            medication=(1, (5, -6)),
            hba1c=(57, -1),
        ),
        "<BHBBHBBHBBHH",
    ),
    (
        "0x2AA7 CGM (3 records, no CRC)",
        lambda d: cgm.parse_cgm_measurement(d, crc_present=False),
        encoders.cgm_measurement([_CGM_RECORD] * 3),
        "<" + "BBHHBBBHH" * 3,
    ),
    (
        "0x2AA7 CGM (1 record, E2E-CRC)",
        lambda d: cgm.parse_cgm_measurement(d, crc_present=True),
        encoders.cgm_record(120, 5, trend=(-15, -1), quality=95, crc=True),
        "<BBHHHHH",
    ),
    (
        "0x2A19 battery level",
        battery.parse_battery_level,
        encoders.battery_level(87),
        "<B",
    ),
    (
        "0x2A29 manufacturer name",
        lambda d: device_info.parse_device_information_string(uuids.MANUFACTURER_NAME, d),
        encoders.device_information_string("Acme Medical"),
        "<12s",
    ),
    (
        "0x2A2B current time",
        date_time.parse_current_time,
        encoders.current_time(STAMP),
        "<HBBBBBBBB",
    ),
    (
        "0x2A52 RACP response code",
        racp.parse_racp_response,
        encoders.racp_response_code(1, 1),
        "<BBBB",
    ),
]


def _rate(func: Callable[[bytes], object], data: bytes, seconds: float) -> float:
    """Best-of-three calls per second, each timing loop lasting about ``seconds``."""
    n = 1
    while True:  # calibrate the loop count
        start = time.perf_counter()
        for _ in range(n):
            func(data)
        elapsed = time.perf_counter() - start
        if elapsed >= seconds / 4:
            break
        n *= 2
    n = max(1, int(n * seconds / max(elapsed, 1e-9)))
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(n):
            func(data)
        best = min(best, time.perf_counter() - start)
    return n / best


def main(argv: list[str] | None = None) -> None:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--seconds", type=float, default=0.3, help="length of one timing loop")
    seconds = args.parse_args(argv).seconds
    print(f"{'characteristic':36} {'bytes':>5} {'parser/s':>11} {'struct/s':>11} {'ratio':>7}")
    for name, parser, data, layout in CASES:
        bare = struct.Struct(layout)
        assert bare.size == len(data), (
            f"{name}: layout {layout} is {bare.size} bytes, value {len(data)}"
        )
        parser(data)  # must parse
        parsed_rate = _rate(parser, data, seconds)
        bare_rate = _rate(bare.unpack, data, seconds)
        print(
            f"{name:36} {len(data):5d} {parsed_rate:11,.0f} {bare_rate:11,.0f} "
            f"{bare_rate / parsed_rate:6.1f}x"
        )


if __name__ == "__main__":
    main()
