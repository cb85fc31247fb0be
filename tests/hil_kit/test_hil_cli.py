"""``edgetwin hil flash`` and ``hil report`` (flash with a stand-in mpremote on PATH)."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest

from gateway.cli import main
from hil.report import Loss, Observation, evaluate, to_json
from hil.scenarios.loader import library_scenario, load_library

FAKE_MPREMOTE = """#!{python}
import json, os, shutil, sys
from pathlib import Path
out = Path(os.environ["FAKE_MPREMOTE_OUT"])
out.mkdir(exist_ok=True)
(out / "argv.json").write_text(json.dumps(sys.argv[1:]))
for arg in sys.argv[1:]:
    if arg.endswith(".json") and Path(arg).exists():
        shutil.copy(arg, out / Path(arg).name)
sys.exit(int(os.environ.get("FAKE_MPREMOTE_EXIT", "0")))
"""


@pytest.fixture
def fake_mpremote(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "mpremote"
    script.write_text(FAKE_MPREMOTE.format(python=sys.executable))
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    out = tmp_path / "board"
    monkeypatch.setenv("FAKE_MPREMOTE_OUT", str(out))
    return out


def test_flash_copies_firmware_engine_scenario_and_config_then_resets(
    fake_mpremote: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port = tmp_path / "ttyACM0"
    port.touch()
    code = main(
        ["hil", "flash", "--port", str(port), "--scenario", "desaturation", "--board", "esp32"]
    )
    assert code == 0, capsys.readouterr().err
    argv = json.loads((fake_mpremote / "argv.json").read_text())
    assert argv[:2] == ["connect", str(port)]
    assert argv[2:7] == ["mip", "install", "aioble-peripheral", "aioble-server", "+"]
    assert argv[-1] == "reset"
    copied = [Path(a).name for a in argv if a.endswith(".py")]
    assert "engine.py" in copied and any(name.startswith("fw_") for name in copied)
    assert json.loads((fake_mpremote / "scenario.json").read_text()) == load_library("desaturation")
    assert json.loads((fake_mpremote / "config.json").read_text()) == {"mode": "ble", "speed": 1.0}
    assert "flashed desaturation" in capsys.readouterr().out


def test_flash_uart_on_a_pico_w_skips_mip_and_names_the_protocol(
    fake_mpremote: Path, tmp_path: Path
) -> None:
    port = tmp_path / "ttyACM1"
    port.touch()
    args = ["hil", "flash", "--port", str(port), "--scenario", "noisy_serial"]
    assert main([*args, "--profile", "uart", "--board", "pico-w", "--protocol", "masimo"]) == 0
    argv = json.loads((fake_mpremote / "argv.json").read_text())
    assert "mip" not in argv
    config = json.loads((fake_mpremote / "config.json").read_text())
    assert config == {"mode": "uart", "speed": 1.0, "profile": "masimo"}


def test_flash_errors_are_one_line_and_exit_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no mpremote anywhere
    assert main(["hil", "flash", "--port", "/dev/ttyACM9", "--scenario", "stable"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["edgetwin hil flash: error: mpremote is not installed (pip install mpremote)"]


def test_flash_without_the_port_and_with_a_failing_mpremote(
    fake_mpremote: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    absent = tmp_path / "ttyUSB7"
    assert main(["hil", "flash", "--port", str(absent), "--scenario", "stable"]) == 1
    assert "does not exist" in capsys.readouterr().err
    absent.touch()
    monkeypatch.setenv("FAKE_MPREMOTE_EXIT", "3")
    assert main(["hil", "flash", "--port", str(absent), "--scenario", "stable"]) == 1
    assert "exit code 3" in capsys.readouterr().err


def test_flash_refuses_unknown_scenarios(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["hil", "flash", "--port", "/dev/null", "--scenario", "nope", "--dry-run"]) == 1
    assert "a library scenario" in capsys.readouterr().err


def test_report_prints_the_summary_and_exits_1_on_failures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = library_scenario("stable")
    obs = Observation("stable", "emulated", 30.0, 0, "p-1", {}, [Loss("x", 5, 5, 4, missing=1)])
    saved = tmp_path / "result.json"
    saved.write_text(to_json([evaluate(engine, obs, [])]))
    assert main(["hil", "report", str(saved)]) == 1
    out = capsys.readouterr().out
    assert "stable" in out and "suite: FAIL (1 of 1 scenarios)" in out
    saved.write_text("{}")
    assert main(["hil", "report", str(saved)]) == 2
    assert "not an edgetwin hil report" in capsys.readouterr().err
