"""Benchmark (not a test): patient and device twin update cost for a 32-bed ward.

``python -m edge_models.bench_twin [--beds 32] [--seconds 300]``

Each bed has a bedside monitor (8 numerics at 1 Hz) and a BLE oximeter (SpO2 and pulse at
1 Hz, battery level and RSSI once a minute): 10 numerics per bed per second. One tick is one
second of ward data handed over as one batch (the pipeline commits in 250 ms batches; fewer,
larger batches only make the per-tick overhead smaller; ``--batches 4`` splits each second
into four batches like the pipeline's 250 ms flush). Records are built before timing.
Measured with the process CPU clock: ``PatientTwins.observe``, ``DeviceTwins.observe``, and a
bare baseline (a plain Python loop appending the same values and times to lists), in the
same run, as µs per sample, ms per tick, and % of one core at the ward's real rate.
"""

from __future__ import annotations

import argparse
import math
import random
import time
from collections.abc import Callable, Sequence

from gateway.config import GatewayConfig, parse_config
from gateway.device_twin import DeviceTwins
from gateway.model import VALID, DeviceEvent, EventKind, Measurement, ReceiveTime, Record
from gateway.supervisor import DriverHealth
from gateway.twin import PatientTwins

#: Monitor numerics (MDC codes from gateway.codes): HR, pleth pulse, SpO2, RR, temperature,
#: NIBP systolic / diastolic / mean.
MONITOR = ((147842, 72.0), (149530, 72.0), (150456, 97.0), (151562, 16.0), (150344, 37.0),
           (150021, 120.0), (150022, 80.0), (150023, 93.0))  # fmt: skip
OXIMETER = ((150456, 96.0), (149530, 71.0))
BATTERY_CODE = 67996


def ward_config(beds: int) -> GatewayConfig:
    return parse_config(
        {
            "gateway": {"id": "bench"},
            "patients": [{"id": f"p{b:02d}"} for b in range(beds)],
            "devices": [
                d
                for b in range(beds)
                for d in (
                    {
                        "id": f"mon{b:02d}",
                        "kind": "intellivue",
                        "patient": f"p{b:02d}",
                        "port": "/dev/null",
                    },
                    {
                        "id": f"oxi{b:02d}",
                        "kind": "ble",
                        "patient": f"p{b:02d}",
                        "address": f"AA:BB:CC:DD:{b // 256:02X}:{b % 256:02X}",
                    },
                )
            ],
        },
        "<bench>",
    )


def at(t: float) -> ReceiveTime:
    return ReceiveTime(int((1.8e9 + t) * 1e9), int(t * 1e9))


def ward_ticks(beds: int, seconds: int, seed: int = 1) -> list[tuple[float, list[Record]]]:
    rng = random.Random(seed)
    ticks: list[tuple[float, list[Record]]] = []
    for s in range(seconds):
        batch: list[Record] = []
        for b in range(beds):
            mon, oxi = f"mon{b:02d}", f"oxi{b:02d}"
            t = s + b / beds
            for code, mean in MONITOR:
                v = mean + rng.gauss(0, 1)
                batch.append(Measurement(mon, f"{mon}.{code}", code, "", v, VALID, at(t)))
            for code, mean in OXIMETER:
                v = mean + rng.gauss(0, 1)
                batch.append(Measurement(oxi, f"{oxi}.{code}", code, "", v, VALID, at(t + 0.1)))
            if s % 60 == b % 60:
                level = float(max(0, 90 - s // 60))  # 1 %/min: the estimator works
                batch.append(DeviceEvent(oxi, f"{oxi}.events", EventKind.BATTERY, at(t), "", level))
                batch.append(Measurement(oxi, f"{oxi}.{BATTERY_CODE}", BATTERY_CODE, "%", level,
                                         VALID, at(t)))  # fmt: skip
        ticks.append((s + 1.0, batch))
    return ticks


def split(ticks: list[tuple[float, list[Record]]], parts: int) -> list[tuple[float, list[Record]]]:
    """Each one-second batch as ``parts`` consecutive batches, in time order."""
    if parts <= 1:
        return ticks
    out: list[tuple[float, list[Record]]] = []
    for t, batch in ticks:
        size = math.ceil(len(batch) / parts)
        for i in range(parts):
            out.append((t - 1.0 + (i + 1) / parts, batch[i * size : (i + 1) * size]))
    return out


def _cpu(
    run: Callable[[float, Sequence[Record]], object], ticks: list[tuple[float, list[Record]]]
) -> float:
    start = time.process_time()
    for t, batch in ticks:
        run(t, batch)
    return time.process_time() - start


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--beds", type=int, default=32)
    p.add_argument("--seconds", type=int, default=300, help="simulated ward seconds")
    p.add_argument("--batches", type=int, default=1, help="batches per simulated second")
    args = p.parse_args(argv)
    config = ward_config(args.beds)
    ticks = split(ward_ticks(args.beds, args.seconds), args.batches)
    samples = sum(len(b) for _, b in ticks)
    health = {d.id: DriverHealth(state="connected") for d in config.devices}
    rssi = random.Random(2)

    def bump_counters(t: float) -> None:
        for dev, h in health.items():
            h.counters.counts["frames"] += 1
            if dev.startswith("oxi") and int(t) % 60 == 0:
                h.counters.counts["rssi"] = round(-65 + rssi.gauss(0, 3))

    patient = PatientTwins(config)
    device = DeviceTwins(config, health)
    sink_v: list[float] = []
    sink_t: list[int] = []

    def baseline(t: float, batch: Sequence[Record]) -> None:
        for r in batch:
            if isinstance(r, Measurement):
                sink_v.append(r.value)
                sink_t.append(r.received.mono_ns)

    def patient_run(t: float, batch: Sequence[Record]) -> None:
        patient.observe(batch, at(t))

    def device_run(t: float, batch: Sequence[Record]) -> None:
        bump_counters(t)
        device.observe(batch, at(t))

    results = {
        "baseline (append to lists)": _cpu(baseline, ticks),
        "patient twin (PatientTwins.observe)": _cpu(patient_run, ticks),
        "device twin (DeviceTwins.observe)": _cpu(device_run, ticks),
    }
    rate = samples / args.seconds
    print(
        f"ward: {args.beds} beds, {args.seconds} s simulated, {samples} samples "
        f"({rate:.0f} samples/s), {args.batches} batch(es) per second"
    )
    print(f"{'stage':<38} {'us/sample':>10} {'ms/batch':>9} {'% of one core':>14}")
    base = results["baseline (append to lists)"]
    for name, cpu in results.items():
        per_sample = cpu / samples * 1e6
        per_tick = cpu / len(ticks) * 1e3
        share = cpu / args.seconds * 100
        ratio = (
            "" if name.startswith("baseline") or base <= 0 else f"  ({cpu / base:.0f}x baseline)"
        )
        print(f"{name:<38} {per_sample:>10.2f} {per_tick:>9.3f} {share:>13.3f}%{ratio}")
    snap = device.snapshot("oxi00", at(args.seconds + 1.0)).state
    battery = snap["battery"]
    assert isinstance(battery, dict)
    print(f"device twin oxi00: health={snap['health']}, battery: {battery['text']}")
    if not math.isfinite(base):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
