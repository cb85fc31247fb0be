"""Decode one characteristic value to a JSON-able dict (backs ``edgetwin decode ble <uuid> <hex>``).

Keys are snake_case field names. Units are in the key (``heart_rate_bpm``) or beside the
value (``"unit": "mm[Hg]"``); SFLOAT/FLOAT numbers become ``{"value": 36.4, "special":
null}`` (``value`` null and ``special`` "nan", "nres", "+inf", "-inf" or "reserved" for
special values); flags are booleans, enumerations lower-case names, timestamps ISO 8601
(device local time, no zone). CGM Measurement values get ``crc_present`` inferred from the
first record's Size, since the CGM Feature is not at hand here.
"""

from __future__ import annotations

import dataclasses
import enum
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
from drivers.ble.ieee11073 import MderFloat

Parser = Callable[[bytes], object]


def _cgm(data: bytes) -> object:
    return cgm.parse_cgm_measurement(data, cgm.infer_crc_present(data))


def _dis(uuid16: int) -> Parser:
    return lambda data: device_info.parse_device_information_string(uuid16, data)


#: Characteristic (16-bit UUID) -> parser.
PARSERS: dict[int, Parser] = {
    uuids.HEART_RATE_MEASUREMENT: heart_rate.parse_heart_rate_measurement,
    uuids.BODY_SENSOR_LOCATION: heart_rate.parse_body_sensor_location,
    uuids.PLX_SPOT_CHECK_MEASUREMENT: plx.parse_plx_spot_check,
    uuids.PLX_CONTINUOUS_MEASUREMENT: plx.parse_plx_continuous,
    uuids.PLX_FEATURES: plx.parse_plx_features,
    uuids.BLOOD_PRESSURE_MEASUREMENT: blood_pressure.parse_blood_pressure_measurement,
    uuids.INTERMEDIATE_CUFF_PRESSURE: blood_pressure.parse_intermediate_cuff_pressure,
    uuids.BLOOD_PRESSURE_FEATURE: blood_pressure.parse_blood_pressure_feature,
    uuids.TEMPERATURE_MEASUREMENT: thermometer.parse_temperature_measurement,
    uuids.INTERMEDIATE_TEMPERATURE: thermometer.parse_intermediate_temperature,
    uuids.TEMPERATURE_TYPE: thermometer.parse_temperature_type,
    uuids.WEIGHT_MEASUREMENT: weight.parse_weight_measurement,
    uuids.WEIGHT_SCALE_FEATURE: weight.parse_weight_scale_feature,
    uuids.GLUCOSE_MEASUREMENT: glucose.parse_glucose_measurement,
    uuids.GLUCOSE_MEASUREMENT_CONTEXT: glucose.parse_glucose_measurement_context,
    uuids.CGM_MEASUREMENT: _cgm,
    uuids.CGM_FEATURE: cgm.parse_cgm_feature,
    uuids.BATTERY_LEVEL: battery.parse_battery_level,
    uuids.DATE_TIME: date_time.parse_date_time,
    uuids.CURRENT_TIME: date_time.parse_current_time,
    uuids.RECORD_ACCESS_CONTROL_POINT: racp.parse_racp,
    **{u: _dis(u) for u in device_info.STRING_CHARACTERISTICS},
}


def to_json(value: object) -> object:
    """JSON-able form of a parsed value (dataclasses become dicts, recursively)."""
    if isinstance(value, MderFloat):
        return {
            "value": value.value,
            "special": None if value.special is None else value.special.value,
        }
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, enum.IntEnum):
        return value.name.lower()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, tuple | list):
        return [to_json(item) for item in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    return value


def decode_characteristic(characteristic: str, data: bytes) -> dict[str, object]:
    """Decode ``data`` as ``characteristic`` ("2a37", "0x2A37" or the 128-bit SIG UUID).

    Raises ValueError for an unknown or unsupported characteristic, and the parser's
    :class:`~gateway.errors.ParseError` subclass for a malformed value.
    """
    uuid16 = uuids.parse_uuid16(characteristic)
    parser = PARSERS.get(uuid16)
    if parser is None:
        supported = ", ".join(f"0x{u:04X}" for u in sorted(PARSERS))
        raise ValueError(
            f"unsupported characteristic {uuids.source(uuid16)}; supported: {supported}"
        )
    parsed = parser(bytes(data))
    body = to_json(parsed)
    assert isinstance(body, dict)  # every parser returns a dataclass
    out: dict[str, object] = {"characteristic": f"0x{uuid16:04X}", "name": uuids.NAMES[uuid16]}
    out.update((k, v) for k, v in body.items() if k not in out)
    if isinstance(parsed, cgm.CgmMeasurement):
        out["crc_present"] = cgm.infer_crc_present(data)
    return out
