"""Run scenarios through the real gateway pipeline and evaluate their ``[[expect]]``.

Per scenario (emulated rig): a private mosquitto (:class:`gateway.broker.LocalBroker`) and
a subscriber, a :class:`gateway.runtime.Gateway` with its SQLite buffer in a temporary
folder, the rig's BLE targets as bumble peripherals on an emulated air
(:class:`hil.ble.harness.Ward`) and its serial targets as pty simulators, all following
the engine scenario (:mod:`hil.scenarios.drive_ble`, :mod:`hil.scenarios.drive_serial`).
Scenario time runs ``speed`` times faster than real time, so the gateway's own time
constants (alarm delays, twin smoothing, staleness, snapshot interval, BLE timeouts) are
scaled by ``1 / speed`` to keep the clinical behaviour of a real-time run; the device
twin runs on scenario time instead (``twin.device_time_scale = speed``).

What the gateway published (plus what is still in its outbox) is then checked by
:func:`hil.report.evaluate`. A hardware rig runs in real time against the rig's adapter and
ports after resetting its boards (``mpremote reset``) and skips with the reason when any
of them is absent.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shutil
import sqlite3
import subprocess
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiomqtt
from bumble import hci

from drivers.ble import uuids
from edge_models.alarms import Limit
from gateway import codes, envelope
from gateway.broker import LocalBroker
from gateway.config import parse_config
from gateway.errors import BrokerUnavailableError
from gateway.runtime import BUFFER_FILE, Gateway
from gateway.twin import DEFAULT_LIMITS
from hil.ble.devices import HrStrap, PlxOximeter
from hil.ble.harness import Ward
from hil.ble.peripheral import EmulatedPeripheral
from hil.ble.peripheral import Sent as BleSent
from hil.ble.scenario import SimClock
from hil.report import NOT_EVALUATED, Loss, Observation, ScenarioResult, evaluate
from hil.rig import Rig, Target
from hil.scenarios.drive_ble import BleFollower, values_of
from hil.scenarios.drive_serial import NoisyPort, doubt_garbled, faults_for, vitals_source
from hil.scenarios.engine import Scenario
from hil.scenarios.loader import library_scenario
from hil.serial_sim.base import Fate, Sent, SimulatorBase
from hil.serial_sim.datex_sim import DatexSimulator
from hil.serial_sim.masimo_stream import MasimoStreamer
from hil.serial_sim.nonin_sim import NoninSimulator

log = logging.getLogger(__name__)

PATIENT = "p-1"
DATEX_INTERVAL_S = 5  # displayed values every 5 s, the monitor's fastest
#: Wall seconds of silence before the BLE driver drops a link, at least: a shorter limit
#: trips on scheduling hiccups of a busy CI machine, not on the device.
BLE_SILENCE_MIN_S = 2.0
REMOTE_USER_TERMINATED = int(hci.HCI_ErrorCode.REMOTE_USER_TERMINATED_CONNECTION_ERROR)
#: The stream per BLE device whose stored samples are counted against the notifications.
BLE_STREAMS: dict[str, tuple[int, int]] = {
    "hr": (uuids.HEART_RATE_MEASUREMENT, codes.MDC_ECG_HEART_RATE.mdc_code),
    "plx": (uuids.PLX_CONTINUOUS_MEASUREMENT, codes.MDC_PULS_OXIM_SAT_O2.mdc_code),
}
SPO2 = codes.MDC_PULS_OXIM_SAT_O2.mdc_code
Samples = dict[str, list[dict[str, Any]]]


def scaled_limits(speed: float, limits: Iterable[Limit] = DEFAULT_LIMITS) -> list[Limit]:
    """Alarm limits with their delays in wall seconds of a run at ``speed``."""
    return [
        replace(
            lim, onset_delay_s=lim.onset_delay_s / speed, clear_delay_s=lim.clear_delay_s / speed
        )
        for lim in limits
    ]


def _limit_table(lim: Limit) -> dict[str, object]:
    return {
        "vital": lim.vital,
        "side": lim.side.value,
        "threshold": lim.threshold,
        "priority": lim.priority.name.lower(),
        "onset_delay_s": lim.onset_delay_s,
        "clear_delay_s": lim.clear_delay_s,
        "hysteresis": lim.hysteresis,
        "latching": lim.latching,
        "level": lim.level,
    }


def gateway_config(
    data_dir: Path,
    devices: list[dict[str, object]],
    speed: float,
    broker: LocalBroker | None,
) -> dict[str, Any]:
    """The gateway configuration of one run (time constants scaled by ``1 / speed``)."""
    return {
        "gateway": {"id": "hil-gw", "site": "hil", "data_dir": str(data_dir)},
        "mqtt": {"host": broker.host, "port": broker.port}
        if broker is not None
        else {"enabled": False},
        "buffer": {"flush_interval_ms": 20},
        "twin": {
            "tau_s": max(0.1, 30.0 / speed),
            "snapshot_interval_s": max(0.1, 5.0 / speed),
            "stale_after_s": max(1.0, 60.0 / speed),
            # the device twin's battery, drift and link models on scenario time
            "device_time_scale": max(1.0, speed),
        },
        "patients": [{"id": PATIENT, "consciousness": "A", "on_oxygen": False}],
        "devices": devices,
        "alarms": {"limits": [_limit_table(lim) for lim in scaled_limits(speed)]},
    }


# ------------------------------------------------------------------ collecting output


class Collector:
    """Envelopes the gateway published on the private broker (QoS 1, deduplicated later)."""

    def __init__(self, broker: LocalBroker) -> None:
        self.broker = broker
        self.bodies: list[dict[str, Any]] = []
        self.ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def _listen(self) -> None:
        async with aiomqtt.Client(
            self.broker.host,
            self.broker.port,
            protocol=aiomqtt.ProtocolVersion.V5,
            identifier="hil-collector",
        ) as client:
            await client.subscribe("edgetwin/v1/#", qos=1)
            self.ready.set()
            async for message in client.messages:
                payload = message.payload
                if isinstance(payload, bytes):
                    with contextlib.suppress(ValueError):
                        body = envelope.decode(payload)
                        if "samples" in body:
                            self.bodies.append(body)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._listen(), name="hil-collector")
        ready = asyncio.ensure_future(self.ready.wait())
        await asyncio.wait({ready, self._task}, timeout=10.0, return_when=asyncio.FIRST_COMPLETED)
        if not self.ready.is_set():
            ready.cancel()
            await self.stop()
            raise BrokerUnavailableError("cannot subscribe to the private broker")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None


def outbox_bodies(db_path: Path) -> list[dict[str, Any]]:
    """Envelopes still in the outbox (not yet acknowledged by the broker)."""
    if not db_path.exists():
        return []
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT payload FROM outbox").fetchall()
    finally:
        db.close()
    return [envelope.decode(payload) for (payload,) in rows]


def merge_samples(bodies: Iterable[dict[str, Any]]) -> Samples:
    """Samples per stream, deduplicated on sequence number and sorted by it."""
    by_stream: dict[str, dict[int, dict[str, Any]]] = defaultdict(dict)
    for body in bodies:
        for sample in body.get("samples", []):
            by_stream[body["stream"]][int(sample["seq"])] = sample
    return {s: [v for _, v in sorted(seqs.items())] for s, seqs in by_stream.items()}


def count_duplicates(bodies: Iterable[dict[str, Any]]) -> dict[str, int]:
    """Per stream: sequence numbers published more than once with different content."""
    seen: dict[tuple[str, int], str] = {}
    dups: dict[str, int] = defaultdict(int)
    for body in bodies:
        for sample in body.get("samples", []):
            key = (body["stream"], int(sample["seq"]))
            text = json.dumps(sample, sort_keys=True)
            if key in seen and seen[key] != text:
                dups[body["stream"]] += 1
            seen[key] = text
    return dict(dups)


# ------------------------------------------------------------------ loss accounting


def ble_loss(target: Target, device: EmulatedPeripheral, samples: Samples) -> Loss:
    """Notifications that reached the gateway undamaged versus stored samples (counts).

    Damaged ones (corrupt, truncated) count as uncertain: the parser must refuse them, and
    one that was stored shows up as unexpected. So does the last notification of a link the
    gateway closed (silence timeout): it may have been in flight when the central let go.
    """
    char, mdc = BLE_STREAMS[target.device]
    sent = [s for s in device.sent if s.char == char]
    closed_by_gateway = {
        number
        for number, reason in enumerate(device.disconnect_reasons, start=1)
        if reason == REMOTE_USER_TERMINATED
    }
    last_of: dict[int, BleSent] = {}
    for s in sent:
        if not s.lost and not s.fault:
            last_of[s.connection] = s
    in_flight = {id(last_of[c]) for c in closed_by_gateway if c in last_of}
    delivered = [s for s in sent if not s.lost and not s.fault and id(s) not in in_flight]
    stored = len(samples.get(f"{target.id}.{mdc}", []))
    loss = Loss(target.id, sent=len(sent), delivered=len(delivered), stored=stored)
    loss.uncertain = sum(1 for s in sent if s.fault and not s.lost) + len(in_flight)
    loss.missing = max(0, len(delivered) - stored)
    loss.unexpected = max(0, stored - len(delivered) - len(in_flight))
    return loss


def _message_key(sim: SimulatorBase, t_dev_ns: int) -> object:
    """The ledger key of the message a stored sample with this device time came from."""
    seconds = t_dev_ns // 1_000_000_000
    if isinstance(sim, DatexSimulator):
        return ("phdb", seconds)
    return ("line", datetime.fromtimestamp(seconds, UTC))


def serial_loss(target: Target, sim: SimulatorBase, samples: Samples) -> Loss:
    """Ledger fates versus the stored SpO2 samples, matched by the device's timestamp."""
    items = sim.ledger.items
    loss = Loss(target.id, sent=len(items))
    loss.delivered = sum(1 for s in items if s.fate is Fate.DELIVERED)
    loss.uncertain = sum(1 for s in items if s.fate is Fate.UNCERTAIN)
    stored = samples.get(f"{target.id}.{SPO2}", [])
    loss.stored = len(stored)
    if not isinstance(sim, DatexSimulator | MasimoStreamer):
        loss.note = f"{NOT_EVALUATED}: no timestamp to match {target.device} messages by"
        return loss
    by_key: dict[object, Sent] = {s.key: s for s in items}
    seen: dict[object, int] = defaultdict(int)
    for sample in stored:
        t_dev = sample.get("t_dev_ns")
        item = by_key.get(_message_key(sim, int(t_dev))) if t_dev is not None else None
        if item is None or item.fate is Fate.LOST:
            loss.unexpected += 1
            continue
        seen[item.key] += 1
    loss.duplicates = sum(n - 1 for n in seen.values() if n > 1)
    loss.missing = sum(1 for s in items if s.fate is Fate.DELIVERED and s.key not in seen)
    return loss


# ------------------------------------------------------------------ one scenario


@dataclass
class _Serial:
    target: Target
    port: NoisyPort
    sim: SimulatorBase
    task: asyncio.Task[None] | None = None


@dataclass
class _Ble:
    target: Target
    device: EmulatedPeripheral
    follower: BleFollower
    task: asyncio.Task[None] | None = None


@dataclass
class RunSettings:
    speed: float
    workdir: Path
    use_broker: bool = True
    settle_s: float = 2.0  # scenario seconds for the last records after the scenario ends
    extra_devices: list[dict[str, object]] = field(default_factory=list)


def _serial_sim(target: Target, engine: Scenario, port: NoisyPort, speed: float) -> SimulatorBase:
    source = vitals_source(engine)
    if target.device == "datex-s5":
        faults = faults_for(engine, DATEX_INTERVAL_S)
        return DatexSimulator(port, source, speed=speed, faults=faults, seed=engine.seed)
    if target.device == "masimo":
        faults = faults_for(engine, MasimoStreamer.tick_s)
        return MasimoStreamer(port, source, speed=speed, faults=faults, seed=engine.seed)
    faults = faults_for(engine, NoninSimulator.tick_s)
    return NoninSimulator(port, source, speed=speed, faults=faults, seed=engine.seed)


def _serial_entry(target: Target, path: str) -> dict[str, object]:
    entry: dict[str, object] = {
        "id": target.id,
        "kind": target.device,
        "patient": PATIENT,
        "port": path,
    }
    if target.device == "datex-s5":
        entry.update(interval_s=DATEX_INTERVAL_S, waves=[])
    return entry


class EmulatedBench:
    """The running targets of one scenario on an emulated rig, with the gateway on them.

    ``async with EmulatedBench(engine, rig, settings) as bench:`` starts the broker, the
    gateway, the devices and the scenario; a test may look at ``bench.devices``,
    ``bench.sims``, ``bench.gateway`` and ``bench.clock`` meanwhile. :meth:`finish` waits
    for the scenario's end, stops the gateway and returns the :class:`Observation`.
    """

    def __init__(self, engine: Scenario, rig: Rig, settings: RunSettings) -> None:
        if not rig.emulated:
            raise ValueError(f"rig {rig.name} is not emulated")
        self.engine = engine
        self.rig = rig
        self.settings = settings
        self.speed = settings.speed
        self.data = settings.workdir / "data"
        self.broker: LocalBroker | None = None
        self.collector: Collector | None = None
        self.ward: Ward | None = None
        self.gateway: Gateway | None = None
        self._ble: list[_Ble] = []
        self._serial: list[_Serial] = []
        self._stop = asyncio.Event()
        self._gw_task: asyncio.Task[Any] | None = None
        self.wall0_ns = 0
        self._started = 0.0

    @property
    def clock(self) -> SimClock:
        assert self.ward is not None
        return self.ward.clock

    @property
    def devices(self) -> dict[str, EmulatedPeripheral]:
        return {b.target.id: b.device for b in self._ble}

    @property
    def sims(self) -> dict[str, SimulatorBase]:
        return {s.target.id: s.sim for s in self._serial}

    async def __aenter__(self) -> EmulatedBench:
        try:
            await self._start()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _start(self) -> None:
        engine, speed, work = self.engine, self.speed, self.settings.workdir
        self._started = time.monotonic()
        if self.settings.use_broker:
            self.broker = LocalBroker(work / "broker")
            await asyncio.to_thread(self.broker.start)
            self.collector = Collector(self.broker)
        self.ward = ward = await Ward.open(speed=speed, adapter=self.rig.adapter)
        clock, wall = ward.clock, ward.clock.wall
        entries: list[dict[str, object]] = []
        for target in self.rig.targets:
            if target.transport == "ble":
                cls = HrStrap if target.device == "hr" else PlxOximeter
                device = ward.add(cls(target.id, target.address, clock, values_of(engine)))
                self._ble.append(_Ble(target, device, BleFollower(engine, device, clock)))
                entries.append(
                    ward.config_entry(
                        device,
                        PATIENT,
                        silence_timeout_s=max(wall(10.0), BLE_SILENCE_MIN_S),
                        battery_interval_s=wall(10.0),
                    )
                )
            else:
                port = NoisyPort(work / target.id, engine)
                sim = _serial_sim(target, engine, port, speed)
                port.now = lambda sim=sim: sim.t  # type: ignore[misc]
                self._serial.append(_Serial(target, port, sim))
                entries.append(_serial_entry(target, port.path))
        raw = gateway_config(self.data, entries + self.settings.extra_devices, speed, self.broker)
        self.gateway = Gateway(parse_config(raw, f"<hil {engine.name}>"))
        if self.collector is not None:
            await self.collector.start()
        self._gw_task = asyncio.create_task(self.gateway.run(self._stop), name="hil-gateway")
        await self.gateway.started.wait()
        await ward.start()
        self.wall0_ns = time.time_ns() - round(clock.now() / speed * 1e9)
        for b in self._ble:
            b.task = b.follower.start()
        for s in self._serial:
            s.task = asyncio.create_task(s.sim.run(engine.duration_s), name=f"sim-{s.target.id}")

    async def finish(self) -> Observation:
        """Wait for the scenario's end, let the last records in, stop the gateway, collect."""
        engine, clock = self.engine, self.clock
        await clock.sleep_until(engine.duration_s)
        for b in self._ble:
            await b.device.halt()
        for s in self._serial:
            if s.task is not None:
                await s.task
        for b in self._ble:
            if b.task is not None:
                await b.task
        await clock.sleep(self.settings.settle_s)
        self._stop.set()
        if self._gw_task is not None:
            await self._gw_task
        bodies: list[dict[str, Any]] = []
        if self.collector is not None:
            await asyncio.sleep(0.2)
            await self.collector.stop()
            bodies.extend(self.collector.bodies)
        bodies.extend(outbox_bodies(self.data / BUFFER_FILE))
        samples = merge_samples(bodies)
        dups = count_duplicates(bodies)
        losses: list[Loss] = []
        for b in self._ble:
            loss = ble_loss(b.target, b.device, samples)
            loss.duplicates = dups.get(f"{b.target.id}.{BLE_STREAMS[b.target.device][1]}", 0)
            losses.append(loss)
        for s in self._serial:
            doubt_garbled(s.sim.ledger, s.port)
            losses.append(serial_loss(s.target, s.sim, samples))
        actions = [(t, b.target.id, what) for b in self._ble for t, what in b.follower.actions]
        actions += [
            (t, s.target.id, f.kind.value) for s in self._serial for t, f in s.sim.plan.applied
        ]
        return Observation(
            engine.name,
            self.rig.name,
            self.speed,
            self.wall0_ns,
            PATIENT,
            samples,
            losses,
            sorted(actions),
            {t.id: t.transport for t in self.rig.targets},
            time.monotonic() - self._started,
        )

    async def close(self) -> None:
        """Stop everything that is still running (idempotent)."""
        self._stop.set()
        tasks: list[asyncio.Task[Any] | None] = [b.task for b in self._ble]
        for s in self._serial:
            s.sim.stop()
            tasks.append(s.task)
        tasks.append(self._gw_task)
        for task in tasks:
            if task is not None and not task.done() and task is not self._gw_task:
                task.cancel()
        await asyncio.gather(*(t for t in tasks if t is not None), return_exceptions=True)
        if self.collector is not None:
            await self.collector.stop()
        if self.ward is not None:
            await self.ward.close()
            self.ward = None
        for s in self._serial:
            s.port.close()
        if self.broker is not None:
            self.broker.stop()


async def run_emulated(engine: Scenario, rig: Rig, settings: RunSettings) -> Observation:
    """One scenario on the emulated rig; returns what the gateway published."""
    async with EmulatedBench(engine, rig, settings) as bench:
        return await bench.finish()


async def run_hardware(engine: Scenario, rig: Rig, settings: RunSettings) -> Observation:
    """One scenario on a bench, in real time, with the targets whose board carries it.

    Those boards are reset first (their firmware restarts the scenario at t = 0).
    """
    missing = rig.missing()
    if missing:
        return Observation(engine.name, rig.name, 1.0, 0, PATIENT, {}, skipped="; ".join(missing))
    data = settings.workdir / "data"
    entries: list[dict[str, object]] = []
    targets = [t for t in rig.targets if rig.board(t.board).scenario == engine.name]
    if not targets:
        reason = f"no board of rig {rig.name} is flashed with {engine.name}"
        return Observation(engine.name, rig.name, 1.0, 0, PATIENT, {}, skipped=reason)
    for t in targets:
        if t.transport == "ble":
            entry: dict[str, object] = {"id": t.id, "kind": "ble", "patient": PATIENT}
            entry["adapter"] = "default"
            if t.address:
                entry["address"] = t.address
            else:
                entry["match_name"] = t.match_name
            entries.append(entry)
        else:
            entries.append(_serial_entry(t, t.port))
    broker = LocalBroker(settings.workdir / "broker") if settings.use_broker else None
    if broker is not None:
        await asyncio.to_thread(broker.start)
    collector = Collector(broker) if broker is not None else None
    started = time.monotonic()
    try:
        gateway = Gateway(parse_config(gateway_config(data, entries, 1.0, broker), rig.source))
        if collector is not None:
            await collector.start()
        stop = asyncio.Event()
        task = asyncio.create_task(gateway.run(stop))
        await gateway.started.wait()
        for board in rig.boards:
            if board.scenario == engine.name:
                await asyncio.to_thread(reset_board, board.port)
        wall0_ns = time.time_ns()
        await asyncio.sleep(engine.duration_s + settings.settle_s)  # real time on a bench
        stop.set()
        await task
        bodies = list(collector.bodies) if collector is not None else []
        if collector is not None:
            await collector.stop()
        bodies += outbox_bodies(data / BUFFER_FILE)
        return Observation(
            engine.name,
            rig.name,
            1.0,
            wall0_ns,
            PATIENT,
            merge_samples(bodies),
            targets={t.id: t.transport for t in targets},
            wall_s=time.monotonic() - started,
        )
    finally:
        if collector is not None:
            await collector.stop()
        if broker is not None:
            broker.stop()


def reset_board(port: str) -> None:
    """Hard-reset a board with mpremote (its firmware restarts the scenario at t = 0)."""
    mpremote = shutil.which("mpremote")
    if mpremote is None:
        raise FileNotFoundError("mpremote is not installed (pip install mpremote)")
    subprocess.run([mpremote, "connect", port, "reset"], check=True, timeout=30)


async def run_scenario(
    engine: Scenario, rig: Rig, speed: float | None = None, workdir: Path | None = None
) -> ScenarioResult:
    """Run one scenario on ``rig`` and evaluate it (a temporary folder unless ``workdir``)."""
    speed = rig.speed if speed is None or not rig.emulated else speed
    with tempfile.TemporaryDirectory(prefix=f"hil-{engine.name}-") as tmp:
        settings = RunSettings(speed, Path(workdir or tmp))
        settings.workdir.mkdir(parents=True, exist_ok=True)
        if rig.emulated:
            obs = await run_emulated(engine, rig, settings)
        else:
            obs = await run_hardware(engine, rig, settings)
    return evaluate(engine, obs, DEFAULT_LIMITS)


async def run_suite(
    rig: Rig,
    names: Sequence[str] | None = None,
    speed: float | None = None,
    progress: Callable[[ScenarioResult], None] | None = None,
) -> list[ScenarioResult]:
    """Run scenarios (default: the rig's list) one after the other."""
    results = []
    for name in names or rig.scenarios:
        result = await run_scenario(library_scenario(name), rig, speed)
        if progress is not None:
            progress(result)
        results.append(result)
    return results
