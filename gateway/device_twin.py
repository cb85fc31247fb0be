"""The device twins as a pipeline stage: battery, link, drift, failure risk, maintenance alerts.

``DeviceTwins.observe(records, now)`` sees every batch (like
:meth:`gateway.twin.PatientTwins.observe`) and returns records to store with it:

* a :class:`~gateway.model.DeviceEvent` of kind ``TECHNICAL_ALARM`` on the stream
  ``<device>.maintenance`` when a maintenance alert starts (``detail`` = the nurse-facing
  text, e.g. "battery empty in about 40 min (30-55 min)", ``value`` = the number behind it) and
  one when it ends (``detail`` = ``"ended: <text>"``). Events rather than twin snapshots: an
  alert is an edge in time that must be stored once, never evicted (events never are) and
  sent ahead of numerics, without the urgency of a clinical :class:`~gateway.model.Alarm`
  (which would force an immediate commit). The drivers already report signal loss the same
  way, so consumers show both alike.
* every ``snapshot_interval_s`` (spread over it: gateway/spread.py) one
  :class:`~gateway.model.TwinSnapshot` per device on
  ``<device>.twin`` (the keys the runtime reports today plus battery, link, disagreements,
  risk, health and the alerts in force): the device twin's reported state.

Estimates, risk and alerts are evaluated every ``eval_interval_s`` (5 s); readings are taken
in every batch. Inputs: battery levels (Battery Level measurements or ``BATTERY`` events),
connect and disconnect events (a BLE link closed normally after a transfer is not a drop),
the timing of every measurement stream (lost readings), values of the same vital from two
sources of one patient (disagreement), and, when given, the supervisor's per-device health
(``frames``/``notifications``, ``parse_errors``, ``rssi``, connection state).

Time: the stage runs on the monotonic clock anchored to the wall clock once (so a wall-clock
step changes nothing, and a state saved with :meth:`state` resumes after a restart with its
history on a wall-time axis). Models: :mod:`edge_models.battery`, :mod:`edge_models.link`,
:mod:`edge_models.drift`, :mod:`edge_models.device_risk`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any, Final, Protocol

import numpy as np

from edge_models import battery as bat
from edge_models import device_risk as risk
from edge_models import drift
from edge_models import link as lnk
from gateway import codes
from gateway.config import GatewayConfig
from gateway.model import (
    VALID,
    DeviceEvent,
    EventKind,
    Measurement,
    ReceiveTime,
    Record,
    TwinSnapshot,
    stream_id_for,
)
from gateway.spread import Spread

FORMAT_VERSION: Final = 1
BATTERY_CODE: Final = codes.MDC_ATTR_VAL_BATT_CHARGE.mdc_code


@dataclass(frozen=True, slots=True)
class VitalGroup:
    """Codes that measure the same vital, with the label of each code in alert texts."""

    name: str
    unit: str  # as printed: "%", "/min", "°C"
    digits: int
    labels: Mapping[int, str]


#: Metrics compared between sources (MDC codes from gateway.codes).
VITAL_GROUPS: Final = (
    VitalGroup("spo2", "%", 0, {codes.MDC_PULS_OXIM_SAT_O2.mdc_code: "SpO2"}),
    VitalGroup(
        "rate",
        "/min",
        0,
        {
            codes.MDC_ECG_HEART_RATE.mdc_code: "ECG heart rate",
            codes.MDC_PULS_OXIM_PULS_RATE.mdc_code: "Pulse rate",
            codes.MDC_PULS_RATE.mdc_code: "Pulse rate",
        },
    ),
    VitalGroup("rr", "/min", 0, {codes.MDC_RESP_RATE.mdc_code: "Respiration rate"}),
    VitalGroup(
        "temp",
        "°C",
        1,
        {codes.MDC_TEMP_BODY.mdc_code: "Temperature", codes.MDC_TEMP.mdc_code: "Temperature"},
    ),
)
_GROUP_OF: Final = {code: g for g in VITAL_GROUPS for code in g.labels}

#: Residual spread and smallest offset worth an alert, per group (engineering defaults:
#: oximeters claim Arms <= 2-3 % SpO2; ECG HR vs pleth pulse agree within a few /min).
DRIFT_SPECS: Final = {
    "spo2": drift.DriftSpec(sigma=1.0, shift=3.0),
    "rate": drift.DriftSpec(sigma=3.0, shift=10.0),
    "rr": drift.DriftSpec(sigma=2.0, shift=5.0),
    "temp": drift.DriftSpec(sigma=0.2, shift=0.5),
}

#: Which source is the reference of a pair: bedside monitors over serial oximeters over BLE.
KIND_RANK: Final = {"intellivue": 3, "datex-s5": 3, "masimo": 2, "nonin": 2, "ble": 1}
MONITOR_KINDS: Final = frozenset({"intellivue", "datex-s5"})
#: How the BLE driver words the end of a link that is normal (a cuff or meter closing it
#: after its transfer, or the gateway releasing the slot): not a drop, not "not connected".
NORMAL_ENDS: Final = ("closed by device", "released")


class CountersView(Protocol):
    @property
    def counts(self) -> Mapping[str, int]: ...

    @property
    def last_error(self) -> str: ...


class HealthView(Protocol):
    """What the stage reads from the supervisor's ``DriverHealth`` (structural type)."""

    @property
    def state(self) -> str: ...

    @property
    def restarts(self) -> int: ...

    @property
    def crashes(self) -> int: ...

    @property
    def counters(self) -> CountersView: ...


@dataclass(frozen=True, slots=True)
class DeviceTwinSettings:
    eval_interval_s: float = 5.0  # how often estimates, risk and alerts are computed
    snapshot_interval_s: float | None = None  # None: the config's twin.snapshot_interval_s
    pair_interval_s: float = 10.0  # one paired residual per pair this often
    pair_max_age_s: float = 15.0  # both values of a pair must be this fresh
    rssi_interval_s: float = 10.0  # RSSI read from the counters this often
    battery_cutoff_percent: float = 0.0
    risk: risk.RiskSettings = field(default_factory=risk.RiskSettings)
    drift: Mapping[str, drift.DriftSpec] = field(default_factory=lambda: dict(DRIFT_SPECS))


@dataclass(slots=True)
class _Device:
    battery: bat.BatteryState = field(default_factory=bat.BatteryState)
    link: lnk.LinkState = field(default_factory=lnk.LinkState)
    latches: dict[str, risk.Latch] = field(default_factory=dict)
    health: str = "ok"
    connected: bool | None = None
    rssi_t: float | None = None
    # last evaluation (not persisted: recomputed at the next evaluation)
    estimate: bat.BatteryEstimate | None = None
    summary: lnk.LinkSummary | None = None
    risk: risk.Risk | None = None


@dataclass(frozen=True, slots=True)
class _Pair:
    subject: int  # source index
    reference: int
    group: str


class DeviceTwins:
    def __init__(
        self,
        config: GatewayConfig,
        health: Mapping[str, HealthView] | None = None,
        settings: DeviceTwinSettings | None = None,
        tz: tzinfo | None = None,
    ) -> None:
        self.settings = settings or DeviceTwinSettings()
        #: twin seconds per real second (``twin.device_time_scale``): every time constant
        #: here is in twin seconds; 1 except in accelerated HIL runs
        self.time_scale = config.twin.device_time_scale
        self.snapshot_interval_s = self.settings.snapshot_interval_s or (
            config.twin.snapshot_interval_s * self.time_scale  # the config's is in real seconds
        )
        self.health = health
        self.tz = tz  # None: the gateway's local time zone
        self.specs = {d.id: d for d in config.devices}
        self.devices = {d.id: _Device() for d in config.devices}
        self._origin: tuple[float, float] | None = None  # (wall, mono) s at the first batch
        self._t_last = -math.inf
        self._next_eval = -math.inf
        # every device once a snapshot interval, spread over it (gateway/spread.py)
        self._snapshots = Spread(self.snapshot_interval_s)
        self._device_ids = tuple(self.devices)
        self._next_pair = -math.inf
        # lost readings: one slot per measurement stream
        self._streams: dict[str, int] = {}
        self._stream_device: list[str] = []
        self.gaps = lnk.StreamGaps.empty()
        # disagreement: sources (device, code), pairs of sources, one CUSUM per pair
        self._sources: dict[tuple[str, int], int] = {}
        self._source_list: list[tuple[str, int]] = []
        self._last_v = np.zeros(0)
        self._last_t = np.zeros(0)
        self._pairs: list[_Pair] = []
        self.drift = drift.DriftState.empty()
        self._params = drift.DriftParams.of([])
        self._drift_text: dict[int, str] = {}

    # --- time -----------------------------------------------------------------------------

    def _axis(self, now: ReceiveTime) -> float:
        """Twin time of ``now``: wall seconds at the first batch, then monotonic seconds
        since it times ``time_scale``."""
        if self._origin is None:
            self._origin = (now.wall_ns / 1e9, now.mono_ns / 1e9)
        wall0, mono0 = self._origin
        return wall0 + (now.mono_ns / 1e9 - mono0) * self.time_scale

    def _clock(self, t: float, now: ReceiveTime, now_t: float) -> str:
        """HH:MM of axis time ``t`` in the gateway's time zone (or ``self.tz``)."""
        wall = now.wall_ns / 1e9 - (now_t - t) / self.time_scale
        moment = datetime.fromtimestamp(wall, tz=UTC)
        local = moment.astimezone(self.tz) if self.tz is not None else moment.astimezone()
        return local.strftime("%H:%M")

    # --- the stage --------------------------------------------------------------------------

    def observe(self, records: Sequence[Record], now: ReceiveTime) -> list[Record]:
        """Take a batch; return maintenance alert events and the snapshots due now."""
        self._axis(now)
        self._ingest(records)
        t = max(self._axis(now), self._t_last)
        self._t_last = t
        out: list[Record] = []
        if t >= self._next_eval:
            self._next_eval = t + self.settings.eval_interval_s
            out.extend(self._evaluate(t, now))
        ids = self._device_ids
        out.extend(self.snapshot(ids[i], now) for i in self._snapshots.due(t, len(ids)))
        return out

    def _ingest(self, records: Sequence[Record]) -> None:
        wall0, mono0 = self._origin if self._origin is not None else (0.0, 0.0)
        scale = self.time_scale
        g_stream: list[int] = []
        g_t: list[float] = []
        v_src: list[int] = []
        v_t: list[float] = []
        v_val: list[float] = []
        streams = self._streams
        sources = self._sources
        for r in records:
            if isinstance(r, Measurement):
                dev = self.devices.get(r.device_id)
                if dev is None:
                    continue
                t = wall0 + (r.received.mono_ns / 1e9 - mono0) * scale
                s = streams.get(r.stream_id)
                if s is None:
                    s = self._new_stream(r.stream_id, r.device_id)
                g_stream.append(s)
                g_t.append(t)
                if r.quality != VALID or math.isnan(r.value):
                    continue
                if r.mdc_code == BATTERY_CODE:
                    dev.battery = bat.battery_step(dev.battery, t, r.value)
                elif r.mdc_code in _GROUP_OF:
                    src = sources.get((r.device_id, r.mdc_code))
                    if src is None:
                        src = self._new_source(r.device_id, r.mdc_code)
                    v_src.append(src)
                    v_t.append(t)
                    v_val.append(r.value)
            elif isinstance(r, DeviceEvent):
                dev = self.devices.get(r.device_id)
                if dev is not None:
                    self._event(dev, r, wall0 + (r.received.mono_ns / 1e9 - mono0) * scale)
        if g_stream:
            self._count_readings(np.array(g_stream, np.intp), np.array(g_t))
        if v_src:
            self._latest(np.array(v_src, np.intp), np.array(v_t), np.array(v_val))

    def _event(self, dev: _Device, r: DeviceEvent, t: float) -> None:
        if r.event is EventKind.BATTERY and r.value is not None:
            dev.battery = bat.battery_step(dev.battery, t, r.value)
        elif r.event is EventKind.CONNECTED:
            dev.connected = True
            self._reset_pairs(r.device_id)
        elif r.event is EventKind.DISCONNECTED:
            if r.detail.startswith(NORMAL_ENDS):
                dev.connected = None  # a spot-check device done with its transfer: idle
            else:
                dev.connected = False
                dev.link = lnk.add_drop(dev.link, t)
            self._reset_pairs(r.device_id)

    def _new_stream(self, stream_id: str, device_id: str) -> int:
        s = len(self._stream_device)
        self._streams[stream_id] = s
        self._stream_device.append(device_id)
        return s

    def _count_readings(self, stream: np.ndarray, t: np.ndarray) -> None:
        self.gaps, received, missed = lnk.stream_gaps(self.gaps, stream, t)
        owner = [self._stream_device[s] for s in np.unique(stream)]
        by_stream_rec = np.bincount(stream, received)
        by_stream_miss = np.bincount(stream, missed)
        t_end = float(t.max())
        per_device: dict[str, tuple[float, float]] = {}
        for s, device in zip(np.unique(stream), owner, strict=True):
            rec, miss = per_device.get(device, (0.0, 0.0))
            per_device[device] = (rec + by_stream_rec[s], miss + by_stream_miss[s])
        for device, (rec, miss) in per_device.items():
            dev = self.devices.get(device)
            if dev is None:
                continue
            dev.link = lnk.add_readings(dev.link, t_end, float(rec), float(miss))

    def _new_source(self, device_id: str, code: int) -> int:
        src = len(self._source_list)
        self._sources[(device_id, code)] = src
        self._source_list.append((device_id, code))
        self._last_v = np.r_[self._last_v, np.nan]
        self._last_t = np.r_[self._last_t, np.nan]
        group = _GROUP_OF[code]
        patient = self.specs[device_id].patient
        for other, (o_dev, o_code) in enumerate(self._source_list[:-1]):
            if _GROUP_OF[o_code] is not group or self.specs[o_dev].patient != patient:
                continue
            if o_dev == device_id and group.labels[o_code] == group.labels[code]:
                continue  # two codes for the same thing from one device
            subject, reference = sorted((src, other), key=self._trust)
            self._pairs.append(_Pair(subject, reference, group.name))
        if len(self._pairs) > self.drift.size:
            self.drift = self.drift.grown(len(self._pairs))
            self._params = drift.DriftParams.of([self.settings.drift[p.group] for p in self._pairs])
        return src

    def _trust(self, src: int) -> tuple[int, int, str]:
        """Sort key: the less trusted source first (it becomes the pair's subject)."""
        device, code = self._source_list[src]
        ecg = int(code == codes.MDC_ECG_HEART_RATE.mdc_code)
        return (KIND_RANK.get(self.specs[device].kind, 0), ecg, f"~{device}")

    def _latest(self, src: np.ndarray, t: np.ndarray, v: np.ndarray) -> None:
        order = np.lexsort((t, src))
        s_sorted = src[order]
        last = order[np.r_[np.flatnonzero(np.diff(s_sorted)), s_sorted.size - 1]]
        s, ts, vs = src[last], t[last], v[last]
        newer = ~(ts < self._last_t[s])  # NaN-safe "not older"
        self._last_v[s[newer]] = vs[newer]
        self._last_t[s[newer]] = ts[newer]

    def _reset_pairs(self, device_id: str) -> None:
        """A reconnection may mean a re-seated probe: restart that device's CUSUMs."""
        if not self._pairs:
            return
        mask = np.array(
            [
                device_id in (self._source_list[p.subject][0], self._source_list[p.reference][0])
                for p in self._pairs
            ]
        )
        if mask.any():
            self.drift = drift.reset(self.drift, mask)

    # --- evaluation -------------------------------------------------------------------------

    def _evaluate(self, t: float, now: ReceiveTime) -> list[Record]:
        out: list[Record] = []
        if self.health is not None:
            self._read_health(t)
        drift_texts: dict[str, list[str]] = {}
        if self._pairs and t >= self._next_pair:
            self._next_pair = t + self.settings.pair_interval_s
            out.extend(self._step_pairs(t, now))
        for k, pair in enumerate(self._pairs):
            if self.drift.active[k] != 0 and k in self._drift_text:
                device = self._source_list[pair.subject][0]
                drift_texts.setdefault(device, []).append(self._drift_text[k])
        s = self.settings
        for device_id, dev in self.devices.items():
            dev.estimate = bat.estimate(dev.battery, t, s.battery_cutoff_percent)
            dev.summary = lnk.summary(dev.link, t)
            inputs = risk.Inputs(
                dev.connected, dev.estimate, dev.summary, tuple(drift_texts.get(device_id, ()))
            )
            dev.risk = risk.failure_risk(inputs, s.risk)
            dev.health = risk.health_step(dev.health, dev.risk.score)
            for cond in risk.conditions(inputs, s.risk):
                latch = dev.latches.get(cond.name, risk.Latch())
                latch, edge = risk.latch_step(latch, t, cond, s.risk.clear_s)
                dev.latches[cond.name] = latch
                if edge == "start":
                    out.append(self._alert(device_id, now, latch.text, cond.value))
                elif edge == "end":
                    out.append(self._alert(device_id, now, f"ended: {cond.text}", None))
                if not latch.active:
                    del dev.latches[cond.name]
        return out

    def _read_health(self, t: float) -> None:
        assert self.health is not None
        for device_id, dev in self.devices.items():
            h = self.health.get(device_id)
            if h is None:
                continue
            counts = h.counters.counts
            frames = counts.get("frames", 0) + counts.get("notifications", 0)
            dev.link = lnk.add_counters(dev.link, t, frames, counts.get("parse_errors", 0))
            if h.state in ("connected", "disconnected"):
                dev.connected = h.state == "connected"
            rssi = counts.get("rssi")
            due = dev.rssi_t is None or t - dev.rssi_t >= self.settings.rssi_interval_s
            if rssi is not None and dev.connected and due:
                dev.link = lnk.add_rssi(dev.link, t, float(rssi))
                dev.rssi_t = t

    def _step_pairs(self, t: float, now: ReceiveTime) -> list[Record]:
        subj = np.array([p.subject for p in self._pairs], np.intp)
        ref = np.array([p.reference for p in self._pairs], np.intp)
        fresh = (t - self._last_t <= self.settings.pair_max_age_s) & np.isfinite(self._last_v)
        valid = fresh[subj] & fresh[ref]
        residual = np.where(valid, self._last_v[subj] - self._last_v[ref], 0.0)
        self.drift, started, ended = drift.drift_step(self.drift, self._params, t, residual, valid)
        out: list[Record] = []
        for k in np.flatnonzero(started | ended):
            pair = self._pairs[int(k)]
            device = self._source_list[pair.subject][0]
            if started[k]:
                text = self._disagreement_text(int(k), t, now)
                self._drift_text[int(k)] = text
                out.append(self._alert(device, now, text, float(self.drift.offset[k])))
            else:
                text = self._drift_text.pop(int(k), "disagreement")
                out.append(self._alert(device, now, f"ended: {text}", None))
        return out

    def _disagreement_text(self, k: int, t: float, now: ReceiveTime) -> str:
        """E.g. ``SpO2 reads 3 % above the bedside monitor since 10:02``."""
        pair = self._pairs[k]
        s_dev, s_code = self._source_list[pair.subject]
        r_dev, r_code = self._source_list[pair.reference]
        group = _GROUP_OF[s_code]
        offset = float(self.drift.offset[k])
        amount = f"{abs(offset):.{group.digits}f}"
        way = "above" if offset > 0 else "below"
        if r_dev == s_dev:
            reference = group.labels[r_code]
        elif self.specs[r_dev].kind in MONITOR_KINDS:
            reference = "the bedside monitor"
        else:
            reference = f"device {r_dev}"
        since = float(self.drift.since[k])
        when = self._clock(since if math.isfinite(since) else t, now, t)
        return f"{group.labels[s_code]} reads {amount} {group.unit} {way} {reference} since {when}"

    def _alert(self, device: str, now: ReceiveTime, text: str, value: float | None) -> DeviceEvent:
        return DeviceEvent(
            device,
            stream_id_for(device, "maintenance"),
            EventKind.TECHNICAL_ALARM,
            now,
            text,
            value,
        )

    # --- reported state ---------------------------------------------------------------------

    def snapshot(self, device_id: str, now: ReceiveTime) -> TwinSnapshot:
        """The device twin's reported state (see the module docstring for the keys)."""
        spec = self.specs[device_id]
        dev = self.devices[device_id]
        t = self._t_last if math.isfinite(self._t_last) else self._axis(now)
        estimate = dev.estimate or bat.estimate(dev.battery, t)
        summary = dev.summary or lnk.summary(dev.link, t)
        h = self.health.get(device_id) if self.health is not None else None
        state: dict[str, object] = {
            "device": device_id,
            "kind": spec.kind,
            "connection": h.state if h is not None else _connection(dev.connected),
            "restarts": h.restarts if h is not None else None,
            "crashes": h.crashes if h is not None else None,
            "parse_errors": h.counters.counts.get("parse_errors", 0) if h is not None else None,
            "frames": h.counters.counts.get("frames", 0) if h is not None else None,
            "last_error": h.counters.last_error if h is not None else None,
            "battery_percent": dev.battery.last_level,
            "battery": {**estimate.to_dict(), "text": estimate.text()},
            "link": summary.to_dict(),
            "disagreements": self._disagreements(device_id, now, t),
            "risk": dev.risk.to_dict() if dev.risk is not None else None,
            "health": dev.health,
            "alerts": self._alerts_in_force(device_id, now, t),
        }
        return TwinSnapshot(
            stream_id=stream_id_for(device_id, "twin"),
            patient_id=spec.patient,
            state=state,
            received=now,
        )

    def _alerts_in_force(self, device_id: str, now: ReceiveTime, t: float) -> list[dict[str, Any]]:
        dev = self.devices[device_id]
        out: list[dict[str, Any]] = [
            {"condition": name, "text": latch.text, "since_ns": self._wall_ns(latch.since, now, t)}
            for name, latch in sorted(dev.latches.items())
            if latch.active
        ]
        for k, pair in enumerate(self._pairs):
            if self.drift.active[k] != 0 and self._source_list[pair.subject][0] == device_id:
                out.append(
                    {
                        "condition": f"disagreement.{pair.group}",
                        "text": self._drift_text.get(k, ""),
                        "since_ns": self._wall_ns(float(self.drift.since[k]), now, t),
                    }
                )
        return out

    def _disagreements(self, device_id: str, now: ReceiveTime, t: float) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for k, pair in enumerate(self._pairs):
            s_dev, s_code = self._source_list[pair.subject]
            if s_dev != device_id:
                continue
            r_dev, r_code = self._source_list[pair.reference]
            ewma = float(self.drift.ewma[k])
            out.append(
                {
                    "vital": pair.group,
                    "code": s_code,
                    "reference": {"device": r_dev, "code": r_code},
                    "difference": None if math.isnan(ewma) else round(ewma, 2),
                    "alert": self._drift_text.get(k) if self.drift.active[k] != 0 else None,
                    "since_ns": self._wall_ns(float(self.drift.since[k]), now, t),
                }
            )
        return out

    def _wall_ns(self, since: float | None, now: ReceiveTime, t: float) -> int | None:
        if since is None or not math.isfinite(since):
            return None
        return now.wall_ns - round((t - since) * 1e9)

    # --- persistence ------------------------------------------------------------------------

    def state(self) -> bytes:
        """Everything needed to resume (JSON, UTF-8). Store it; give it to :meth:`restore`."""
        doc = {
            "version": FORMAT_VERSION,
            "t_last": _num(self._t_last),
            "next_eval": _num(self._next_eval),
            "next_snapshot": _num(self._snapshots.start),
            "snapshot_next": self._snapshots.next,
            "snapshot_burst": self._snapshots.burst,
            "next_pair": _num(self._next_pair),
            "devices": {
                d: {
                    "battery": dev.battery.to_dict(),
                    "link": dev.link.to_dict(),
                    "latches": {k: v.to_dict() for k, v in dev.latches.items()},
                    "health": dev.health,
                    "connected": dev.connected,
                    "rssi_t": dev.rssi_t,
                }
                for d, dev in self.devices.items()
            },
            "streams": [[sid, self._stream_device[s]] for sid, s in self._streams.items()],
            "gaps": self.gaps.to_dict(),
            "sources": [[d, c] for d, c in self._source_list],
            "last_v": [_num(v) for v in self._last_v],
            "last_t": [_num(v) for v in self._last_t],
            "pairs": [[p.subject, p.reference, p.group] for p in self._pairs],
            "drift": self.drift.to_dict(),
            "drift_text": {str(k): v for k, v in self._drift_text.items()},
        }
        return json.dumps(doc, allow_nan=False, separators=(",", ":")).encode()

    def restore(self, blob: bytes) -> None:
        """Resume from :meth:`state` (devices no longer configured are dropped; new ones
        start empty). Raises ``ValueError`` for a blob of another format."""
        doc = json.loads(blob)
        if not isinstance(doc, dict) or doc.get("version") != FORMAT_VERSION:
            raise ValueError("device twin state: unknown format")
        self._origin = None
        self._t_last = _float(doc["t_last"])
        self._next_eval = _float(doc["next_eval"])
        self._snapshots.resume(
            _float(doc["next_snapshot"]),
            int(doc.get("snapshot_next", 0)),
            bool(doc.get("snapshot_burst", True)),
            len(self._device_ids),
        )
        self._next_pair = _float(doc["next_pair"])
        for d, saved in doc["devices"].items():
            if d not in self.devices:
                continue
            self.devices[d] = _Device(
                battery=bat.BatteryState.from_dict(saved["battery"]),
                link=lnk.LinkState.from_dict(saved["link"]),
                latches={k: risk.Latch.from_dict(v) for k, v in saved["latches"].items()},
                health=str(saved["health"]),
                connected=saved["connected"],
                rssi_t=saved["rssi_t"],
            )
        self._streams = {}
        self._stream_device = []
        for sid, device in doc["streams"]:
            self._new_stream(sid, device)
        self.gaps = lnk.StreamGaps.from_dict(doc["gaps"])
        sources = [(str(d), int(c)) for d, c in doc["sources"]]
        pairs = [_Pair(int(s), int(r), str(g)) for s, r, g in doc["pairs"]]
        if any(d not in self.specs or c not in _GROUP_OF for d, c in sources) or any(
            p.group not in self.settings.drift for p in pairs
        ):
            return  # the devices or vitals changed: disagreement tracking starts afresh
        self._sources = {src: k for k, src in enumerate(sources)}
        self._source_list = sources
        self._last_v = np.array([np.nan if v is None else v for v in doc["last_v"]], np.float64)
        self._last_t = np.array([np.nan if v is None else v for v in doc["last_t"]], np.float64)
        self._pairs = pairs
        self.drift = drift.DriftState.from_dict(doc["drift"])
        self._params = drift.DriftParams.of([self.settings.drift[p.group] for p in self._pairs])
        self._drift_text = {int(k): str(v) for k, v in doc["drift_text"].items()}


def _connection(connected: bool | None) -> str:
    return "unknown" if connected is None else ("connected" if connected else "disconnected")


def _num(v: float) -> float | None:
    return float(v) if math.isfinite(v) else None


def _float(v: float | None) -> float:
    return -math.inf if v is None else float(v)
