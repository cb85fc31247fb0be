"""Scenarios: what the simulated patient's vitals are at each instant of scenario time.

A scenario is any callable ``t_s -> Vitals`` (pure, so a replay is reproducible). Helpers
build the usual ones: :func:`constant`, :func:`timeline` (a list of changes),
:func:`drifting` (plausible slow drifts with noise) and :func:`physionet_numerics` (real
minute-by-minute ICU numerics from a PhysioNet MIMIC-II record re-exported as CSV).

Waveforms are sample sources ``index -> int``: :func:`ecg_wave` and :func:`pleth_wave` draw a
plausible shape; :func:`counter_wave` numbers the samples so a test can find each one.
"""

from __future__ import annotations

import csv
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Alert:
    """An alarm as a monitor lists it: physiological (patient) or technical (INOP)."""

    text: str
    technical: bool = False
    priority: str = "medium"  # "low", "medium" or "high"
    source: int = 0  # physiological id raising it (0: the device)
    code: int = 1


@dataclass(frozen=True, slots=True)
class Vitals:
    """Numerics at one instant; None means the monitor has no value (sensor off, no cuff)."""

    hr: float | None = 72.0
    spo2: float | None = 97.0
    pulse: float | None = 72.0
    rr: float | None = 14.0
    temp: float | None = 36.8
    nbp: tuple[float, float, float] | None = None  # systolic, diastolic, mean (mmHg)
    alerts: tuple[Alert, ...] = ()


Scenario = Callable[[float], Vitals]
WaveSource = Callable[[int], int]


def constant(vitals: Vitals | None = None) -> Scenario:
    v = vitals or Vitals()
    return lambda _t: v


def timeline(changes: Sequence[tuple[float, Vitals]]) -> Scenario:
    """Piecewise constant: each ``(t, vitals)`` holds from ``t`` until the next change."""
    steps = sorted(changes, key=lambda c: c[0])
    if not steps:
        raise ValueError("a timeline needs at least one (time, vitals) pair")

    def at(t: float) -> Vitals:
        current = steps[0][1]
        for start, vitals in steps:
            if start > t:
                break
            current = vitals
        return current

    return at


def _noise(seed: int, t: float, channel: int) -> float:
    """Reproducible noise in [-1, 1] for (seed, whole second, channel)."""
    return random.Random(seed * 1_000_003 + int(t) * 31 + channel).uniform(-1.0, 1.0)


def drifting(seed: int = 0, base: Vitals | None = None) -> Scenario:
    """Slow sinusoidal drifts with per-second noise around ``base`` (deterministic in t)."""
    b = base or Vitals()

    def at(t: float) -> Vitals:
        def drift(value: float | None, amp: float, period: float, ch: int) -> float | None:
            if value is None:
                return None
            return value + amp * math.sin(2 * math.pi * t / period + ch) + _noise(seed, t, ch)

        spo2 = drift(b.spo2, 1.5, 300.0, 2)
        return Vitals(
            hr=drift(b.hr, 6.0, 180.0, 1),
            spo2=None if spo2 is None else min(100.0, spo2),
            pulse=drift(b.pulse, 6.0, 180.0, 3),
            rr=drift(b.rr, 2.0, 120.0, 4),
            temp=None if b.temp is None else b.temp + 0.2 * math.sin(t / 900),
            nbp=b.nbp,
            alerts=b.alerts,
        )

    return at


#: CSV columns read for hr, pulse, rr and spo2 (derived_*_numerics_per_minute.csv).
_CSV_FIELDS = ("HR_bpm", "PULSE_bpm", "RESP_pm", "SpO2_%")


def _cell(row: dict[str, str], column: str) -> float | None:
    """A CSV cell: empty (no sample) and 0 (the monitor had no signal) are missing."""
    text = row.get(column, "").strip()
    if not text:
        return None
    value = float(text)
    return None if value == 0.0 else value


def physionet_numerics(path: Path | str, seconds_per_row: float = 60.0) -> Scenario:
    """Replay real numerics, one CSV row (one minute of the record) per ``seconds_per_row``.

    Reads the ``derived_*_numerics_per_minute.csv`` re-exports of the PhysioNet MIMIC-II
    numerics (see that folder's README): ``elapsed_min`` then ``<signal>_<unit>`` columns.
    Zeros and empty cells become missing values. Past the last row the record loops.
    Temperature is not in these records (None).
    """
    with open(path, newline="", encoding="ascii") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise ValueError(f"{path}: no rows")
    table: list[Vitals] = []
    for row in rows:
        hr, pulse, rr, spo2 = (_cell(row, col) for col in _CSV_FIELDS)
        nbp_parts = [_cell(row, f"NBP{p}_mmHg") for p in ("Sys", "Dias", "Mean")]
        nbp = None
        if all(p is not None for p in nbp_parts):
            sys_, dia, mean = (float(p) for p in nbp_parts if p is not None)
            nbp = (sys_, dia, mean)
        table.append(Vitals(hr=hr, spo2=spo2, pulse=pulse, rr=rr, temp=None, nbp=nbp))

    def at(t: float) -> Vitals:
        return table[int(max(t, 0.0) / seconds_per_row + 1e-9) % len(table)]

    return at


# ---------------------------------------------------------------------------- waves


def counter_wave(bits: int = 14, start: int = 0) -> WaveSource:
    """Sample ``i`` is ``start + i`` modulo ``2**bits``: each sample names itself."""
    mask = (1 << bits) - 1
    return lambda i: (start + i) & mask


def ecg_wave(
    rate_hz: float, hr_bpm: float = 72.0, baseline: int = 8192, gain: int = 200
) -> WaveSource:
    """A crude ECG: a narrow R spike and a T bump per beat, around ``baseline``."""
    beat = 60.0 / hr_bpm

    def sample(i: int) -> int:
        phase = (i / rate_hz) % beat / beat
        r = math.exp(-(((phase - 0.2) / 0.012) ** 2))
        t_wave = 0.25 * math.exp(-(((phase - 0.5) / 0.06) ** 2))
        return baseline + round(gain * (5 * r + t_wave))

    return sample


def pleth_wave(
    rate_hz: float, hr_bpm: float = 72.0, baseline: int = 2000, amp: int = 1500
) -> WaveSource:
    """A pulse oximeter plethysmogram: a fast upstroke and a slow decay per beat."""
    beat = 60.0 / hr_bpm

    def sample(i: int) -> int:
        phase = (i / rate_hz) % beat / beat
        rise = min(phase / 0.15, 1.0)
        return baseline + round(amp * rise * math.exp(-3.0 * max(phase - 0.15, 0.0)))

    return sample
