"""kill -9 at random instants while a simulated device streams: nothing acknowledged is lost.

The gateway runs as a real process (``edgetwin run``) reading a Masimo simulator on a
pseudo-terminal and publishing to a real mosquitto; a subscriber in this process collects
everything. After the trials the gateway is stopped cleanly. Every sequence number the
buffer ever committed (1..next_seq-1 per stream) must be at the subscriber, once after dedup.
``EDGETWIN_SOAK=1`` raises the number of trials.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import sqlite3
import sys
from pathlib import Path

import aiomqtt
from support import wait_until

from gateway.broker import LocalBroker
from gateway.ingest import DirectorySink, Ingestor
from hil.pty_port import PtyPort
from hil.sim.masimo_sim import MasimoSimulator

ROOT = Path(__file__).parent.parent
TRIALS = 400 if os.environ.get("EDGETWIN_SOAK") else 50


def write_config(path: Path, data: Path, pty: PtyPort, broker: LocalBroker) -> None:
    path.write_text(
        f"""
[gateway]
id = "gw-crash"
site = "lab"
data_dir = "{data}"
[mqtt]
port = {broker.port}
[buffer]
flush_interval_ms = 10
[twin]
snapshot_interval_s = 0.2
[[patients]]
id = "p-1"
[[devices]]
id = "oxi"
kind = "masimo"
patient = "p-1"
port = "{pty.path}"
"""
    )


async def start(config: Path) -> asyncio.subprocess.Process:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway.cli",
        "run",
        "--config",
        str(config),
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )


def committed(db_path: Path) -> dict[str, int]:
    if not db_path.exists():
        return {}
    try:
        db = sqlite3.connect(db_path)
        try:
            return dict(db.execute("SELECT stream_id, next_seq - 1 FROM streams").fetchall())
        finally:
            db.close()
    except sqlite3.Error:
        return {}


async def test_kill_9_at_random_instants_loses_nothing_acknowledged(
    tmp_path: Path, broker: LocalBroker
) -> None:
    rng = random.Random(20261123)
    pty = PtyPort()
    data = tmp_path / "data"
    config = tmp_path / "gw.toml"
    write_config(config, data, pty, broker)
    received: dict[str, list[int]] = {}
    ready = asyncio.Event()
    # the reference consumer, as upstream runs it: dedup, gaps, FHIR bundles on disk
    ingestor = Ingestor(tmp_path / "ingest.sqlite3", DirectorySink(tmp_path / "fhir"))

    async def listen() -> None:
        async with aiomqtt.Client(
            broker.host, broker.port, protocol=aiomqtt.ProtocolVersion.V5, identifier="crash-sub"
        ) as client:
            await client.subscribe("edgetwin/v1/lab/gw-crash/#", qos=1)
            ready.set()
            async for message in client.messages:
                assert isinstance(message.payload, bytes)
                ingestor.handle(str(message.topic), message.payload)
                body = json.loads(message.payload)
                if "samples" in body:
                    received.setdefault(body["stream"], []).extend(
                        s["seq"] for s in body["samples"]
                    )

    listener = asyncio.create_task(listen())
    await wait_until(ready.is_set, what="subscriber")
    sim = MasimoSimulator(pty, seed=11, interval_s=0.002)
    feeding = asyncio.create_task(sim.run())
    db_path = data / "buffer.sqlite3"
    kills = 0
    try:
        for _ in range(TRIALS):
            proc = await start(config)
            before = sum(committed(db_path).values())
            # wait until this incarnation has stored something, then kill at a random instant
            await wait_until(
                lambda b=before: sum(committed(db_path).values()) > b,  # type: ignore[misc]
                what="gateway storing records",
            )
            await asyncio.sleep(rng.uniform(0.0, 0.15))
            proc.send_signal(signal.SIGKILL)
            await proc.wait()
            kills += 1
        before = sum(committed(db_path).values())
        proc = await start(config)
        await wait_until(lambda: sum(committed(db_path).values()) > before, what="final start")
        feeding.cancel()
        await asyncio.gather(feeding, return_exceptions=True)

        def all_arrived() -> bool:
            now = committed(db_path)
            return all(len(set(received.get(s, []))) >= n for s, n in now.items())

        await wait_until(all_arrived, deadline_s=60, what="every committed record upstream")
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 30) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        listener.cancel()
        await asyncio.gather(listener, return_exceptions=True)
        pty.close()
    final = committed(db_path)
    assert kills == TRIALS
    assert final["oxi.150456"] > TRIALS  # data flowed in every incarnation
    for stream, n in final.items():
        got = received.get(stream, [])
        assert sorted(set(got)) == list(range(1, n + 1)), f"{stream}: missing or extra seqs"
    duplicates = sum(len(v) - len(set(v)) for v in received.values())
    # the consumer holds every committed record exactly once, and knows of no gap
    assert ingestor.stats.records_new == sum(final.values())
    assert ingestor.stats.duplicates == duplicates
    assert ingestor.open_gaps() == []
    assert ingestor.stats.rejected == 0
    ingestor.close()
    print(
        f"\n{TRIALS} kill -9 trials: {sum(final.values())} records, {duplicates} duplicates deduped"
    )
