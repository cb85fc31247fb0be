"""Encoders for Bluetooth SIG health-profile characteristic values, written from the specs.

They build the bytes a sensor sends, for tests (round trips through ``drivers.ble``) and for
emulated peripherals. They share no code with the parsers: layouts are re-expressed here
with :mod:`struct`. Numbers in SFLOAT/FLOAT fields are given as :data:`Number`:

* ``(mantissa, exponent)``: encoded exactly;
* a ``float``/``int``: the finest exponent whose mantissa fits is chosen (rounded);
* a :class:`Special` name (``"nan"``, ``"nres"``, ``"+inf"``, ``"-inf"``, ``"reserved"``).

Times are naive ``datetime`` (device local time) or ``None`` for "unknown" (all zeros).
Raw integer arguments (flags, status words, raw weights) are written as given.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from datetime import datetime
from typing import Literal

Special = Literal["nan", "nres", "+inf", "-inf", "reserved"]
Number = tuple[int, int] | float | Special

SFLOAT_SPECIAL: dict[str, int] = {
    "nan": 0x07FF,
    "nres": 0x0800,
    "+inf": 0x07FE,
    "-inf": 0x0802,
    "reserved": 0x0801,
}
FLOAT_SPECIAL: dict[str, int] = {
    "nan": 0x007FFFFF,
    "nres": 0x00800000,
    "+inf": 0x007FFFFE,
    "-inf": 0x00800002,
    "reserved": 0x00800001,
}


# --- IEEE 11073-20601 numbers ------------------------------------------------------------------


def _pick(value: float, exp_range: range, mantissa_max: int) -> tuple[int, int]:
    """Finest (mantissa, exponent) for ``value``; mantissas avoid the special-value band."""
    for exponent in exp_range:
        mantissa = round(value / 10.0**exponent)
        if abs(mantissa) <= mantissa_max:
            return mantissa, exponent
    raise ValueError(f"{value} does not fit")


def sfloat(value: Number) -> bytes:
    """Two bytes of an SFLOAT (exponent bits 15..12, mantissa bits 11..0, both signed)."""
    if isinstance(value, str):
        return struct.pack("<H", SFLOAT_SPECIAL[value])
    if isinstance(value, tuple):
        mantissa, exponent = value
    else:
        mantissa, exponent = _pick(float(value), range(-8, 8), 2045)
    if not (-2048 <= mantissa <= 2047 and -8 <= exponent <= 7):
        raise ValueError(f"SFLOAT mantissa {mantissa} / exponent {exponent} out of range")
    return struct.pack("<H", (exponent & 0xF) << 12 | (mantissa & 0xFFF))


def float32(value: Number) -> bytes:
    """Four bytes of a FLOAT (exponent byte 3, mantissa bytes 0..2, both signed)."""
    if isinstance(value, str):
        return struct.pack("<I", FLOAT_SPECIAL[value])
    if isinstance(value, tuple):
        mantissa, exponent = value
    else:
        mantissa, exponent = _pick(float(value), range(-128, 128), 0x7FFFFD)
    if not (-(2**23) <= mantissa < 2**23 and -128 <= exponent <= 127):
        raise ValueError(f"FLOAT mantissa {mantissa} / exponent {exponent} out of range")
    return struct.pack("<I", (exponent & 0xFF) << 24 | (mantissa & 0xFFFFFF))


def date_time(stamp: datetime | None) -> bytes:
    """Seven bytes of Date Time: year u16, month, day, hours, minutes, seconds (0 = unknown)."""
    if stamp is None:
        return bytes(7)
    return struct.pack(
        "<HBBBBB", stamp.year, stamp.month, stamp.day, stamp.hour, stamp.minute, stamp.second
    )


def _bits(*flags: bool) -> int:
    return sum(1 << i for i, flag in enumerate(flags) if flag)


# --- Heart Rate ------------------------------------------------------------------------------


def heart_rate_measurement(
    bpm: int,
    *,
    uint16: bool = False,
    contact: bool | None = None,
    energy_kj: int | None = None,
    rr_1024: Sequence[int] = (),
) -> bytes:
    """0x2A37. ``contact=None``: contact detection not supported."""
    contact_bits = 0 if contact is None else (3 if contact else 2)
    flags = (1 if uint16 else 0) | contact_bits << 1
    flags |= (8 if energy_kj is not None else 0) | (16 if rr_1024 else 0)
    out = bytearray([flags])
    out += struct.pack("<H" if uint16 else "<B", bpm)
    if energy_kj is not None:
        out += struct.pack("<H", energy_kj)
    for rr in rr_1024:
        out += struct.pack("<H", rr)
    return bytes(out)


def body_sensor_location(location: int) -> bytes:
    """0x2A38."""
    return bytes([location])


# --- Pulse oximeter ----------------------------------------------------------------------------


def plx_spot_check(
    spo2: Number,
    pr: Number,
    *,
    timestamp: datetime | None = None,
    with_timestamp: bool = False,
    measurement_status: int | None = None,
    device_sensor_status: int | None = None,
    pai: Number | None = None,
    clock_not_set: bool = False,
) -> bytes:
    """0x2A5E. The timestamp is sent when given or when ``with_timestamp`` (zeros if None)."""
    send_time = timestamp is not None or with_timestamp
    flags = _bits(
        send_time,
        measurement_status is not None,
        device_sensor_status is not None,
        pai is not None,
        clock_not_set,
    )
    out = bytes([flags]) + sfloat(spo2) + sfloat(pr)
    if send_time:
        out += date_time(timestamp)
    if measurement_status is not None:
        out += struct.pack("<H", measurement_status)
    if device_sensor_status is not None:
        out += device_sensor_status.to_bytes(3, "little")
    if pai is not None:
        out += sfloat(pai)
    return out


def plx_continuous(
    spo2: Number,
    pr: Number,
    *,
    fast: tuple[Number, Number] | None = None,
    slow: tuple[Number, Number] | None = None,
    measurement_status: int | None = None,
    device_sensor_status: int | None = None,
    pai: Number | None = None,
) -> bytes:
    """0x2A5F."""
    flags = _bits(
        fast is not None,
        slow is not None,
        measurement_status is not None,
        device_sensor_status is not None,
        pai is not None,
    )
    out = bytes([flags]) + sfloat(spo2) + sfloat(pr)
    for pair in (fast, slow):
        if pair is not None:
            out += sfloat(pair[0]) + sfloat(pair[1])
    if measurement_status is not None:
        out += struct.pack("<H", measurement_status)
    if device_sensor_status is not None:
        out += device_sensor_status.to_bytes(3, "little")
    if pai is not None:
        out += sfloat(pai)
    return out


def plx_features(
    features: int,
    *,
    measurement_status_support: int | None = None,
    device_sensor_status_support: int | None = None,
) -> bytes:
    """0x2A60. Bits 0 and 1 of ``features`` are set from the support masks given."""
    features = features & ~0x0003
    features |= _bits(
        measurement_status_support is not None, device_sensor_status_support is not None
    )
    out = struct.pack("<H", features)
    if measurement_status_support is not None:
        out += struct.pack("<H", measurement_status_support)
    if device_sensor_status_support is not None:
        out += device_sensor_status_support.to_bytes(3, "little")
    return out


# --- Blood pressure ----------------------------------------------------------------------------


def blood_pressure_measurement(
    systolic: Number,
    diastolic: Number,
    mean_arterial: Number,
    *,
    kpa: bool = False,
    timestamp: datetime | None = None,
    with_timestamp: bool = False,
    pulse_rate: Number | None = None,
    user_id: int | None = None,
    status: int | None = None,
) -> bytes:
    """0x2A35."""
    send_time = timestamp is not None or with_timestamp
    flags = _bits(kpa, send_time, pulse_rate is not None, user_id is not None, status is not None)
    out = bytes([flags]) + sfloat(systolic) + sfloat(diastolic) + sfloat(mean_arterial)
    if send_time:
        out += date_time(timestamp)
    if pulse_rate is not None:
        out += sfloat(pulse_rate)
    if user_id is not None:
        out += bytes([user_id])
    if status is not None:
        out += struct.pack("<H", status)
    return out


def intermediate_cuff_pressure(
    cuff: Number,
    *,
    kpa: bool = False,
    timestamp: datetime | None = None,
    with_timestamp: bool = False,
    pulse_rate: Number | None = None,
    user_id: int | None = None,
    status: int | None = None,
) -> bytes:
    """0x2A36: the unused diastolic and MAP fields are sent as NaN, as the spec asks."""
    return blood_pressure_measurement(
        cuff,
        "nan",
        "nan",
        kpa=kpa,
        timestamp=timestamp,
        with_timestamp=with_timestamp,
        pulse_rate=pulse_rate,
        user_id=user_id,
        status=status,
    )


def bp_status(
    *,
    body_movement: bool = False,
    cuff_too_loose: bool = False,
    irregular_pulse: bool = False,
    pulse_rate_range: int = 0,
    improper_position: bool = False,
) -> int:
    """The Measurement Status word of 0x2A35/0x2A36."""
    return (
        _bits(body_movement, cuff_too_loose, irregular_pulse)
        | pulse_rate_range << 3
        | (32 if improper_position else 0)
    )


def blood_pressure_feature(features: int) -> bytes:
    """0x2A49."""
    return struct.pack("<H", features)


# --- Thermometer -------------------------------------------------------------------------------


def temperature_measurement(
    temperature: Number,
    *,
    fahrenheit: bool = False,
    timestamp: datetime | None = None,
    with_timestamp: bool = False,
    temperature_type: int | None = None,
) -> bytes:
    """0x2A1C (and 0x2A1E, which has the same layout)."""
    send_time = timestamp is not None or with_timestamp
    flags = _bits(fahrenheit, send_time, temperature_type is not None)
    out = bytes([flags]) + float32(temperature)
    if send_time:
        out += date_time(timestamp)
    if temperature_type is not None:
        out += bytes([temperature_type])
    return out


intermediate_temperature = temperature_measurement


def temperature_type(kind: int) -> bytes:
    """0x2A1D."""
    return bytes([kind])


# --- Weight scale ------------------------------------------------------------------------------


def weight_measurement(
    weight_raw: int,
    *,
    imperial: bool = False,
    timestamp: datetime | None = None,
    with_timestamp: bool = False,
    user_id: int | None = None,
    bmi_height_raw: tuple[int, int] | None = None,
) -> bytes:
    """0x2A9D. ``weight_raw`` in 0.005 kg / 0.01 lb (0xFFFF unsuccessful); BMI 0.1 kg/m2, height
    0.001 m / 0.1 in."""
    send_time = timestamp is not None or with_timestamp
    flags = _bits(imperial, send_time, user_id is not None, bmi_height_raw is not None)
    out = struct.pack("<BH", flags, weight_raw)
    if send_time:
        out += date_time(timestamp)
    if user_id is not None:
        out += bytes([user_id])
    if bmi_height_raw is not None:
        out += struct.pack("<HH", *bmi_height_raw)
    return out


def kg_to_raw(kg: float) -> int:
    """Weight field value for ``kg`` (0.005 kg steps)."""
    return round(kg * 200)


def weight_scale_feature(
    *,
    time_stamp: bool = False,
    multiple_users: bool = False,
    bmi: bool = False,
    weight_resolution: int = 0,
    height_resolution: int = 0,
) -> bytes:
    """0x2A9E (resolution indexes as in the spec: 0 unspecified, 1.. finer and finer)."""
    value = _bits(time_stamp, multiple_users, bmi) | weight_resolution << 3 | height_resolution << 7
    return struct.pack("<I", value)


# --- Glucose -----------------------------------------------------------------------------------


def glucose_measurement(
    sequence_number: int,
    base_time: datetime | None,
    *,
    time_offset_min: int | None = None,
    concentration: Number | None = None,
    mol_per_l: bool = False,
    glucose_type: int = 1,
    sample_location: int = 1,
    sensor_status: int | None = None,
    context_follows: bool = False,
) -> bytes:
    """0x2A18. ``concentration`` in kg/L (or mol/L with ``mol_per_l``)."""
    flags = _bits(
        time_offset_min is not None,
        concentration is not None,
        mol_per_l,
        sensor_status is not None,
        context_follows,
    )
    out = struct.pack("<BH", flags, sequence_number) + date_time(base_time)
    if time_offset_min is not None:
        out += struct.pack("<h", time_offset_min)
    if concentration is not None:
        out += sfloat(concentration) + bytes([sample_location << 4 | glucose_type])
    if sensor_status is not None:
        out += struct.pack("<H", sensor_status)
    return out


def glucose_measurement_context(
    sequence_number: int,
    *,
    extended_flags: int | None = None,
    carbohydrate: tuple[int, Number] | None = None,
    meal: int | None = None,
    tester_health: tuple[int, int] | None = None,
    exercise: tuple[int, int] | None = None,
    medication: tuple[int, Number] | None = None,
    medication_litres: bool = False,
    hba1c: Number | None = None,
) -> bytes:
    """0x2A34. ``carbohydrate`` = (id, kg), ``tester_health`` = (tester, health),
    ``exercise`` = (duration s, intensity %), ``medication`` = (id, kg or L)."""
    flags = _bits(
        carbohydrate is not None,
        meal is not None,
        tester_health is not None,
        exercise is not None,
        medication is not None,
        medication_litres,
        hba1c is not None,
        extended_flags is not None,
    )
    out = struct.pack("<BH", flags, sequence_number)
    if extended_flags is not None:
        out += bytes([extended_flags])
    if carbohydrate is not None:
        out += bytes([carbohydrate[0]]) + sfloat(carbohydrate[1])
    if meal is not None:
        out += bytes([meal])
    if tester_health is not None:
        out += bytes([tester_health[1] << 4 | tester_health[0]])
    if exercise is not None:
        out += struct.pack("<HB", *exercise)
    if medication is not None:
        out += bytes([medication[0]]) + sfloat(medication[1])
    if hba1c is not None:
        out += sfloat(hba1c)
    return out


# --- CGM ---------------------------------------------------------------------------------------


def crc16_mcrf4xx(data: bytes) -> int:
    """E2E-CRC of CGMS: CRC-CCITT polynomial x^16+x^12+x^5+1, LSB first, seed 0xFFFF."""
    crc = 0xFFFF
    for byte in data:
        for bit in range(8):
            mix = (crc ^ (byte >> bit)) & 1
            crc >>= 1
            if mix:
                crc ^= 0x8408
    return crc


def cgm_record(
    glucose_mg_dl: Number,
    time_offset_min: int,
    *,
    status_octet: int | None = None,
    cal_temp_octet: int | None = None,
    warning_octet: int | None = None,
    trend: Number | None = None,
    quality: Number | None = None,
    crc: bool = False,
    size: int | None = None,
) -> bytes:
    """One CGM Measurement record. Octets go in flag-bit order 5 (status group, bits 0-7),
    6 (cal/temp, bits 8-15), 7 (warning, bits 16-23). ``size`` overrides the Size byte."""
    flags = _bits(trend is not None, quality is not None)
    flags |= (
        _bits(status_octet is not None, cal_temp_octet is not None, warning_octet is not None) << 5
    )
    body = bytes([flags]) + sfloat(glucose_mg_dl) + struct.pack("<H", time_offset_min)
    for octet in (status_octet, cal_temp_octet, warning_octet):
        if octet is not None:
            body += bytes([octet])
    if trend is not None:
        body += sfloat(trend)
    if quality is not None:
        body += sfloat(quality)
    length = 1 + len(body) + (2 if crc else 0)
    record = bytes([length if size is None else size]) + body
    if crc:
        record += struct.pack("<H", crc16_mcrf4xx(record))
    return record


def cgm_measurement(records: Sequence[bytes]) -> bytes:
    """0x2AA7: records back to back."""
    return b"".join(records)


def cgm_feature(features: int, glucose_type: int = 9, sample_location: int = 5) -> bytes:
    """0x2AA8: the E2E-CRC is computed when bit 12 (E2E-CRC supported) is set, else 0xFFFF."""
    body = features.to_bytes(3, "little") + bytes([sample_location << 4 | glucose_type])
    crc = crc16_mcrf4xx(body) if features & 1 << 12 else 0xFFFF
    return body + struct.pack("<H", crc)


# --- Battery, device information, time ---------------------------------------------------------


def battery_level(percent: int) -> bytes:
    """0x2A19."""
    return bytes([percent])


def device_information_string(text: str) -> bytes:
    """0x2A24..0x2A29: plain UTF-8, no terminator."""
    return text.encode("utf-8")


def current_time(
    stamp: datetime | None,
    *,
    day_of_week: int | None = None,
    fractions256: int = 0,
    adjust_reason: int = 0,
) -> bytes:
    """0x2A2B. ``day_of_week`` defaults to the date's own (1 Monday .. 7 Sunday, 0 unknown)."""
    if day_of_week is None:
        day_of_week = 0 if stamp is None else stamp.isoweekday()
    return date_time(stamp) + bytes([day_of_week, fractions256, adjust_reason])


# --- Record Access Control Point ---------------------------------------------------------------


def racp_response_code(request_op_code: int, response_code: int) -> bytes:
    """``06 00 <request op> <code>``."""
    return bytes([6, 0, request_op_code, response_code])


def racp_number_of_records(count: int) -> bytes:
    """``05 00 <u16 count>``."""
    return struct.pack("<BBH", 5, 0, count)
