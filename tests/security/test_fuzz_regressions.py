"""Replay the fuzz corpus and every kept crasher through the harnesses, without atheris.

A harness (``fuzz/fuzz_<target>.py``) lets through only what its target does not document
(ParseError for the parsers, ConfigError for the config loader, the decoders' own errors
for the envelope) and fails an invariant with AssertionError (a deframer holding more than
its bound, a decompression bomb inflated). So replaying a file passes exactly when the
target handles it as documented. Crashers whose bug is still open are listed in
``OPEN_BUGS`` and expected to fail (strictly: once fixed, the entry must go).

Crasher files are named ``<target>-<what>``; atheris writes ``<target>-crash-<sha1>``
(see fuzz/run.py), which may be renamed to say what they show.
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import ModuleType

import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

MB = 1024 * 1024
ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from fuzz import (  # noqa: E402
    fuzz_ble,
    fuzz_config,
    fuzz_datex,
    fuzz_desired,
    fuzz_envelope,
    fuzz_intellivue,
    fuzz_masimo,
    fuzz_nonin,
    harness,
    seeds,
)
from fuzz import run as fuzz_run  # noqa: E402

HARNESSES: dict[str, ModuleType] = {
    m.TARGET: m
    for m in (
        fuzz_masimo,
        fuzz_nonin,
        fuzz_datex,
        fuzz_intellivue,
        fuzz_ble,
        fuzz_config,
        fuzz_envelope,
        fuzz_desired,
    )
}

#: Crashers of bugs reported to the lead and not fixed yet: file name -> where and what.
#: (Fixed, kept as plain regressions: envelope-zstd-declares-2e18-bytes,
#: envelope-zstd-bomb-65mib-valid-json, envelope-json-nesting-recursionerror in
#: gateway/payload.py decode_body; desired-json-nesting-recursionerror in
#: gateway/desired.py parse_desired.)
OPEN_BUGS: dict[str, str] = {}


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []


def _target_of(crasher: Path) -> str:
    return crasher.name.split("-", 1)[0]


def _seed_cases() -> list[object]:
    return [
        pytest.param(target, path, id=f"{target}/{path.name}")
        for target in HARNESSES
        for path in _files(harness.CORPUS_DIR / target)
    ]


def _crasher_cases() -> list[object]:
    cases: list[object] = []
    for path in _files(harness.CRASHERS_DIR):
        if path.name.startswith("."):
            continue
        marks = []
        if path.name in OPEN_BUGS:
            marks.append(pytest.mark.xfail(reason=OPEN_BUGS[path.name], strict=True))
        cases.append(pytest.param(path, id=path.name, marks=marks))
    return cases


@pytest.mark.parametrize(("target", "path"), _seed_cases())
def test_every_seed_is_handled_as_documented(target: str, path: Path) -> None:
    HARNESSES[target].fuzz_one(path.read_bytes())


@pytest.mark.parametrize("path", _crasher_cases())
def test_every_kept_crasher_is_handled_as_documented(path: Path) -> None:
    HARNESSES[_target_of(path)].fuzz_one(path.read_bytes())


def test_every_crasher_names_its_harness_and_every_open_bug_has_its_crasher() -> None:
    names = {p.name for p in _files(harness.CRASHERS_DIR) if not p.name.startswith(".")}
    assert {_target_of(harness.CRASHERS_DIR / n) for n in names} <= set(HARNESSES)
    assert set(OPEN_BUGS) <= names


@pytest.mark.parametrize("target", sorted(HARNESSES))
def test_valid_seeds_decode_to_values_without_errors(target: str) -> None:
    valid = [p for p in _files(harness.CORPUS_DIR / target) if p.name.startswith("valid-")]
    assert len(valid) >= 3, f"{target}: too few valid seeds"
    for path in valid:
        items = HARNESSES[target].decode(path.read_bytes())
        errors = [i for i in items if isinstance(i, BaseException)]
        assert items, path.name
        assert not errors, f"{path.name}: {errors[0]}"


@pytest.mark.parametrize("target", sorted(seeds.SEEDS))
def test_the_corpus_on_disk_is_what_the_seed_builder_makes(target: str) -> None:
    built = seeds.SEEDS[target]()
    for name, data in built.items():
        if name.startswith("valid-example-"):
            continue  # copies of examples/*.toml, which evolve on their own
        path = harness.CORPUS_DIR / target / name
        assert path.is_file(), f"missing seed {path} (run python fuzz/seeds.py)"
        assert path.read_bytes() == data, f"stale seed {path} (run python fuzz/seeds.py)"


# --- the harnesses themselves can fail ---------------------------------------------------


def test_a_harness_lets_an_undocumented_exception_through(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(_line: bytes) -> object:
        raise IndexError("index out of range")

    monkeypatch.setattr(fuzz_masimo, "parse_line", broken)
    with pytest.raises(IndexError):
        fuzz_masimo.fuzz_one(b"\x80anything")


class _Hoarder:
    """A decoder that keeps everything it is fed and returns whatever it is told to."""

    def __init__(self, items: list[object]) -> None:
        self.kept = 0
        self.items = items

    def feed(self, data: bytes) -> list[object]:
        self.kept += len(data)
        return self.items

    @property
    def pending(self) -> int:
        return self.kept


def test_feed_all_fails_a_decoder_over_its_bound_or_returning_a_stranger() -> None:
    assert harness.feed_all(_Hoarder([]), [b"x" * 10], str, 10) == []
    with pytest.raises(AssertionError, match="bound"):
        harness.feed_all(_Hoarder([]), [b"x" * 10, b"y"], str, 10)
    with pytest.raises(AssertionError, match="unexpected item int"):
        harness.feed_all(_Hoarder([1]), [b"x"], str, 10)


def test_split_cuts_at_every_size_and_keeps_every_byte() -> None:
    body = bytes(range(10))
    assert harness.split(b"") == []
    assert harness.split(b"\x80" + body) == [body]
    assert harness.split(b"\x02" + body) == [body[0:3], body[3:6], body[6:9], body[9:]]
    assert b"".join(harness.split(b"\x00" + body)) == body


def test_the_envelope_harness_fails_a_bomb_the_decoder_inflates(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bomb = zstandard.ZstdCompressor(level=19).compress(b'{"v":1' + b" " * (2 * MB) + b"}")
    fuzz_envelope.fuzz_one(bomb)  # under the decoder's cap: a valid envelope
    monkeypatch.setattr(fuzz_envelope, "MAX_DECODED", MB)  # as if the cap were 1 MiB
    with pytest.raises(AssertionError, match="bomb"):
        fuzz_envelope.fuzz_one(bomb)


def test_deep_nesting_and_declared_bombs_are_rejected_as_value_errors() -> None:
    for name in ("envelope-json-nesting-recursionerror", "envelope-zstd-declares-2e18-bytes"):
        [error] = fuzz_envelope.decode((harness.CRASHERS_DIR / name).read_bytes())
        assert isinstance(error, ValueError | zstandard.ZstdError), name
    [error] = fuzz_desired.decode(
        (harness.CRASHERS_DIR / "desired-json-nesting-recursionerror").read_bytes()
    )
    assert isinstance(error, ValueError)


# --- fuzz/run.py ------------------------------------------------------------------------

LIBFUZZER_CRASH = """\
#229 REDUCE cov: 36 ft: 36 corp: 3/205b exec/s: 0 rss: 67Mb
==21633== ERROR: libFuzzer: fuzz target exited
artifact_prefix='fuzz/crashers/envelope-'; Test unit written to fuzz/crashers/envelope-crash-c3fb
Base64: KLUv/fUAU2AFAA==
stat::number_of_executed_units: 229
stat::average_exec_per_sec:     0
stat::new_units_added:          4
stat::peak_rss_mb:              68
"""


def test_run_reads_libfuzzer_statistics_and_crashers() -> None:
    crashed = fuzz_run.parse_output("envelope", 77, LIBFUZZER_CRASH, 1.5)
    assert (crashed.executions, crashed.new_units, crashed.peak_rss_mb) == (229, 4, 68)
    assert crashed.artifacts == ("fuzz/crashers/envelope-crash-c3fb",) and crashed.crashed
    clean = fuzz_run.parse_output("masimo", 0, "stat::average_exec_per_sec:     2253\n", 6.0)
    assert clean.execs_per_s == 2253 and not clean.crashed
    table = fuzz_run.report([clean, crashed])
    assert "masimo" in table and "CRASH rc=77" in table and "envelope-crash-c3fb" in table


def test_run_passes_the_budget_limits_and_the_crasher_folder_to_every_harness() -> None:
    args = fuzz_run.parse_args(["--seconds", "6", "--jobs", "2", "--", "-dict=x"])
    line = fuzz_run.command("datex", Path("/tmp/work"), args)
    assert line[1].endswith("fuzz/fuzz_datex.py") and line[2] == "/tmp/work"
    assert "-max_total_time=6" in line and line[-1] == "-dict=x"
    assert f"-artifact_prefix={harness.CRASHERS_DIR}/datex-" in line
    assert "-atheris_runs=500" in fuzz_run.command(
        "ble", Path("/w"), fuzz_run.parse_args(["--runs", "500"])
    )
    assert set(fuzz_run.TARGETS) == set(HARNESSES)
    with pytest.raises(SystemExit):
        fuzz_run.parse_args(["--targets", "toaster"])


# --- random and mutated inputs, without atheris ------------------------------------------


def _mutations(target: str) -> st.SearchStrategy[bytes]:
    corpus = [p.read_bytes() for p in _files(harness.CORPUS_DIR / target)]

    @st.composite
    def mutate(draw: st.DrawFn) -> bytes:
        data = bytearray(draw(st.sampled_from(corpus)))
        for _ in range(draw(st.integers(1, 4))):
            if not data:
                break
            at = draw(st.integers(0, len(data) - 1))
            kind = draw(st.integers(0, 2))
            if kind == 0:
                data[at] ^= 1 << draw(st.integers(0, 7))
            elif kind == 1:
                del data[at : at + draw(st.integers(1, 16))]
            else:
                data[at:at] = draw(st.binary(min_size=1, max_size=8))
        return bytes(data)

    return st.one_of(st.binary(max_size=300), mutate())


@pytest.mark.parametrize("target", sorted(HARNESSES))
def test_random_and_mutated_inputs_are_handled_as_documented(target: str) -> None:
    @settings(
        max_examples=60 if target == "config" else 150,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(data=_mutations(target))
    def run(data: bytes) -> None:
        HARNESSES[target].fuzz_one(data)

    run()
