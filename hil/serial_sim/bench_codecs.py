"""Throughput of the Nonin and Datex parsers against a bare baseline on the same bytes.

Run: ``PYTHONPATH=. python -m hil.serial_sim.bench_codecs [--seconds-of-data N]``.

For each parser it prints frames/s and samples/s (best of three runs) and the ratio to a
bare baseline measured in the same run on the same input: ``struct.iter_unpack`` for the
fixed-size Nonin frames, ``bytes.split`` on the flag byte for Datex frames. The baseline
does no checking at all, so the ratio is the price of sync, checksums and typed records.
Input is fed in 4096-byte chunks, as a serial port read would deliver it.
"""

from __future__ import annotations

import argparse
import math
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass

from drivers.datex.records import DatexDecoder, WaveRecord, WaveSubrecord
from drivers.nonin.codec import Format7Decoder, Format8Decoder, Packet7, Record8
from hil.serial_sim import datex_encoder as dx
from hil.serial_sim import nonin_encoder as nx

CHUNK = 4096


@dataclass(frozen=True, slots=True)
class Result:
    name: str
    frames: int
    samples: int
    seconds: float
    baseline_seconds: float


def _best(fn: Callable[[], tuple[int, int]], repeat: int = 3) -> tuple[float, tuple[int, int]]:
    best = math.inf
    out = (0, 0)
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def _chunks(data: bytes) -> list[bytes]:
    return [data[i : i + CHUNK] for i in range(0, len(data), CHUNK)]


def bench_nonin7(seconds: int) -> Result:
    packets = [
        nx.encode_packet7(
            nx.PacketValues(hr=60 + k % 40, pleth=[(k * 25 + i) % 65536 for i in range(25)])
        )
        for k in range(3 * seconds)
    ]
    data = b"".join(packets)
    chunks = _chunks(data)

    def parse() -> tuple[int, int]:
        dec = Format7Decoder()
        n = 0
        for c in chunks:
            for item in dec.feed(c):
                if isinstance(item, Packet7):
                    n += 1
        return n * 25, n * 25

    def baseline() -> tuple[int, int]:
        frames = sum(1 for _ in struct.iter_unpack(">BHBB", data))
        return frames, frames

    t, (frames, samples) = _best(parse)
    tb, _ = _best(baseline)
    return Result("nonin format 7", frames, samples, t, tb)


def bench_nonin8(seconds: int) -> Result:
    data = b"".join(nx.encode_record8(0, 60 + k % 40, 97) for k in range(seconds))
    chunks = _chunks(data)

    def parse() -> tuple[int, int]:
        dec = Format8Decoder()
        n = sum(1 for c in chunks for item in dec.feed(c) if isinstance(item, Record8))
        return n, 2 * n  # two values (HR, SpO2) per record

    def baseline() -> tuple[int, int]:
        n = sum(1 for _ in struct.iter_unpack("4B", data))
        return n, 2 * n

    t, (frames, samples) = _best(parse)
    tb, _ = _best(baseline)
    return Result("nonin format 8", frames, samples, t, tb)


def bench_datex_waves(seconds: int) -> Result:
    # 4 packets per second of ECG1 (300/s) + PLETH (100/s) + CO2 (25/s, rounded to 6/packet)
    records = []
    for k in range(4 * seconds):
        ecg = [(k * 75 + i) % 4000 - 2000 for i in range(75)]
        pleth = [(k * 25 + i) % 10000 for i in range(25)]
        co2 = [k % 500] * 6
        waves = [dx.Wave(1, ecg), dx.Wave(8, pleth), dx.Wave(9, co2)]
        records.append(dx.frame(dx.wave_record(waves, r_time=k // 4)))
    data = b"".join(records)
    chunks = _chunks(data)

    def parse() -> tuple[int, int]:
        dec = DatexDecoder()
        frames = samples = 0
        for c in chunks:
            for item in dec.feed(c):
                if isinstance(item, WaveRecord):
                    frames += 1
                    samples += sum(
                        len(s.samples) for s in item.subrecords if isinstance(s, WaveSubrecord)
                    )
        return frames, samples

    def baseline() -> tuple[int, int]:
        parts = [p for p in data.split(b"\x7e") if p]
        return len(parts), 0

    t, (frames, samples) = _best(parse)
    tb, _ = _best(baseline)
    return Result("datex-s5 waves", frames, samples, t, tb)


def bench_datex_phdb(seconds: int) -> Result:
    basic = {
        "ecg": {"status": 3, "hr": 72},
        "nibp": {"status": 3, "sys": 12000, "dia": 8000, "mean": 9300},
        "spo2": {"status": 3, "spo2": 9700, "pr": 72},
        "co2": {"status": 3, "et": 500, "rr": 12, "amb_press": 7600},
    }
    data = b"".join(
        dx.frame(dx.phdb_record(k, basic, ext_classes=[1, 2, 3])) for k in range(seconds // 5 or 1)
    )
    chunks = _chunks(data)

    def parse() -> tuple[int, int]:
        dec = DatexDecoder()
        n = sum(1 for c in chunks for item in dec.feed(c) if not isinstance(item, Exception))
        return n, n * 4  # four class subrecords per record

    def baseline() -> tuple[int, int]:
        n = len([p for p in data.split(b"\x7e") if p])
        return n, n * 4

    t, (frames, samples) = _best(parse)
    tb, _ = _best(baseline)
    return Result("datex-s5 phdb", frames, samples, t, tb)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds-of-data", type=int, default=600)
    args = ap.parse_args(argv)
    s = args.seconds_of_data
    results = [bench_nonin7(s), bench_nonin8(s), bench_datex_waves(s), bench_datex_phdb(s)]
    print(
        f"{'parser':<16} {'frames':>8} {'frames/s':>12} {'samples/s':>12} {'baseline fr/s':>14} "
        f"{'slower x':>9} {'x real time':>11}"
    )
    for r in results:
        fps = r.frames / r.seconds
        sps = r.samples / r.seconds
        bfps = r.frames / r.baseline_seconds
        print(
            f"{r.name:<16} {r.frames:>8} {fps:>12,.0f} {sps:>12,.0f} {bfps:>14,.0f} "
            f"{r.seconds / r.baseline_seconds:>9.1f} {s / r.seconds:>11,.0f}"
        )


if __name__ == "__main__":
    main()
