"""``edgetwin bench``: end-to-end throughput, alarm latency and disk writes, with a baseline.

Everything runs on real parts: a private mosquitto on loopback, the real pipeline, twin,
SQLite buffer and MQTT uplink. Simulated devices (``hil.sim.synthetic``) generate records
as fast as the pipeline takes them. In the same run a bare baseline does the same work with
nothing of EdgeTwin in between: raw ``sqlite3`` inserts of the same envelopes in the same
transactions, and raw aiomqtt QoS 1 publishes of them with the same in-flight window.
Figures are ratios against that baseline, because absolute numbers on a shared machine say
little. This is a benchmark, never a test: nothing here asserts a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import aiomqtt

from gateway import envelope
from gateway.broker import LocalBroker
from gateway.config import GatewayConfig, parse_config
from gateway.model import Alarm, AlarmKind, AlarmPriority, Measurement, Quality, ReceiveTime
from gateway.runtime import BUFFER_FILE, Gateway

WINDOW = 32


@dataclass
class BenchResult:
    beds: int
    seconds: float
    records_acked: int = 0
    records_per_s: float = 0.0
    baseline_records_per_s: float = 0.0
    ratio_to_baseline: float = 0.0
    records_per_row: float = 0.0
    disk_bytes_per_record: float = 0.0
    disk_bytes_per_payload_byte: float = 0.0
    alarm_latency_ms: dict[str, float] = field(default_factory=dict)
    backlog_rows_at_alarm_start: int = 0
    rss_peak_mb: float = 0.0


def _write_bytes() -> int:
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("write_bytes:"):
            return int(line.split()[1])
    return 0


def _rss_peak_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _config(data: Path, port: int, beds: int, rate_hz: float) -> GatewayConfig:
    return parse_config(
        {
            "gateway": {"id": "bench-gw", "site": "bench", "data_dir": str(data)},
            "mqtt": {"port": port, "inflight_window": WINDOW},
            "buffer": {"flush_interval_ms": 250, "queue_size": 20_000, "max_batch_records": 20_000},
            "patients": [{"id": f"p-{i:03d}"} for i in range(beds)],
            "devices": [
                {
                    "id": f"bed{i:03d}",
                    "kind": "synthetic",
                    "patient": f"p-{i:03d}",
                    "metrics": 6,
                    "rate_hz": rate_hz,
                    "batch": 60,
                }
                for i in range(beds)
            ],
        },
        "<bench>",
    )


async def _throughput(
    broker: LocalBroker, work: Path, beds: int, seconds: float, r: BenchResult
) -> list[bytes]:
    cfg = _config(work / "tp", broker.port, beds, 0.0)
    gateway = Gateway(cfg, drain_s=30.0)
    stop = asyncio.Event()
    io0 = _write_bytes()
    run = asyncio.create_task(gateway.run(stop))
    await asyncio.sleep(seconds)
    stop.set()
    summary = await run
    r.disk_bytes_per_record = (_write_bytes() - io0) / max(
        1, sum(d.buffered for d in summary.devices)
    )
    r.records_acked = summary.uplink_acked_records
    r.records_per_s = r.records_acked / seconds
    db = sqlite3.connect(cfg.data_dir / BUFFER_FILE)
    rows = db.execute("SELECT sum(committed), count(*) FROM streams").fetchone()
    db.close()
    # one row per stream per flush: records per row is what the baseline batches likewise
    flushes = max(1.0, seconds / (cfg.buffer.flush_interval_ms / 1000))
    r.records_per_row = rows[0] / max(1.0, rows[1] * flushes)
    # sample payloads for the baseline: the same envelope shape and batch size
    per_row = max(1, round(r.records_per_row))
    sample = [
        Measurement(
            "bed000",
            "bed000.900000",
            900000,
            "1",
            50.0 + i,
            Quality(0),
            ReceiveTime.now(),
            seq=i + 1,
        )
        for i in range(per_row)
    ]
    payload = envelope.encode_batch(sample, gateway="bench-gw", site="bench", patient="p-000")
    r.disk_bytes_per_payload_byte = r.disk_bytes_per_record / (len(payload) / per_row)
    return [payload]


async def _baseline(
    broker: LocalBroker, work: Path, records: int, payload: bytes, per_row: int
) -> float:
    """Raw sqlite3 inserts + raw aiomqtt QoS 1 publishes of the same rows."""
    rows = max(1, records // per_row)
    db = sqlite3.connect(work / "baseline.sqlite3", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE outbox (id INTEGER PRIMARY KEY, topic TEXT, payload BLOB)")
    start = time.perf_counter()
    per_txn = max(1, rows // max(1, round(records / max(1, per_row) / 40)))
    for first in range(0, rows, per_txn):
        db.execute("BEGIN")
        db.executemany(
            "INSERT INTO outbox (topic, payload) VALUES (?, ?)",
            [("edgetwin/v1/bench/raw", payload)] * min(per_txn, rows - first),
        )
        db.execute("COMMIT")
    db.close()
    sem = asyncio.Semaphore(WINDOW)
    async with aiomqtt.Client(
        broker.host, broker.port, protocol=aiomqtt.ProtocolVersion.V5, max_inflight_messages=WINDOW
    ) as client:
        client.pending_calls_threshold = WINDOW + 1

        async def one() -> None:
            async with sem:
                await client.publish("edgetwin/v1/bench/raw", payload, qos=1)

        await asyncio.gather(*(one() for _ in range(rows)))
    elapsed = time.perf_counter() - start
    return rows * per_row / elapsed


async def _alarm_latency(
    broker: LocalBroker, work: Path, beds: int, r: BenchResult, alarms: int
) -> None:
    """Alarms injected while an hour-like backlog drains: put -> received by a subscriber."""
    cfg = _config(work / "al", broker.port, beds, 1.0)
    # build the backlog offline (the gateway not running = a broker outage)
    from gateway.buffer import Buffer

    buf = await Buffer.open(cfg.data_dir / BUFFER_FILE, cfg.gateway_id, cfg.site)
    for chunk in range(60):
        batch = [
            Measurement(
                f"bed{i % beds:03d}",
                f"bed{i % beds:03d}.{900000 + i % 6}",
                900000 + i % 6,
                "1",
                50.0,
                Quality(0),
                ReceiveTime.now(),
            )
            for i in range(chunk * 2000, (chunk + 1) * 2000)
        ]
        await buf.commit(batch, lambda d: "p-" + d[3:])
    r.backlog_rows_at_alarm_start = (await buf.stats()).outbox_rows
    await buf.close()
    latencies: list[float] = []
    sent: dict[str, int] = {}
    ready = asyncio.Event()
    all_in = asyncio.Event()

    async def listen() -> None:
        async with aiomqtt.Client(
            broker.host, broker.port, protocol=aiomqtt.ProtocolVersion.V5
        ) as c:
            await c.subscribe("edgetwin/v1/bench/bench-gw/alarm/#", qos=1)
            ready.set()
            async for message in c.messages:
                assert isinstance(message.payload, bytes)
                for s in json.loads(message.payload)["samples"]:
                    t0 = sent.pop(s["alarm_id"], None)
                    if t0 is not None:
                        latencies.append((time.monotonic_ns() - t0) / 1e6)
                    if len(latencies) == alarms:
                        all_in.set()

    listener = asyncio.create_task(listen())
    await ready.wait()
    gateway = Gateway(cfg)
    stop = asyncio.Event()
    run = asyncio.create_task(gateway.run(stop))
    await gateway.started.wait()
    assert gateway.pipeline is not None
    for i in range(alarms):
        now = ReceiveTime.now()
        alarm_id = f"bench/{i}"
        sent[alarm_id] = now.mono_ns
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
        await asyncio.sleep(0.05)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(all_in.wait(), 10)
    stop.set()
    await run
    listener.cancel()
    await asyncio.gather(listener, return_exceptions=True)
    if latencies:
        q = statistics.quantiles(latencies, n=100)
        r.alarm_latency_ms = {
            "p50": round(q[49], 2),
            "p99": round(q[98], 2),
            "max": round(max(latencies), 2),
            "n": len(latencies),
        }


async def run_bench(beds: int, seconds: float, alarms: int = 100) -> BenchResult:
    r = BenchResult(beds=beds, seconds=seconds)
    with tempfile.TemporaryDirectory(prefix="edgetwin-bench-") as tmp:
        work = Path(tmp)
        with LocalBroker(work / "broker") as broker:
            payloads = await _throughput(broker, work, beds, seconds, r)
            per_row = max(1, round(r.records_per_row))
            r.baseline_records_per_s = await _baseline(
                broker, work, r.records_acked, payloads[0], per_row
            )
            r.ratio_to_baseline = r.records_per_s / r.baseline_records_per_s
            await _alarm_latency(broker, work, beds, r, alarms)
    r.rss_peak_mb = _rss_peak_mb()
    return r


def format_result(r: BenchResult) -> str:
    lat = r.alarm_latency_ms
    return "\n".join(
        [
            f"edgetwin bench: {r.beds} simulated beds x 6 numeric streams, {r.seconds:g} s",
            f"  end to end (driver -> PUBACK)  {r.records_per_s:12,.0f} records/s",
            f"  bare baseline (sqlite+aiomqtt) {r.baseline_records_per_s:12,.0f} records/s",
            f"  ratio to baseline              {r.ratio_to_baseline:12.2f}",
            f"  records per outbox row         {r.records_per_row:12.1f}",
            f"  disk bytes written per record  {r.disk_bytes_per_record:12.1f}"
            f"  ({r.disk_bytes_per_payload_byte:.2f} per payload byte)",
            f"  alarm latency, backlog of {r.backlog_rows_at_alarm_start} rows draining: "
            f"p50 {lat.get('p50', float('nan'))} ms, p99 {lat.get('p99', float('nan'))} ms "
            f"(n={lat.get('n', 0)})",
            f"  peak RSS                        {r.rss_peak_mb:11.1f} MB",
        ]
    )


def main_bench(beds: int, seconds: float, as_json: bool, alarms: int) -> int:
    result = asyncio.run(run_bench(beds, seconds, alarms))
    if as_json:
        print(json.dumps(asdict(result), indent=2))
    else:
        print(format_result(result))
    sys.stdout.flush()
    return 0
