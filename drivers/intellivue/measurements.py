"""IntelliVue observations to EdgeTwin records, timed by the monitor's own clock.

Poll results carry a relative time (u32, 1/8 ms ticks, wrapping after about 6.2 days) and
usually no usable absolute time. The MDS Create event gives both at one instant
(``NOM_ATTR_TIME_ABS`` and ``NOM_ATTR_TIME_REL``): :class:`Anchor` ties them together, and a
relative time becomes ``anchor.abs + (rel - anchor.rel) * 125 us``. The monitor's absolute
time is local wall time without a zone, so the anchor takes the monitor's UTC offset.

The poll's relative time is taken as the time of the first sample of each wave array in
that poll result (the Data Export guide gives one time stamp per poll result).
"""

from __future__ import annotations

import math
from calendar import timegm
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from drivers.intellivue import nomenclature
from drivers.intellivue.apdu import MdsCreateEvent
from drivers.intellivue.attributes import (
    TICK_NS,
    AlertType,
    NumericObservation,
    Observation,
    SaSpec,
    ScaleSpec,
    WaveObservation,
)
from gateway.model import (
    MISSING_REASONS,
    AlarmPriority,
    Measurement,
    Quality,
    ReceiveTime,
    WaveformChunk,
    stream_id_for,
)

_WRAP = 1 << 32


@dataclass(frozen=True, slots=True)
class Anchor:
    """The monitor clock: ``abs_ns`` (UTC epoch ns) was the time at relative time ``rel_time``."""

    abs_ns: int
    rel_time: int

    @classmethod
    def from_mds(cls, event: MdsCreateEvent, utc_offset_s: int = 0) -> Anchor | None:
        """Anchor from an MDS Create event; ``None`` if it lacks either time."""
        if event.abs_time is None or event.rel_time is None:
            return None
        local = event.abs_time.to_datetime()
        seconds = timegm(local.timetuple()) - utc_offset_s
        abs_ns = seconds * 1_000_000_000 + local.microsecond * 1_000
        return cls(abs_ns, event.rel_time)

    def device_ns(self, rel_time: int) -> int:
        """UTC epoch ns of a relative time; a wrap of the 32-bit counter is handled."""
        delta = (rel_time - self.rel_time) % _WRAP
        if delta >= _WRAP // 2:
            delta -= _WRAP
        return self.abs_ns + delta * TICK_NS


@dataclass(frozen=True, slots=True)
class _Static:
    sample_period: int | None
    sa_spec: SaSpec | None
    scale: ScaleSpec | None
    unit_code: int | None


@dataclass(frozen=True, slots=True)
class _Held:
    """A wave array that came before its object's sample period, with its context."""

    obs: WaveObservation
    received: ReceiveTime
    anchor: Anchor | None


class WaveAttributeCache:
    """Static wave attributes per (context, handle), for polls that do not repeat them.

    Bounded: the least recently seen object is forgotten beyond ``max_objects``. A wave
    array whose sample period is not known yet (the result that carried the static
    attributes was lost, say to line noise right after an association) is held, up to
    ``max_held`` arrays in all, and becomes a chunk as soon as a later result of the same
    object brings the period (the monitor repeats its static attributes).
    """

    def __init__(self, max_objects: int = 256, max_held: int = 64) -> None:
        self.max_objects = max_objects
        self.max_held = max_held
        self._known: OrderedDict[tuple[int, int, int], _Static] = OrderedDict()
        self._held: list[tuple[tuple[int, int, int], _Held]] = []  # oldest first
        #: Wave arrays dropped because their sample period did not come in time.
        self.skipped = 0
        #: Wave arrays that waited for their sample period and were then delivered.
        self.recovered = 0

    @property
    def held(self) -> int:
        """Wave arrays waiting for their object's sample period."""
        return len(self._held)

    def resolve(self, obs: WaveObservation) -> _Static:
        key = (obs.context_id, obs.handle, obs.physio_id)
        old = self._known.get(key, _Static(None, None, None, None))
        new = _Static(
            obs.sample_period if obs.sample_period is not None else old.sample_period,
            obs.sa_spec if obs.sa_spec is not None else old.sa_spec,
            obs.scale if obs.scale is not None else old.scale,
            obs.unit_code if obs.unit_code is not None else old.unit_code,
        )
        self._known[key] = new
        self._known.move_to_end(key)
        while len(self._known) > self.max_objects:
            self._known.popitem(last=False)
        return new

    def hold(self, obs: WaveObservation, received: ReceiveTime, anchor: Anchor | None) -> None:
        """Keep ``obs`` until its sample period is known; beyond the bound the oldest held
        array is dropped (counted in :attr:`skipped`)."""
        self._held.append(
            ((obs.context_id, obs.handle, obs.physio_id), _Held(obs, received, anchor))
        )
        if len(self._held) > self.max_held:
            del self._held[0]
            self.skipped += 1

    def release(self, obs: WaveObservation) -> list[_Held]:
        """The arrays held for ``obs``'s object, oldest first (now that it has a period)."""
        key = (obs.context_id, obs.handle, obs.physio_id)
        held = [h for k, h in self._held if k == key]
        if held:
            self._held = [(k, h) for k, h in self._held if k != key]
            self.recovered += len(held)
        return held


def to_records(
    observations: Iterable[Observation],
    device_id: str,
    received: ReceiveTime,
    anchor: Anchor | None,
    cache: WaveAttributeCache | None = None,
) -> list[Measurement | WaveformChunk]:
    """Numerics become :class:`Measurement`, waves :class:`WaveformChunk`; alerts are skipped.

    Without an anchor, numerics have no device time and waves start at the receive time.
    A wave whose sample period is unknown (neither in this poll nor in ``cache``) cannot be
    timed yet: ``cache`` holds it, and the first result that brings the period returns it,
    just before that object's new array (see :class:`WaveAttributeCache`).
    """
    if cache is None:
        cache = WaveAttributeCache()
    out: list[Measurement | WaveformChunk] = []
    for obs in observations:
        if isinstance(obs, NumericObservation):
            out.append(_measurement(obs, device_id, received, anchor))
        elif isinstance(obs, WaveObservation):
            static = cache.resolve(obs)
            if not static.sample_period:
                cache.hold(obs, received, anchor)
                continue
            for held in cache.release(obs):
                out.append(_chunk(held.obs, static, device_id, held.received, held.anchor))
            out.append(_chunk(obs, static, device_id, received, anchor))
    return out


def _measurement(
    obs: NumericObservation, device_id: str, received: ReceiveTime, anchor: Anchor | None
) -> Measurement:
    mdc = nomenclature.mdc_code(obs.metric_id)
    quality = obs.quality
    value = math.nan if obs.value is None else obs.value
    if obs.value is None and not quality & MISSING_REASONS:
        quality |= Quality.INVALID
    return Measurement(
        device_id=device_id,
        stream_id=stream_id_for(device_id, str(mdc)),
        mdc_code=mdc,
        unit=nomenclature.ucum(obs.unit_code),
        value=value,
        quality=quality,
        received=received,
        device_time_ns=None if anchor is None else anchor.device_ns(obs.rel_time),
    )


def _chunk(
    obs: WaveObservation,
    static: _Static,
    device_id: str,
    received: ReceiveTime,
    anchor: Anchor | None,
) -> WaveformChunk:
    period = static.sample_period
    assert period, "callers hold arrays whose sample period is unknown"
    metric = obs.metric_id
    mdc = nomenclature.mdc_code(metric)
    samples = obs.samples.astype(np.int32)
    if static.sa_spec is not None and static.sa_spec.significant_bits < 16:
        samples &= (1 << static.sa_spec.significant_bits) - 1
    gain, offset = 1.0, 0.0
    if static.scale is not None:
        gain, offset = static.scale.gain_offset() or (gain, offset)
    unit_code = static.unit_code
    if unit_code is None:
        unit_code = nomenclature.default_unit_code(metric)
    return WaveformChunk(
        device_id=device_id,
        stream_id=stream_id_for(device_id, str(mdc)),
        mdc_code=mdc,
        unit="{unknown}" if unit_code is None else nomenclature.ucum(unit_code),
        start_ns=received.wall_ns if anchor is None else anchor.device_ns(obs.rel_time),
        sample_period_ns=period * TICK_NS,
        samples=samples,
        received=received,
        gain=gain,
        offset=offset,
        quality=obs.quality,
    )


def alarm_priority(alert_type: int) -> AlarmPriority | None:
    """IEC 60601-1-8 priority of an alarm's AlertType bits (highest bit set wins)."""
    if alert_type & (AlertType.HI_PRI_P_AL | AlertType.HI_PRI_T_AL):
        return AlarmPriority.HIGH
    if alert_type & (AlertType.MED_PRI_P_AL | AlertType.MED_PRI_T_AL):
        return AlarmPriority.MEDIUM
    if alert_type & (AlertType.LOW_PRI_P_AL | AlertType.LOW_PRI_T_AL):
        return AlarmPriority.LOW
    return None
