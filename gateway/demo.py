"""``edgetwin demo``: a simulated ward on embedded defaults, end to end on real parts.

Each bed gets a Masimo oximeter simulator on its own pseudo-terminal; the real serial driver
reads it; records go through the twin into the SQLite buffer and up to a private mosquitto
started on a free loopback port. Without mosquitto the gateway runs buffer-only and says so.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

from drivers.base import DeviceSpec
from gateway.broker import LocalBroker, find_mosquitto
from gateway.config import BufferConfig, GatewayConfig, MqttConfig, Patient, TwinConfig
from gateway.errors import BrokerUnavailableError
from gateway.runtime import Gateway, RunSummary, install_signal_handlers
from gateway.web.config import StatusConfig
from hil.pty_port import PtyPort
from hil.sim.masimo_sim import MasimoSimulator

log = logging.getLogger(__name__)


def demo_config(
    data_dir: Path, ptys: list[PtyPort], mqtt_port: int, status_port: int = 0
) -> GatewayConfig:
    patients = tuple(
        Patient(f"p-{i + 1:04d}", f"bed-{i + 1:02d}", consciousness="A", on_oxygen=False)
        for i in range(len(ptys))
    )
    devices = tuple(
        DeviceSpec(f"bed{i + 1:02d}-spo2", "masimo", patients[i].id, {"port": pty.path})
        for i, pty in enumerate(ptys)
    )
    return GatewayConfig(
        gateway_id="demo-gw",
        site="demo-ward",
        data_dir=data_dir,
        mqtt=MqttConfig(host="127.0.0.1", port=mqtt_port),
        buffer=BufferConfig(),
        twin=TwinConfig(),
        patients=patients,
        devices=devices,
        source="<embedded demo defaults>",
        status=StatusConfig(enabled=status_port > 0, port=status_port),
    )


async def run_demo(
    data_dir: Path, seconds: float | None, beds: int, rate_hz: float, status_port: int = 0
) -> RunSummary:
    broker: LocalBroker | None = None
    mqtt_port = 1883
    if find_mosquitto() is None:
        print(
            "edgetwin demo: mosquitto is not installed; running buffer-only "
            f"(records stay in {data_dir}; sync starts when a broker listens on 127.0.0.1:1883)",
            file=sys.stderr,
        )
    else:
        broker = LocalBroker(data_dir / "broker")
        try:
            broker.start()
            mqtt_port = broker.port
        except BrokerUnavailableError as exc:
            print(f"edgetwin demo: {exc}; running buffer-only", file=sys.stderr)
            broker = None
    ptys = [PtyPort() for _ in range(beds)]
    sims = [MasimoSimulator(p, seed=i, interval_s=1.0 / rate_hz) for i, p in enumerate(ptys)]
    config = demo_config(data_dir, ptys, mqtt_port, status_port)
    gateway = Gateway(config)
    stop = asyncio.Event()
    install_signal_handlers(stop)
    where = f"broker 127.0.0.1:{mqtt_port}" if broker else "no broker (buffer-only)"
    if status_port:
        where += f"; status page http://127.0.0.1:{status_port}/"
    print(
        f"edgetwin demo: {beds} beds, Masimo oximeters on {', '.join(p.path for p in ptys)}; "
        f"buffer {data_dir}; {where}" + (f"; stopping after {seconds:g} s" if seconds else ""),
        file=sys.stderr,
    )
    sim_tasks = [asyncio.create_task(sim.run(), name=f"sim-{i}") for i, sim in enumerate(sims)]
    try:
        gw = asyncio.create_task(gateway.run(stop), name="gateway")
        if seconds is not None:
            await asyncio.wait({gw}, timeout=seconds)
            stop.set()
        return await gw
    finally:
        for task in sim_tasks:
            task.cancel()
        await asyncio.gather(*sim_tasks, return_exceptions=True)
        for p in ptys:
            p.close()
        if broker is not None:
            broker.stop()


def format_summary(summary: RunSummary) -> str:
    lines = [
        f"{'device':<16}{'ingested':>10}{'buffered':>10}{'acked':>10}{'errors':>8}{'restarts':>10}"
    ]
    for d in summary.devices:
        lines.append(
            f"{d.device_id:<16}{d.ingested:>10}{d.buffered:>10}{d.acked:>10}"
            f"{d.parse_errors:>8}{d.restarts:>10}"
        )
    total_in = sum(d.ingested for d in summary.devices)
    total_buf = sum(d.buffered for d in summary.devices)
    total_ack = sum(d.acked for d in summary.devices)
    lines.append(f"{'total':<16}{total_in:>10}{total_buf:>10}{total_ack:>10}")
    state = "connected" if summary.uplink_connected else "not connected"
    lines.append(
        f"records acknowledged upstream this run: {summary.uplink_acked_records}; "
        f"still in outbox: {summary.outbox_records}; uplink {state}"
    )
    return "\n".join(lines)
