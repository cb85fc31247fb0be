"""Validation on real PhysioNet data (run with ``pytest -s`` to see the figures).

* MIMIC-II numerics s00001 (32 h) and s25047 (72 min, artefact-rich): NEWS2 over time with
  consciousness "A", on air and 37.0 C every 30 min injected; artifact rejection rate; alarm
  counts with and without the quality gates.
* Challenge 2015 a103l (false asystole) and v102s (false VT): HR from ECG and pulse rate
  from pleth at 1 Hz through the twin; the monitor's alarm at 300 s is suppressed when the
  gate disputes the ECG rate while the pleth shows a pulse. True-asystole controls are the
  same records with ECG and pleth both flattened from 280 s / 290 s.
"""

from __future__ import annotations

import numpy as np
from support import SHARED_DATA

from edge_models.validate import (
    ReplayResult,
    challenge_decision,
    replay_alarm_record,
    replay_numerics,
)

DATA = SHARED_DATA
NUMERICS = DATA / "mimic2wdb-numerics"
CHALLENGE = DATA / "challenge2015-false-alarms"


def _numerics(name: str) -> tuple[ReplayResult, ReplayResult]:
    path = NUMERICS / name
    return (
        replay_numerics(path, quality_gate=True, tick_s=20.0),
        replay_numerics(path, quality_gate=False, tick_s=20.0),
    )


def _show(r: ReplayResult, label: str) -> None:
    hours = {k: round(v, 2) for k, v in r.news2_hours_by_risk().items()}
    print(
        f"  {label:<14} alarms phys {r.alarm_counts()} tech {r.alarm_counts('technical')} "
        f"time in alarm (s) { ({k: round(v) for k, v in r.time_in_alarm_s().items()}) }\n"
        f"  {'':<14} artifacts {sum(r.artifacts.values())}/{sum(r.samples.values())} "
        f"= {r.artifact_rate():.2%}  NEWS2 h by risk {hours}  "
        f"max {int(r.news2_total.max())}  partial rows {int(r.news2_partial.sum())}"
        f"/{r.news2_total.size}\n"
        f"  {'':<14} NEWS2 total -> minutes {dict(enumerate(np.bincount(r.news2_total).tolist()))}"
    )


def test_mimic_numerics_news2_artifacts_and_alarms_with_and_without_gates() -> None:
    gated, open_ = _numerics("s00001-2896-10-10-00-31n.hea")
    short_gated, short_open = _numerics("s25047-2704-05-04-10-44n.hea")
    for name, (g, o) in {"s00001": (gated, open_), "s25047": (short_gated, short_open)}.items():
        print(f"\n{name}: {g.duration_s / 3600:.1f} h")
        _show(g, "with gates")
        _show(o, "without gates")
        hits = {v: {k: n for k, n in c.items() if n} for v, c in g.reasons.items()}
        print(f"  checks hit per vital: { {v: c for v, c in hits.items() if c} }")
        lost = {(a.condition, a.start_s) for a in o.alarms} - {
            (a.condition, a.start_s) for a in g.alarms
        }
        print(f"  alarms only without gates: {sorted(lost)}")

    # NEWS2 is scored at every minute; RR <= 8 /min (a red score) gives low-medium risk in
    # s00001 (30 minutes have RR < 8); the stable patient never reaches high risk
    assert gated.news2_total.size == 1936
    assert gated.news2_hours_by_risk()["low-medium"] > 0.25
    assert gated.news2_hours_by_risk()["high"] == 0
    # stale NIBP (> 1 h without a cuff reading) or no SpO2 makes NEWS2 partial, never 0
    assert 0 < int(gated.news2_partial.sum()) < gated.news2_total.size
    # clean 32 h record: under 2 % rejected (0.6 % observed); artefact-rich 72 min: over 5 %
    assert gated.artifact_rate() < 0.02
    assert short_gated.artifact_rate() > 0.05
    # the gates keep every physiological alarm of the clean record (0 true alarms lost) ...
    assert gated.alarm_counts() == open_.alarm_counts()
    assert sum(gated.alarm_counts().values()) > 0
    # ... and remove some on the artefact-rich one
    assert sum(short_gated.alarm_counts().values()) < sum(short_open.alarm_counts().values())
    # without the gates, the checks still count what they would have rejected
    assert open_.reasons == gated.reasons and open_.artifact_rate() == 0


def test_challenge_2015_false_alarms_are_suppressed_and_true_controls_still_alarm() -> None:
    rows = []
    for rec, label in (("a103l", "asystole"), ("v102s", "VT")):
        path = CHALLENGE / f"{rec}.hea"
        for control in (None, 280.0, 290.0):
            truth = "false" if control is None else "true (control)"
            res = {
                g: replay_alarm_record(path, quality_gate=g, asystole_from_s=control)
                for g in (False, True)
            }
            dec = {g: challenge_decision(r) for g, r in res.items()}
            own = {
                g: [a.start_s for a in r.alarms if a.kind == "physiological"]
                for g, r in res.items()
            }
            rows.append((rec, label, control, truth, dec[False], dec[True], own))
    print(
        f"\n{'record':<7} {'monitor alarm':<14} {'control':<14} {'label':<16} "
        f"{'no gates':<11} {'with gates':<11} twin's own HR alarm starts (s): no gates / gates"
    )
    for rec, label, control, truth, d0, d1, own in rows:
        ctl = "-" if control is None else f"flat {control:g} s"
        print(
            f"{rec:<7} {label:<14} {ctl:<14} {truth:<16} {d0:<11} {d1:<11} "
            f"{own[False]} / {own[True]}"
        )

    false_rows = [r for r in rows if r[2] is None]
    true_rows = [r for r in rows if r[2] is not None]
    # without the gates every monitor alarm passes: the suppression is the gates' doing
    assert all(r[4] == "alarm" for r in rows)
    # with the gates: the false asystole (pleth pulsatile at 127 /min while the ECG rate
    # collapses in noise) is suppressed; the false VT is not: its ECG rate agrees with the
    # pleth (~110 /min), and VT is a morphology call that rate agreement cannot refute.
    suppressed = [r[0] for r in false_rows if r[5] == "suppressed"]
    assert suppressed == ["a103l"]  # 1 of 2 false alarms (50 %)
    # no true alarm is lost: every control keeps the monitor alarm ...
    assert all(r[5] == "alarm" for r in true_rows)
    # ... and the twin's own HR alarm fires in every control, gates costing no delay
    # (a pleth that has stopped pulsing has no say in the agreement check)
    assert all(r[6][True] and r[6][True] == r[6][False] for r in true_rows)
    # the false records raise no HR alarm of the twin's own, with or without gates
    assert all(not r[6][True] and not r[6][False] for r in false_rows)
