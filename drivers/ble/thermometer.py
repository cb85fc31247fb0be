"""Health Thermometer: Temperature Measurement (0x2A1C), Intermediate (0x2A1E), Type (0x2A1D).

Flags: bit0 Fahrenheit (else Celsius), bit1 Time Stamp present, bit2 Temperature Type
present; bits3-7 reserved (ignored). Fields: Temperature (32-bit FLOAT), Time Stamp (7),
Temperature Type (u8: 1 armpit, 2 body, 3 ear (earlobe), 4 finger, 5 gastro-intestinal
tract, 6 mouth, 7 rectum, 8 toe, 9 tympanum; 0 and 10..255 reserved).

Errors: FramingError when shorter than the flags ask for or with trailing bytes;
FieldError for a reserved temperature type or an out-of-range time stamp.
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
from gateway.codes import Metric
from gateway.model import Measurement, Quality, ReceiveTime


class TemperatureUnit(enum.Enum):
    """The unit the flags select; the value is the UCUM code."""

    CELSIUS = "Cel"
    FAHRENHEIT = "[degF]"


class TemperatureType(enum.IntEnum):
    ARMPIT = 1
    BODY = 2
    EAR = 3
    FINGER = 4
    GASTRO_INTESTINAL_TRACT = 5
    MOUTH = 6
    RECTUM = 7
    TOE = 8
    TYMPANUM = 9


#: Measurement site -> IEEE 11073-10408 metric.
SITE_METRICS: dict[TemperatureType, Metric] = {
    TemperatureType.ARMPIT: metrics.MDC_TEMP_AXILLA,
    TemperatureType.BODY: codes.MDC_TEMP_BODY,
    TemperatureType.EAR: metrics.MDC_TEMP_EAR,
    TemperatureType.FINGER: metrics.MDC_TEMP_FINGER,
    TemperatureType.GASTRO_INTESTINAL_TRACT: metrics.MDC_TEMP_GIT,
    TemperatureType.MOUTH: metrics.MDC_TEMP_ORAL,
    TemperatureType.RECTUM: metrics.MDC_TEMP_RECT,
    TemperatureType.TOE: metrics.MDC_TEMP_TOE,
    TemperatureType.TYMPANUM: metrics.MDC_TEMP_TYMP,
}


@dataclass(frozen=True, slots=True)
class TemperatureTypeValue:
    """A Temperature Type characteristic (0x2A1D): the static measurement site."""

    temperature_type: TemperatureType


@dataclass(frozen=True, slots=True)
class TemperatureMeasurement:
    intermediate: bool  # True for 0x2A1E
    unit: TemperatureUnit
    temperature: MderFloat
    timestamp: datetime | None
    temperature_type: TemperatureType | None


def _read_type(r: Reader) -> TemperatureType:
    at = r.pos
    value = r.u8("temperature type")
    if not TemperatureType.ARMPIT <= value <= TemperatureType.TYMPANUM:
        raise r.field_error(at, f"temperature type {value} is reserved")
    return TemperatureType(value)


def _parse(
    source: str, intermediate: bool, data: bytes | bytearray | memoryview
) -> TemperatureMeasurement:
    r = Reader(source, data)
    flags = r.u8("flags")
    temperature = r.float32("temperature")
    stamp = read_date_time(r) if flags & 0x02 else None
    kind = _read_type(r) if flags & 0x04 else None
    r.end()
    unit = TemperatureUnit.FAHRENHEIT if flags & 0x01 else TemperatureUnit.CELSIUS
    return TemperatureMeasurement(intermediate, unit, temperature, stamp, kind)


def parse_temperature_measurement(data: bytes | bytearray | memoryview) -> TemperatureMeasurement:
    """Parse 0x2A1C (see module docstring for the errors raised)."""
    return _parse(uuids.source(uuids.TEMPERATURE_MEASUREMENT), False, data)


def parse_intermediate_temperature(data: bytes | bytearray | memoryview) -> TemperatureMeasurement:
    """Parse 0x2A1E (same layout as 0x2A1C)."""
    return _parse(uuids.source(uuids.INTERMEDIATE_TEMPERATURE), True, data)


def parse_temperature_type(data: bytes | bytearray | memoryview) -> TemperatureTypeValue:
    """Parse 0x2A1D. FramingError: not 1 byte. FieldError: reserved value."""
    r = Reader(uuids.source(uuids.TEMPERATURE_TYPE), data)
    kind = _read_type(r)
    r.end()
    return TemperatureTypeValue(kind)


def to_measurements(
    parsed: TemperatureMeasurement,
    device_id: str,
    received: ReceiveTime,
    site: TemperatureType | None = None,
) -> list[Measurement]:
    """The temperature (Cel or [degF]) under its site's MDC code.

    The site is the measurement's own Temperature Type, else ``site`` (the static value
    read from 0x2A1D), else MDC_TEMP_BODY. Intermediate (interim) readings share the
    stream of final ones and are marked QUESTIONABLE.
    """
    kind = parsed.temperature_type or site
    metric = codes.MDC_TEMP_BODY if kind is None else SITE_METRICS[kind]
    device_ns = None if parsed.timestamp is None else device_time_ns(parsed.timestamp)
    t = parsed.temperature
    quality = t.quality | (Quality.QUESTIONABLE if parsed.intermediate else Quality(0))
    return [
        metrics.measurement(
            metric, t.value, quality, device_id, received, device_ns, parsed.unit.value
        )
    ]
