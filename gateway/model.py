"""Typed, immutable records that flow from drivers to the broker.

Every record names its ``stream_id`` and carries ``seq``, the persistent 64-bit per-stream
sequence number. Drivers create records with ``seq=None``; the buffer stamps the number in
the same SQLite transaction that stores the record, so numbers are gap-free and survive
restarts. Time is kept twice: the device's own clock (when it sends one) and the gateway's
receive time as UTC wall clock plus monotonic clock.
"""

from __future__ import annotations

import enum
import math
import time
from dataclasses import dataclass, field
from typing import ClassVar, TypeAlias

import numpy as np
import numpy.typing as npt

SEQ_MAX = 2**63 - 1  # fits SQLite's signed 64-bit INTEGER


class Quality(enum.IntFlag):
    """Quality flags of a value. No flag set means valid."""

    QUESTIONABLE = 0x0001
    INVALID = 0x0002
    UNAVAILABLE = 0x0004
    CALIBRATING = 0x0008
    DEMO = 0x0010
    ARTIFACT = 0x0020
    TEST = 0x0040
    OVER_RANGE = 0x0080
    UNDER_RANGE = 0x0100
    NOT_UPDATED = 0x0200
    CLOCK_STEPPED = 0x0400

    @classmethod
    def from_names(cls, names: list[str]) -> Quality:
        q = cls(0)
        for name in names:
            q |= cls[name.upper()]
        return q

    def names(self) -> list[str]:
        """Lower-case flag names, ``[]`` for a valid value (cached: called per sample)."""
        cached = _QUALITY_NAMES.get(int(self))
        if cached is None:
            cached = [f.name.lower() for f in Quality if f in self and f.name is not None]
            _QUALITY_NAMES[int(self)] = cached
        return list(cached)


_QUALITY_NAMES: dict[int, list[str]] = {}


VALID = Quality(0)
#: Flags that explain why a value is missing (a NaN value needs one of them).
MISSING_REASONS = (
    Quality.INVALID
    | Quality.UNAVAILABLE
    | Quality.CALIBRATING
    | Quality.ARTIFACT
    | Quality.OVER_RANGE
    | Quality.UNDER_RANGE
    | Quality.NOT_UPDATED
)


class AlarmPriority(enum.IntEnum):
    """IEC 60601-1-8 alarm priorities; lower value is more urgent."""

    HIGH = 1
    MEDIUM = 2
    LOW = 3


class AlarmKind(enum.Enum):
    PHYSIOLOGICAL = "physiological"
    TECHNICAL = "technical"


class EventKind(enum.Enum):
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    BATTERY = "battery"
    TECHNICAL_ALARM = "technical_alarm"
    CLOCK_STEP = "clock_step"


@dataclass(frozen=True, slots=True)
class ReceiveTime:
    """When the gateway received something: UTC wall clock and monotonic clock, in ns."""

    wall_ns: int
    mono_ns: int

    @classmethod
    def now(cls) -> ReceiveTime:
        return cls(time.time_ns(), time.monotonic_ns())


@dataclass(frozen=True, slots=True)
class Measurement:
    """One numeric value of one metric from one device."""

    kind: ClassVar[str] = "numeric"
    device_id: str
    stream_id: str
    mdc_code: int
    unit: str  # UCUM
    value: float
    quality: Quality
    received: ReceiveTime
    device_time_ns: int | None = None
    seq: int | None = None

    def __post_init__(self) -> None:
        if math.isnan(self.value) and not (self.quality & MISSING_REASONS):
            raise ValueError(
                f"{self.stream_id}: a NaN value needs a quality flag saying why it is missing"
            )
        _check_seq(self.seq)


@dataclass(frozen=True, slots=True, eq=False)
class WaveformChunk:
    """Consecutive samples of one waveform: ``physical = offset + gain * samples``."""

    kind: ClassVar[str] = "wave"
    device_id: str
    stream_id: str
    mdc_code: int
    unit: str
    start_ns: int  # time of the first sample (device clock if known, else receive time)
    sample_period_ns: int
    #: ADC counts (int16 or int32: 16-bit sources stay 16-bit, packed without a range
    #: check) or physical values (float64)
    samples: npt.NDArray[np.int16] | npt.NDArray[np.int32] | npt.NDArray[np.float64]
    received: ReceiveTime
    gain: float = 1.0
    offset: float = 0.0
    quality: Quality = VALID
    seq: int | None = None

    def __post_init__(self) -> None:
        if self.sample_period_ns <= 0:
            raise ValueError(f"{self.stream_id}: sample period must be positive")
        if self.samples.ndim != 1:
            raise ValueError(f"{self.stream_id}: samples must be one-dimensional")
        _check_seq(self.seq)

    def physical(self) -> npt.NDArray[np.float64]:
        return self.offset + self.gain * self.samples.astype(np.float64)


@dataclass(frozen=True, slots=True)
class DeviceEvent:
    """Something that happened to a device: connection, battery, technical alarm."""

    kind: ClassVar[str] = "event"
    device_id: str
    stream_id: str
    event: EventKind
    received: ReceiveTime
    detail: str = ""
    value: float | None = None
    seq: int | None = None

    def __post_init__(self) -> None:
        _check_seq(self.seq)


@dataclass(frozen=True, slots=True)
class Alarm:
    """An alarm condition with IEC 60601-1-8 priority and the values behind it."""

    kind: ClassVar[str] = "alarm"
    stream_id: str
    alarm_id: str
    patient_id: str
    priority: AlarmPriority
    alarm_kind: AlarmKind
    condition: str
    start_ns: int
    received: ReceiveTime
    end_ns: int | None = None
    values: tuple[tuple[str, float], ...] = field(default=())
    device_id: str = ""
    seq: int | None = None

    def __post_init__(self) -> None:
        _check_seq(self.seq)


@dataclass(frozen=True, slots=True, eq=False)
class TwinSnapshot:
    """The reported state of one patient twin at one instant (JSON-able mapping)."""

    kind: ClassVar[str] = "twin"
    stream_id: str
    patient_id: str
    state: dict[str, object]
    received: ReceiveTime
    seq: int | None = None

    def __post_init__(self) -> None:
        _check_seq(self.seq)


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A driver's resume position (e.g. the last RACP record fetched), not data for upstream.

    The buffer stores it in the same transaction as the batch it travels in, and records
    reach the buffer in the order the driver yields them; so once a checkpoint is durable,
    every record yielded before it is durable too, and a restart resumes exactly there.
    """

    kind: ClassVar[str] = "checkpoint"
    device_id: str
    stream_id: str
    key: str
    value: str  # JSON text, owned by the driver
    received: ReceiveTime
    seq: int | None = None


Record: TypeAlias = Measurement | WaveformChunk | DeviceEvent | Alarm | TwinSnapshot | Checkpoint

#: Buffer priority per record kind: lower goes upstream first, and is evicted last.
PRIORITY: dict[str, int] = {"alarm": 0, "twin": 1, "event": 2, "numeric": 3, "wave": 4}


def stream_id_for(device_id: str, metric: str) -> str:
    """The stream id of one metric of one device, e.g. ``bed01-oxi.150456``."""
    return f"{device_id}.{metric}"


def _check_seq(seq: int | None) -> None:
    if seq is not None and not 1 <= seq <= SEQ_MAX:
        raise ValueError(f"sequence number {seq} outside 1..2**63-1")
