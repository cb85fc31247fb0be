"""Run the fuzz harnesses with atheris and report executions per second and crashes.

::

    python fuzz/run.py --seconds 7 --jobs 2        # CI: every harness 7 s, two at a time
    python fuzz/run.py --seconds 3600 --corpus-out /var/tmp/edgetwin-corpus   # soak
    python fuzz/run.py --runs 20000 --targets masimo,datex

Each harness runs in its own process (``fuzz/fuzz_<target>.py``) on its seeds
(``fuzz/corpus/<target>/``, read only) plus a working corpus (a temporary directory, or
``--corpus-out/<target>`` to keep what it finds for the next run). An input that crashes
a harness, hangs it (``--timeout``) or blows its memory (``--rss-limit-mb``) is written to
``fuzz/crashers/<target>-crash-<sha1>`` (or ``-timeout-``/``-oom-``); the regression tests
replay every file there. Exit status: 0 when no harness crashed, 1 otherwise, 2 when a
harness could not run at all.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

FUZZ_DIR = Path(__file__).resolve().parent
ROOT = FUZZ_DIR.parent
TARGETS = ("masimo", "nonin", "datex", "intellivue", "ble", "config", "envelope", "desired")
_STAT = re.compile(r"^stat::(\w+):\s+(\d+)", re.MULTILINE)
_ARTIFACT = re.compile(r"Test unit written to (\S+)")


@dataclass(frozen=True, slots=True)
class Result:
    target: str
    returncode: int
    executions: int
    execs_per_s: int
    new_units: int
    peak_rss_mb: int
    seconds: float
    artifacts: tuple[str, ...]
    tail: str  # the end of the harness output, shown when it failed

    @property
    def crashed(self) -> bool:
        return bool(self.artifacts) or self.returncode != 0


def command(target: str, corpus: Path, args: argparse.Namespace) -> list[str]:
    """The harness command line (libFuzzer flags as atheris passes them on)."""
    budget = f"-atheris_runs={args.runs}" if args.runs else f"-max_total_time={args.seconds}"
    crashers = FUZZ_DIR / "crashers"
    return [
        sys.executable,
        str(FUZZ_DIR / f"fuzz_{target}.py"),
        str(corpus),
        str(FUZZ_DIR / "corpus" / target),
        budget,
        f"-timeout={args.timeout}",
        f"-rss_limit_mb={args.rss_limit_mb}",
        f"-max_len={args.max_len}",
        f"-artifact_prefix={crashers}/{target}-",
        "-print_final_stats=1",
        *args.libfuzzer,
    ]


def run_one(target: str, args: argparse.Namespace) -> Result:
    (FUZZ_DIR / "crashers").mkdir(exist_ok=True)
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    )
    with tempfile.TemporaryDirectory(prefix=f"edgetwin-fuzz-{target}-") as scratch:
        corpus = Path(scratch)
        if args.corpus_out is not None:
            corpus = Path(args.corpus_out) / target
            corpus.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        proc = subprocess.run(
            command(target, corpus, args),
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            errors="replace",
            check=False,
        )
        seconds = time.monotonic() - started
    return parse_output(target, proc.returncode, proc.stdout + proc.stderr, seconds)


def parse_output(target: str, returncode: int, output: str, seconds: float) -> Result:
    """What a libFuzzer run printed (``-print_final_stats=1``): statistics and crashers."""
    stats = {name: int(value) for name, value in _STAT.findall(output)}
    return Result(
        target=target,
        returncode=returncode,
        executions=stats.get("number_of_executed_units", 0),
        execs_per_s=stats.get("average_exec_per_sec", 0),
        new_units=stats.get("new_units_added", 0),
        peak_rss_mb=stats.get("peak_rss_mb", 0),
        seconds=seconds,
        artifacts=tuple(_ARTIFACT.findall(output)),
        tail="\n".join(output.strip().splitlines()[-25:]),
    )


def report(results: list[Result]) -> str:
    lines = [
        f"{'target':<11} {'execs':>9} {'execs/s':>8} {'new':>5} {'rss MB':>6} {'time s':>6}  result"
    ]
    for r in results:
        verdict = "ok" if not r.crashed else f"CRASH rc={r.returncode}"
        lines.append(
            f"{r.target:<11} {r.executions:>9} {r.execs_per_s:>8} {r.new_units:>5} "
            f"{r.peak_rss_mb:>6} {r.seconds:>6.1f}  {verdict}"
        )
        lines.extend(f"    crasher: {path}" for path in r.artifacts)
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=7, help="time per harness (default 7)")
    parser.add_argument("--runs", type=int, default=0, help="inputs per harness instead of time")
    parser.add_argument("--targets", default=",".join(TARGETS), help="comma-separated subset")
    parser.add_argument("--jobs", type=int, default=1, help="harnesses run at once")
    parser.add_argument("--corpus-out", help="keep each harness's working corpus here")
    parser.add_argument("--timeout", type=int, default=10, help="seconds per input")
    parser.add_argument("--rss-limit-mb", type=int, default=1024)
    parser.add_argument("--max-len", type=int, default=8192, help="longest input in bytes")
    parser.add_argument("libfuzzer", nargs="*", default=[], help="extra libFuzzer flags, after --")
    args = parser.parse_args(argv)
    unknown = set(args.targets.split(",")) - set(TARGETS)
    if unknown:
        parser.error(f"unknown targets {sorted(unknown)}; known: {', '.join(TARGETS)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if importlib.util.find_spec("atheris") is None:
        print("fuzz/run.py needs atheris: pip install atheris", file=sys.stderr)
        return 2
    targets = args.targets.split(",")
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        results = list(pool.map(lambda t: run_one(t, args), targets))
    print(report(results))
    broken = [r for r in results if r.returncode != 0 and not r.artifacts and r.executions == 0]
    for r in results:
        if r.crashed:
            print(f"\n--- {r.target} (exit {r.returncode}) ---\n{r.tail}", file=sys.stderr)
    if broken:
        return 2
    return 1 if any(r.crashed for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
