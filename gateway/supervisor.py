"""Keep every driver running: restart a failed one with backoff, alone.

A driver error (device gone, silent, bad port) is expected: it is logged in one line,
counted, turned into a disconnected event, and the driver is restarted after a jittered
exponential delay. An unexpected exception (a bug) is logged with its traceback and handled
the same way, so one bad driver never takes the others down.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from drivers.base import DeviceSpec, DriverCounters, DriverFactory
from gateway.backoff import Backoff
from gateway.buffer import Buffer
from gateway.cancellation import stop_if_cancelled
from gateway.errors import EdgeTwinError
from gateway.model import DeviceEvent, EventKind, ReceiveTime, stream_id_for
from gateway.pipeline import Pipeline

log = logging.getLogger(__name__)


@dataclass
class DriverHealth:
    state: str = "starting"
    restarts: int = 0
    crashes: int = 0
    counters: DriverCounters = field(default_factory=DriverCounters)


async def supervise(
    spec: DeviceSpec,
    factory: DriverFactory,
    pipeline: Pipeline,
    buffer: Buffer,
    health: DriverHealth,
    backoff: Backoff | None = None,
) -> None:
    """Run one driver forever (until cancelled)."""
    backoff = backoff or Backoff(base_s=0.5, cap_s=30.0)
    attempt = 0
    me = asyncio.current_task()
    while True:
        stop_if_cancelled(me)
        reason = ""
        try:
            async with factory(spec, health.counters) as driver:
                health.state = "connected"
                await _device_state(buffer, spec, "connected")
                async for record in driver.records():
                    attempt = 0
                    stop_if_cancelled(me)  # a driver (or its library) swallowed our cancel
                    await pipeline.put(record)
            reason = "stream ended"
        except EdgeTwinError as exc:
            reason = str(exc)
            log.warning("device %s: %s; restarting", spec.id, exc)
        except Exception as exc:  # a driver bug must not stop the others
            health.crashes += 1
            reason = f"driver crashed: {type(exc).__name__}: {exc}"
            log.exception("device %s: driver crashed; restarting it alone", spec.id)
        health.counters.last_error = reason
        if health.state == "connected":
            await pipeline.put(
                DeviceEvent(
                    spec.id,
                    stream_id_for(spec.id, "events"),
                    EventKind.DISCONNECTED,
                    ReceiveTime.now(),
                    reason[:200],
                )
            )
        health.state = "disconnected"
        await _device_state(buffer, spec, "disconnected", reason)
        health.restarts += 1
        await asyncio.sleep(backoff.delay(attempt))
        attempt += 1


async def _device_state(buffer: Buffer, spec: DeviceSpec, state: str, detail: str = "") -> None:
    try:
        await buffer.set_device_state(spec.id, spec.kind, state, detail[:300])
    except EdgeTwinError as exc:
        log.warning("device %s: cannot record state %s: %s", spec.id, state, exc)
