"""Shared pieces of the serial end-to-end tests.

* :class:`DriverRun`: one real driver on a simulator's pty, restarted after device errors
  (a tiny supervisor), collecting what it yields.
* :func:`samples_of` / :func:`outbox_samples`: what reached the store, as envelope samples
  per stream (from records, from the SQLite outbox, or from broker messages).
* ``check_*``: every message a simulator DELIVERED is stored exactly once, nothing LOST or
  never sent is stored, and values (and device times where the protocol has them) match.
  The expected side is computed from the simulators' own ledgers and tables, never from
  the drivers' parsers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import sqlite3
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from support import wait_until

from drivers.base import DeviceSpec, DriverCounters
from drivers.registry import driver_factory
from gateway.envelope import wave_samples
from gateway.errors import DeviceError
from gateway.model import DeviceEvent, Measurement, Record, WaveformChunk
from hil.serial_sim.base import Fate, Sent, SimulatorBase
from hil.serial_sim.datex_sim import DatexSimulator
from hil.serial_sim.intellivue_monitor import ECG_II, PLETH, IntelliVueMonitor, NumericValue
from hil.serial_sim.masimo_stream import MasimoLine, MasimoStreamer
from hil.serial_sim.nonin_sim import MISSING_HR, MISSING_SPO2, NoninPacket, NoninSimulator

Samples = dict[str, list[dict[str, Any]]]

SPO2, PR, PLETH_MDC = "150456", "149530", "150452"
#: IntelliVue physiological id -> MDC code (IEEE 11073-10101 SCADA partition, 2 << 16 | id;
#: the pleth pulse rate maps to MDC_PULS_OXIM_PULS_RATE).
IV_MDC = {
    0x4182: 147842,
    0x4BB8: 150456,
    0x4822: 149530,
    0x500A: 151562,
    0x4B48: 150344,
    0x4A05: 150021,
    0x4A06: 150022,
    0x4A07: 150023,
}
IV_ECG_STREAM, IV_PLETH_STREAM = "131330", "150452"
DATEX_ECG1_STREAM, DATEX_PLETH_STREAM = "131328.ecg1", "150452"


class DriverRun:
    """Run a driver like the supervisor does (restart after device errors), collecting."""

    def __init__(self, kind: str, options: dict[str, object], device_id: str = "dev") -> None:
        self.spec = DeviceSpec(device_id, kind, "p-1", options)
        self.counters = DriverCounters()
        self.records: list[Record] = []
        self.errors: list[DeviceError] = []
        self.sessions = 0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        factory = driver_factory(self.spec.kind)
        while True:
            try:
                async with factory(self.spec, self.counters) as driver:
                    self.sessions += 1
                    async for record in driver.records():
                        self.records.append(record)
            except DeviceError as exc:
                self.errors.append(exc)
            await asyncio.sleep(0.05)

    async def __aenter__(self) -> DriverRun:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def samples(self) -> Samples:
        return samples_of(self.records)


def _value(v: float) -> float | None:
    return None if math.isnan(v) else v


def samples_of(records: Iterable[Record]) -> Samples:
    """Records as envelope-like samples per stream (the keys the outbox JSON uses)."""
    out: Samples = defaultdict(list)
    for r in records:
        if isinstance(r, Measurement):
            out[r.stream_id].append(
                {
                    "value": _value(r.value),
                    "t_dev_ns": r.device_time_ns,
                    "quality": r.quality.names(),
                }
            )
        elif isinstance(r, WaveformChunk):
            out[r.stream_id].append({"samples": r.samples.tolist(), "start_ns": r.start_ns})
        elif isinstance(r, DeviceEvent):
            out[r.stream_id].append({"event": r.event.value, "detail": r.detail})
        else:
            out[r.stream_id].append({"kind": r.kind, "record": r})
    return out


def outbox_samples(db_path: Path) -> Samples:
    """Every sample in the SQLite outbox, per stream, in sequence order."""
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT payload FROM outbox ORDER BY stream_id, seq_first").fetchall()
    finally:
        db.close()
    return bodies_samples(json.loads(payload) for (payload,) in rows)


def bodies_samples(bodies: Iterable[dict[str, Any]]) -> Samples:
    """Envelope bodies -> samples per stream, deduplicated on seq and sorted by it."""
    by_stream: dict[str, dict[int, dict[str, Any]]] = defaultdict(dict)
    for body in bodies:
        for sample in body.get("samples", []):
            if "samples_b64" in sample:  # packed wave samples, read as a consumer would
                sample = {**sample, "samples": wave_samples(sample)}
            by_stream[body["stream"]][sample["seq"]] = sample
    return {s: [v for _, v in sorted(seqs.items())] for s, seqs in by_stream.items()}


def events(samples: Samples, device: str, kind: str) -> list[dict[str, Any]]:
    return [s for s in samples.get(f"{device}.events", []) if s.get("event") == kind]


# ------------------------------------------------------------------------- checks


class Tally:
    """Matches stored items to ledger entries; asserts exactly-once for DELIVERED."""

    def __init__(self, sim: SimulatorBase, what: str) -> None:
        self.sim = sim
        self.what = what
        self.seen: Counter[object] = Counter()
        self.by_key = {s.key: s for s in sim.ledger.items}

    def saw(self, key: object) -> Sent:
        sent = self.by_key.get(key)
        assert sent is not None, f"{self.what}: stored {key!r}, which the simulator never sent"
        assert sent.fate is not Fate.LOST, f"{self.what}: {key!r} was {sent.note}, yet stored"
        self.seen[key] += 1
        return sent

    def done(self, keys_of: Iterable[object] | None = None) -> int:
        twice = {k: n for k, n in self.seen.items() if n > 1}
        assert not twice, f"{self.what}: stored more than once: {list(twice)[:5]}"
        wanted = (
            [s.key for s in self.sim.ledger.with_fate(Fate.DELIVERED)]
            if keys_of is None
            else list(keys_of)
        )
        missing = [k for k in wanted if k not in self.seen]
        assert not missing, f"{self.what}: {len(missing)} delivered but not stored: {missing[:5]}"
        return len(self.seen)


def check_nonin(samples: Samples, device: str, sim: NoninSimulator) -> int:
    """Pleth chunks name their packet (counter samples); numerics follow their packet."""
    packets = {s.payload.pleth: s for s in sim.ledger.items if isinstance(s.payload, NoninPacket)}
    tally = Tally(sim, f"{device} packets")
    chunks = samples.get(f"{device}.{PLETH_MDC}", [])
    order: list[NoninPacket] = []
    for chunk in chunks:
        key = tuple(chunk["samples"])
        sent = packets.get(key)
        assert sent is not None, f"{device}: a pleth chunk the simulator never sent: {key[:3]}"
        tally.saw(sent.key)
        assert isinstance(sent.payload, NoninPacket)
        order.append(sent.payload)
    n = tally.done()
    spo2 = [s["value"] for s in samples.get(f"{device}.{SPO2}", [])]
    pr = [s["value"] for s in samples.get(f"{device}.{PR}", [])]
    assert spo2 == [None if p.spo2 == MISSING_SPO2 else p.spo2 for p in order]
    assert pr == [None if p.hr == MISSING_HR else p.hr for p in order]
    return n


def check_masimo(samples: Samples, device: str, sim: MasimoStreamer) -> int:
    """Each line is named by its device timestamp; SpO2 and pulse rate must match."""
    tally = Tally(sim, f"{device} lines")
    by_ns = {_masimo_ns(k): k for k in tally.by_key}
    for metric, attr in ((SPO2, "spo2"), (PR, "bpm")):
        stored = samples.get(f"{device}.{metric}", [])
        keys = []
        for s in stored:
            key = by_ns.get(s["t_dev_ns"])
            assert key is not None, f"{device}: a line the simulator never sent: {s}"
            line = tally.by_key[key].payload
            assert isinstance(line, MasimoLine)
            assert s["value"] == getattr(line, attr), (key, s)
            keys.append(key)
        if metric == SPO2:
            for key in keys:
                tally.saw(key)
        else:
            assert len(keys) == len(set(keys)), f"{device}: pulse rate stored twice"
    return tally.done()


def _masimo_ns(key: object) -> int:
    assert isinstance(key, tuple)
    return int(key[1].timestamp()) * 1_000_000_000


def check_datex(samples: Samples, device: str, sim: DatexSimulator) -> tuple[int, int]:
    """PHDB records are named by r_time (device time); wave chunks by their samples."""
    numerics = Tally(sim, f"{device} displayed values")
    for s in samples.get(f"{device}.{SPO2}", []):
        r_time = s["t_dev_ns"] // 1_000_000_000
        sent = numerics.saw(("phdb", r_time))
        assert isinstance(sent.payload, dict)
        raw = sent.payload["spo2"]["spo2"]
        if raw <= -32001:
            assert s["value"] is None and s["quality"], s
        else:
            assert math.isclose(s["value"], raw / 100), (s, raw)
    n_phdb = numerics.done(
        s.key for s in sim.ledger.with_fate(Fate.DELIVERED) if s.key[0] == "phdb"
    )
    waves = Tally(sim, f"{device} wave records")
    by_ecg = {
        tuple(s.payload[1]): s
        for s in sim.ledger.items
        if isinstance(s.payload, dict) and 1 in s.payload
    }
    for chunk in samples.get(f"{device}.{DATEX_ECG1_STREAM}", []):
        sent = by_ecg.get(tuple(chunk["samples"]))
        assert sent is not None, f"{device}: an ECG chunk the simulator never sent"
        waves.saw(sent.key)
    n_waves = waves.done(
        s.key for s in sim.ledger.with_fate(Fate.DELIVERED) if s.key[0] == "wave" and 1 in s.payload
    )
    return n_phdb, n_waves


def check_intellivue(samples: Samples, device: str, sim: IntelliVueMonitor) -> tuple[int, int]:
    """Numerics are named by metric and device time (anchored at the MDS Create event)."""
    expected: dict[tuple[int, int], tuple[Sent, float | None]] = {}
    for sent in sim.ledger.items:
        if sent.key[0] != "numerics" or not isinstance(sent.payload, tuple):
            continue
        t_ns = sim.device_ns(sent.t)
        for value in sent.payload:
            assert isinstance(value, NumericValue)
            expected[(IV_MDC[value.physio_id], t_ns)] = (sent, value.value)
    seen: Counter[tuple[int, int]] = Counter()
    for mdc in set(IV_MDC.values()):
        for s in samples.get(f"{device}.{mdc}", []):
            key = (mdc, s["t_dev_ns"])
            assert key in expected, f"{device}: numeric {key} never sent"
            sent, value = expected[key]
            assert sent.fate is not Fate.LOST, f"{device}: {key} was {sent.note}, yet stored"
            if value is None:
                assert s["value"] is None and s["quality"], s
            else:
                assert s["value"] == value or abs(s["value"] - value) < 1e-9, (key, s, value)
            seen[key] += 1
    assert all(n == 1 for n in seen.values()), "a numeric stored twice"
    missing = [
        k for k, (sent, _) in expected.items() if sent.fate is Fate.DELIVERED and not seen[k]
    ]
    assert not missing, f"{device}: {len(missing)} delivered numerics not stored: {missing[:5]}"
    waves = Tally(sim, f"{device} waves")
    by_samples = {
        (physio, tuple(s.payload[physio])): s
        for s in sim.ledger.items
        if s.key[0] == "waves" and isinstance(s.payload, dict)
        for physio in s.payload
    }
    pleth = Counter()
    for physio, stream in ((ECG_II, IV_ECG_STREAM), (PLETH, IV_PLETH_STREAM)):
        for chunk in samples.get(f"{device}.{stream}", []):
            sent = by_samples.get((physio, tuple(chunk["samples"])))
            assert sent is not None, f"{device}: a wave chunk the simulator never sent"
            if physio == ECG_II:
                waves.saw(sent.key)
            else:
                pleth[sent.key] += 1
    assert pleth == waves.seen, f"{device}: pleth and ECG of the same results differ"
    n_waves = waves.done(s.key for s in sim.ledger.with_fate(Fate.DELIVERED) if s.key[0] == "waves")
    return len(seen), n_waves


def passes(check: Callable[[], object]) -> Callable[[], bool]:
    def ok() -> bool:
        try:
            check()
        except AssertionError:
            return False
        return True

    return ok


async def settle(check: Callable[[], object], deadline_s: float = 20.0) -> None:
    """Wait until ``check`` passes; on timeout, fail with its own message."""
    try:
        await wait_until(passes(check), deadline_s=deadline_s, what="the store to catch up")
    except AssertionError:
        check()
        raise
