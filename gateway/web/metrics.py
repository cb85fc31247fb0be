"""Prometheus exposition: a custom collector that reads gateway state at scrape time.

Counters come from the running gateway when it is in this process, else from the buffer
(so a stopped gateway's data directory can be scraped too). No metric carries a patient id:
alarms and NEWS2 bands are counted per priority and per band, not per patient.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from gateway.web.reader import read_view
from gateway.web.snapshot import StatusModel

PRIORITIES = ("high", "medium", "low")
RISKS = ("low", "low-medium", "medium", "high")


class GatewayCollector(Collector):
    """Yields the gateway's metrics each time Prometheus scrapes."""

    def __init__(self, model: StatusModel) -> None:
        self.model = model

    def describe(self) -> list[Metric]:
        return []  # metrics are dynamic; nothing to check at registration

    def collect(self) -> Iterator[Metric]:
        doc = self.model.build(read_view(self.model.gateway.config.data_dir))
        yield from _gateway(doc)
        yield from _devices(doc["devices"])
        yield from _buffer(doc["buffer"])
        yield from _uplink(doc["uplink"])
        yield from _patients(doc["patients"])
        yield from _security(self.model.gateway)


def make_registry(model: StatusModel) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(GatewayCollector(model))
    return registry


def _gauge(name: str, doc: str, value: float | None) -> Iterator[Metric]:
    if value is not None:
        yield GaugeMetricFamily(name, doc, value=value)


def _gateway(doc: dict[str, Any]) -> Iterator[Metric]:
    info = GaugeMetricFamily(
        "edgetwin_gateway_info", "Gateway identity (value 1)", labels=["gateway", "site", "version"]
    )
    info.add_metric([doc["gateway"], doc["site"], doc["version"]], 1)
    yield info
    yield from _gauge(
        "edgetwin_gateway_running", "1 while the gateway's heartbeat is fresh", doc["running"]
    )
    yield from _gauge("edgetwin_gateway_uptime_seconds", "Seconds since start", doc["uptime_s"])


def _devices(devices: list[dict[str, Any]]) -> Iterator[Metric]:
    labels = ["device"]
    connected = GaugeMetricFamily(
        "edgetwin_device_connected", "1 if the device is connected", labels=["device", "kind"]
    )
    state = GaugeMetricFamily(
        "edgetwin_device_state", "Current device state (value 1)", labels=["device", "state"]
    )
    counters = {
        "records": CounterMetricFamily(
            "edgetwin_device_records", "Records received from the device", labels=labels
        ),
        "parse_errors": CounterMetricFamily(
            "edgetwin_device_parse_errors", "Frames that failed to parse", labels=labels
        ),
        "frames": CounterMetricFamily(
            "edgetwin_device_frames", "Frames parsed from the device", labels=labels
        ),
        "restarts": CounterMetricFamily(
            "edgetwin_device_reconnects", "Driver restarts (reconnects)", labels=labels
        ),
        "crashes": CounterMetricFamily(
            "edgetwin_device_crashes", "Driver crashes (bugs) recovered", labels=labels
        ),
    }
    last_seen = GaugeMetricFamily(
        "edgetwin_device_last_seen_age_seconds", "Seconds since the last record", labels=labels
    )
    battery = GaugeMetricFamily(
        "edgetwin_device_battery_percent", "Battery charge reported by the device", labels=labels
    )
    empty = GaugeMetricFamily(
        "edgetwin_device_battery_time_to_empty_seconds",
        "Predicted seconds until the battery is empty (linear fit)",
        labels=labels,
    )
    for d in devices:
        dev = [d["id"]]
        connected.add_metric([d["id"], d["kind"]], 1 if d["state"] == "connected" else 0)
        state.add_metric([d["id"], d["state"]], 1)
        for key, family in counters.items():
            family.add_metric(dev, d[key])
        if d["last_seen_s"] is not None:
            last_seen.add_metric(dev, d["last_seen_s"])
        if d["battery"] is not None:
            battery.add_metric(dev, d["battery"]["percent"])
            if d["battery"]["time_to_empty_s"] is not None:
                empty.add_metric(dev, d["battery"]["time_to_empty_s"])
    yield connected
    yield state
    yield from counters.values()
    yield last_seen
    yield battery
    yield empty


def _buffer(buf: dict[str, Any]) -> Iterator[Metric]:
    yield GaugeMetricFamily(
        "edgetwin_buffer_bytes", "Bytes the buffer's live pages use", value=buf["used_bytes"]
    )
    yield GaugeMetricFamily(
        "edgetwin_buffer_file_bytes", "Buffer file size with WAL", value=buf["file_bytes"]
    )
    yield GaugeMetricFamily(
        "edgetwin_buffer_budget_bytes", "Configured buffer budget", value=buf["budget_bytes"]
    )
    yield GaugeMetricFamily("edgetwin_buffer_rows", "Outbox rows waiting", value=buf["rows"])
    yield GaugeMetricFamily(
        "edgetwin_buffer_records", "Records waiting in the outbox", value=buf["records"]
    )
    age = buf["oldest_unsent_age_s"]
    yield GaugeMetricFamily(
        "edgetwin_buffer_oldest_age_seconds",
        "Age of the oldest unsent row (0 when empty)",
        value=0.0 if age is None else age,
    )
    yield CounterMetricFamily(
        "edgetwin_buffer_committed_records", "Records stored durably", value=buf["committed"]
    )
    yield CounterMetricFamily(
        "edgetwin_buffer_evicted_records",
        "Records evicted at the disk budget (reported upstream as gaps)",
        value=buf["evicted"],
    )
    if isinstance(buf.get("write_waits"), int):
        yield CounterMetricFamily(
            "edgetwin_buffer_write_waits",
            "Times a buffer writer waited for the other lane's transaction (alarms go first)",
            value=buf["write_waits"],
        )
    if isinstance(buf.get("write_yields"), int):
        yield CounterMetricFamily(
            "edgetwin_buffer_write_yields",
            "Times a main-lane transaction rolled back and started over to let an alarm in",
            value=buf["write_yields"],
        )


def _uplink(up: dict[str, Any]) -> Iterator[Metric]:
    yield GaugeMetricFamily(
        "edgetwin_uplink_connected", "1 if connected to the broker", value=int(up["connected"])
    )
    yield GaugeMetricFamily(
        "edgetwin_uplink_lag_seconds", "Age of the oldest record not yet acked", value=up["lag_s"]
    )
    yield from _gauge(
        "edgetwin_uplink_last_ack_age_seconds",
        "Seconds since the last PUBACK",
        up["last_ack_age_s"],
    )
    if up["acked_records"] is not None:
        yield CounterMetricFamily(
            "edgetwin_uplink_acked_records",
            "Records acked by the broker",
            value=up["acked_records"],
        )
        yield CounterMetricFamily(
            "edgetwin_uplink_acked_rows", "Outbox rows acked by the broker", value=up["acked_rows"]
        )
        yield CounterMetricFamily(
            "edgetwin_uplink_failures", "Connection or publish failures", value=up["failures"]
        )
    alarm = up.get("alarm_connection")
    if isinstance(alarm, dict):
        yield GaugeMetricFamily(
            "edgetwin_uplink_alarm_connection_up",
            "1 if the alarms' own broker connection is up (else alarms use the main one)",
            value=int(alarm["up"]),
        )
        yield CounterMetricFamily(
            "edgetwin_uplink_alarm_connection_failures",
            "Failures of the alarms' own connection",
            value=alarm["failures"],
        )
        yield CounterMetricFamily(
            "edgetwin_uplink_alarm_connection_acked_rows",
            "Alarm rows acked by the broker on the alarms' own connection",
            value=alarm["acked_rows"],
        )
    if isinstance(up.get("closed_socket_watches"), int):
        yield CounterMetricFamily(
            "edgetwin_uplink_closed_socket_watches",
            "Sockets closed (connection reset) before the event loop could watch them: "
            "harmless, logged as a warning (gateway/loop_errors.py)",
            value=up["closed_socket_watches"],
        )
    if isinstance(up.get("inflight_rows"), int):
        yield GaugeMetricFamily(
            "edgetwin_uplink_inflight_rows",
            "Rows published, PUBACK pending",
            value=up["inflight_rows"],
        )


def _patients(patients: list[dict[str, Any]]) -> Iterator[Metric]:
    active = GaugeMetricFamily(
        "edgetwin_alarms_active", "Active alarms by IEC 60601-1-8 priority", labels=["priority"]
    )
    counts = dict.fromkeys(PRIORITIES, 0)
    bands = dict.fromkeys(RISKS, 0)
    for p in patients:
        for a in p["alarms"]:
            if a["priority"] in counts:
                counts[a["priority"]] += 1
        if p["news2"] is not None and p["news2"]["risk"] in bands:
            bands[p["news2"]["risk"]] += 1
    for priority, n in counts.items():
        active.add_metric([priority], n)
    yield active
    risk = GaugeMetricFamily(
        "edgetwin_patients_news2_risk", "Patients per NEWS2 risk band", labels=["risk"]
    )
    for band, n in bands.items():
        risk.add_metric([band], n)
    yield risk


def _security(gateway: Any) -> Iterator[Metric]:
    """TLS certificate health and at-rest sealing failures (process-wide figures)."""
    from gateway import tls

    m = tls.METRICS
    yield CounterMetricFamily(
        "edgetwin_tls_reloads", "Reconnects for rotated certificates or keys", value=m.reloads
    )
    yield CounterMetricFamily(
        "edgetwin_tls_handshake_failures", "TLS handshakes that failed", value=m.handshake_failures
    )
    yield CounterMetricFamily(
        "edgetwin_tls_expiry_warnings",
        "Client certificates loaded within 30 days of expiry",
        value=m.expiry_warnings,
    )
    if m.cert_not_after_s:
        yield GaugeMetricFamily(
            "edgetwin_tls_cert_not_after_seconds",
            "Unix time the client certificate expires",
            value=m.cert_not_after_s,
        )
    buffer = getattr(gateway, "buffer", None)
    if buffer is not None:
        yield GaugeMetricFamily(
            "edgetwin_buffer_unreadable_rows",
            "Sealed outbox rows that failed authentication (kept, never sent)",
            value=len(buffer.unreadable_rows),
        )
