"""Build the gateway's object graph in one place and run it under one TaskGroup.

Shutdown order (SIGTERM/SIGINT or ``stop``): drivers stop first, the pipeline flushes every
queued record to SQLite, the uplink gets ``drain_s`` to empty the outbox, then the broker
connection and the buffer close. Nothing acknowledged is left only in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from drivers.base import DeviceSpec
from drivers.registry import driver_factory
from gateway import gc_tuning, heap
from gateway.buffer import Buffer, BufferStats
from gateway.config import GatewayConfig
from gateway.desired import DesiredStateHandler, desired_topic
from gateway.device_twin import DeviceTwins
from gateway.errors import EdgeTwinError
from gateway.loop_errors import ClosedSocketWatch
from gateway.model import Record
from gateway.pipeline import Pipeline
from gateway.sdnotify import Notifier
from gateway.sealing import Sealer
from gateway.supervisor import DriverHealth, supervise
from gateway.sync import UplinkWorker
from gateway.tls import request_reload
from gateway.twin import PatientTwins
from gateway.uplink import MqttUplink, Uplink
from gateway.urgent_link import UrgentLink

log = logging.getLogger(__name__)

BUFFER_FILE = "buffer.sqlite3"
#: Buffer meta keys holding the twins' saved state (see :meth:`Gateway._persist_twins`).
PATIENT_TWIN_KEY = "patient_twin_state"
DEVICE_TWIN_KEY = "device_twin_state"


@dataclass(frozen=True, slots=True)
class DeviceSummary:
    device_id: str
    ingested: int
    buffered: int
    acked: int
    parse_errors: int
    restarts: int


@dataclass(frozen=True, slots=True)
class RunSummary:
    devices: tuple[DeviceSummary, ...]
    outbox_records: int
    uplink_connected: bool
    uplink_acked_records: int


class Gateway:
    def __init__(
        self,
        config: GatewayConfig,
        uplink_factory: Callable[[], Uplink] | None = None,
        drain_s: float = 5.0,
    ) -> None:
        self.config = config
        self.drain_s = drain_s
        self._uplink_factory = uplink_factory or (
            lambda: MqttUplink(config.mqtt, config.gateway_id, config.site)
        )
        # an injected uplink (tests, fault injection) carries the alarms too
        self._alarm_connection = config.mqtt.alarm_connection and uplink_factory is None
        self.health = {d.id: DriverHealth() for d in config.devices}
        self.pipeline: Pipeline | None = None
        self.uplink: UplinkWorker | None = None
        self.buffer: Buffer | None = None
        #: the loop's exception handler while running (counts closed-socket watch races)
        self.loop_errors: ClosedSocketWatch | None = None
        self.started = asyncio.Event()
        self.twins: PatientTwins | None = None
        self.device_twins: DeviceTwins | None = None
        self.desired: DesiredStateHandler | None = None
        self._baseline: dict[str, tuple[int, int]] = {}

    async def run(self, stop: asyncio.Event) -> RunSummary:
        cfg = self.config
        buffer = await Buffer.open(
            cfg.data_dir / BUFFER_FILE,
            cfg.gateway_id,
            cfg.site,
            max_bytes=cfg.buffer.max_bytes,
            min_free_bytes=cfg.buffer.min_free_bytes,
            encoding=cfg.mqtt.encoding,
            compression=cfg.mqtt.compression,
            sealer=Sealer.from_key_file(cfg.buffer.key_file)
            if cfg.buffer.encrypt and cfg.buffer.key_file
            else None,
        )
        self.buffer = buffer
        previous = sys.getswitchinterval()
        if cfg.switch_interval_us:
            # the buffer's threads release the GIL around every SQLite call; with Python's
            # 5 ms default each of them then waits out the event loop's slice, which caps
            # throughput and delays alarms on the urgent lane (docs/performance.md)
            sys.setswitchinterval(cfg.switch_interval_us / 1e6)
        self.loop_errors = ClosedSocketWatch.install()
        try:
            with gc_tuning.tuned(cfg.gc_young_threshold):
                return await self._run(buffer, stop)
        finally:
            self.loop_errors.uninstall()
            sys.setswitchinterval(previous)
            await buffer.close()

    async def _run(self, buffer: Buffer, stop: asyncio.Event) -> RunSummary:
        cfg = self.config
        wake = asyncio.Event()
        twins = PatientTwins(cfg)
        device_twins = DeviceTwins(cfg, self.health)
        resumed = await self._restore_twins(buffer, twins, device_twins)
        pipeline = Pipeline(cfg, buffer, twins, wake, device_twins)
        self.device_twins = device_twins
        self.pipeline = pipeline
        self.twins = twins
        desired = DesiredStateHandler(cfg, twins, pipeline.put, buffer.set_meta)
        await desired.restore(
            await buffer.get_meta("desired_version"), await buffer.get_meta("desired_doc")
        )
        self.desired = desired
        uplink: UplinkWorker | None = None
        if cfg.mqtt.enabled:
            uplink = UplinkWorker(
                buffer,
                self._uplink_factory,
                site=cfg.site,
                gateway_id=cfg.gateway_id,
                window=cfg.mqtt.inflight_window,
                backlog_bytes=cfg.mqtt.inflight_backlog_bytes,
                urgent=UrgentLink(
                    buffer,
                    lambda: MqttUplink(cfg.mqtt, cfg.gateway_id, cfg.site, lane="urgent"),
                    site=cfg.site,
                    gateway_id=cfg.gateway_id,
                    on_failure=wake.set,
                )
                if self._alarm_connection
                else None,
                wake=wake,
                describe=f"{cfg.mqtt.host}:{cfg.mqtt.port}",
                subscriptions=[desired_topic(cfg.site, cfg.gateway_id)],
                on_message=desired.handle,
            )
            # alarms go to the broker straight from their commit on the urgent lane
            buffer.on_urgent = uplink.send_now
            if uplink.urgent is not None:
                uplink.urgent.exception_handler = self.loop_errors
        self.uplink = uplink
        self._baseline = _per_device(await buffer.stats())
        await buffer.set_meta(
            {
                "gateway_id": cfg.gateway_id,
                "site": cfg.site,
                "pid": str(os.getpid()),
                "started_ns": str(time.time_ns()),
                "uplink_state": "connecting" if uplink else "disabled",
                "stopped_ns": "",
            }
        )
        async with asyncio.TaskGroup() as tg:
            committer = tg.create_task(pipeline.run(), name="pipeline")
            uplink_task = tg.create_task(uplink.run(), name="uplink") if uplink else None
            heartbeat = tg.create_task(self._heartbeat(buffer), name="heartbeat")
            if resumed:
                await pipeline.put_many(resumed)  # alarms a changed limit has ended
            persist = tg.create_task(self._persist_twins(buffer), name="twin-state")
            drivers = [
                tg.create_task(
                    supervise(
                        _with_state_dir(d, cfg),
                        driver_factory(d.kind),
                        pipeline,
                        buffer,
                        self.health[d.id],
                    ),
                    name=f"driver-{d.id}",
                )
                for d in cfg.devices
            ]
            status_task = None
            if cfg.status.enabled:
                from gateway.web.server import StatusServer

                server = StatusServer(
                    self, cfg.status.host, cfg.status.port, cfg.status.read_token()
                )
                status_task = tg.create_task(server.run(), name="status-page")
            notifier = Notifier()
            watchdog = tg.create_task(notifier.watchdog_loop(), name="watchdog")
            trimmer = (
                tg.create_task(heap.trim_every(cfg.heap_trim_interval_s), name="heap-trim")
                if cfg.heap_trim_interval_s
                else None
            )
            self.started.set()
            gc_tuning.freeze_startup()
            notifier.ready(f"{len(cfg.devices)} devices")
            await stop.wait()
            notifier.stopping()
            log.info("stopping: flushing in-flight records to the buffer")
            for task in drivers:
                task.cancel()
            await asyncio.gather(*drivers, return_exceptions=True)
            await pipeline.close()
            await committer
            heartbeat.cancel()
            persist.cancel()
            await self._save_twins(buffer)
            watchdog.cancel()
            if trimmer is not None:
                trimmer.cancel()
            if status_task is not None:
                status_task.cancel()
            for d in cfg.devices:
                await buffer.set_device_state(d.id, d.kind, "stopped", "gateway stopped")
            if uplink_task is not None and uplink is not None:
                await self._drain(buffer, uplink)
                # ask first (the worker returns within about a second), cancel as a backstop
                uplink.stop()
                await asyncio.wait({uplink_task}, timeout=5.0)
                if not uplink_task.done():
                    log.error("uplink did not stop within 5 s; cancelling it")
                    uplink_task.cancel()
        await self._write_heartbeat(buffer, stopped=True)
        return await self.summary(buffer)

    async def _drain(self, buffer: Buffer, uplink: UplinkWorker) -> None:
        deadline = time.monotonic() + self.drain_s
        while time.monotonic() < deadline and uplink.metrics.connected:
            stats = await buffer.stats()
            if stats.outbox_rows == 0:
                return
            uplink.wake.set()
            await asyncio.sleep(0.05)

    async def _restore_twins(
        self, buffer: Buffer, twins: PatientTwins, device_twins: DeviceTwins
    ) -> list[Record]:
        """Resume the twins where the last run saved them (a fresh start if that fails)."""
        ended: list[Record] = []
        blob = await buffer.get_meta(PATIENT_TWIN_KEY)
        if blob:
            try:
                ended.extend(twins.restore(blob.encode()))
                log.info("patient twins resumed from the saved state")
            except (ValueError, KeyError, TypeError) as exc:
                log.warning("patient twin state not resumed (%s); starting fresh", exc)
        blob = await buffer.get_meta(DEVICE_TWIN_KEY)
        if blob:
            try:
                device_twins.restore(blob.encode())
                log.info("device twins resumed from the saved state")
            except (ValueError, KeyError, TypeError) as exc:
                log.warning("device twin state not resumed (%s); starting fresh", exc)
        return ended

    async def _save_twins(self, buffer: Buffer) -> None:
        if self.twins is None or self.device_twins is None:
            return
        with contextlib.suppress(EdgeTwinError):
            await buffer.set_meta(
                {
                    PATIENT_TWIN_KEY: self.twins.state().decode(),
                    DEVICE_TWIN_KEY: self.device_twins.state().decode(),
                }
            )

    async def _persist_twins(self, buffer: Buffer) -> None:
        """Save the twins' state now and then, so a restart resumes their estimates."""
        while True:
            await asyncio.sleep(self.config.twin.state_save_interval_s)
            await self._save_twins(buffer)

    async def _heartbeat(self, buffer: Buffer) -> None:
        while True:
            await self._write_heartbeat(buffer)
            await asyncio.sleep(2.0)

    async def _write_heartbeat(self, buffer: Buffer, stopped: bool = False) -> None:
        counters = {
            dev: {
                "state": h.state,
                "restarts": h.restarts,
                "crashes": h.crashes,
                "last_error": h.counters.last_error,
                **dict(h.counters.counts),
            }
            for dev, h in self.health.items()
        }
        values = {
            "heartbeat_ns": str(time.time_ns()),
            "device_counters": json.dumps(counters),
        }
        if stopped:
            values["stopped_ns"] = str(time.time_ns())
            values["uplink_state"] = "stopped"
        with contextlib.suppress(EdgeTwinError):
            await buffer.set_meta(values)

    async def summary(self, buffer: Buffer) -> RunSummary:
        """Counts for this run only (the buffer's totals minus those at start)."""
        stats: BufferStats = await buffer.stats()
        now = _per_device(stats)
        zero = (0, 0)
        buffered = {d: c - self._baseline.get(d, zero)[0] for d, (c, _) in now.items()}
        acked = {d: a - self._baseline.get(d, zero)[1] for d, (_, a) in now.items()}
        ingested = self.pipeline.ingested if self.pipeline else {}
        devices = tuple(
            DeviceSummary(
                d.id,
                ingested.get(d.id, 0),
                buffered.get(d.id, 0),
                acked.get(d.id, 0),
                self.health[d.id].counters.counts["parse_errors"],
                self.health[d.id].restarts,
            )
            for d in self.config.devices
        )
        return RunSummary(
            devices,
            stats.outbox_records,
            bool(self.uplink and self.uplink.metrics.connected),
            self.uplink.metrics.acked_records if self.uplink else 0,
        )


def _with_state_dir(spec: DeviceSpec, cfg: GatewayConfig) -> DeviceSpec:
    """BLE drivers keep their stored-record positions beside the buffer by default."""
    if spec.kind == "ble" and "state_dir" not in spec.options:
        return replace(spec, options={**spec.options, "state_dir": str(cfg.data_dir)})
    return spec


def _per_device(stats: BufferStats) -> dict[str, tuple[int, int]]:
    """(committed, acked) per device over all its streams."""
    out: dict[str, tuple[int, int]] = {}
    for s in stats.streams:
        if s.device_id:
            committed, acked = out.get(s.device_id, (0, 0))
            out[s.device_id] = (committed + s.committed, acked + s.acked)
    return out


def install_signal_handlers(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    # SIGHUP (systemctl reload): pick up rotated TLS certificates and keys now
    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGHUP, request_reload)
