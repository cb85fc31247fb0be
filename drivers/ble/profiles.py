"""Which characteristics each health profile streams, how it delivers stored data, and decoding.

A :class:`Profile` names its service, the characteristics to subscribe to, the ones to read
once for context (features, sensor site), and its :class:`Delivery`:

* ``CONTINUOUS``: notifications stream while connected (heart rate, PLX continuous, CGM);
  silence longer than ``silence_timeout_s`` means the device stalled.
* ``SPOT_CHECK``: the device indicates the measurements it stored since the last transfer
  when a client subscribes, then usually closes the link (BLS cuffs, HTS thermometers,
  WSS scales). Records are deduplicated by device time stamp.
* ``RACP``: records are fetched with the Record Access Control Point, "report stored
  records with sequence number >= N+1" (GLS glucose meters).

:class:`ProfileDecoder` turns one characteristic value into records for one session,
keeping what was read on connect (temperature site, CGM feature and session start).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from drivers.ble import (
    cgm,
    thermometer,
    uuids,
)
from drivers.ble import measurements as ble_measurements
from drivers.ble.date_time import device_time_ns, parse_date_time
from drivers.ble.decode import PARSERS  # the one characteristic -> parser table
from gateway.model import Measurement, ReceiveTime

CGM_SESSION_START_TIME = 0x2AAA


class Delivery(enum.Enum):
    CONTINUOUS = "continuous"
    SPOT_CHECK = "spot_check"
    RACP = "racp"


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    service: int
    streams: tuple[int, ...]  # characteristics to subscribe to (those present)
    delivery: Delivery
    reads: tuple[int, ...] = ()  # read once on connect when present
    stored: tuple[int, ...] = ()  # characteristics whose values are stored records
    silence_timeout_s: float | None = None  # continuous profiles: default stall limit


PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        Profile(
            "heart_rate",
            uuids.HEART_RATE_SERVICE,
            (uuids.HEART_RATE_MEASUREMENT,),
            Delivery.CONTINUOUS,
            reads=(uuids.BODY_SENSOR_LOCATION,),
            silence_timeout_s=5.0,
        ),
        Profile(
            "plx",
            uuids.PULSE_OXIMETER_SERVICE,
            (uuids.PLX_CONTINUOUS_MEASUREMENT, uuids.PLX_SPOT_CHECK_MEASUREMENT),
            Delivery.CONTINUOUS,
            reads=(uuids.PLX_FEATURES,),
            silence_timeout_s=5.0,
        ),
        Profile(
            "cgm",
            uuids.CGM_SERVICE,
            (uuids.CGM_MEASUREMENT,),
            Delivery.CONTINUOUS,
            reads=(uuids.CGM_FEATURE, CGM_SESSION_START_TIME),
            silence_timeout_s=None,  # one record every few minutes
        ),
        Profile(
            "blood_pressure",
            uuids.BLOOD_PRESSURE_SERVICE,
            (uuids.BLOOD_PRESSURE_MEASUREMENT, uuids.INTERMEDIATE_CUFF_PRESSURE),
            Delivery.SPOT_CHECK,
            reads=(uuids.BLOOD_PRESSURE_FEATURE,),
            stored=(uuids.BLOOD_PRESSURE_MEASUREMENT,),
        ),
        Profile(
            "thermometer",
            uuids.HEALTH_THERMOMETER_SERVICE,
            (uuids.TEMPERATURE_MEASUREMENT, uuids.INTERMEDIATE_TEMPERATURE),
            Delivery.SPOT_CHECK,
            reads=(uuids.TEMPERATURE_TYPE,),
            stored=(uuids.TEMPERATURE_MEASUREMENT,),
        ),
        Profile(
            "weight",
            uuids.WEIGHT_SCALE_SERVICE,
            (uuids.WEIGHT_MEASUREMENT,),
            Delivery.SPOT_CHECK,
            reads=(uuids.WEIGHT_SCALE_FEATURE,),
            stored=(uuids.WEIGHT_MEASUREMENT,),
        ),
        Profile(
            "glucose",
            uuids.GLUCOSE_SERVICE,
            (uuids.GLUCOSE_MEASUREMENT, uuids.GLUCOSE_MEASUREMENT_CONTEXT),
            Delivery.RACP,
            stored=(uuids.GLUCOSE_MEASUREMENT, uuids.GLUCOSE_MEASUREMENT_CONTEXT),
        ),
    )
}


def detect(services: Iterable[int]) -> Profile | None:
    """The profile whose service is among ``services`` (first in :data:`PROFILES` order)."""
    found = set(services)
    return next((p for p in PROFILES.values() if p.service in found), None)


@dataclass
class ProfileDecoder:
    """Per-session decoding of one profile's values into records."""

    profile: Profile
    device_id: str
    temperature_site: thermometer.TemperatureType | None = None
    cgm_crc: bool = False
    cgm_session_start: datetime | None = None
    context: dict[int, object] = field(default_factory=dict)

    def learn(self, uuid16: int, data: bytes) -> object | None:
        """Remember a value read on connect; returns what was parsed (None if not parsed)."""
        if uuid16 == CGM_SESSION_START_TIME:
            # Session Start Time: Date Time + time zone + DST offset (ignored here).
            stamp = parse_date_time(data[:7]).timestamp if len(data) >= 7 else None
            self.cgm_session_start = stamp
            return stamp
        parser = PARSERS.get(uuid16)
        if parser is None:
            return None
        parsed = parser(data)
        self.context[uuid16] = parsed
        if isinstance(parsed, thermometer.TemperatureTypeValue):
            self.temperature_site = parsed.temperature_type
        elif isinstance(parsed, cgm.CgmFeature):
            self.cgm_crc = parsed.e2e_crc_supported
        return parsed

    def parse(self, uuid16: int, data: bytes) -> object:
        """Parse a streamed value (raises the parser's ParseError)."""
        if uuid16 == uuids.CGM_MEASUREMENT:
            return cgm.parse_cgm_measurement(data, self.cgm_crc)
        parser = PARSERS.get(uuid16)
        if parser is None:
            raise KeyError(f"no parser for 0x{uuid16:04X}")
        return parser(data)

    def records(self, parsed: object, received: ReceiveTime) -> list[Measurement]:
        """Measurements of one parsed value, with this session's context applied."""
        if isinstance(parsed, thermometer.TemperatureMeasurement):
            return thermometer.to_measurements(
                parsed, self.device_id, received, self.temperature_site
            )
        if isinstance(parsed, cgm.CgmMeasurement):
            return cgm.to_measurements(
                parsed, self.device_id, received, session_start=self.cgm_session_start
            )
        return ble_measurements.to_measurements(parsed, self.device_id, received)


def stored_key(parsed: object) -> int | None:
    """Device time (ns) of a spot-check measurement, the key stored records are deduplicated by."""
    stamp = getattr(parsed, "timestamp", None)
    if isinstance(stamp, datetime):
        return device_time_ns(stamp)
    return None
