"""``edgetwin bench --soak``: hours of faults at random, then count what was lost (must be 0).

The gateway runs as a real process (``edgetwin run``) on simulated bedside monitors at
real rate, publishing to a real mosquitto (with persistence, so a restarted broker keeps
what it acknowledged). A subscriber in this process keeps a persistent session and
collects every sequence number. At random intervals one fault is injected:

* ``kill9``: the gateway is killed with SIGKILL and started again;
* ``broker_restart``: mosquitto is stopped and started at once;
* ``link_drop``: mosquitto is down for a few seconds (the uplink's view of a lost link).

The gateway starts as the service unit starts it: on jemalloc when the library is installed
(``allocator = "auto"``; gateway/allocator.py says why), and the report names the allocator
its process actually mapped. The gateway's memory is sampled all along (RSS per
incarnation). At the end the gateway is stopped cleanly after the backlog drained, and
every record its buffer committed (sequence numbers 1..n per stream) must have reached the
subscriber: ``lost`` is the number that did not. Warnings and errors in the gateway's logs
are counted by logger.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import signal
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import aiomqtt

from gateway import allocator as alloc
from gateway.broker import LocalBroker
from gateway.envelope import decode

FAULTS = ("kill9", "broker_restart", "link_drop")
ALLOCATORS = ("auto", "jemalloc", "glibc")


@dataclass
class SoakResult:
    beds: int
    seconds: float
    faults: dict[str, int] = field(default_factory=dict)
    committed_records: int = 0
    received_records: int = 0
    lost: int = 0
    duplicates_deduped: int = 0
    rss_mb: list[tuple[float, float]] = field(default_factory=list)  # (t s, MB) per sample
    rss_growth_pct: float = 0.0  # over the longest incarnation, after its first minute
    # least-squares RSS slope over the first and the second half of that steady stretch: a
    # warm-up that levels off shows a smaller second-half slope, a leak the same or larger
    rss_slope_mb_per_h: tuple[float, float] = (0.0, 0.0)
    log_lines: dict[str, int] = field(default_factory=dict)  # "WARNING gateway.sync": n
    log_errors: list[str] = field(default_factory=list)  # distinct ERROR/CRITICAL messages
    drained_s: float = 0.0
    allocator: str = ""  # what the gateway's process mapped: "jemalloc" or "glibc"


def _config(path: Path, data: Path, port: int, beds: int) -> None:
    devices = "".join(
        f"""
[[patients]]
id = "p-{i:03d}"
[[devices]]
id = "bed{i:03d}"
kind = "synthetic"
patient = "p-{i:03d}"
profile = "monitor"
"""
        for i in range(beds)
    )
    path.write_text(
        f"""
[gateway]
id = "soak-gw"
site = "soak"
data_dir = "{data}"
[mqtt]
port = {port}
[buffer]
flush_interval_ms = 1000
{devices}"""
    )


def _committed(db_path: Path) -> dict[str, int]:
    if not db_path.exists():
        return {}
    try:
        db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5)
        try:
            return dict(db.execute("SELECT stream_id, next_seq - 1 FROM streams").fetchall())
        finally:
            db.close()
    except sqlite3.Error:
        return {}


def _rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


ROOT = Path(__file__).resolve().parent.parent


def _gateway_env(allocator: str) -> dict[str, str]:
    """The gateway's environment for ``allocator`` (one of :data:`ALLOCATORS`)."""
    if allocator not in ALLOCATORS:
        raise ValueError(f"allocator: one of {', '.join(ALLOCATORS)}, got {allocator!r}")
    if allocator == "jemalloc" and not alloc.jemalloc_installed():
        raise ValueError(
            f"allocator jemalloc: {alloc.JEMALLOC} not found "
            "(install the Debian package libjemalloc2)"
        )
    use = allocator == "jemalloc" or (allocator == "auto" and alloc.jemalloc_installed())
    env = alloc.with_jemalloc() if use else alloc.without_jemalloc()
    return {**env, "PYTHONPATH": str(ROOT)}


async def _start_gateway(
    config: Path, log: Path, env: dict[str, str]
) -> asyncio.subprocess.Process:
    with log.open("ab") as out:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "gateway.cli",
            "--log-level",
            "warning",
            "--log-format",
            "json",
            "run",
            "--config",
            str(config),
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=out,
        )


async def run_soak(
    beds: int,
    seconds: float,
    seed: int = 1,
    progress: Callable[[str], None] = lambda _m: None,
    mean_fault_interval_s: float = 20.0,
    faults: tuple[str, ...] = FAULTS,
    allocator: str = "auto",
) -> SoakResult:
    env = _gateway_env(allocator)
    rng = random.Random(seed)
    # our own subscriber's client logs each broker restart as an error: not the gateway's
    logging.getLogger("mqtt").setLevel(logging.CRITICAL)
    if not faults or not set(faults) <= set(FAULTS):
        raise ValueError(f"faults: some of {', '.join(FAULTS)}")
    result = SoakResult(beds=beds, seconds=seconds, faults=dict.fromkeys(faults, 0))
    received: dict[str, set[int]] = {}
    deliveries = 0
    with tempfile.TemporaryDirectory(prefix="edgetwin-soak-") as tmp:
        work = Path(tmp)
        broker = LocalBroker(work / "broker", persistence=True)
        broker.start()
        config, log = work / "gw.toml", work / "gateway.log"
        db_path = work / "data" / "buffer.sqlite3"
        _config(config, work / "data", broker.port, beds)
        stop_listening = asyncio.Event()

        async def listen() -> None:
            nonlocal deliveries
            while not stop_listening.is_set():
                try:
                    async with aiomqtt.Client(
                        broker.host,
                        broker.port,
                        identifier="soak-subscriber",
                        clean_session=False,  # the broker queues QoS 1 while we are away
                    ) as client:
                        await client.subscribe("edgetwin/v1/soak/soak-gw/#", qos=1)
                        async for message in client.messages:
                            assert isinstance(message.payload, bytes)
                            body = decode(message.payload)
                            for sample in body.get("samples", []):
                                deliveries += 1
                                received.setdefault(body["stream"], set()).add(sample["seq"])
                except aiomqtt.MqttError:
                    await asyncio.sleep(0.5)

        listener = asyncio.create_task(listen())
        proc = await _start_gateway(config, log, env)
        t0 = time.monotonic()
        incarnation_start = t0
        longest: list[tuple[float, float]] = []
        current: list[tuple[float, float]] = []
        next_fault = t0 + rng.expovariate(1 / mean_fault_interval_s)
        next_sample = t0
        try:
            while (now := time.monotonic()) - t0 < seconds:
                if now >= next_sample and now - incarnation_start >= 5.0:  # past start-up
                    rss = _rss_mb(proc.pid)
                    if not result.allocator:  # loaded by now: read once, past start-up
                        result.allocator = alloc.in_use(proc.pid)
                    if rss is not None:
                        point = (round(now - t0, 1), round(rss, 1))
                        result.rss_mb.append(point)
                        current.append((now - incarnation_start, rss))
                    next_sample = now + 5.0
                if now >= next_fault:
                    fault = rng.choice(faults)
                    result.faults[fault] += 1
                    progress(f"{now - t0:7.0f} s: {fault}")
                    if fault == "kill9":
                        proc.send_signal(signal.SIGKILL)
                        await proc.wait()
                        if len(current) > len(longest):
                            longest = current
                        current = []
                        proc = await _start_gateway(config, log, env)
                        incarnation_start = time.monotonic()
                    else:
                        broker.stop()
                        if fault == "link_drop":
                            await asyncio.sleep(rng.uniform(2.0, 10.0))
                        broker.start()
                    next_fault = time.monotonic() + rng.expovariate(1 / mean_fault_interval_s)
                await asyncio.sleep(0.2)
            if len(current) > len(longest):
                longest = current
            # stop cleanly, then run the same gateway without its devices until everything
            # it committed is upstream (no new data: the target stops moving)
            progress("draining")
            drain_start = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            await asyncio.wait_for(proc.wait(), 60)
            drain_config = work / "drain.toml"
            _config(drain_config, work / "data", broker.port, 0)
            proc = await _start_gateway(drain_config, log, env)
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                final = _committed(db_path)
                if all(len(received.get(s, ())) >= n for s, n in final.items()):
                    break
                await asyncio.sleep(0.5)
            result.drained_s = round(time.monotonic() - drain_start, 1)
            proc.send_signal(signal.SIGTERM)
            await asyncio.wait_for(proc.wait(), 60)
            final = _committed(db_path)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            stop_listening.set()
            listener.cancel()
            await asyncio.gather(listener, return_exceptions=True)
            broker.stop()
        result.committed_records = sum(final.values())
        result.received_records = sum(len(v) for v in received.values())
        result.lost = sum(
            len(set(range(1, n + 1)) - received.get(s, set())) for s, n in final.items()
        )
        result.duplicates_deduped = deliveries - result.received_records
        steady = [(t, rss) for t, rss in longest if t >= 60.0]
        if len(steady) >= 2:
            first, last = steady[0][1], steady[-1][1]
            result.rss_growth_pct = round(100 * (last - first) / first, 2)
            half = len(steady) // 2
            result.rss_slope_mb_per_h = (_slope_per_h(steady[:half]), _slope_per_h(steady[half:]))
        result.log_lines, result.log_errors = _log_summary(log)
    return result


def _slope_per_h(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MB) points, in MB per hour (0 for under 2 points)."""
    if len(points) < 2:
        return 0.0
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_m = sum(m for _, m in points) / n
    var = sum((t - mean_t) ** 2 for t, _ in points)
    if var == 0:
        return 0.0
    cov = sum((t - mean_t) * (m - mean_m) for t, m in points)
    return round(3600 * cov / var, 2)


def _log_summary(log: Path, keep: int = 10) -> tuple[dict[str, int], list[str]]:
    """Lines per "LEVEL logger", and the first ``keep`` distinct error messages."""
    counts: Counter[str] = Counter()
    errors: list[str] = []
    with contextlib.suppress(OSError):
        for line in log.read_text(errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                counts["unstructured"] += 1
                continue
            if not isinstance(entry, dict):
                continue
            level, logger = entry.get("level", "?"), entry.get("logger", "?")
            counts[f"{level} {logger}"] += 1
            if level in ("error", "critical") and len(errors) < keep:
                exc = str(entry.get("exc", "")).strip().splitlines()
                cause = f" ({exc[-1]})" if exc else ""
                message = f"{logger}: {entry.get('msg', '')}{cause}"[:300]
                if message not in errors:
                    errors.append(message)
    return dict(counts), errors


def format_soak(r: SoakResult) -> str:
    faults = ", ".join(f"{k} {v}" for k, v in r.faults.items())
    rss = [m for _, m in r.rss_mb]
    lines = [
        f"edgetwin bench --soak: {r.beds} beds at real rate for {r.seconds:g} s",
        f"  faults injected: {faults}",
        f"  records committed {r.committed_records:,}, received {r.received_records:,}, "
        f"LOST {r.lost} ({r.duplicates_deduped:,} duplicate deliveries deduped)",
        f"  backlog drained {r.drained_s:g} s after the last fault window",
        f"  gateway memory allocator: {r.allocator or 'not read'}",
        f"  gateway RSS min {min(rss, default=0):.1f} MB, max {max(rss, default=0):.1f} MB; "
        f"growth over the longest run after its first minute {r.rss_growth_pct:+.2f} %",
        f"  RSS slope over that stretch: {r.rss_slope_mb_per_h[0]:+.2f} MB/h in its first half, "
        f"{r.rss_slope_mb_per_h[1]:+.2f} MB/h in its second",
        "  log lines: " + (", ".join(f"{k} {v}" for k, v in sorted(r.log_lines.items())) or "none"),
        *(f"  error: {message}" for message in r.log_errors),
    ]
    return "\n".join(lines)


def main_soak(
    beds: int,
    seconds: float,
    as_json: bool,
    seed: int = 1,
    faults: tuple[str, ...] = FAULTS,
    allocator: str = "auto",
) -> int:
    started = time.perf_counter()

    def progress(message: str) -> None:
        print(f"[{time.perf_counter() - started:7.1f} s] {message}", file=sys.stderr, flush=True)

    result = asyncio.run(
        run_soak(beds, seconds, seed, progress, faults=faults, allocator=allocator)
    )
    print(json.dumps(asdict(result), indent=2) if as_json else format_soak(result))
    return 0 if result.lost == 0 else 1
