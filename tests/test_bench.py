"""``edgetwin bench`` runs end to end on a tiny ward (figures are checked for sense, never for
speed: a benchmark is not a timed test)."""

from __future__ import annotations

from pathlib import Path

from gateway.bench import (
    BenchResult,
    _confirm_capacity,
    _confirmation,
    format_result,
    run_bench,
    samples_per_bed,
)
from gateway.broker import LocalBroker


async def test_bench_measures_every_figure_on_a_tiny_ward() -> None:
    r = await run_bench(beds=2, seconds=2.0, alarms=5, backlog_s=120.0, capacity=False)
    assert r.flood is not None
    assert r.realrate is not None
    assert r.realrate_sealed is not None
    assert r.flood.samples_per_s > 0
    assert r.realrate_sealed.samples_per_s > 0
    assert r.sealed_cpu_ratio > 0
    assert r.baseline_samples_per_s > 0
    assert r.generator_samples_per_s > r.flood.samples_per_s  # the gateway costs something
    assert 0 < r.ratio_to_baseline < 1 and 0 < r.ratio_ceiling < 1
    assert r.realrate.expected_samples_per_s == 2 * r.samples_per_bed_per_s
    assert 0 < r.startup_first_commit_s <= r.startup_first_ack_s
    assert r.realrate.disk_bytes_per_payload_byte > 0
    # an outage's backlog: 10 numerics a bed at 1 Hz for 2 minutes, for 80 % of the ward
    assert r.alarm_beds == 1
    assert r.backlog_records_at_alarm_start == r.alarm_beds * 10 * 120
    assert r.alarm_latency_ms["n"] == 5  # to the PUBACK
    assert r.alarm_delivery_ms["n"] == 5  # to a subscriber
    assert r.sealing["payload_bytes"] == 4096
    text = format_result(r)
    assert "ratio to baseline" in text
    assert "simulated monitors alone" in text
    assert "encrypted at rest" in text


async def test_the_capacity_search_answer_is_run_again_before_it_is_reported(
    broker: LocalBroker, tmp_path: Path
) -> None:
    r = BenchResult(beds=1, seconds=1.0, samples_per_bed_per_s=samples_per_bed())
    messages: list[str] = []
    beds = await _confirm_capacity(broker, tmp_path, 1, 1.0, r, messages.append)
    assert beds == 1  # one bed at real rate keeps up on any machine that runs the suite
    assert r.capacity_confirmed
    assert [p.beds for p in r.capacity_confirmations] == [1]
    assert r.capacity_confirmations[0].kept_up
    assert messages == ["capacity confirmation 1: 1 beds at real rate"]
    r.capacity_trials.append(r.capacity_confirmations[0])
    assert _confirmation(r) == "; confirmed by a repeat run"
    r.capacity_confirmed = False
    assert "NOT confirmed" in _confirmation(r)
