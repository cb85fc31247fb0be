"""A small simulated ward for the ops tests: Masimo simulators on ptys, a real Gateway, and
optionally the status server, all in this process. Patients are p-0001.. on bed-01..; their
manual NEWS2 inputs put each one in a different risk band.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.config import GatewayConfig, parse_config
from gateway.runtime import Gateway
from gateway.web.server import StatusServer
from hil.pty_port import PtyPort
from hil.sim.masimo_sim import MasimoSimulator

#: consciousness, on_oxygen, spo2_scale per bed: low, low-medium, medium, high NEWS2 bands
MANUAL = (("A", False, 1), ("V", False, 1), ("C", True, 1), ("U", True, 2))
PATIENT_IDS = tuple(f"p-{i + 1:04d}" for i in range(len(MANUAL)))


def ward_config(
    data_dir: Path, ports: list[str], mqtt_port: int | None, alarms: bool = True
) -> GatewayConfig:
    patients = [
        {"id": PATIENT_IDS[i], "bed": f"bed-{i + 1:02d}", "consciousness": c, "on_oxygen": o}
        | ({"spo2_scale": s} if s != 1 else {})
        for i, (c, o, s) in enumerate(MANUAL[: len(ports)])
    ]
    raw: dict[str, Any] = {
        "gateway": {"id": "ops-gw", "site": "ops-ward", "data_dir": str(data_dir)},
        "mqtt": {"port": mqtt_port} if mqtt_port else {"enabled": False},
        "buffer": {"flush_interval_ms": 50},
        "twin": {"snapshot_interval_s": 0.5},
        "patients": patients,
        "devices": [
            {"id": f"bed{i + 1:02d}-spo2", "kind": "masimo", "patient": PATIENT_IDS[i], "port": p}
            for i, p in enumerate(ports)
        ],
    }
    if alarms:  # limits tight enough that the simulated patients raise some alarms
        raw["alarms"] = {
            "limits": [
                {
                    "vital": "spo2",
                    "side": "low",
                    "threshold": 98,
                    "priority": "medium",
                    "onset_delay_s": 1,
                    "clear_delay_s": 5,
                },
                {
                    "vital": "pulse",
                    "side": "high",
                    "threshold": 72,
                    "priority": "low",
                    "onset_delay_s": 1,
                    "clear_delay_s": 5,
                },
                {
                    "vital": "spo2",
                    "side": "low",
                    "threshold": 93,
                    "priority": "high",
                    "onset_delay_s": 1,
                    "clear_delay_s": 5,
                    "level": 1,
                },
            ]
        }
    return parse_config(raw, "<ops test ward>")


@dataclass
class Ward:
    gateway: Gateway
    server: StatusServer | None
    sims: list[MasimoSimulator]
    stop: asyncio.Event
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        assert self.server is not None and self.server.bound_port is not None
        return f"http://127.0.0.1:{self.server.bound_port}"


@contextlib.asynccontextmanager
async def running_ward(
    tmp_path: Path,
    *,
    beds: int = 2,
    mqtt_port: int | None = None,
    token: str | None = None,
    serve: bool = True,
    interval_s: float = 0.2,
) -> AsyncIterator[Ward]:
    """Start simulators, the gateway and (``serve``) the status server on a free port."""
    ports = [PtyPort() for _ in range(beds)]
    cfg = ward_config(tmp_path / "data", [p.path for p in ports], mqtt_port)
    gateway = Gateway(cfg, drain_s=0.5)
    stop = asyncio.Event()
    sims = [MasimoSimulator(p, seed=i, interval_s=interval_s) for i, p in enumerate(ports)]
    server = StatusServer(gateway, port=0, token=token, interval_s=0.5) if serve else None
    ward = Ward(gateway, server, sims, stop)
    run = asyncio.create_task(gateway.run(stop), name="gateway")
    ward.tasks = [asyncio.create_task(s.run()) for s in sims]
    try:
        await poll(lambda: gateway.started.is_set() or run.done(), what="gateway started")
        if run.done():
            await run  # raises what stopped it
        if server is not None:
            ward.tasks.append(asyncio.create_task(server.run(), name="status"))
            await poll(lambda: server.started.is_set(), what="status server listening")
        yield ward
    finally:
        stop.set()
        for task in ward.tasks:
            task.cancel()
        await asyncio.gather(*ward.tasks, return_exceptions=True)
        await asyncio.wait_for(run, 30)
        for p in ports:
            p.close()


async def poll(
    condition: Callable[[], bool], *, deadline_s: float = 30.0, what: str = "condition"
) -> None:
    end = time.monotonic() + deadline_s
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {deadline_s} s waiting for {what}")
        await asyncio.sleep(0.02)
