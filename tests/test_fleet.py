"""The fleet simulator: realistic envelopes, shared-subscription consumers, the dedup check.

Small on purpose (20 gateways for 5 s); the big runs are for docs/scaling.md.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from gateway import envelope
from gateway.broker import free_port
from gateway.cli import main
from gateway.ingest import Ingestor
from hil.fleet import NUMERICS, WAVES, FleetOptions, PublisherStats, SimGateway, run_fleet, verify


def test_a_simulated_gateway_flushes_real_envelopes_at_real_rates() -> None:
    sim = SimGateway("gw0001", "site-a", beds=2, flush_s=0.25, seed=1)
    per_stream: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for k in range(8):  # two seconds
        for topic, payload, n, _, stream, seq in sim.flush(1_700_000_000_000_000_000 + k):
            body = envelope.decode(payload)
            assert topic == f"edgetwin/v1/site-a/gw0001/{body['kind']}/{stream}"
            assert body["seq"] == [seq, seq + n - 1]
            assert body["patient"].startswith("p-")
            per_stream[stream].extend(body["samples"])
    # 2 beds x (4 numerics + 2 waves) streams, each numbered 1, 2, 3, ... without gaps
    assert len(per_stream) == 2 * (len(NUMERICS) + len(WAVES))
    for stream, samples in per_stream.items():
        assert [s["seq"] for s in samples] == list(range(1, len(samples) + 1)), stream
    # numerics at 1 Hz: 2 in 2 s; waves at their rates: 2 s of samples, chunk per flush
    hr = per_stream["bed01-mon.147842"]
    assert len(hr) == 2 and all(isinstance(s["value"], float) for s in hr)
    ecg = per_stream["bed01-mon.131330"]
    assert len(ecg) == 8
    assert sum(len(envelope.wave_samples(s)) for s in ecg) == 2 * 250
    pleth = per_stream["bed02-mon.150452"]
    assert sum(len(envelope.wave_samples(s)) for s in pleth) == 2 * 125
    assert {s["period_ns"] for s in ecg} == {4_000_000}


def test_a_slow_flush_carries_every_numeric() -> None:
    sim = SimGateway("gw0002", "site-a", beds=1, flush_s=2.5, seed=1)
    counts: dict[str, int] = defaultdict(int)
    for k in range(4):  # 10 s
        for _, payload, n, _, stream, _ in sim.flush(k):
            counts[stream] += n
            assert len(envelope.decode(payload)["samples"]) == n
    assert counts["bed01-mon.150456"] == 10  # one per second, in batches of 2 or 3
    assert counts["bed01-mon.131330"] == 4  # one chunk per flush


def test_the_check_finds_missing_and_unexpected_records(tmp_path: Path) -> None:
    """Without a broker: feed a consumer directly, skip one message and repeat another."""
    state = tmp_path / "state.sqlite"
    sim = SimGateway("gw0007", "site-b", beds=1, flush_s=1.0, seed=2)
    stats = PublisherStats()
    skipped = None
    with Ingestor(state) as ing:
        for k in range(3):
            for topic, payload, n, _, stream, seq in sim.flush(k):
                stats.records += n
                stats.last_seq[("gw0007", stream)] = seq + n - 1
                if stream.endswith(".150456") and seq == 2:
                    skipped = (stream, seq)
                    continue
                ing.handle(topic, payload)
                ing.handle(topic, payload)  # a resend: dropped by the consumer
        assert ing.stats.duplicates == ing.stats.records_new == stats.records - 1
    assert skipped is not None
    check = verify(state, stats)
    assert (check["missing"], check["unexpected"]) == (1, 0)
    assert check["missing_examples"] == [f"gw0007/{skipped[0]}: 1 of 1..3"]
    # the ledger knows a stream that was never published: unexpected
    stats.last_seq.pop(("gw0007", "bed01-mon.147842"))
    assert verify(state, stats)["unexpected"] == 3


async def test_fleet_of_20_gateways_counts_every_record_once(tmp_path: Path) -> None:
    opts = FleetOptions(
        gateways=20,
        seconds=5.0,
        consumers=2,
        beds=1,
        flush_s=0.5,
        duplicate_fraction=0.05,
        drain_timeout_s=60,
        state_dir=tmp_path,
    )
    report = await run_fleet(opts)
    p, c, d = report.published, report.consumed, report.dedup
    # 20 gateways x 10 flushes x (2 wave chunks + 4 numerics every other flush)
    assert p["records"] == 20 * (10 * 2 + 5 * 4)
    assert report.drained
    assert d["ok"], d
    assert d["records_new"] == p["records"] == c["records_new"]
    assert (d["missing"], d["unexpected"]) == (0, 0)
    assert p["duplicate_messages"] > 0
    assert c["duplicates"] >= d["duplicates_injected"] > 0
    assert c["messages"] == p["messages"]
    # both consumers of the group got work, and none of it failed to map to FHIR
    assert all(pc["messages"] > 0 for pc in c["per_consumer"])
    assert all(pc["mapping_errors"] == pc["rejected"] == 0 for pc in c["per_consumer"])


async def test_lost_messages_fail_the_check(tmp_path: Path) -> None:
    opts = FleetOptions(
        gateways=5,
        seconds=2.0,
        consumers=2,
        beds=1,
        flush_s=0.5,
        duplicate_fraction=0.0,
        drop_fraction=0.1,
        drain_timeout_s=30,
        seed=3,
    )
    report = await run_fleet(opts)
    d = report.dedup
    assert report.published["dropped_messages"] > 0
    assert d["missing"] == d["missing_expected"] > 0
    assert d["counted_once"] and not d["ok"]


def test_fleet_command_with_ingest_processes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["fleet", "--gateways", "4", "--seconds", "2", "--consumers", "2", "--beds", "1",
         "--duplicates", "0.1", "--state-dir", str(tmp_path), "--json"]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    report = json.loads(out)
    assert report["options"]["consumer_processes"] is True
    assert report["dedup"]["ok"] and report["dedup"]["missing"] == 0
    assert report["consumed"]["records_new"] == report["published"]["records"] > 0
    assert len(report["consumed"]["per_consumer"]) == 2


@pytest.mark.parametrize(
    "args",
    [
        ["--gateways", "0"],
        ["--consumers", "100"],
        ["--seconds", "-1"],
        ["--duplicates", "0.9"],
        ["--broker", "nohost"],
        ["--state-dir", "/nonexistent"],
    ],
)
def test_bad_fleet_options_are_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    assert main(["fleet", *args]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and captured.err.startswith("edgetwin fleet: error: ")


async def test_through_a_site_broker_bridged_to_the_central_one() -> None:
    """Gateways publish to a site mosquitto; its bridge forwards to the central broker,
    where the consumers are: still every record once (the bridge is at-least-once too)."""
    opts = FleetOptions(
        gateways=5, seconds=2.0, consumers=2, beds=1, flush_s=0.5, duplicate_fraction=0.1,
        drain_timeout_s=30, bridge=True, seed=4,
    )  # fmt: skip
    report = await run_fleet(opts)
    assert "bridged" in report.broker
    assert report.dedup["ok"], report.dedup
    assert report.consumed["records_new"] == report.published["records"] == 5 * (4 * 2 + 2 * 4)


def test_a_broker_that_cannot_be_reached_is_one_line_and_exit_1(
    capsys: pytest.CaptureFixture[str],
) -> None:
    port = free_port()  # nothing listens there
    args = ["fleet", "--broker", f"127.0.0.1:{port}", "--gateways", "1", "--seconds", "1"]
    assert main([*args, "--in-process"]) == 1
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and "cannot subscribe" in captured.err
