"""``edgetwin whatif`` on the command line: errors, JSON, and a gateway's own buffer."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from support import SHARED_DATA, wait_until

from gateway.cli import main
from gateway.commands.buffer import export_buffer
from gateway.config import parse_config
from gateway.runtime import Gateway
from gateway.whatif import VITAL_NAMES, read_buffer, read_record
from hil.pty_port import PtyPort
from hil.sim.masimo_sim import MasimoSimulator

RECORD = SHARED_DATA / "mimic2wdb-numerics" / "derived_s25047_numerics_per_minute.csv"
SPO2_HIGH_AT_20 = """
[[patients]]
id = "p-1"
consciousness = "A"
on_oxygen = false

[[alarms.limits]]
vital = "spo2"
side = "high"
threshold = 20
priority = "low"
onset_delay_s = 0
clear_delay_s = 0
"""


def whatif(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["whatif", *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[alarms\n", "(syntax)"),
        (
            '[[alarms.limits]]\nvital = "etco2"\nside = "low"\nthreshold = 1\npriority = "low"\n',
            "alarms.limits[0].vital",
        ),
        (
            '[[alarms.limits]]\nvital = "hr"\nside = "up"\nthreshold = 1\npriority = "low"\n',
            "alarms.limits[0].side",
        ),
        (
            '[[alarms.limits]]\nvital = "hr"\nside = "low"\nthreshold = 1\npriority = "low"\n'
            "onset_delay_s = -1\n",
            "alarms.limits[0].onset_delay_s",
        ),
        ("[twin]\nstale_after_s = 0\n", "twin.stale_after_s"),
        ('[[patients]]\nid = "p"\nconsciousness = "X"\n', "patients[0].consciousness"),
        ("[alarms]\nsound = true\n", "alarms.sound"),
    ],
)
def test_a_bad_policy_file_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, key: str
) -> None:
    bad = tmp_path / "candidate.toml"
    bad.write_text(text)
    code, out, err = whatif(capsys, "--config", str(bad), "--record", str(RECORD))
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("edgetwin whatif: error: ")
    assert f"{bad}: {key}:" in err


@pytest.mark.parametrize(
    "extra",
    [
        ["--record", "/nonexistent/record.csv"],
        ["--record", str(RECORD), "--since", "soon"],
        ["--record", str(RECORD), "--since", "2026-11-23T10:00:00"],  # no wall clock in it
        ["--record", str(RECORD), "--since", "5h"],  # past the end: nothing to replay
        [],  # no data source and no [gateway] data_dir
        ["--data-dir", "/nonexistent-dir"],
    ],
)
def test_bad_inputs_are_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str]
) -> None:
    policy = tmp_path / "candidate.toml"
    policy.write_text(SPO2_HIGH_AT_20)
    code, out, err = whatif(capsys, "--config", str(policy), *extra)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("edgetwin whatif: error: ")


def test_json_report_with_since_and_an_explicit_baseline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cand = tmp_path / "candidate.toml"
    cand.write_text(SPO2_HIGH_AT_20)
    base = tmp_path / "current.toml"
    base.write_text("[alarms]\nenabled = false\n")
    code, out, _ = whatif(
        capsys, "--config", str(cand), "--baseline", str(base), "--record", str(RECORD),
        "--since", "30m", "--json",
    )  # fmt: skip
    assert code == 0
    report = json.loads(out)
    assert report["source"]["start_s"] == 1800.0
    assert report["source"]["end_s"] == 71 * 60.0
    (patient,) = report["patients"]
    assert patient["patient"] == "p-1"  # the candidate's first patient names the record
    assert patient["baseline"]["alarms"]["any"]["count"] == 0
    # SpO2 is above 20 whenever it is valid: one low-priority alarm from the first SpO2 value
    # at or after 30 min, never cleared
    obs = read_record(RECORD).since(1800.0)
    first = float(obs.t_s[obs.col == VITAL_NAMES.index("spo2")][0])
    low = patient["candidate"]["alarms"]["low"]
    assert low == {"count": 1, "time_s": 71 * 60.0 - first}
    (only,) = patient["differences"]["only_candidate"]
    assert (only["vital"], only["open"]) == ("spo2", True)
    # NEWS2 time adds up to the replayed span
    bands = patient["candidate"]["news2"]["time_in_band_s"]
    assert sum(bands.values()) == pytest.approx(71 * 60.0 - 1800.0)


def test_table_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cand = tmp_path / "candidate.toml"
    cand.write_text(SPO2_HIGH_AT_20)
    code, out, _ = whatif(capsys, "--config", str(cand), "--record", str(RECORD))
    assert code == 0
    assert "baseline:  built-in defaults" in out
    lines = [line.split() for line in out.splitlines()]
    low = next(parts for parts in lines if parts[:2] == ["p-1", "low"])
    assert low[4] == "1"  # candidate low-priority alarms


async def test_replay_of_a_gateway_buffer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], pty_port: PtyPort
) -> None:
    """A short real run (Masimo simulator on a pty, uplink off so the outbox keeps every
    row), then the buffer through ``whatif``, and its JSON-lines export the same way."""
    data = tmp_path / "data"
    cfg = parse_config(
        {
            "gateway": {"id": "gw-whatif", "site": "lab", "data_dir": str(data)},
            "mqtt": {"enabled": False},
            "buffer": {"flush_interval_ms": 20},
            "patients": [{"id": "p-1"}],
            "devices": [{"id": "oxi", "kind": "masimo", "patient": "p-1", "port": pty_port.path}],
        },
        "<test>",
    )
    gateway = Gateway(cfg)
    stop = asyncio.Event()
    run = asyncio.create_task(gateway.run(stop))
    await wait_until(lambda: gateway.health["oxi"].state == "connected", what="driver up")
    sim = MasimoSimulator(pty_port, seed=5, interval_s=0.002, count=150)
    await sim.run()
    assert gateway.buffer is not None
    buffer = gateway.buffer
    for _ in range(2000):  # every line's SpO2 record (valid or not) committed
        stats = await buffer.stats()
        if sum(s.committed for s in stats.streams if s.stream_id == "oxi.150456") >= 150:
            break
        await asyncio.sleep(0.01)
    else:
        raise AssertionError("150 SpO2 records not buffered within 20 s")
    stop.set()
    await run

    obs = read_buffer(data)
    assert obs.patients == ("p-1",)
    spo2 = obs.value[obs.col == VITAL_NAMES.index("spo2")]
    sent = [float(s.spo2) for s in sim.sent if s.spo2 is not None]
    assert spo2.tolist() == sent
    assert obs.epoch_ns is not None

    cand = tmp_path / "candidate.toml"
    cand.write_text(SPO2_HIGH_AT_20)
    code, out, err = whatif(capsys, "--config", str(cand), "--data-dir", str(data), "--json")
    assert code == 0, err
    (patient,) = json.loads(out)["patients"]
    assert patient["baseline"]["alarms"]["any"]["count"] == 0  # defaults: 15 s delays
    assert patient["candidate"]["alarms"]["low"]["count"] == 1

    export = tmp_path / "outbox.jsonl"
    with export.open("wb") as f:
        export_buffer(data, f)
    again = read_record(export)
    assert again.t_s.tolist() == obs.t_s.tolist()
    assert again.value.tolist() == obs.value.tolist()
    assert again.epoch_ns == obs.epoch_ns
