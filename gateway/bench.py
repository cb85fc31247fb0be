"""``edgetwin bench``: how many beds this box carries, with what latency, memory and disk wear.

Everything runs on real parts: a private mosquitto on loopback, the real pipeline, twin,
SQLite buffer and MQTT uplink, fed by simulated bedside monitors at real rates (the
``synthetic`` driver's ``monitor`` profile: ECG I/II/III at 500 Hz, pleth 125 Hz,
respiration 62.5 Hz, ten numerics at 1 Hz; about 1,700 samples/s per bed). Phases:

1. **start-up**: time from starting the gateway to its first committed and first
   acknowledged record.
2. **flood**: the ward's monitors as fast as the pipeline takes them; sustained
   samples/s end to end (driver -> SQLite -> broker PUBACK) over a steady window.
3. **baseline**, in the same run: nothing of EdgeTwin in between; raw ``sqlite3`` inserts
   of the same envelopes in the same transactions, then raw aiomqtt QoS 1 publishes of
   them with the same in-flight window. The ratio to it is the figure that travels
   between machines.
4. **capacity**: the largest number of beds at real rate that the gateway sustains without
   falling behind (every bed's samples generated on schedule, the outbox not growing),
   with CPU per process (gateway, broker), RSS and disk bytes written per payload byte.
   The search's answer is run once more before it is reported (5 % lower while it falls
   behind), so one lucky trial near the edge does not become the figure.
5. **alarm latency** at 80 % of that capacity while an hour-deep backlog drains: alarm
   put into the pipeline -> its PUBACK read by the gateway, and -> received by a subscriber.

This is a benchmark, never a test: nothing here asserts a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import aiomqtt

from drivers.base import DeviceSpec, DriverCounters
from gateway import allocator, envelope
from gateway.broker import LocalBroker
from gateway.config import GatewayConfig, parse_config
from gateway.model import (
    PRIORITY,
    Alarm,
    AlarmKind,
    AlarmPriority,
    Measurement,
    Quality,
    ReceiveTime,
    Record,
    WaveformChunk,
    stream_id_for,
)
from gateway.runtime import BUFFER_FILE, Gateway
from gateway.sealing import bench_sealing
from hil.sim.synthetic import MONITOR_NUMERICS, MonitorDevice

WINDOW = 64  # mqtt.inflight_window's default (the bench's broker accepts up to 128)
FLUSH_MS = 1000  # numerics and waves are committed once a second; alarms at once
WARMUP_S = 2.0
CONFIRMATIONS = 3  # runs of the capacity search's answer, stepping down 5 % after a miss


@dataclass
class Phase:
    """Figures of one gateway run (flood or real rate)."""

    beds: int
    seconds: float
    samples_per_s: float = 0.0
    records_per_s: float = 0.0
    generated_samples_per_s: float = 0.0
    expected_samples_per_s: float = 0.0
    kept_up: bool = True
    outbox_growth_rows: int = 0
    cpu_gateway_pct: float = 0.0
    cpu_broker_pct: float = 0.0
    disk_bytes_per_payload_byte: float = 0.0
    disk_bytes_per_sample: float = 0.0
    rss_end_mb: float = 0.0


@dataclass
class BenchResult:
    beds: int
    seconds: float
    samples_per_bed_per_s: float = 0.0
    startup_first_commit_s: float = 0.0
    startup_first_ack_s: float = 0.0
    flood: Phase | None = None
    baseline_samples_per_s: float = 0.0
    ratio_to_baseline: float = 0.0
    #: the simulated monitors alone (generated and dropped, no gateway): they share the
    #: gateway's process and interpreter in the flood, so they bound its ratio
    generator_samples_per_s: float = 0.0
    #: the ratio a gateway that cost nothing would reach, generation and the baseline's own
    #: work done one after the other: gen / (gen + baseline)
    ratio_ceiling: float = 0.0
    records_per_row: float = 0.0
    realrate: Phase | None = None
    beds_max: int = 0
    capacity_trials: list[Phase] = field(default_factory=list)
    #: the search's answer run again (then 5 % lower while it falls behind)
    capacity_confirmations: list[Phase] = field(default_factory=list)
    capacity_confirmed: bool = False
    alarm_beds: int = 0
    backlog_rows_at_alarm_start: int = 0
    backlog_records_at_alarm_start: int = 0
    #: alarm put into the pipeline -> the broker's PUBACK (the issue's figure)
    alarm_latency_ms: dict[str, float] = field(default_factory=dict)
    #: alarm put into the pipeline -> received by a subscriber of the alarm topic
    alarm_delivery_ms: dict[str, float] = field(default_factory=dict)
    rss_peak_mb: float = 0.0
    rss_end_mb: float = 0.0
    #: encryption at rest: the real-rate ward again with payloads sealed (CPU against plain),
    #: and seal+open per 4 KiB payload
    realrate_sealed: Phase | None = None
    sealed_cpu_ratio: float = 0.0
    sealing: dict[str, float | int] = field(default_factory=dict)
    #: the C allocator this process (the gateway's, in the bench) runs on: the service unit
    #: preloads jemalloc; ``LD_PRELOAD=libjemalloc.so.2 edgetwin bench`` measures that
    allocator: str = ""


# --- process figures -------------------------------------------------------------------


def _proc_io_write_bytes() -> int:
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("write_bytes:"):
            return int(line.split()[1])
    return 0


def _status_mb(key: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key):
            return int(line.split()[1]) / 1024
    return 0.0


def _cpu_s(pid: int | None = None) -> float:
    """User+system CPU seconds of a process (ours when ``pid`` is None)."""
    if pid is None:
        t = os.times()
        return t.user + t.system
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- configuration ----------------------------------------------------------------------


def _config(
    data: Path, port: int, beds: int, speed: float, key_file: Path | None = None
) -> GatewayConfig:
    buffer: dict[str, object] = {
        "flush_interval_ms": FLUSH_MS,
        "queue_size": 20_000,
        "max_batch_records": 50_000,
    }
    if key_file is not None:
        buffer["key_file"] = str(key_file)  # encryption at rest on
    return parse_config(
        {
            "gateway": {"id": "bench-gw", "site": "bench", "data_dir": str(data)},
            "mqtt": {
                "port": port,
                "inflight_window": WINDOW,
            },
            "buffer": buffer,
            "patients": [{"id": f"p-{i:03d}"} for i in range(beds)],
            "devices": [
                {
                    "id": f"bed{i:03d}",
                    "kind": "synthetic",
                    "patient": f"p-{i:03d}",
                    "profile": "monitor",
                    "speed": speed,
                }
                for i in range(beds)
            ],
        },
        "<bench>",
    )


def samples_per_bed() -> float:
    return MonitorDevice(DeviceSpec("x", "synthetic", "p"), DriverCounters()).samples_per_second()


# --- one gateway run --------------------------------------------------------------------


async def _run_phase(
    broker: LocalBroker,
    data: Path,
    beds: int,
    seconds: float,
    speed: float,
    result: BenchResult | None = None,
    key_file: Path | None = None,
) -> Phase:
    """Run the gateway on ``beds`` monitors; measure over a steady window after warm-up."""
    cfg = _config(data, broker.port, beds, speed, key_file)
    assert broker.proc is not None
    broker_pid = broker.proc.pid
    gateway = Gateway(cfg, drain_s=5.0)
    stop = asyncio.Event()
    t_start = time.perf_counter()
    run = asyncio.create_task(gateway.run(stop))
    await gateway.started.wait()
    assert gateway.buffer is not None
    assert gateway.uplink is not None
    buffer, uplink = gateway.buffer, gateway.uplink
    first_commit = first_ack = None
    while first_ack is None:
        if first_commit is None and buffer.committed_records:
            first_commit = time.perf_counter() - t_start
        if uplink.metrics.acked_records:
            first_ack = time.perf_counter() - t_start
            first_commit = first_commit or first_ack
        if run.done():
            await run  # surfaces the error
        await asyncio.sleep(0.005)
    if result is not None:
        result.startup_first_commit_s = round(first_commit or 0.0, 3)
        result.startup_first_ack_s = round(first_ack, 3)
    await asyncio.sleep(max(0.0, WARMUP_S - (time.perf_counter() - t_start)))

    def generated() -> int:
        return sum(h.counters.counts["samples"] for h in gateway.health.values())

    s0, r0, a0 = buffer.committed_samples, buffer.committed_records, uplink.metrics.acked_records
    p0, g0 = buffer.committed_payload_bytes, generated()
    io0, cpu0, bcpu0 = _proc_io_write_bytes(), _cpu_s(), _cpu_s(broker_pid)
    rows0 = (await buffer.stats()).outbox_rows
    t0 = time.perf_counter()
    await asyncio.sleep(seconds)
    elapsed = time.perf_counter() - t0
    s1, r1, a1 = buffer.committed_samples, buffer.committed_records, uplink.metrics.acked_records
    p1, g1 = buffer.committed_payload_bytes, generated()
    io1, cpu1, bcpu1 = _proc_io_write_bytes(), _cpu_s(), _cpu_s(broker_pid)
    rows1 = (await buffer.stats()).outbox_rows
    stop.set()
    await run
    committed_records = max(1, r1 - r0)
    acked_share = min(1.0, (a1 - a0) / committed_records)
    expected = beds * samples_per_bed() * speed
    phase = Phase(
        beds=beds,
        seconds=round(elapsed, 2),
        samples_per_s=(s1 - s0) * acked_share / elapsed,
        records_per_s=(a1 - a0) / elapsed,
        generated_samples_per_s=(g1 - g0) / elapsed,
        expected_samples_per_s=expected,
        outbox_growth_rows=rows1 - rows0,
        cpu_gateway_pct=100 * (cpu1 - cpu0) / elapsed,
        cpu_broker_pct=100 * (bcpu1 - bcpu0) / elapsed,
        disk_bytes_per_payload_byte=(io1 - io0) / max(1, p1 - p0),
        disk_bytes_per_sample=(io1 - io0) / max(1, s1 - s0),
        rss_end_mb=_status_mb("VmRSS:"),
    )
    if speed:
        # kept up: generation on schedule (within 3 %) and the outbox not growing by more
        # than one flush's rows over the window (one row per stream per flush; 15 streams a
        # bed): where a flush falls against the window's edges moves the count by one flush
        on_schedule = phase.generated_samples_per_s >= 0.97 * expected
        draining = phase.outbox_growth_rows <= 15 * beds
        phase.kept_up = on_schedule and draining
    return phase


# --- baseline ---------------------------------------------------------------------------


def _baseline_rows(records_per_row: float) -> list[tuple[str, bytes, int]]:
    """One bed-second of envelopes grouped like the gateway's rows: (topic, payload, samples)."""
    device = MonitorDevice(
        DeviceSpec("bed000", "synthetic", "p-000", {"profile": "monitor", "speed": 0}),
        DriverCounters(),
    )

    async def take(n: int) -> list[Record]:
        out: list[Record] = []
        async with contextlib.aclosing(device.records()) as records:
            async for r in records:
                out.append(r)
                if len(out) >= n:
                    break
        return out

    loop = asyncio.new_event_loop()
    try:
        generated = loop.run_until_complete(take(4 * 5 * 4 + 10 * 4))
    finally:
        loop.close()
    by_stream: dict[str, list[Record]] = {}
    for r in generated:
        by_stream.setdefault(r.stream_id, []).append(r)
    per_row = max(1, round(records_per_row))
    rows: list[tuple[str, bytes, int]] = []
    for stream, batch in by_stream.items():
        batch = (batch * (per_row // len(batch) + 1))[:per_row]
        payload = envelope.encode_batch(
            batch, gateway="bench-gw", site="bench", patient="p-000", first_seq=1
        )
        samples = sum(len(r.samples) if isinstance(r, WaveformChunk) else 1 for r in batch)
        kind = batch[0].kind
        rows.append((envelope.topic("bench", "bench-gw", kind, stream), payload, samples))
    return rows


async def _baseline(
    broker: LocalBroker, work: Path, rows_needed: int, template: list[tuple[str, bytes, int]]
) -> float:
    """Raw sqlite3 inserts (WAL, synchronous=FULL, one transaction a second's worth) plus raw
    aiomqtt QoS 1 publishes of the same rows with the same in-flight window."""
    rows = [template[i % len(template)] for i in range(max(len(template), rows_needed))]
    per_txn = max(1, len(rows) // 20)
    db = sqlite3.connect(work / "baseline.sqlite3", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE outbox (id INTEGER PRIMARY KEY, topic TEXT, payload BLOB)")
    start = time.perf_counter()
    for first in range(0, len(rows), per_txn):
        db.execute("BEGIN")
        db.executemany(
            "INSERT INTO outbox (topic, payload) VALUES (?, ?)",
            [(t, p) for t, p, _ in rows[first : first + per_txn]],
        )
        db.execute("COMMIT")
    db.close()
    sem = asyncio.Semaphore(WINDOW)
    async with aiomqtt.Client(
        broker.host, broker.port, protocol=aiomqtt.ProtocolVersion.V5, max_inflight_messages=WINDOW
    ) as client:
        client.pending_calls_threshold = WINDOW + 1

        async def one(topic: str, payload: bytes) -> None:
            async with sem:
                await client.publish(topic, payload, qos=1)

        await asyncio.gather(*(one(t, p) for t, p, _ in rows))
    elapsed = time.perf_counter() - start
    return sum(s for _, _, s in rows) / elapsed


async def _generation_only(beds: int, seconds: float) -> float:
    """Samples/s the flood's simulated monitors produce when nothing consumes them."""
    stop = asyncio.Event()
    counted = [0]

    async def one(i: int) -> None:
        options = {"profile": "monitor", "speed": 0}
        spec = DeviceSpec(f"bed{i:03d}", "synthetic", f"p-{i:03d}", options)
        device = MonitorDevice(spec, DriverCounters())
        async with contextlib.aclosing(device.records()) as records:
            async for r in records:
                counted[0] += len(r.samples) if isinstance(r, WaveformChunk) else 1
                if stop.is_set():
                    return

    tasks = [asyncio.create_task(one(i)) for i in range(beds)]
    start = time.perf_counter()
    await asyncio.sleep(seconds)
    stop.set()
    await asyncio.gather(*tasks)
    return counted[0] / (time.perf_counter() - start)


# --- capacity ---------------------------------------------------------------------------


async def _capacity(
    broker: LocalBroker,
    work: Path,
    flood_samples_per_s: float,
    seconds: float,
    r: BenchResult,
    progress: Callable[[str], None],
) -> None:
    """Largest bed count sustained at real rate: estimate from the flood, then verify.

    The flood moves big rows; at real rate every stream sends a row a second, so the
    estimate starts at half the flood's figure and the search walks from there.
    """
    per_bed = r.samples_per_bed_per_s
    beds = max(1, int(0.5 * flood_samples_per_s / per_bed))
    low, high = 0, None  # low: largest sustained seen; high: smallest failed
    for trial in range(8):
        progress(f"capacity trial {trial + 1}: {beds} beds at real rate")
        phase = await _run_phase(broker, work / f"cap{trial}", beds, seconds, 1.0)
        r.capacity_trials.append(phase)
        if phase.kept_up:
            low = max(low, beds)
            beds = int(beds * 1.25) + 1 if high is None else (low + high) // 2
        else:
            high = beds if high is None else min(high, beds)
            beds = max(1, (low + high) // 2 if low else int(beds * 0.75))
        if high is not None and high - low <= max(1, low // 20):
            break
    r.beds_max = await _confirm_capacity(broker, work, low, seconds, r, progress)


async def _confirm_capacity(
    broker: LocalBroker,
    work: Path,
    beds: int,
    seconds: float,
    r: BenchResult,
    progress: Callable[[str], None],
) -> int:
    """Run the search's answer once more; while it falls behind, step down 5 % (at most
    three times). One lucky trial near the edge must not become the figure people size
    hardware by; the confirming trials are kept in ``capacity_confirmations``."""
    for attempt in range(CONFIRMATIONS):
        if beds < 1:
            return 0
        progress(f"capacity confirmation {attempt + 1}: {beds} beds at real rate")
        phase = await _run_phase(broker, work / f"confirm{attempt}", beds, seconds, 1.0)
        r.capacity_confirmations.append(phase)
        if phase.kept_up:
            r.capacity_confirmed = True
            return beds
        beds = int(beds * 0.95)
    return beds


# --- alarm latency ----------------------------------------------------------------------


def _prefill_backlog(path: Path, beds: int, backlog_s: float) -> tuple[int, int]:
    """An outage's worth of numerics for every bed, as the gateway would have queued them.

    Rows hold a minute of one numeric stream (60 records, real envelopes of that stream
    and those sequence numbers' shape; the payload of a stream's first minute is reused for
    its later minutes, which only the bench's own subscriber would notice).
    """
    db = sqlite3.connect(path, isolation_level=None)
    minutes = max(1, round(backlog_s / 60))
    now = time.time_ns()
    rows = records = 0
    db.execute("BEGIN")
    for bed in range(beds):
        device, patient = f"bed{bed:03d}", f"p-{bed:03d}"
        for code, unit, value, _ in MONITOR_NUMERICS:
            stream = stream_id_for(device, str(code))
            received = ReceiveTime(now - int(backlog_s * 1e9), 0)
            batch: list[Record] = [
                Measurement(device, stream, code, unit, value, Quality(0), received)
                for _ in range(60)
            ]
            payload = envelope.encode_batch(
                batch, gateway="bench-gw", site="bench", patient=patient, first_seq=1
            )
            db.execute(
                "INSERT INTO streams (stream_id, device_id, patient, kind, next_seq, committed) "
                "VALUES (?, ?, ?, 'numeric', ?, ?)",
                (stream, device, patient, minutes * 60 + 1, minutes * 60),
            )
            db.executemany(
                "INSERT INTO outbox (priority, stream_id, kind, seq_first, seq_last, n, "
                "created_ns, payload) VALUES (?, ?, 'numeric', ?, ?, 60, ?, ?)",
                [
                    (PRIORITY["numeric"], stream, m * 60 + 1, m * 60 + 60, now, payload)
                    for m in range(minutes)
                ],
            )
            rows += minutes
            records += minutes * 60
    db.execute("COMMIT")
    db.close()
    return rows, records


async def _alarm_latency(
    broker: LocalBroker, work: Path, beds: int, backlog_s: float, alarms: int, r: BenchResult
) -> None:
    from gateway.buffer import Buffer, OutboxRow

    cfg = _config(work / "al", broker.port, beds, 1.0)
    buf = await Buffer.open(cfg.data_dir / BUFFER_FILE, cfg.gateway_id, cfg.site)
    await buf.close()  # schema created
    r.alarm_beds = beds
    r.backlog_rows_at_alarm_start, r.backlog_records_at_alarm_start = await asyncio.to_thread(
        _prefill_backlog, cfg.data_dir / BUFFER_FILE, beds, backlog_s
    )
    latencies: list[float] = []  # to a subscriber
    acked: list[float] = []  # to the PUBACK
    sent: dict[str, int] = {}
    sent_ack: dict[str, int] = {}
    ready = threading.Event()
    all_in = threading.Event()
    done = threading.Event()

    async def listen() -> None:
        async with aiomqtt.Client(
            broker.host, broker.port, protocol=aiomqtt.ProtocolVersion.V5
        ) as c:
            await c.subscribe("edgetwin/v1/bench/bench-gw/alarm/#", qos=1)
            ready.set()
            consume = asyncio.create_task(receive(c))
            await asyncio.to_thread(done.wait)
            consume.cancel()
            await asyncio.gather(consume, return_exceptions=True)

    async def receive(c: aiomqtt.Client) -> None:
        async for message in c.messages:
            assert isinstance(message.payload, bytes)
            for s in json.loads(message.payload)["samples"]:
                t0 = sent.pop(s["alarm_id"], None)
                if t0 is not None:
                    latencies.append((time.monotonic_ns() - t0) / 1e6)
                if len(latencies) == alarms:
                    all_in.set()

    # the subscriber (a central station) runs on a thread and loop of its own, as it would
    # in a process of its own: on the gateway's loop it would wait for that loop's turns
    listener = threading.Thread(target=asyncio.run, args=(listen(),), name="bench-subscriber")
    listener.start()
    if not await asyncio.to_thread(ready.wait, 30):
        done.set()
        raise RuntimeError("the bench's alarm subscriber could not subscribe within 30 s")
    gateway = Gateway(cfg, drain_s=0.0)
    stop = asyncio.Event()
    run = asyncio.create_task(gateway.run(stop))
    await gateway.started.wait()
    await asyncio.sleep(WARMUP_S)
    assert gateway.pipeline is not None
    assert gateway.uplink is not None

    def on_acked(row: OutboxRow, acked_ns: int) -> None:
        if row.kind == "alarm":
            for sample in envelope.decode(row.payload)["samples"]:
                t0 = sent_ack.pop(sample["alarm_id"], None)
                if t0 is not None:
                    acked.append((acked_ns - t0) / 1e6)

    gateway.uplink.on_acked = on_acked
    for i in range(alarms):
        alarm_id = f"bench/{i}"
        now = ReceiveTime.now()
        sent[alarm_id] = sent_ack[alarm_id] = now.mono_ns
        await gateway.pipeline.put(
            Alarm(
                "p-000.alarms",
                alarm_id,
                "p-000",
                AlarmPriority.HIGH,
                AlarmKind.PHYSIOLOGICAL,
                "bench alarm",
                now.mono_ns,
                now,
            )
        )
        await asyncio.sleep(0.1)
    await asyncio.to_thread(all_in.wait, 10)
    stop.set()
    await run
    done.set()
    await asyncio.to_thread(listener.join)
    r.alarm_latency_ms = _percentiles(acked)
    r.alarm_delivery_ms = _percentiles(latencies)


def _percentiles(values: list[float]) -> dict[str, float]:
    if len(values) < 2:
        return {"n": len(values)}
    q = statistics.quantiles(values, n=100, method="inclusive")
    return {
        "p50": round(q[49], 2),
        "p99": round(q[98], 2),
        "max": round(max(values), 2),
        "n": len(values),
    }


# --- the whole bench --------------------------------------------------------------------


async def run_bench(
    beds: int,
    seconds: float,
    alarms: int = 100,
    backlog_s: float = 3600.0,
    capacity: bool = True,
    progress: Callable[[str], None] = lambda _msg: None,
) -> BenchResult:
    r = BenchResult(
        beds=beds,
        seconds=seconds,
        samples_per_bed_per_s=samples_per_bed(),
        allocator=allocator.in_use(),
    )
    with tempfile.TemporaryDirectory(prefix="edgetwin-bench-") as tmp:
        work = Path(tmp)
        with LocalBroker(work / "broker") as broker:
            progress(f"real rate: {beds} beds (start-up, CPU, memory, disk writes)")
            r.realrate = await _run_phase(broker, work / "real", beds, seconds, 1.0, r)
            progress(f"flood: {beds} beds as fast as the pipeline takes them")
            r.flood = await _run_phase(broker, work / "flood", beds, seconds, 0.0)
            rows_per_s = r.flood.records_per_s
            per_row = _records_per_row(work / "flood" / BUFFER_FILE)
            r.records_per_row = per_row
            progress("baseline: raw sqlite3 + aiomqtt on the same rows")
            template = await asyncio.to_thread(_baseline_rows, per_row)
            rows_needed = int(rows_per_s * seconds / max(1.0, per_row))
            r.baseline_samples_per_s = await _baseline(broker, work, rows_needed, template)
            r.ratio_to_baseline = r.flood.samples_per_s / r.baseline_samples_per_s
            progress(f"the {beds} simulated monitors alone, without the gateway")
            r.generator_samples_per_s = await _generation_only(beds, seconds)
            gen, base = r.generator_samples_per_s, r.baseline_samples_per_s
            r.ratio_ceiling = gen / (gen + base)
            progress("real rate again with the buffer encrypted at rest (AES-256-GCM)")
            key = work / "buffer.key"
            key.write_text(os.urandom(32).hex())
            key.chmod(0o600)
            r.realrate_sealed = await _run_phase(
                broker, work / "sealed", beds, seconds, 1.0, key_file=key
            )
            r.sealed_cpu_ratio = r.realrate_sealed.cpu_gateway_pct / max(
                0.1, r.realrate.cpu_gateway_pct
            )
            r.sealing = bench_sealing(4096, 2000)
            if capacity:
                await _capacity(broker, work, r.flood.samples_per_s, seconds, r, progress)
            else:
                r.beds_max = beds if r.realrate.kept_up else 0
            alarm_beds = max(1, int(0.8 * (r.beds_max or beds)))
            progress(f"alarm latency: {alarm_beds} beds, {backlog_s:g} s of backlog draining")
            await _alarm_latency(broker, work, alarm_beds, backlog_s, alarms, r)
    r.rss_peak_mb = round(_status_mb("VmHWM:"), 1)
    r.rss_end_mb = round(_status_mb("VmRSS:"), 1)
    return r


def _records_per_row(path: Path) -> float:
    db = sqlite3.connect(path)
    try:
        committed, streams = db.execute("SELECT sum(committed), count(*) FROM streams").fetchone()
        seq = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").fetchone()
    finally:
        db.close()
    rows = seq[0] if seq else streams
    return float(committed or 0) / max(1, int(rows))


def _confirmation(r: BenchResult) -> str:
    if not r.capacity_trials:
        return ""  # no search: the ward asked for, at real rate
    if not r.capacity_confirmed:
        return "; NOT confirmed: no repeat run kept up"
    steps = len(r.capacity_confirmations) - 1
    return "; confirmed by a repeat run" + (f", {steps} x 5 % lower" if steps else "")


def format_result(r: BenchResult) -> str:
    lat, dlv = r.alarm_latency_ms, r.alarm_delivery_ms
    f, rr, fs = r.flood, r.realrate, r.realrate_sealed
    assert f is not None
    assert rr is not None
    assert fs is not None
    lines = [
        f"edgetwin bench: {r.beds} simulated bedside monitors "
        f"({r.samples_per_bed_per_s:,.1f} samples/s per bed: ECG 3x500 Hz, pleth 125 Hz, "
        "resp 62.5 Hz, 10 numerics at 1 Hz)",
        f"  start-up: first record committed {r.startup_first_commit_s:.3f} s, "
        f"first PUBACK {r.startup_first_ack_s:.3f} s",
        f"  flood, end to end (driver -> PUBACK)  {f.samples_per_s:12,.0f} samples/s "
        f"({f.records_per_s:,.0f} records/s)",
        f"  bare baseline (sqlite3 + aiomqtt)     {r.baseline_samples_per_s:12,.0f} samples/s",
        f"  ratio to baseline                     {r.ratio_to_baseline:12.2f}",
        f"  the simulated monitors alone          {r.generator_samples_per_s:12,.0f} samples/s "
        f"(a gateway costing nothing would reach a ratio of {r.ratio_ceiling:.2f})",
        f"  encrypted at rest, {fs.beds} beds real rate: gateway CPU {fs.cpu_gateway_pct:.1f} % "
        f"({r.sealed_cpu_ratio:.2f} x plain), disk {fs.disk_bytes_per_payload_byte:.2f} per "
        f"payload byte; seal+open of 4 KiB "
        f"{r.sealing.get('seal_us', 0.0) + r.sealing.get('open_us', 0.0):.1f} µs",
        f"  largest ward sustained at real rate   {r.beds_max:12d} beds "
        f"({r.beds_max * r.samples_per_bed_per_s:,.0f} samples/s{_confirmation(r)})",
        f"  at {rr.beds} beds real rate: gateway CPU {rr.cpu_gateway_pct:.1f} % of a core, "
        f"broker {rr.cpu_broker_pct:.1f} %, kept up: {'yes' if rr.kept_up else 'NO'}",
        f"  disk written per payload byte        {rr.disk_bytes_per_payload_byte:12.2f}"
        f"  ({rr.disk_bytes_per_sample:.2f} bytes per sample)",
        f"  alarm latency at {r.alarm_beds} beds, {r.backlog_rows_at_alarm_start:,} rows "
        f"({r.backlog_records_at_alarm_start:,} records) of backlog draining: "
        f"to PUBACK p50 {lat.get('p50', float('nan'))} ms, p99 {lat.get('p99', float('nan'))} "
        f"ms (n={lat.get('n', 0)}); to a subscriber p50 {dlv.get('p50', float('nan'))} ms, "
        f"p99 {dlv.get('p99', float('nan'))} ms",
        f"  RSS peak {r.rss_peak_mb:.1f} MB, end {r.rss_end_mb:.1f} MB "
        f"(memory allocator: {r.allocator})",
    ]
    return "\n".join(lines)


def main_bench(
    beds: int,
    seconds: float,
    as_json: bool,
    alarms: int,
    backlog_s: float = 3600.0,
    capacity: bool = True,
) -> int:
    started = time.perf_counter()

    def progress(message: str) -> None:
        print(f"[{time.perf_counter() - started:6.1f} s] {message}", file=sys.stderr, flush=True)

    result = asyncio.run(run_bench(beds, seconds, alarms, backlog_s, capacity, progress))
    if as_json:
        print(json.dumps(asdict(result), indent=2))
    else:
        print(format_result(result))
    sys.stdout.flush()
    return 0
