"""What-if replay: event-driven alarm replay against an independent per-second loop.

The reference here is a scalar state machine written from the alarm semantics in
``edge_models/alarms.py`` (condition delay, hysteresis, clear delay, invalid values neither
start, continue nor end) and the twin's staleness rule (a held value is valid while its age
is at most ``stale_after_s``), ticking every half second. With integer sample times, delays and
staleness limits every change happens on a whole second, except that a value goes stale just
after one: the half-second ticks see that window (whole seconds could miss it when the next
sample arrives one second later), so the event-driven replay must give exactly the same alarms.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from support import SHARED_DATA

from edge_models.alarms import Limit, Side
from gateway.config import Patient
from gateway.model import AlarmPriority
from gateway.twin import DEFAULT_LIMITS
from gateway.whatif import (
    VITAL_NAMES,
    Observations,
    Policy,
    default_policy,
    episodes,
    load_policy,
    read_physionet,
    replay,
    union_s,
    whatif,
)

DATA = SHARED_DATA / "mimic2wdb-numerics"
RECORD = DATA / "derived_s00001_numerics_per_minute.csv"
SHORT_RECORD = DATA / "derived_s25047_numerics_per_minute.csv"

# Wider limits and longer delays than the ward defaults (gateway.twin.DEFAULT_LIMITS).
CANDIDATE_TOML = """
[twin]
stale_after_s = 60

[[alarms.limits]]
vital = "spo2"
side = "low"
threshold = 88
priority = "medium"
onset_delay_s = 60
clear_delay_s = 30
hysteresis = 1

[[alarms.limits]]
vital = "spo2"
side = "low"
threshold = 80
priority = "high"
onset_delay_s = 30
clear_delay_s = 30
hysteresis = 1
level = 1

[[alarms.limits]]
vital = "pulse"
side = "high"
threshold = 140
priority = "medium"
onset_delay_s = 60

[[alarms.limits]]
vital = "pulse"
side = "low"
threshold = 35
priority = "high"
onset_delay_s = 30

[[alarms.limits]]
vital = "hr"
side = "high"
threshold = 140
priority = "medium"
onset_delay_s = 60

[[alarms.limits]]
vital = "hr"
side = "low"
threshold = 35
priority = "high"
onset_delay_s = 30

[[alarms.limits]]
vital = "rr"
side = "high"
threshold = 35
priority = "medium"
onset_delay_s = 60

[[alarms.limits]]
vital = "rr"
side = "low"
threshold = 6
priority = "high"
onset_delay_s = 60
clear_delay_s = 15
hysteresis = 1

[[alarms.limits]]
vital = "sbp"
side = "low"
threshold = 85
priority = "medium"
onset_delay_s = 0
clear_delay_s = 0
"""


# -- the independent reference -------------------------------------------------------------


@dataclass
class RefAlarm:
    priority: AlarmPriority
    start: float
    end: float | None


def reference_alarms(
    samples: Sequence[tuple[int, str, float]],
    limits: Sequence[Limit],
    stale_s: float,
    horizon: int,
) -> list[RefAlarm]:
    """Every alarm of one patient, ticking each half second from 0 to ``horizon``."""
    by_time: dict[int, list[tuple[str, float]]] = {}
    for when, vital, value in samples:
        by_time.setdefault(when, []).append((vital, value))
    out: list[RefAlarm] = []
    for lim in limits:
        low = lim.side is Side.LOW
        phase, since = "normal", 0.0
        held: float | None = None
        held_t = 0.0
        for tick in range(2 * horizon + 1):
            t = tick / 2
            for vital, value in by_time.get(int(t), ()) if tick % 2 == 0 else ():
                if vital == lim.vital:
                    held, held_t = value, t
            x = held if held is not None and t - held_t <= stale_s else None
            violated = x is not None and (x < lim.threshold if low else x > lim.threshold)
            inside = x is not None and (
                x >= lim.threshold + lim.hysteresis if low else x <= lim.threshold - lim.hysteresis
            )
            if phase == "normal" and violated:
                phase, since = "pending", t
            if phase == "pending":
                if not violated:
                    phase = "normal"
                elif t - since >= lim.onset_delay_s:
                    phase = "active"
                    out.append(RefAlarm(lim.priority, t, None))
            if phase == "latched" and violated:
                phase = "active"
            if phase == "active" and inside:
                phase, since = "clearing", t
            if phase == "clearing":
                if not inside:
                    phase = "active"
                elif t - since >= lim.clear_delay_s:
                    if lim.latching:
                        phase = "latched"
                    else:
                        phase = "normal"
                        out[-1].end = t
    return out


def reference_table(alarms_: Sequence[RefAlarm], horizon: int) -> dict[str, tuple[int, int]]:
    """Per priority: (count, seconds with at least one in force), by counting seconds."""
    table: dict[str, tuple[int, int]] = {}
    for prio in (AlarmPriority.HIGH, AlarmPriority.MEDIUM, AlarmPriority.LOW, None):
        of = [a for a in alarms_ if prio is None or a.priority is prio]
        seconds: set[int] = set()  # starts and ends fall on whole seconds (module docstring)
        for a in of:
            seconds.update(range(int(a.start), int(horizon if a.end is None else a.end)))
        table["any" if prio is None else prio.name.lower()] = (len(of), len(seconds))
    return table


def csv_samples(path: Path) -> list[tuple[int, str, float]]:
    """The record read with the csv module: zeros and empty cells are missing; NBP systolic
    counts only with its diastolic and mean (as the scenario reader does)."""
    columns = {"hr": "HR_bpm", "pulse": "PULSE_bpm", "rr": "RESP_pm", "spo2": "SpO2_%"}
    out: list[tuple[int, str, float]] = []
    with path.open(newline="") as f:
        for i, row in enumerate(csv.DictReader(f)):
            t = 60 * i
            for vital, column in columns.items():
                if row[column] and float(row[column]) != 0:
                    out.append((t, vital, float(row[column])))
            nbp = [row[f"NBP{p}_mmHg"] for p in ("Sys", "Dias", "Mean")]
            if all(nbp) and all(float(v) != 0 for v in nbp):
                out.append((t, "sbp", float(nbp[0])))
    return out


def table_of(report_alarms: Mapping[str, Mapping[str, float]]) -> dict[str, tuple[int, int]]:
    return {k: (int(v["count"]), round(v["time_s"])) for k, v in report_alarms.items()}


# -- real record -----------------------------------------------------------------------------


def test_wider_limits_raise_fewer_alarms_on_the_real_record(tmp_path: Path) -> None:
    path = tmp_path / "candidate.toml"
    path.write_text(CANDIDATE_TOML)
    candidate = load_policy(path)
    baseline = default_policy()
    obs = read_physionet(RECORD)
    report = whatif(obs, baseline, candidate)

    samples = csv_samples(RECORD)
    horizon = max(t for t, _, _ in samples)
    assert report["source"]["end_s"] == horizon
    assert report["source"]["samples"] == len(samples)
    want_base = reference_table(
        reference_alarms(samples, DEFAULT_LIMITS, baseline.stale_after_s, horizon), horizon
    )
    want_cand = reference_table(
        reference_alarms(samples, candidate.limits, candidate.stale_after_s, horizon), horizon
    )
    (patient,) = report["patients"]
    assert table_of(patient["baseline"]["alarms"]) == want_base
    assert table_of(patient["candidate"]["alarms"]) == want_cand
    # the direction: fewer alarms and less time in alarm, at every priority
    assert want_cand["any"][0] < want_base["any"][0]
    assert want_cand["any"][1] < want_base["any"][1]
    for prio in ("high", "medium", "low"):
        assert want_cand[prio][0] <= want_base[prio][0]
    # the baseline does alarm on this record (the test would be empty otherwise)
    assert want_base["any"][0] >= 5
    diff = patient["differences"]
    assert diff["only_baseline"], "the wider limits must drop some alarm episodes"
    assert report["totals"]["baseline"]["any"]["count"] == want_base["any"][0]


def test_short_record_exact_counts_both_ways() -> None:
    """The artefact-rich 72-minute record, baseline and candidate swapped: still exact."""
    obs = read_physionet(SHORT_RECORD)
    strict = Policy(
        "strict",
        (
            Limit("pulse", Side.HIGH, 120, AlarmPriority.MEDIUM, 0, 0),
            Limit("rr", Side.HIGH, 25, AlarmPriority.LOW, 30, 30, 2),
            Limit("sbp", Side.LOW, 100, AlarmPriority.HIGH, 0, 0, 5, latching=True),
        ),
        stale_after_s=90,
    )
    report = whatif(obs, strict, default_policy())
    samples = csv_samples(SHORT_RECORD)
    horizon = max(t for t, _, _ in samples)
    (patient,) = report["patients"]
    assert table_of(patient["baseline"]["alarms"]) == reference_table(
        reference_alarms(samples, strict.limits, 90, horizon), horizon
    )
    assert table_of(patient["candidate"]["alarms"]) == reference_table(
        reference_alarms(samples, DEFAULT_LIMITS, 60, horizon), horizon
    )


# -- small hand-computed cases ----------------------------------------------------------------

SPO2_LOW = Limit("spo2", Side.LOW, 90, AlarmPriority.MEDIUM, 15, 10, 1)


def observations(samples: Sequence[tuple[float, str, float]], patient: str = "p1") -> Observations:
    return Observations(
        "test",
        (patient,),
        np.array([s[0] for s in samples], dtype=np.float64),
        np.zeros(len(samples), dtype=np.intp),
        np.array([VITAL_NAMES.index(s[1]) for s in samples], dtype=np.intp),
        np.array([s[2] for s in samples], dtype=np.float64),
    )


def test_a_held_value_starts_the_alarm_when_the_delay_ends_between_samples() -> None:
    obs = observations([(0, "spo2", 85), (60, "spo2", 85), (120, "spo2", 95), (180, "spo2", 95)])
    run = replay(obs, Policy("p", (SPO2_LOW,), stale_after_s=60))
    (alarm,) = run.alarms
    # violated from 0, onset delay 15 s; back inside (>= 91) at 120, clear delay 10 s
    assert (alarm.start_s, alarm.end_s, alarm.worst) == (15.0, 130.0, 85.0)


def test_a_stale_value_cancels_a_running_delay() -> None:
    obs = observations([(0, "spo2", 85), (60, "spo2", 85)])
    # the value at 0 is stale after 10 s, before the 15 s delay ends: no alarm at 15
    run = replay(obs, Policy("p", (SPO2_LOW,), stale_after_s=10))
    assert run.alarms == ()
    # the sample at 60 restarts the delay, which would end at 75, after the data end
    longer = replay(obs, Policy("p", (SPO2_LOW,), stale_after_s=10), horizon_s=100)
    assert [(a.start_s, a.end_s) for a in longer.alarms] == []  # stale again at 70.001


def test_an_alarm_without_valid_values_stays_in_force_to_the_end() -> None:
    obs = observations([(0, "spo2", 80), (20, "spo2", 80), (500, "hr", 70)])
    run = replay(obs, Policy("p", (SPO2_LOW,), stale_after_s=30))
    (alarm,) = run.alarms
    assert (alarm.start_s, alarm.end_s) == (15.0, None)
    (ep,) = episodes(run.alarms, 500.0)
    assert (ep.start_s, ep.end_s, ep.open) == (15.0, 500.0, True)


def test_alarms_disabled_raise_nothing() -> None:
    obs = observations([(0, "spo2", 80), (100, "spo2", 80)])
    assert replay(obs, Policy("off", (SPO2_LOW,), alarms_enabled=False)).alarms == ()


def test_differences_only_in_one_and_changed_priority() -> None:
    obs = observations(
        [(0, "spo2", 85), (30, "spo2", 85), (60, "spo2", 97), (90, "hr", 150), (200, "hr", 70)]
    )
    base = Policy("base", (SPO2_LOW,))
    cand = Policy(
        "cand",
        (
            Limit("spo2", Side.LOW, 90, AlarmPriority.HIGH, 15, 10, 1),
            Limit("hr", Side.HIGH, 130, AlarmPriority.MEDIUM, 0, 0),
        ),
    )
    diff = whatif(obs, base, cand)["patients"][0]["differences"]
    assert diff["episodes_in_both"] == 1
    assert diff["only_baseline"] == []
    assert [(e["vital"], e["side"], e["start_s"], e["end_s"]) for e in diff["only_candidate"]] == [
        ("hr", "high", 90.0, 200.0)
    ]
    (changed,) = diff["priority_changed"]
    assert (changed["priority"], changed["candidate_priority"]) == ("medium", "high")
    assert (changed["start_s"], changed["end_s"]) == (15.0, 70.0)


def test_news2_time_per_band_and_escalations() -> None:
    full = {"rr": 14, "spo2": 97, "sbp": 120, "pulse": 70, "temp": 37.0}
    samples = [(0.0, k, float(v)) for k, v in full.items()]
    samples += [(100.0, "rr", 25.0), (100.0, "pulse", 135.0)]  # 3 + 3 = 6: medium
    samples += [(200.0, "pulse", 70.0)]  # rr 25 alone scores 3: low-medium
    samples += [(250.0, "rr", 14.0), (300.0, "temp", 37.0)]  # all 0 again: low
    obs = observations(samples)
    patients = {"p1": Patient("p1", consciousness="A", on_oxygen=False)}
    run = replay(obs, Policy("p", (), stale_after_s=1000, patients=patients))
    n2 = run.news2["p1"]
    assert n2.time_in_band_s == {"low": 150.0, "low-medium": 50.0, "medium": 100.0, "high": 0.0}
    assert n2.escalations == {"medium": 1, "high": 0}
    assert (n2.max_total, n2.partial_s) == (6, 0.0)
    # without consciousness and oxygen the score is partial all the time
    unknown = replay(obs, Policy("p", (), stale_after_s=1000)).news2["p1"]
    assert unknown.partial_s == 300.0


def test_union_of_intervals() -> None:
    assert union_s([(0, 10), (5, 20), (30, 31)]) == 21
    assert union_s([(0, 10), (2, 3)]) == 10
    assert union_s([]) == 0


# -- property: event-driven replay == per-second ticks --------------------------------------

_VITALS = ("spo2", "hr")


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[tuple[int, str, float]], list[Limit], int]:
    n = draw(st.integers(1, 25))
    times = sorted(draw(st.lists(st.integers(0, 400), min_size=n, max_size=n)))
    samples = [
        (t, draw(st.sampled_from(_VITALS)), float(draw(st.integers(60, 110)))) for t in times
    ]
    limits = []
    for vital in _VITALS:
        for side in (Side.LOW, Side.HIGH):
            if draw(st.booleans()):
                limits.append(
                    Limit(
                        vital,
                        side,
                        float(draw(st.integers(70, 100))),
                        draw(st.sampled_from(list(AlarmPriority))),
                        float(draw(st.integers(0, 40))),
                        float(draw(st.integers(0, 40))),
                        float(draw(st.integers(0, 5))),
                        draw(st.booleans()),
                    )
                )
    return samples, limits, draw(st.integers(1, 120))


@settings(max_examples=60, deadline=None)
@given(scenarios())
def test_event_replay_equals_ticking_every_second(
    case: tuple[list[tuple[int, str, float]], list[Limit], int],
) -> None:
    samples, limits, stale = case
    obs = observations([(float(t), v, x) for t, v, x in samples])
    run = replay(obs, Policy("p", tuple(limits), stale_after_s=float(stale)))
    horizon = samples[-1][0]
    got = sorted(
        (a.priority, a.start_s, math.inf if a.end_s is None else a.end_s) for a in run.alarms
    )
    want = sorted(
        (a.priority, float(a.start), math.inf if a.end is None else float(a.end))
        for a in reference_alarms(samples, limits, stale, horizon)
    )
    assert got == want
