"""Rig files: the shipped ones load, mistakes name the key, absent hardware is listed."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from gateway.errors import ConfigError
from hil.rig import DEFAULT_RIG, RIGS, load_rig, parse_rig

ROOT = Path(__file__).resolve().parents[2]
BENCH = RIGS / "bench-example.toml"


def bench_doc() -> dict[str, Any]:
    return tomllib.loads(BENCH.read_text())


def test_the_emulated_rig_is_the_default_and_needs_nothing() -> None:
    rig = load_rig()
    assert rig.source == str(DEFAULT_RIG) and rig.emulated and rig.missing() == []
    assert {t.transport for t in rig.targets} == {"ble", "serial"}
    assert len(rig.scenarios) == 7, "the CI suite is the whole library"


def test_the_bench_example_lists_every_absent_part() -> None:
    rig = load_rig(BENCH)
    assert not rig.emulated and rig.speed == 1.0 and rig.adapter == "hci0"
    missing = rig.missing(exists=lambda _p: False)
    assert any("BLE adapter hci0" in m for m in missing)
    assert any("target bedside" in m for m in missing)
    assert sum("board " in m for m in missing) == 2
    present = rig.missing(exists=lambda _p: True)
    assert all("mpremote" in m for m in present), "with every port present only tools remain"


@pytest.mark.parametrize(
    ("edit", "key"),
    [
        (lambda d: d["rig"].update(kind="virtual"), "rig.kind"),
        (lambda d: d["rig"].update(speed=10.0), "rig.speed"),
        (lambda d: d["rig"].update(scenarios=["nope"]), "rig.scenarios[0]"),
        (lambda d: d["boards"][0].update(board="nrf52"), "boards[0].board"),
        (lambda d: d["boards"][1].update(protocol="hl7"), "boards[1].protocol"),
        (lambda d: d["boards"][1].update(id="wearable"), "boards[].id"),
        (lambda d: d["targets"][0].update(board="ghost"), "targets[0].board"),
        (lambda d: d["targets"][0].update(board="bedside"), "targets[0].board"),
        (lambda d: d["targets"][1].pop("port"), "targets[1].port"),
        (lambda d: d["targets"][1].update(device="ecg"), "targets[1].device"),
        (lambda d: d["targets"][0].update(address="nope"), "targets[0].address"),
        (lambda d: d["targets"][0].pop("match_name"), "targets[0].address"),
        (lambda d: d.update(targets=[]), "targets"),
        (lambda d: d.update(extra={}), "extra"),
    ],
)
def test_bench_mistakes_name_the_key(edit: Any, key: str) -> None:
    doc = copy.deepcopy(bench_doc())
    edit(doc)
    with pytest.raises(ConfigError) as err:
        parse_rig(doc, "bench.toml")
    assert err.value.key == key and err.value.file == "bench.toml"


def test_an_emulated_rig_has_no_boards_or_ports() -> None:
    doc = tomllib.loads(DEFAULT_RIG.read_text())
    with_board = {**doc, "boards": bench_doc()["boards"]}
    with pytest.raises(ConfigError, match="no boards on an emulated rig"):
        parse_rig(with_board, "x")
    doc["targets"][2]["port"] = "/dev/ttyUSB0"
    with pytest.raises(ConfigError) as err:
        parse_rig(doc, "x")
    assert err.value.key == "targets[2].port"


def test_hil_tests_skip_with_the_reasons_on_an_absent_bench(tmp_path: Path) -> None:
    """Run pytest on a tiny hil test with the bench rig: skipped, the reason names the parts."""
    (tmp_path / "test_bench.py").write_text(
        "import pytest\n\n"
        "@pytest.mark.hil\n"
        "def test_on_the_bench(hil_rig):\n"
        "    assert False, 'must not run without the hardware'\n\n"
        "def test_not_hil():\n"
        "    pass\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "hil.pytest_plugin",
            f"--rig={BENCH}",
            "-rs",
            "-q",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(tmp_path),
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert "1 passed, 1 skipped" in out, out
    assert "SKIPPED" in out and "rig bench-1: " in out, out
    assert "usb-FTDI_FT232R_USB_UART_A10KXYZ1-if00-port0 of target bedside is absent" in out


async def test_a_run_on_an_absent_bench_is_skipped_with_the_reasons() -> None:
    from hil.runner import run_scenario
    from hil.scenarios.loader import library_scenario

    result = await run_scenario(library_scenario("desaturation"), load_rig(BENCH))
    assert result.status == "skipped" and result.passed and not result.checks
    assert "usb-FTDI_FT232R_USB_UART_A10KXYZ1-if00-port0" in result.skipped
