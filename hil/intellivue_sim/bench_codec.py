"""Throughput of the IntelliVue codec against a bare baseline measured in the same run.

The stream imitates one monitor: every 256 ms a wave poll result (ECG II 64 samples at
250 Hz, pleth 32 at 125 Hz, resp 16 at 62.5 Hz) and once a second a numerics result with
a dozen values. It is fed in 4096-byte chunks, as the serial session reads it.

Stages (each includes the previous): ``deframe`` (escaping, CRC, header checks),
``parse`` (APDU to typed observations), ``records`` (observations to EdgeTwin records).
The baseline splits the stream at EOF and runs the C CRC over each frame: about the least
work any decoder must do. Ratios are stage time over baseline time (how many times slower).

Run: ``python -m hil.intellivue_sim.bench_codec [seconds_of_monitor_output]``.
"""

from __future__ import annotations

import binascii
import functools
import sys
import time
from collections.abc import Callable

from drivers.intellivue.apdu import PollResult, parse_apdu
from drivers.intellivue.framing import Deframer
from drivers.intellivue.measurements import WaveAttributeCache, to_records
from gateway.errors import ParseError
from gateway.model import ReceiveTime
from hil.intellivue_sim import encoder

CHUNK = 4096


def build_stream(seconds: int) -> tuple[bytes, int, int]:
    """Encoded monitor output: (stream, frames, wave samples)."""
    frames: list[bytes] = []
    samples = 0
    rel = 0
    numerics = [
        encoder.SimNumeric(i + 1, (encoder.SimValue(pid, unit, value),), label=0x00020000 | pid)
        for i, (pid, unit, value) in enumerate(
            [
                (0x4182, 2720, 72.0),
                (0x4BB8, 544, 97.0),
                (0x4822, 2720, 71.0),
                (0x500A, 2784, 16.0),
                (0x4B48, 6048, 37.2),
                (0x50B0, 3872, 38.0),
                (0x4A15, 3872, 121.0),
                (0x4A16, 3872, 79.0),
                (0x4A17, 3872, 93.0),
                (0x4A45, 3872, 6.0),
                (0x0302, 4274, 0.1),
                (0x4BB0, 512, 2.3),
            ]
        )
    ]
    for second in range(seconds):
        for quarter in range(4):
            ecg = tuple(8192 + (i * 37 + quarter) % 400 for i in range(64))
            pleth = tuple(2000 + (i * 53) % 900 for i in range(32))
            resp = tuple(1500 + (i * 11) % 300 for i in range(16))
            waves = [
                encoder.SimWave(0x10, (encoder.SimArray(0x0102, ecg),), label=0x00020102),
                encoder.SimWave(
                    0x11,
                    (encoder.SimArray(0x4BB4, pleth),),
                    sample_period=64,
                    significant_bits=12,
                    scale=(0.0, 1.0, 0, 4095),
                    unit_code=512,
                ),
                encoder.SimWave(
                    0x12,
                    (encoder.SimArray(0x5000, resp),),
                    sample_period=128,
                    significant_bits=12,
                    scale=(-0.6, 1.9, 0, 4095),
                    unit_code=512,
                ),
            ]
            frames.append(
                encoder.frame(
                    encoder.poll_result(
                        waves, invoke_id=2, obj_code=9, rel_time=rel, sequence_no=second
                    )
                )
            )
            samples += 64 + 32 + 16
            rel += 2048
        frames.append(
            encoder.frame(encoder.poll_result(numerics, invoke_id=1, obj_code=6, rel_time=rel))
        )
    return b"".join(frames), len(frames), samples


def _baseline(stream: bytes) -> int:
    count = 0
    for part in stream.split(b"\xc1"):
        if part:
            binascii.crc_hqx(part, 0xFFFF)
            count += 1
    return count


def _stage(stream: bytes, depth: int) -> int:
    deframer = Deframer()
    cache = WaveAttributeCache()
    received = ReceiveTime(0, 0)
    count = 0
    for start in range(0, len(stream), CHUNK):
        for item in deframer.feed(stream[start : start + CHUNK]):
            if isinstance(item, ParseError):
                raise item
            count += 1
            if depth >= 1:
                result = parse_apdu(item.user_data)
                if depth >= 2 and isinstance(result, PollResult):
                    to_records(result.observations, "bench", received, None, cache)
    return count


def _best(run: Callable[[], int], repeats: int = 3) -> tuple[float, int]:
    best = float("inf")
    count = 0
    for _ in range(repeats):
        t0 = time.perf_counter()
        count = run()
        best = min(best, time.perf_counter() - t0)
    return best, count


def main(argv: list[str]) -> None:
    seconds = int(argv[0]) if argv else 120
    stream, frames, samples = build_stream(seconds)
    print(
        f"stream: {seconds} s of monitor output, {frames} frames, {samples} samples, "
        f"{len(stream)} bytes"
    )
    base, counted = _best(lambda: _baseline(stream))
    assert counted == frames
    print(f"{'stage':<10} {'frames/s':>12} {'samples/s':>14} {'x baseline':>11}")
    print(f"{'baseline':<10} {frames / base:>12,.0f} {samples / base:>14,.0f} {1.0:>11.1f}")
    for name, depth in (("deframe", 0), ("parse", 1), ("records", 2)):
        elapsed, counted = _best(functools.partial(_stage, stream, depth))
        assert counted == frames
        print(
            f"{name:<10} {frames / elapsed:>12,.0f} {samples / elapsed:>14,.0f} "
            f"{elapsed / base:>11.1f}"
        )
    realtime = frames / seconds
    print(f"real monitor: {realtime:.0f} frames/s, {samples / seconds:.0f} samples/s")


if __name__ == "__main__":
    main(sys.argv[1:])
