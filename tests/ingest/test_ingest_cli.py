"""``edgetwin ingest``: options, one-line errors, and a real run stopped by SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiomqtt
import pytest

from gateway import cli, envelope
from gateway.broker import LocalBroker, free_port
from gateway.commands import ingest as ingest_command
from gateway.model import Measurement, Quality, ReceiveTime

GW, SITE, PATIENT, DEVICE = "gw01", "ward7", "p-0042", "bed01-oxi"
STREAM = f"{DEVICE}.150456"
REPO = Path(__file__).resolve().parents[2]

# Runs the sub-command the way gateway.cli will once it is listed in COMMAND_MODULES.
DRIVER = (
    "import argparse, sys\n"
    "from gateway.commands import ingest\n"
    "parser = argparse.ArgumentParser(prog='edgetwin')\n"
    "ingest.register(parser.add_subparsers(dest='command', required=True))\n"
    "args = parser.parse_args(sys.argv[1:])\n"
    "sys.exit(args.func(args))\n"
)


def message(seqs: list[int]) -> tuple[str, bytes]:
    records = [
        Measurement(
            DEVICE, STREAM, 150456, "%", 95.0, Quality(0), ReceiveTime(10**18 + s, 0), seq=s
        )
        for s in seqs
    ]
    payload = envelope.encode_batch(records, gateway=GW, site=SITE, patient=PATIENT)
    return envelope.topic(SITE, GW, "numeric", STREAM), payload


def run_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="edgetwin")
    ingest_command.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["ingest", *argv])
    code: int = args.func(args)
    return code


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        ([], "--broker HOST:PORT is required"),
        (["--broker", "localhost"], "--broker must be HOST:PORT"),
        (["--broker", "localhost:0"], "--broker must be HOST:PORT"),
        (["--broker", "localhost:65536"], "--broker must be HOST:PORT"),
        (["--broker", ":1883"], "--broker must be HOST:PORT"),
        (["--broker", "h:1883", "--seconds", "soon"], "--seconds must be a number"),
        (["--broker", "h:1883", "--seconds", "-1"], "--seconds must be above 0"),
        (["--broker", "h:1883", "--seconds", "nan"], "--seconds must be above 0"),
        (["--broker", "h:1883", "--group", "a/b"], "group name"),
        (["--broker", "h:1883", "--group", ""], "group name"),
        (["--broker", "h:1883", "--fhir-url", "ftp://x"], "FHIR base URL"),
        (["--broker", "h:1883", "--out", "d", "--fhir-url", "http://x/f"], "not both"),
        (["--broker", "h:1883", "--client-id", ""], "--client-id"),
    ],
)
def test_invalid_options_are_one_line_exit_2(
    argv: list[str], fragment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(*argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("edgetwin ingest: error: ")
    assert fragment in err


def test_ipv6_broker_address_parses() -> None:
    assert ingest_command.parse_broker("[::1]:1883") == ("::1", 1883)
    assert ingest_command.parse_broker("mqtt.example:8883") == ("mqtt.example", 8883)


def test_unreachable_broker_is_one_line_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run_cli("--broker", f"127.0.0.1:{free_port()}", "--state", str(tmp_path / "s.db"))
    assert code == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot subscribe at MQTT broker" in err


def test_bad_state_file_is_one_line_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "s.db"
    state.write_bytes(b"not sqlite" * 200)
    assert run_cli("--broker", "127.0.0.1:1", "--state", str(state)) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "state file" in err


def test_seconds_limit_stops_and_prints_json(
    broker: LocalBroker, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run_cli(
        "--broker", f"{broker.host}:{broker.port}", "--state", str(tmp_path / "s.db"),
        "--seconds", "0.3",
    )  # fmt: skip
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary == {
        "stats": {
            "messages": 0,
            "records_new": 0,
            "duplicates": 0,
            "gaps_open": 0,
            "missing_records": 0,
            "lost_records": 0,
            "bundles": 0,
            "unmapped": 0,
            "mapping_errors": 0,
            "rejected": 0,
        },
        "open_gaps": [],
    }


def test_registers_into_the_edgetwin_cli(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert "gateway.commands.ingest" in cli.COMMAND_MODULES
    assert cli.main(["ingest", "--broker", "nope"]) == 2
    assert "--broker must be HOST:PORT" in capsys.readouterr().err


async def test_real_run_writes_bundles_and_stops_on_sigterm(
    broker: LocalBroker, tmp_path: Path
) -> None:
    out, state = tmp_path / "out", tmp_path / "state.sqlite"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", DRIVER, "ingest", "--broker", f"{broker.host}:{broker.port}",
        "--out", str(out), "--state", str(state), "--group", "cli-test",
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=tmp_path,
    )  # fmt: skip
    try:
        target = out / "gw01__bed01-oxi.150456__1-2.json"
        deadline = time.monotonic() + 30
        async with aiomqtt.Client(
            broker.host, broker.port, protocol=aiomqtt.ProtocolVersion.V5
        ) as client:
            # it subscribes when it is ready: resend (harmless, deduplicated) until it wrote
            while not target.exists():
                assert proc.returncode is None, await proc.communicate()
                assert time.monotonic() < deadline, "no Bundle written"
                await client.publish(*message([1, 2]), qos=1)
                await asyncio.sleep(0.05)
            await client.publish(*message([5]), qos=1)
            while not (out / "gw01__bed01-oxi.150456__5-5.json").exists():
                assert time.monotonic() < deadline, "second Bundle not written"
                await asyncio.sleep(0.02)
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = await asyncio.wait_for(proc.communicate(), timeout=20)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.communicate()
    assert proc.returncode == 0, stderr
    summary = json.loads(stdout)
    assert summary["stats"]["records_new"] == 3
    assert summary["open_gaps"] == [{"gateway": GW, "stream": STREAM, "first": 3, "last": 4}]
    assert b"gap: gw01/bed01-oxi.150456 seq 3..4 missing" in stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "gw01__bed01-oxi.150456__1-2.json",
        "gw01__bed01-oxi.150456__5-5.json",
    ]
