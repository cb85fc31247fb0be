"""``edgetwin hil run`` on the emulated rig: the scenario library through the real gateway.

The first test is the CI gate (the whole library once, about 80 s on 2 cores); the second
starts a short scenario with the ``hil_bench`` fixture, looks at the running targets and
checks that a wrong expectation is caught (the evaluation is not a rubber stamp); using
that fixture makes it a ``hil`` test (``-m "not hil"`` leaves it out).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from gateway.cli import main
from hil.report import FAIL, PASS
from hil.scenarios.engine import Scenario
from hil.scenarios.loader import library_names


def test_edgetwin_hil_run_passes_the_library_on_the_emulated_rig(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "hil.json"
    code = main(["hil", "run", "--json", str(out)])
    summary = capsys.readouterr().out
    assert code == 0, summary
    report = json.loads(out.read_text())
    assert report["passed"] is True
    runs = {r["scenario"]: r for r in report["scenarios"]}
    assert sorted(runs) == library_names()
    for name, run in runs.items():
        statuses = {c["status"] for c in run["checks"]}
        assert run["status"] == PASS and FAIL not in statuses, (name, run["checks"])
        assert run["losses"] and all(lo["stored"] > 0 for lo in run["losses"]), name
    # the library exercises what the bench report is for
    desat = {c["kind"]: c for c in runs["desaturation"]["checks"] if c["kind"] == "alarm"}
    assert desat["alarm"]["latency_s"] is not None and desat["alarm"]["latency_s"] > 0
    assert runs["flaky_link"]["reconnects_s"], "link drops reconnect"
    noisy = {lo["target"]: lo for lo in runs["noisy_serial"]["losses"]}
    assert noisy["bedside"]["uncertain"] > 0, "the noisy line damaged some frames"
    maintenance = [c for r in runs.values() for c in r["checks"] if c["kind"] == "maintenance"]
    assert len(maintenance) == 2 and all(c["status"] == PASS for c in maintenance), maintenance
    assert summary.splitlines()[-1] == "suite: PASS"
    assert main(["hil", "report", str(out)]) == 0


SHORT: dict[str, Any] = {
    "scenario": {"name": "short", "duration_s": 90.0, "seed": 4},
    "vitals": {
        "heart_rate": 70.0,
        "pulse_rate": 70.0,
        "spo2": 97.0,
        "resp_rate": 14.0,
        "systolic": 120.0,
        "diastolic": 80.0,
        "mean": 93.0,
        "temperature": 36.9,
        "battery": 70.0,
    },
    "event": [
        {"at_s": 30.0, "kind": "link_drop", "duration_s": 10.0, "target": "ble"},
        {"at_s": 50.0, "kind": "corrupt", "count": 2},
    ],
    "expect": [
        {"kind": "no_alarm", "vital": "spo2"},
        {"kind": "alarm", "vital": "spo2", "priority": "high"},  # wrong on purpose
        {"kind": "technical_alarm", "text": "disconnected", "after_s": 30.0, "within_s": 15.0},
        {"kind": "no_loss"},
    ],
}


async def test_a_running_bench_and_a_wrong_expectation_caught(
    hil_bench: Callable[..., Awaitable[Any]],
) -> None:
    bench = await hil_bench(Scenario(SHORT), speed=30.0)
    if bench.bench is None:
        pytest.skip("looks at emulated targets")
    devices = bench.emulated.devices
    deadline = time.monotonic() + 20
    while not all(d.connected for d in devices.values()):
        assert time.monotonic() < deadline, "the wearables never connected"
        await asyncio.sleep(0.01)
    result = await bench.result()
    status = {c.kind: c.status for c in result.checks}
    assert status == {
        "no_alarm": PASS,
        "alarm": FAIL,
        "technical_alarm": PASS,
        "no_loss": PASS,
    }, result.checks
    assert result.status == FAIL
    assert "no spo2 alarm (high)" in next(c.detail for c in result.checks if c.kind == "alarm")
    corrupt = [s for d in devices.values() for s in d.sent if s.fault == "corrupt"]
    assert len(corrupt) == 2 * len(devices), "each wearable damaged two notifications"
    assert all(times for times in result.reconnects_s.values())


async def test_masimo_and_nonin_serial_targets_follow_the_scenario(tmp_path: Path) -> None:
    """Other serial simulators on a custom rig: Masimo lines are matched by their device
    time; Nonin packets carry no time, so their loss is reported as not evaluated."""
    from hil.rig import parse_rig
    from hil.runner import RunSettings, run_emulated

    rig = parse_rig(
        {
            "rig": {"name": "serial-only", "kind": "emulated", "speed": 20.0},
            "targets": [
                {"id": "masimo", "transport": "serial", "device": "masimo"},
                {"id": "nonin", "transport": "serial", "device": "nonin"},
            ],
        },
        "<test>",
    )
    spec = {
        **SHORT,
        "scenario": {"name": "serial", "duration_s": 40.0, "seed": 2},
        "event": [{"at_s": 10.0, "kind": "corrupt", "count": 2, "target": "serial"}],
        "expect": [{"kind": "no_loss"}, {"kind": "no_alarm", "vital": "spo2"}],
    }
    obs = await run_emulated(Scenario(spec), rig, RunSettings(20.0, tmp_path))
    losses = {lo.target: lo for lo in obs.losses}
    masimo = losses["masimo"]
    assert masimo.ok and masimo.delivered >= 30 and masimo.stored >= masimo.delivered
    assert masimo.sent - masimo.delivered - masimo.uncertain >= 2, "two corrupted lines lost"
    assert losses["nonin"].note.startswith("not evaluated")
    assert len(obs.samples.get("nonin.150456", [])) > 100, "about 3 packets per second"
    spo2 = {s["value"] for s in obs.samples["masimo.150456"]}
    assert spo2 <= {96.0, 97.0, 98.0}, spo2
