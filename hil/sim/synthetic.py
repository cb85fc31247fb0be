"""A simulated device that needs no port: typed records generated in-process.

Config ``kind = "synthetic"`` (for benchmarks and soak runs). Two profiles:

* ``profile = "numerics"`` (default): ``metrics`` numeric streams (default 6) on private
  codes, ``rate_hz`` values per stream per second (0 = as fast as the pipeline takes them),
  ``batch`` records yielded per tick. Values follow a slow sine with noise.
* ``profile = "monitor"``: a bedside monitor at real rates: ECG leads I, II and III at
  ``ecg_hz`` (default 500), pleth at 125 Hz, respiration at 62.5 Hz, as waveform chunks of
  ``chunk_s`` (default 0.25 s), plus ten numerics at 1 Hz (HR, SpO2, pulse, RR, NIBP
  sys/dia/mean, temperature, perfusion index, awRR) on their MDC codes. ``speed`` scales
  time (1 = real time; 0 = as fast as the pipeline takes them, for capacity benchmarks).
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import AsyncGenerator, AsyncIterator

import numpy as np
import numpy.typing as npt

from drivers.base import DeviceSpec, DriverCounters, NothingToOpen
from gateway import codes
from gateway.model import (
    Measurement,
    Quality,
    ReceiveTime,
    Record,
    WaveformChunk,
    stream_id_for,
)

VALID = Quality(0)


def _int(spec: DeviceSpec, key: str, default: int, lo: int, hi: int) -> int:
    value = spec.options.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ValueError(f"{key}: an integer from {lo} to {hi}, got {value!r}")
    return value


def _number(spec: DeviceSpec, key: str, default: float, lo: float, hi: float) -> float:
    value = spec.options.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
        raise ValueError(f"{key}: a number from {lo:g} to {hi:g}, got {value!r}")
    return float(value)


def validate(spec: DeviceSpec) -> None:
    profile = spec.options.get("profile", "numerics")
    if profile not in ("numerics", "monitor"):
        raise ValueError(f"profile: 'numerics' or 'monitor', got {profile!r}")
    if profile == "monitor":
        _number(spec, "ecg_hz", 500.0, 50.0, 2000.0)
        _number(spec, "chunk_s", 0.25, 0.01, 5.0)
        _number(spec, "speed", 1.0, 0.0, 1000.0)
        return
    _int(spec, "metrics", 6, 1, 1000)
    _int(spec, "batch", 10, 1, 100_000)
    rate = spec.options.get("rate_hz", 1.0)
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate <= 1e6:
        raise ValueError(f"rate_hz: a number from 0 to 1e6, got {rate!r}")


class SyntheticDevice(NothingToOpen):
    def __init__(self, spec: DeviceSpec, counters: DriverCounters) -> None:
        self.spec = spec
        self.counters = counters
        self.metrics = _int(spec, "metrics", 6, 1, 1000)
        self.batch = _int(spec, "batch", 10, 1, 100_000)
        rate = spec.options.get("rate_hz", 1.0)
        self.rate_hz = float(rate) if isinstance(rate, int | float) else 1.0
        self.rng = random.Random(spec.id)
        self.codes = [900_000 + i for i in range(self.metrics)]  # private test codes

    async def records(self) -> AsyncIterator[Record]:
        n = 0
        period = 0.0 if self.rate_hz == 0 else self.batch / (self.rate_hz * self.metrics)
        loop = asyncio.get_running_loop()
        next_tick = loop.time()
        while True:
            received = ReceiveTime.now()
            for _ in range(self.batch):
                code = self.codes[n % self.metrics]
                value = 50 + 20 * math.sin(n / 500) + self.rng.gauss(0, 1)
                yield Measurement(
                    self.spec.id,
                    stream_id_for(self.spec.id, str(code)),
                    code,
                    "1",
                    value,
                    VALID,
                    received,
                )
                n += 1
            self.counters.count("frames")
            if period:
                next_tick += period
                await asyncio.sleep(max(0.0, next_tick - loop.time()))
            else:
                await asyncio.sleep(0)


#: (MDC code, UCUM unit, typical value, noise sd) of the monitor profile's 1 Hz numerics.
MONITOR_NUMERICS: tuple[tuple[int, str, float, float], ...] = (
    (codes.MDC_ECG_HEART_RATE.mdc_code, "/min", 78.0, 1.0),
    (codes.MDC_PULS_OXIM_SAT_O2.mdc_code, "%", 97.0, 0.4),
    (codes.MDC_PULS_OXIM_PULS_RATE.mdc_code, "/min", 78.0, 1.0),
    (codes.MDC_RESP_RATE.mdc_code, "/min", 16.0, 0.5),
    (codes.MDC_PRESS_BLD_NONINV_SYS.mdc_code, "mm[Hg]", 122.0, 1.5),
    (codes.MDC_PRESS_BLD_NONINV_DIA.mdc_code, "mm[Hg]", 78.0, 1.0),
    (codes.MDC_PRESS_BLD_NONINV_MEAN.mdc_code, "mm[Hg]", 93.0, 1.0),
    (codes.MDC_TEMP_BODY.mdc_code, "Cel", 37.0, 0.02),
    (codes.MDC_PULS_OXIM_PERF_REL.mdc_code, "%", 3.1, 0.1),
    (2 << 16 | 20498, "/min", 16.0, 0.5),  # NOM_AWAY_RESP_RATE
)
ECG_LEADS = (2 << 16 | 0x0101, 2 << 16 | 0x0102, 2 << 16 | 0x013D)  # ECG I, II, III
PLETH = codes.MDC_PULS_OXIM_PLETH.mdc_code
RESP_WAVE = 2 << 16 | 20480  # NOM_RESP


def _shape(n: int, kind: str, rng: random.Random) -> npt.NDArray[np.int16]:
    """One second-ish period of a plausible wave, as raw 16-bit ADC counts, a little noisy."""
    t = np.arange(n, dtype=np.float64) / n
    if kind == "ecg":
        wave = 1200 * np.exp(-(((t - 0.3) / 0.012) ** 2)) - 150 * np.exp(
            -(((t - 0.33) / 0.02) ** 2)
        )
        wave += 200 * np.exp(-(((t - 0.6) / 0.05) ** 2))
    elif kind == "pleth":
        wave = 2000 * np.sin(np.pi * t) ** 3 + 400 * np.exp(-(((t - 0.55) / 0.05) ** 2))
    else:
        wave = 1500 * np.sin(2 * np.pi * t)
    noise = np.array([rng.gauss(0, 8) for _ in range(n)])
    return np.asarray(np.round(wave + noise), dtype=np.int16)


def _tiled(period: npt.NDArray[np.int16], longest: int) -> npt.NDArray[np.int16]:
    """The period repeated so any chunk of up to ``longest`` samples starting anywhere in
    the first period is one slice (a read-only view: no copy, no index array per chunk)."""
    reps = 1 + -(-longest // len(period))
    tiled = np.tile(period, reps + 1)
    tiled.flags.writeable = False
    return tiled


class MonitorDevice(NothingToOpen):
    """The ``monitor`` profile: real-rate waveforms and numerics (see module docstring)."""

    def __init__(self, spec: DeviceSpec, counters: DriverCounters) -> None:
        self.spec = spec
        self.counters = counters
        ecg_hz = _number(spec, "ecg_hz", 500.0, 50.0, 2000.0)
        self.chunk_s = _number(spec, "chunk_s", 0.25, 0.01, 5.0)
        self.speed = _number(spec, "speed", 1.0, 0.0, 1000.0)
        rng = random.Random(spec.id)
        self.rng = rng
        # (code, rate Hz, one beat/breath period of samples)
        self.waves: list[tuple[int, float, npt.NDArray[np.int16], str]] = []
        for code in ECG_LEADS:
            self.waves.append((code, ecg_hz, _shape(int(ecg_hz * 0.8), "ecg", rng), "mV"))
        self.waves.append((PLETH, 125.0, _shape(100, "pleth", rng), "1"))
        self.waves.append((RESP_WAVE, 62.5, _shape(250, "resp", rng), "1"))
        self.streams = {code: stream_id_for(spec.id, str(code)) for code, *_ in self.waves}
        self.tiled = {
            code: _tiled(period, math.ceil(self.chunk_s * rate) + 1)
            for code, rate, period, _ in self.waves
        }
        self.numeric_streams = {
            code: stream_id_for(spec.id, str(code)) for code, *_ in MONITOR_NUMERICS
        }

    def samples_per_second(self) -> float:
        return sum(rate for _, rate, _, _ in self.waves) + len(MONITOR_NUMERICS)

    async def records(self) -> AsyncGenerator[Record, None]:
        loop = asyncio.get_running_loop()
        next_tick = loop.time()
        t_dev_ns = time.time_ns()  # device clock of the first sample
        emitted = {code: 0 for code, *_ in self.waves}
        since_numerics = 1.0
        tick = 0
        while True:
            received = ReceiveTime.now()
            tick += 1
            for code, rate, period, unit in self.waves:
                n0 = emitted[code]
                n = round(tick * self.chunk_s * rate) - n0  # exact rate over time
                start = n0 % len(period)
                yield WaveformChunk(
                    self.spec.id,
                    self.streams[code],
                    code,
                    unit,
                    t_dev_ns + round(n0 * 1e9 / rate),
                    round(1e9 / rate),
                    self.tiled[code][start : start + n],
                    received,
                    gain=0.001 if unit == "mV" else 1.0,
                )
                emitted[code] = n0 + n
                self.counters.count("samples", n)
            since_numerics += self.chunk_s
            if since_numerics >= 1.0:
                since_numerics -= 1.0
                for code, unit, typical, sd in MONITOR_NUMERICS:
                    yield Measurement(
                        self.spec.id,
                        self.numeric_streams[code],
                        code,
                        unit,
                        round(typical + self.rng.gauss(0, sd), 1),
                        VALID,
                        received,
                    )
                self.counters.count("samples", len(MONITOR_NUMERICS))
            self.counters.count("frames")
            if self.speed:
                next_tick += self.chunk_s / self.speed
                await asyncio.sleep(max(0.0, next_tick - loop.time()))
            else:
                await asyncio.sleep(0)


def DRIVER(spec: DeviceSpec, counters: DriverCounters) -> SyntheticDevice | MonitorDevice:
    if spec.options.get("profile", "numerics") == "monitor":
        return MonitorDevice(spec, counters)
    return SyntheticDevice(spec, counters)
