"""Fleet simulator: many simulated gateways, one broker, consumers on a shared subscription.

Each simulated gateway is one MQTT 5 connection made by the gateway's own uplink
(:class:`gateway.uplink.MqttUplink`: persistent client id, retained birth and will, QoS 1,
PUBACK awaited and checked). Every ``flush_s`` it publishes what a real gateway's buffer
would flush: one envelope per stream that has records, built by the real encoder
(:func:`gateway.envelope.encode_batch`) with gap-free per-stream sequence numbers. A bed is
a monitor with four numerics at 1 Hz (HR, SpO2, pulse rate, respiration rate) and two waves
(ECG lead II at 250 Hz, pleth at 125 Hz) carried as one chunk per flush.

``consumers`` reference consumers (:func:`gateway.ingest.consume` with an
:class:`~gateway.ingest.Ingestor`, the code behind ``edgetwin ingest``) share one
subscription group and, as the wire-format document prescribes, one state file. A fraction
of the messages is published twice (as after a lost PUBACK) and, for testing the check,
some may be dropped. After the run the state file is checked against what was published:
every ``(gateway, stream, seq)`` counted once, nothing missing, nothing unexpected.

Rates are measured, never asserted: this is a load generator, not a test.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import signal
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final, Protocol

import numpy as np

from gateway import envelope
from gateway.broker import LocalBroker
from gateway.config import MqttConfig
from gateway.ingest import Ingestor, consume
from gateway.model import Measurement, Quality, ReceiveTime, Record, WaveformChunk, stream_id_for
from gateway.uplink import MqttUplink

#: Numerics of one simulated bed: (MDC code, UCUM unit, mean, spread). MDC codes from
#: IEEE 11073-10101 (also in gateway.codes).
NUMERICS: Final = (
    (147842, "/min", 72.0, 8.0),  # MDC_ECG_HEART_RATE
    (150456, "%", 96.0, 2.0),  # MDC_PULS_OXIM_SAT_O2
    (149530, "/min", 72.0, 8.0),  # MDC_PULS_OXIM_PULS_RATE
    (151562, "/min", 15.0, 3.0),  # MDC_RESP_RATE
)
#: Waves of one simulated bed: (MDC code, UCUM unit, rate Hz, gain). 131330 is
#: MDC_ECG_ELEC_POTL_II (partition 2, term 258; not in gateway.codes), 150452 the pleth.
WAVES: Final = (
    (131330, "mV", 250.0, 0.005),
    (150452, "1", 125.0, 1.0),
)
NUMERIC_PERIOD_S: Final = 1.0
#: Envelope kinds a site broker forwards upstream (docs/wire-format.md section 1).
BRIDGED_KINDS: Final = ("numeric", "wave", "event", "alarm", "twin", "gap")
CONNECT_CONCURRENCY: Final = 50


@dataclass(frozen=True, slots=True)
class FleetOptions:
    gateways: int = 20
    seconds: float = 5.0
    consumers: int = 2
    beds: int = 2  # per gateway
    flush_s: float = 0.25  # the gateway's default flush interval
    duplicate_fraction: float = 0.01
    drop_fraction: float = 0.0  # messages never published (only to test the check)
    inflight: int = 32
    drain_timeout_s: float = 60.0
    host: str | None = None  # None: start a private mosquitto
    port: int = 1883
    state_dir: Path | None = None  # where the consumers' state file goes (default: temp)
    seed: int = 0
    consumer_processes: bool = False  # True: `edgetwin ingest` processes, else in-process
    bridge: bool = False  # gateways publish to a site mosquitto bridged to the broker

    def check(self) -> None:
        if not 1 <= self.gateways <= 10_000:
            raise ValueError("--gateways must be 1..10000")
        if not 0 < self.seconds <= 86_400:
            raise ValueError("--seconds must be above 0 and at most 86400")
        if not 1 <= self.consumers <= 64:
            raise ValueError("--consumers must be 1..64")
        if not 1 <= self.beds <= 64:
            raise ValueError("--beds must be 1..64")
        if not 0.01 <= self.flush_s <= 60:
            raise ValueError("--flush-ms must be 10..60000")
        for name in ("duplicate_fraction", "drop_fraction"):
            if not 0 <= getattr(self, name) <= 0.5:
                raise ValueError(f"{name.replace('_', '-')} must be from 0 to 0.5")


@dataclass(slots=True)
class PublisherStats:
    messages: int = 0  # PUBACKed publishes of envelopes, duplicates included
    duplicate_messages: int = 0
    duplicate_records: int = 0
    dropped_messages: int = 0
    records: int = 0  # distinct records (sequence numbers handed out)
    samples: int = 0  # numerics plus wave samples
    bytes: int = 0
    max_lag_s: float = 0.0  # furthest a gateway fell behind its flush schedule
    last_seq: dict[tuple[str, str], int] = field(default_factory=dict)
    dropped: set[tuple[str, str, int]] = field(default_factory=set)


# -- traffic ---------------------------------------------------------------------------------


def _wave_templates() -> list[np.ndarray[Any, np.dtype[np.int32]]]:
    """One second of each wave: a crude ECG (R spike, T bump) and a pleth pulse at 72/min."""
    out = []
    for _, _, rate, _ in WAVES:
        t = np.arange(int(rate)) / rate
        phase = (t % (60 / 72)) / (60 / 72)
        if rate >= 200:
            shape = 5 * np.exp(-(((phase - 0.2) / 0.012) ** 2))
            shape += 0.25 * np.exp(-(((phase - 0.5) / 0.06) ** 2))
            out.append((8192 + 200 * shape).astype(np.int32))
        else:
            rise = np.minimum(phase / 0.15, 1.0)
            out.append(
                (2000 + 1500 * rise * np.exp(-3 * np.maximum(phase - 0.15, 0))).astype(np.int32)
            )
    return out


class SimGateway:
    """The envelopes one gateway flushes, with per-stream sequence numbers."""

    def __init__(self, gateway_id: str, site: str, beds: int, flush_s: float, seed: int) -> None:
        self.gateway_id = gateway_id
        self.site = site
        self.flush_s = flush_s
        self.rng = random.Random(seed)
        self.beds = [f"bed{b + 1:02d}-mon" for b in range(beds)]
        self.patients = {d: f"p-{gateway_id[-4:]}-{b + 1:02d}" for b, d in enumerate(self.beds)}
        self.next_seq: dict[str, int] = {}
        self.templates = _wave_templates()
        self.wave_pos = [0.0 for _ in WAVES]
        self.numeric_due = NUMERIC_PERIOD_S
        self.t = 0.0

    def flush(self, wall_ns: int) -> list[tuple[str, bytes, int, int, str, int]]:
        """Envelopes of one flush: (topic, payload, records, samples, stream, first seq)."""
        received = ReceiveTime(wall_ns, time.monotonic_ns())
        out = []
        self.t += self.flush_s
        due: list[ReceiveTime] = []  # one numeric per stream per period elapsed
        while self.numeric_due <= self.t + 1e-9:
            ago = round((self.t - self.numeric_due) * 1e9)
            due.append(ReceiveTime(wall_ns - ago, received.mono_ns - ago))
            self.numeric_due += NUMERIC_PERIOD_S
        spans = []  # sample indices of each wave in this flush (exact rate over the run)
        for w, (_, _, rate, _) in enumerate(WAVES):
            pos = self.wave_pos[w]
            self.wave_pos[w] = pos + rate * self.flush_s
            spans.append(np.arange(int(pos), int(self.wave_pos[w])))
        for device in self.beds:
            batches: list[list[Record]] = []
            for code, unit, mean, spread in NUMERICS if due else ():
                stream = stream_id_for(device, str(code))
                batches.append(
                    [
                        Measurement(
                            device,
                            stream,
                            code,
                            unit,
                            round(mean + self.rng.uniform(-spread, spread), 1),
                            Quality(0),
                            at,
                        )
                        for at in due
                    ]
                )
            for w, (code, unit, rate, gain) in enumerate(WAVES):
                template = self.templates[w]
                idx = spans[w] % len(template)
                stream = stream_id_for(device, str(code))
                chunk = WaveformChunk(
                    device,
                    stream,
                    code,
                    unit,
                    wall_ns - round(self.flush_s * 1e9),
                    round(1e9 / rate),
                    template[idx],
                    received,
                    gain=gain,
                )
                batches.append([chunk])
            for batch in batches:
                first = batch[0]
                seq = self.next_seq.get(first.stream_id, 1)
                self.next_seq[first.stream_id] = seq + len(batch)
                payload = envelope.encode_batch(
                    batch,
                    gateway=self.gateway_id,
                    site=self.site,
                    patient=self.patients[device],
                    first_seq=seq,
                )
                samples = sum(len(r.samples) if isinstance(r, WaveformChunk) else 1 for r in batch)
                topic = envelope.topic(self.site, self.gateway_id, first.kind, first.stream_id)
                out.append((topic, payload, len(batch), samples, first.stream_id, seq))
        return out


async def _run_gateway(
    sim: SimGateway,
    opts: FleetOptions,
    host: str,
    port: int,
    stats: PublisherStats,
    start_at: float,
    connect_gate: asyncio.Semaphore,
    client_tag: str,
) -> None:
    cfg = MqttConfig(
        host=host,
        port=port,
        client_id=f"fleet-{client_tag}-{sim.gateway_id}",
        inflight_window=opts.inflight,
        session_expiry_s=0,
    )
    rng = random.Random(f"{opts.seed}/{sim.gateway_id}")
    async with connect_gate:
        uplink = MqttUplink(cfg, sim.gateway_id, sim.site)
        await uplink.__aenter__()
    try:
        loop = asyncio.get_running_loop()
        ticks = max(1, round(opts.seconds / opts.flush_s))
        # spread the gateways over one flush interval, as real ones are not in step
        offset = rng.uniform(0, opts.flush_s)
        for k in range(ticks):
            due = start_at + offset + k * opts.flush_s
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                stats.max_lag_s = max(stats.max_lag_s, -delay)
            messages = sim.flush(time.time_ns())
            sends = []
            for topic, payload, n, samples, stream, seq in messages:
                stats.records += n
                stats.samples += samples
                stats.last_seq[(sim.gateway_id, stream)] = seq + n - 1
                if rng.random() < opts.drop_fraction:
                    stats.dropped_messages += 1
                    stats.dropped.update((sim.gateway_id, stream, s) for s in range(seq, seq + n))
                    continue
                sends.append(uplink.publish(topic, payload))
                stats.bytes += len(payload)
                if rng.random() < opts.duplicate_fraction:  # as if the PUBACK had been lost
                    sends.append(uplink.publish(topic, payload))
                    stats.duplicate_messages += 1
                    stats.duplicate_records += n
                    stats.bytes += len(payload)
            await asyncio.gather(*sends)
            stats.messages += len(sends)
    finally:
        await uplink.__aexit__(None, None, None)


def bridge_config(host: str, port: int, tag: str) -> str:
    """mosquitto.conf lines of a site broker that forwards everything EdgeTwin publishes
    to the central broker (QoS 1, persistent bridge session) and brings desired state back."""
    return "\n".join(
        [
            "max_inflight_messages 100",
            f"connection edgetwin-site-{tag}",
            f"address {host}:{port}",
            "bridge_protocol_version mqttv50",
            f"remote_clientid edgetwin-site-bridge-{tag}",
            "cleansession false",
            "bridge_outgoing_retain true",
            # out: what gateways publish, by kind; in: desired state (disjoint: no loop)
            *(f"topic edgetwin/v1/+/+/{kind}/# out 1" for kind in BRIDGED_KINDS),
            "topic edgetwin/v1/+/+/status out 1",
            "topic edgetwin/v1/+/+/desired in 1",
        ]
    )


# -- consumers and the check -----------------------------------------------------------------


def _cpu_s(pids: list[int]) -> float:
    """User plus system CPU seconds of these processes so far (0 for one that is gone)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / os.sysconf("SC_CLK_TCK")


def _seen_records(state: Path) -> int:
    if not state.exists():
        return 0
    db = sqlite3.connect(f"file:{state}?mode=ro", uri=True, timeout=5)
    try:
        row = db.execute("SELECT coalesce(sum(last - first + 1), 0) FROM seen").fetchone()
    except sqlite3.OperationalError:  # tables not created yet
        return 0
    finally:
        db.close()
    return int(row[0])


def verify(state: Path, stats: PublisherStats) -> dict[str, Any]:
    """Compare the consumers' ledger with what was published: each record exactly once."""
    db = sqlite3.connect(f"file:{state}?mode=ro", uri=True, timeout=5)
    try:
        seen: dict[tuple[str, str], list[tuple[int, int]]] = {}
        for gw, stream, first, last in db.execute(
            "SELECT gateway, stream, first, last FROM seen ORDER BY gateway, stream, first"
        ):
            seen.setdefault((gw, stream), []).append((first, last))
    finally:
        db.close()
    missing = unexpected = 0
    missing_examples: list[str] = []
    for key, last in stats.last_seq.items():
        ranges = seen.get(key, [])
        covered = sum(min(b, last) - a + 1 for a, b in ranges if a <= last)
        unexpected += sum(max(0, b - max(a, last + 1) + 1) for a, b in ranges)
        gap = last - covered
        if gap:
            missing += gap
            if len(missing_examples) < 5:
                missing_examples.append(f"{key[0]}/{key[1]}: {gap} of 1..{last}")
    unexpected += sum(
        b - a + 1 for key, rs in seen.items() if key not in stats.last_seq for a, b in rs
    )
    return {
        "streams": len(stats.last_seq),
        "records_published": stats.records,
        "missing": missing,
        "missing_expected": len(stats.dropped),
        "unexpected": unexpected,
        "missing_examples": missing_examples,
    }


class _Consumers(Protocol):
    pids: list[int]

    async def start(self) -> None: ...

    async def stop(self) -> list[dict[str, int]]: ...


class _TaskConsumers:
    """Consumers in this process: :func:`gateway.ingest.consume`, one thread each."""

    def __init__(self, k: int, host: str, port: int, group: str, state: Path) -> None:
        self.args = (host, port, group)
        self.ingestors = [Ingestor(state) for _ in range(k)]
        self.stop_event = asyncio.Event()
        self.tasks: list[asyncio.Task[None]] = []
        self.pids: list[int] = []  # they run in this process

    async def start(self) -> None:
        host, port, group = self.args
        readies = []
        for k, ing in enumerate(self.ingestors):
            ready = asyncio.Event()
            readies.append(ready)
            self.tasks.append(
                asyncio.create_task(
                    consume(ing, host, port, self.stop_event, group=group, ready=ready),
                    name=f"fleet-consumer-{k}",
                )
            )
        await _until_ready(readies, self.tasks, 30)

    async def stop(self) -> list[dict[str, int]]:
        self.stop_event.set()
        results = await asyncio.gather(*self.tasks, return_exceptions=True)
        for ing in self.ingestors:
            ing.close()
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            raise errors[0]
        return [ing.stats.as_dict() for ing in self.ingestors]


class _ProcessConsumers:
    """``edgetwin ingest`` processes (one core each if there are cores to spare)."""

    def __init__(self, k: int, host: str, port: int, group: str, state: Path) -> None:
        self.cmd = [
            sys.executable, "-m", "gateway.cli", "--log-level", "info", "--log-format", "text",
            "ingest", "--broker", f"{host}:{port}", "--group", group, "--state", str(state),
        ]  # fmt: skip
        self.k = k
        self.procs: list[asyncio.subprocess.Process] = []
        self.pids: list[int] = []
        self.readers: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        readies = []
        for _ in range(self.k):
            proc = await asyncio.create_subprocess_exec(
                *self.cmd,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            ready = asyncio.Event()
            readies.append(ready)
            self.procs.append(proc)
            self.pids.append(proc.pid)
            self.readers.append(asyncio.create_task(_watch_stderr(proc, ready)))
        await _until_ready(readies, self.readers, 60)

    async def stop(self) -> list[dict[str, int]]:
        out = []
        for proc in self.procs:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
        for proc, reader in zip(self.procs, self.readers, strict=True):
            assert proc.stdout is not None
            stdout = await proc.stdout.read()
            await proc.wait()
            await reader
            if proc.returncode != 0:
                raise RuntimeError(f"edgetwin ingest exited with code {proc.returncode}")
            out.append(json.loads(stdout)["stats"])
        return out


async def _until_ready(
    readies: list[asyncio.Event], workers: list[asyncio.Task[None]], timeout_s: float
) -> None:
    """Wait until every consumer subscribed; fail at once if one of them ended instead."""
    all_ready: asyncio.Future[Any] = asyncio.ensure_future(
        asyncio.gather(*(r.wait() for r in readies))
    )
    pending: list[asyncio.Future[Any]] = [all_ready, *workers]
    done, _ = await asyncio.wait(pending, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
    if all_ready in done:
        return
    all_ready.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await all_ready
    for worker in done:
        worker.result()  # raises what ended it
    if done:
        raise RuntimeError("a consumer ended before it subscribed")
    raise TimeoutError(f"consumers not subscribed within {timeout_s:g} s")


async def _watch_stderr(proc: asyncio.subprocess.Process, ready: asyncio.Event) -> None:
    """Set ``ready`` when the consumer says it subscribed; keep the pipe drained."""
    assert proc.stderr is not None
    async for line in proc.stderr:
        if b"consuming $share/" in line:
            ready.set()
    if not ready.is_set():
        code = await proc.wait()
        raise RuntimeError(f"edgetwin ingest exited before subscribing (code {code})")


@dataclass(slots=True)
class FleetReport:
    options: dict[str, Any]
    broker: str
    connect_s: float
    publish_s: float
    drain_s: float
    drained: bool
    cpu_percent_of_one_core: dict[str, float]
    published: dict[str, Any]
    consumed: dict[str, Any]
    dedup: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


async def run_fleet(
    opts: FleetOptions, progress: Callable[[str], None] | None = None
) -> FleetReport:
    """Run the fleet and its consumers; return the measured figures and the check."""
    opts.check()
    say = progress or (lambda _msg: None)
    with contextlib.ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="edgetwin-fleet-")))
        host, port = opts.host, opts.port
        broker_name = f"{host}:{port}"
        tag = uuid.uuid4().hex[:8]
        watch: dict[str, list[int]] = {"fleet_process": [os.getpid()]}
        if host is None:
            broker = LocalBroker(work / "broker", extra_config="max_inflight_messages 100")
            broker.start()
            stack.callback(broker.stop)
            host, port = broker.host, broker.port
            broker_name = f"private mosquitto on {host}:{port}"
            if broker.proc is not None:
                watch["broker"] = [broker.proc.pid]
        publish_to = (host, port)
        if opts.bridge:
            site = LocalBroker(work / "site-broker", extra_config=bridge_config(host, port, tag))
            site.start()
            stack.callback(site.stop)
            if site.proc is not None:
                watch["site_broker"] = [site.proc.pid]
            publish_to = (site.host, site.port)
            broker_name += f", gateways on a site mosquitto bridged to it ({site.port})"
        state_dir = opts.state_dir or work
        state = state_dir / f"fleet-{tag}.sqlite"
        return await _run(opts, host, port, publish_to, broker_name, state, tag, say, watch)
    raise AssertionError("unreachable")  # pragma: no cover (ExitStack swallows nothing)


async def _run(
    opts: FleetOptions,
    host: str,
    port: int,
    publish_to: tuple[str, int],
    broker_name: str,
    state: Path,
    tag: str,
    say: Callable[[str], None],
    watch: dict[str, list[int]],
) -> FleetReport:
    group = f"fleet-{tag}"
    site = f"fleet-{tag}"
    stats = PublisherStats()
    consumers: _Consumers = (
        _ProcessConsumers(opts.consumers, host, port, group, state)
        if opts.consumer_processes
        else _TaskConsumers(opts.consumers, host, port, group, state)
    )
    quiet = logging.getLogger("gateway.ingest")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # shared groups reorder a stream: transient gaps are normal
    try:
        await consumers.start()
        if consumers.pids:
            watch["consumers"] = consumers.pids
        say(f"{opts.consumers} consumers subscribed ($share/{group}/...)")

        sims = [
            SimGateway(f"gw{i:04d}", site, opts.beds, opts.flush_s, opts.seed * 100_003 + i)
            for i in range(opts.gateways)
        ]
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
        # connect everyone first, then start publishing on a common schedule
        start_at = t0 + 2.0 + opts.gateways / 200
        cpu0 = {name: _cpu_s(pids) for name, pids in watch.items()}
        tasks = [
            asyncio.create_task(_run_gateway(s, opts, *publish_to, stats, start_at, gate, tag))
            for s in sims
        ]
        say(f"{opts.gateways} gateways x {opts.beds} beds publishing for {opts.seconds:g} s")
        await asyncio.gather(*tasks)
        t_published = loop.time()
        connect_s = start_at - t0
        publish_s = t_published - start_at

        expected = stats.records - len(stats.dropped)
        backlog = max(0, expected - _seen_records(state))
        deadline = t_published + opts.drain_timeout_s
        drained = False
        while loop.time() < deadline:
            if _seen_records(state) >= expected:
                drained = True
                break
            await asyncio.sleep(0.1)
        t_drained = loop.time()
        cpu = {
            name: round(100 * (_cpu_s(pids) - cpu0[name]) / max(t_drained - start_at, 1e-9), 1)
            for name, pids in watch.items()
        }
        say("drained" if drained else f"not drained after {opts.drain_timeout_s:g} s")
    finally:
        per_consumer = await consumers.stop()
        quiet.setLevel(level)
    consumed_messages = sum(c["messages"] for c in per_consumer)
    records_new = sum(c["records_new"] for c in per_consumer)
    duplicates = sum(c["duplicates"] for c in per_consumer)
    window = max(t_drained - start_at, 1e-9)
    drain_s = t_drained - t_published
    check = verify(state, stats)
    # every record that reached the broker stored once; ok also needs nothing missing
    counted_once = records_new == expected and check["unexpected"] == 0
    check.update(
        {
            "records_new": records_new,
            "counted_once": counted_once,
            "duplicates_injected": stats.duplicate_records,
            "duplicates_dropped": duplicates,
            "ok": counted_once and check["missing"] == 0 and duplicates >= stats.duplicate_records,
        }
    )
    return FleetReport(
        options={
            k: (str(v) if isinstance(v, Path) else v)
            for k, v in asdict(opts).items()
            if k not in ("host", "port")
        },
        broker=broker_name,
        connect_s=round(connect_s, 3),
        publish_s=round(publish_s, 3),
        drain_s=round(drain_s, 3),
        drained=drained,
        cpu_percent_of_one_core=cpu,
        published={
            "messages": stats.messages,
            "duplicate_messages": stats.duplicate_messages,
            "dropped_messages": stats.dropped_messages,
            "records": stats.records,
            "samples": stats.samples,
            "bytes": stats.bytes,
            "messages_per_s": round(stats.messages / max(publish_s, 1e-9), 1),
            "records_per_s": round(stats.records / max(publish_s, 1e-9), 1),
            "samples_per_s": round(stats.samples / max(publish_s, 1e-9), 1),
            "mbit_per_s": round(stats.bytes * 8 / 1e6 / max(publish_s, 1e-9), 2),
            "max_lag_s": round(stats.max_lag_s, 3),
        },
        consumed={
            "messages": consumed_messages,
            "records_new": records_new,
            "duplicates": duplicates,
            "messages_per_s": round(consumed_messages / window, 1),
            "records_per_s": round(records_new / window, 1),
            # records still queued when publishing ended, and how fast they drained:
            # the consumers' own capacity when they had fallen behind
            "backlog_records_at_end": backlog,
            "drain_records_per_s": (
                round(backlog / drain_s, 1) if drained and backlog and drain_s >= 1 else None
            ),
            "per_consumer": [
                {
                    k: c[k]
                    for k in ("messages", "records_new", "duplicates", "rejected", "mapping_errors")
                }
                for c in per_consumer
            ],
        },
        dedup=check,
    )


def format_report(r: FleetReport) -> str:
    p, c, d = r.published, r.consumed, r.dedup
    o = r.options
    verdict = "OK" if d["ok"] else "FAILED" if r.drained else "INCOMPLETE (not drained)"
    lines = [
        f"fleet: {o['gateways']} gateways x {o['beds']} beds, flush {o['flush_s']:g} s, "
        f"{o['consumers']} consumers "
        f"({'edgetwin ingest processes' if o['consumer_processes'] else 'in-process'}); "
        f"broker {r.broker}",
        f"published  {p['messages']:>9} msgs in {r.publish_s:.1f} s = {p['messages_per_s']:>9.1f} "
        f"msg/s, {p['records_per_s']:.1f} records/s, {p['samples_per_s']:.0f} samples/s, "
        f"{p['mbit_per_s']:.2f} Mbit/s (max lag {p['max_lag_s']:.2f} s)",
        f"consumed   {c['messages']:>9} msgs            = {c['messages_per_s']:>9.1f} msg/s, "
        f"{c['records_per_s']:.1f} new records/s; drained "
        f"{'in' if r.drained else 'NOT within'} {r.drain_s:.1f} s after publishing ended"
        + (
            f" ({c['backlog_records_at_end']} records behind, drained at "
            f"{c['drain_records_per_s']:.0f} records/s)"
            if c["drain_records_per_s"]
            else ""
        ),
        "CPU, % of one core: "
        + ", ".join(f"{k} {v:.0f}" for k, v in r.cpu_percent_of_one_core.items()),
        f"dedup {verdict}: {d['records_new']} of {d['records_published']} records counted once "
        f"(missing {d['missing']}, expected missing {d['missing_expected']}, unexpected "
        f"{d['unexpected']}); {d['duplicates_injected']} duplicate records injected, "
        f"{d['duplicates_dropped']} dropped by the consumers",
    ]
    for k, pc in enumerate(c["per_consumer"]):
        lines.append(
            f"  consumer {k}: {pc['messages']} msgs, {pc['records_new']} new, "
            f"{pc['duplicates']} duplicates"
        )
    return "\n".join(lines)


__all__ = [
    "NUMERICS",
    "WAVES",
    "FleetOptions",
    "FleetReport",
    "SimGateway",
    "format_report",
    "run_fleet",
    "verify",
]
