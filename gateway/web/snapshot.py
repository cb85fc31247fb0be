"""Build the status page's JSON from a live :class:`~gateway.runtime.Gateway` and its buffer.

In-memory state (driver health, ingest counters, uplink metrics, active alarms) is used when
the gateway runs in this process; everything else, and everything for a stopped gateway,
comes from a read-only look at its SQLite buffer (:mod:`gateway.web.reader`). Trends are kept
here, in a bounded ring per stream, fed by each new value seen.

Nothing patient-identifying leaves this module beyond pseudonymous patient ids and bed labels.
"""

from __future__ import annotations

import json
import logging
import time
from collections import deque
from collections.abc import Sequence
from typing import Any

from gateway import __version__, codes
from gateway.model import Quality
from gateway.runtime import Gateway
from gateway.web.reader import DbView, LatestValue

TREND_POINTS = 120  # per stream: two minutes at one value a second
BATTERY_POINTS = 720
RATE_WINDOW_NS = 10_000_000_000
MAX_STREAMS = 4096
ERROR_LINES = 50
BATTERY_CODE = codes.MDC_ATTR_VAL_BATT_CHARGE.mdc_code
PRIORITY_ORDER = {"high": 0, "medium": 1, "low": 2}
#: Display order of vitals on a patient card (by label); others follow alphabetically.
VITAL_ORDER = ("SpO2", "PR", "Pulse", "HR", "RR", "NIBP sys", "NIBP dia", "NIBP mean", "Temp")


class RecentErrors(logging.Handler):
    """Keeps the last warnings and errors logged, for the page's "recent errors" list."""

    def __init__(self, maxlen: int = ERROR_LINES) -> None:
        super().__init__(logging.WARNING)
        self.lines: deque[dict[str, Any]] = deque(maxlen=maxlen)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a bad format string must not break logging
            message = str(record.msg)
        self.lines.append(
            {
                "ts_ns": int(record.created * 1e9),
                "level": record.levelname.lower(),
                "logger": record.name,
                "msg": message[:300],
            }
        )


def time_to_empty_s(points: Sequence[tuple[float, float]]) -> float | None:
    """Seconds until 0 % by a least-squares line through (time s, percent); None if not draining.

    Needs at least two points spanning two minutes; a flat or rising level gives None.
    """
    if len(points) < 2 or points[-1][0] - points[0][0] < 120:
        return None
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_v = sum(v for _, v in points) / n
    var = sum((t - mean_t) ** 2 for t, _ in points)
    if var == 0:
        return None
    slope = sum((t - mean_t) * (v - mean_v) for t, v in points) / var  # percent per second
    if slope >= -1e-9:
        return None
    return max(0.0, points[-1][1] / -slope)


class StatusModel:
    """Rings of recent values plus the code that turns gateway state into one JSON document."""

    def __init__(self, gateway: Gateway, trend_points: int = TREND_POINTS) -> None:
        self.gateway = gateway
        self.trend_points = trend_points
        self.errors = RecentErrors()
        self._trends: dict[str, deque[tuple[int, float | None]]] = {}
        self._battery: dict[str, deque[tuple[int, float]]] = {}
        self._records: dict[str, deque[tuple[int, int]]] = {}
        self._twin_state: dict[str, tuple[dict[str, Any], int]] = {}
        self.started_ns = time.time_ns()

    # -- rings -----------------------------------------------------------------------------

    def _observe(self, view: DbView) -> None:
        for v in view.latest:
            ring = self._trends.get(v.stream_id)
            if ring is None:
                if len(self._trends) >= MAX_STREAMS:
                    continue
                ring = self._trends[v.stream_id] = deque(maxlen=self.trend_points)
            if not ring or ring[-1][0] != v.received_ns:
                ring.append((v.received_ns, _valid_value(v)))
            value = _valid_value(v)
            if v.mdc_code == BATTERY_CODE and value is not None:
                self._battery_point(v.device_id, v.received_ns, value)
        pipeline = self.gateway.pipeline
        if pipeline is not None:  # battery levels the twin took from device events
            now = time.time_ns()
            for device, level in list(pipeline.twins.battery.items()):
                seen = self._battery.get(device)
                if not seen or seen[-1][1] != level or now - seen[-1][0] > 60_000_000_000:
                    self._battery_point(device, now, float(level))
        for patient, twin in view.twins.items():
            # keep the last snapshot that is a patient twin (vitals/NEWS2/alarms)
            if "news2" in twin.state or "vitals" in twin.state:
                self._twin_state[patient] = (twin.state, twin.received_ns)

    def _battery_point(self, device: str, t_ns: int, level: float) -> None:
        ring = self._battery.setdefault(device, deque(maxlen=BATTERY_POINTS))
        if not ring or ring[-1][0] != t_ns:
            ring.append((t_ns, level))

    def _rate(self, device: str, records: int, mono_ns: int) -> float | None:
        ring = self._records.setdefault(device, deque(maxlen=64))
        if not ring or ring[-1][0] != mono_ns:
            ring.append((mono_ns, records))
        while len(ring) > 2 and mono_ns - ring[0][0] > RATE_WINDOW_NS:
            ring.popleft()
        (t0, r0), (t1, r1) = ring[0], ring[-1]
        if t1 - t0 < 500_000_000:
            return None
        return round(max(0, r1 - r0) / ((t1 - t0) / 1e9), 2)

    # -- the document ----------------------------------------------------------------------

    def build(
        self, view: DbView, wall_ns: int | None = None, mono_ns: int | None = None
    ) -> dict[str, Any]:
        wall_ns = time.time_ns() if wall_ns is None else wall_ns
        mono_ns = time.monotonic_ns() if mono_ns is None else mono_ns
        self._observe(view)
        cfg = self.gateway.config
        status = view.status
        return {
            "version": __version__,
            "generated_ns": wall_ns,
            "gateway": status.get("gateway", cfg.gateway_id),
            "site": status.get("site", cfg.site),
            "running": bool(status.get("running", False)),
            "in_process": self.gateway.pipeline is not None,
            "buffer_found": view.exists,
            "note": view.error,
            "uptime_s": _age_s(wall_ns, _int(view.meta.get("started_ns"))),
            "uplink": self._uplink(view, wall_ns),
            "buffer": self._buffer(view, wall_ns),
            "devices": self._devices(view, mono_ns),
            "patients": self._patients(view, wall_ns, mono_ns),
            "errors": list(reversed(self.errors.lines)),
        }

    def _uplink(self, view: DbView, wall_ns: int) -> dict[str, Any]:
        cfg = self.gateway.config.mqtt
        lag = _age_s(wall_ns, view.oldest_unsent_ns)
        out: dict[str, Any] = {
            "enabled": cfg.enabled,
            "target": f"{cfg.host}:{cfg.port}" + (" (TLS)" if cfg.tls else ""),
            "state": view.status.get("uplink", "unknown"),
            "error": view.status.get("uplink_error", ""),
            "lag_s": 0.0 if lag is None else lag,
            "last_ack_age_s": _age_s(wall_ns, _int(view.meta.get("last_ack_ns"))),
            "connected": view.status.get("uplink") == "connected",
            "acked_records": None,
            "failures": None,
        }
        worker = self.gateway.uplink
        if worker is not None:
            m = worker.metrics
            out.update(
                connected=m.connected,
                acked_records=m.acked_records,
                acked_rows=m.acked_rows,
                published_rows=m.published_rows,
                failures=m.failures,
                connects=m.connects,
                window=m.window,  # lowered to the broker's Receive Maximum if that is less
                # shown once UplinkMetrics counts it (an int field named inflight_rows)
                inflight_rows=getattr(m, "inflight_rows", None),
            )
            watch = self.gateway.loop_errors
            out["closed_socket_watches"] = watch.count if watch is not None else None
            if out["state"] not in ("stopped",):
                out["state"] = "connected" if m.connected else "disconnected"
            out["error"] = "" if m.connected else m.last_error
            urgent = worker.urgent
            if urgent is not None:  # the alarms' own connection (gateway/urgent_link.py)
                out["alarm_connection"] = {
                    "up": urgent.up,
                    "connects": urgent.connects,
                    "failures": urgent.failures,
                    "acked_rows": urgent.acked_rows,
                }
        return out

    def _buffer(self, view: DbView, wall_ns: int) -> dict[str, Any]:
        buf = view.status.get("buffer", {})
        return {
            "rows": buf.get("outbox_rows", 0),
            "records": buf.get("outbox_records", 0),
            "oldest_unsent_age_s": _age_s(wall_ns, view.oldest_unsent_ns),
            "committed": buf.get("committed", 0),
            "acked": buf.get("acked", 0),
            "evicted": view.evicted_records,
            # live gateway only (None when the page reads another process's buffer)
            "write_waits": live.write_waits if (live := self.gateway.buffer) else None,
            "write_yields": live.write_yields if live else None,
            "used_bytes": view.used_bytes,
            "file_bytes": view.file_bytes,
            "budget_bytes": self.gateway.config.buffer.max_bytes,
        }

    def _devices(self, view: DbView, mono_ns: int) -> list[dict[str, Any]]:
        cfg = self.gateway.config
        spec = {d.id: d for d in cfg.devices}
        beds = {p.id: p.bed for p in cfg.patients}
        rows = {d["device"]: d for d in view.status.get("devices", [])}
        meta_counters = _json_dict(view.meta.get("device_counters"))
        pipeline = self.gateway.pipeline
        out = []
        for device in sorted(set(spec) | set(rows)):
            row = rows.get(device, {})
            health = self.gateway.health.get(device) if pipeline is not None else None
            if health is not None:
                counts: dict[str, Any] = dict(health.counters.counts)
                restarts, crashes = health.restarts, health.crashes
                last_error = health.counters.last_error
            else:
                counts = dict(meta_counters.get(device, {}))
                restarts, crashes = int(counts.get("restarts", 0)), int(counts.get("crashes", 0))
                last_error = str(counts.get("last_error", "") or row.get("detail", ""))
            records = (
                pipeline.ingested.get(device, 0)
                if pipeline is not None
                else view.committed_by_device.get(device, 0)
            )
            frames, errors = int(counts.get("frames", 0)), int(counts.get("parse_errors", 0))
            patient = spec[device].patient if device in spec else ""
            state = row.get("state") or (health.state if health is not None else "unknown")
            battery = self._battery.get(device)
            out.append(
                {
                    "id": device,
                    "kind": spec[device].kind if device in spec else row.get("kind", ""),
                    "patient": patient,
                    "bed": beds.get(patient, ""),
                    "state": state,
                    "since_s": row.get("since_s"),
                    "last_seen_s": row.get("last_seen_s"),
                    "records": records,
                    "rate_per_s": self._rate(device, records, mono_ns),
                    "frames": frames,
                    "parse_errors": errors,
                    "link_quality_pct": None
                    if frames + errors == 0
                    else round(100.0 * frames / (frames + errors), 1),
                    "rssi_dbm": counts.get("rssi"),
                    "restarts": restarts,
                    "crashes": crashes,
                    "last_error": last_error[:300],
                    "battery": None
                    if not battery
                    else {
                        "percent": battery[-1][1],
                        "time_to_empty_s": _round(
                            time_to_empty_s([(t / 1e9, v) for t, v in battery])
                        ),
                    },
                }
            )
        return out

    def _patients(self, view: DbView, wall_ns: int, mono_ns: int) -> list[dict[str, Any]]:
        cfg = self.gateway.config
        beds = {p.id: p.bed for p in cfg.patients}
        by_patient: dict[str, list[LatestValue]] = {}
        for v in view.latest:
            if v.patient and v.mdc_code != BATTERY_CODE:
                by_patient.setdefault(v.patient, []).append(v)
        ids = [p.id for p in cfg.patients]
        ids += sorted((set(self._twin_state) | set(by_patient)) - set(ids) - {""})
        live_alarms = self._live_alarms(mono_ns)
        out = []
        for patient in ids:
            twin_state, twin_ns = self._twin_state.get(patient, ({}, 0))
            state: dict[str, Any] = twin_state
            news2 = self._live_news2(patient, mono_ns)
            if news2 is None and isinstance(state.get("news2"), dict):
                news2 = state["news2"]
            alarms = live_alarms.get(patient) if live_alarms is not None else None
            if alarms is None:
                alarms = [
                    _alarm(a, mono_ns) for a in state.get("alarms", []) if isinstance(a, dict)
                ]
            alarms.sort(key=lambda a: (PRIORITY_ORDER.get(a["priority"], 9), -(a["since_s"] or 0)))
            out.append(
                {
                    "id": patient,
                    "bed": beds.get(patient, ""),
                    "twin_age_s": _age_s(wall_ns, twin_ns),
                    "news2": None
                    if news2 is None
                    else {
                        "total": news2.get("total"),
                        "risk": news2.get("risk"),
                        "partial": bool(news2.get("partial")),
                        "missing": list(news2.get("missing", [])),
                    },
                    "alarms": alarms,
                    "vitals": self._vitals(by_patient.get(patient, []), wall_ns),
                }
            )
        return out

    def _vitals(self, values: list[LatestValue], wall_ns: int) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for v in values:
            ring = self._trends.get(v.stream_id, deque())
            trend = [x for _, x in ring]
            value = _valid_value(v)
            if value is None and all(x is None for x in trend):
                continue  # a parameter this device never measured (e.g. SpCO on a plain probe)
            label = codes.label_for(v.mdc_code)
            out.append(
                {
                    "stream": v.stream_id,
                    "label": label,
                    "value": None if v.value is None else round(v.value, 3),
                    "unit": v.unit,
                    "quality": Quality(v.quality).names(),
                    "age_s": _age_s(wall_ns, v.received_ns),
                    "trend": trend,
                }
            )
        order = {label: i for i, label in enumerate(VITAL_ORDER)}
        out.sort(key=lambda x: (order.get(x["label"], len(order)), x["label"], x["stream"]))
        return out

    def _live_news2(self, patient: str, mono_ns: int) -> dict[str, Any] | None:
        """NEWS2 computed now by the in-process twin (fresher than the last snapshot)."""
        pipeline = self.gateway.pipeline
        if pipeline is None or patient not in pipeline.twins.patients:
            return None
        result: dict[str, Any] = pipeline.twins.news2(patient, mono_ns / 1e9).to_dict()
        return result

    def _live_alarms(self, mono_ns: int) -> dict[str, list[dict[str, Any]]] | None:
        pipeline = self.gateway.pipeline
        if pipeline is None:
            return None
        out: dict[str, list[dict[str, Any]]] = {p.id: [] for p in self.gateway.config.patients}
        for a in list(pipeline.twins.active.values()):
            out.setdefault(a.patient_id, []).append(
                _alarm(
                    {
                        "priority": a.priority.name.lower(),
                        "kind": a.alarm_kind.value,
                        "condition": a.condition,
                        "start_ns": a.start_ns,
                    },
                    mono_ns,
                )
            )
        return out


def _alarm(a: dict[str, Any], mono_ns: int) -> dict[str, Any]:
    start = a.get("start_ns")
    # alarm start times are on the monotonic clock of the twin (same boot, same clock)
    since = (mono_ns - start) / 1e9 if isinstance(start, int) and 0 <= start <= mono_ns else None
    return {
        "priority": str(a.get("priority", "")),
        "kind": str(a.get("kind", "")),
        "condition": str(a.get("condition", ""))[:120],
        "since_s": None if since is None else round(since, 1),
    }


def _valid_value(v: LatestValue) -> float | None:
    return None if v.value is None or v.quality else float(v.value)


def _age_s(now_ns: int, then_ns: int | None) -> float | None:
    return None if not then_ns else round(max(0, now_ns - then_ns) / 1e9, 1)


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 1)


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text else None
    except ValueError:
        return None


def _json_dict(text: str | None) -> dict[str, dict[str, Any]]:
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
