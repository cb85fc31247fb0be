"""Make the pty serial simulators (:mod:`hil.serial_sim`) follow an engine scenario.

* :func:`vitals_source`: the simulators' scenario callable (``t -> Vitals``) from the engine;
  a vital the scenario does not produce, or any vital while the sensor is off, is None.
* :func:`faults_for`: the scenario's events as the simulators' fault plan: ``link_drop`` ->
  cable pulled (UNPLUG), ``stall`` -> PAUSE, ``corrupt`` -> BAD_CHECKSUM and ``truncate`` ->
  TRUNCATE, ``count`` of them one message period apart.
* :class:`NoisyPort`: a :class:`~hil.serial_sim.link.SimPort` that garbles each byte with the
  probability of the ``noisy_line`` event in force (deterministic from the seed), and
  remembers where; :func:`doubt_garbled` then marks the ledger entries those bytes hit (and
  the message after each, whose framing may be lost) UNCERTAIN instead of DELIVERED.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

from hil.scenarios.engine import Scenario
from hil.serial_sim.base import Fate, Ledger
from hil.serial_sim.faults import Fault, FaultKind
from hil.serial_sim.link import SimPort
from hil.serial_sim.scenario import Vitals

TARGET = "serial"
GARBLED = "garbled on a noisy line"


def vitals_at(engine: Scenario, t: float) -> Vitals:
    """The simulators' :class:`Vitals` at scenario time ``t``."""
    v = engine.vitals(t)
    nbp_parts = (v.get("systolic"), v.get("diastolic"), v.get("mean"))
    nbp = None
    if all(p is not None for p in nbp_parts):
        sys_, dia, mean = (float(p) for p in nbp_parts if p is not None)
        nbp = (sys_, dia, mean)
    return Vitals(
        hr=v.get("heart_rate"),
        spo2=v.get("spo2"),
        pulse=v.get("pulse_rate"),
        rr=v.get("resp_rate"),
        temp=v.get("temperature"),
        nbp=nbp,
    )


def vitals_source(engine: Scenario) -> Callable[[float], Vitals]:
    return lambda t: vitals_at(engine, t)


def faults_for(engine: Scenario, period_s: float, target: str = TARGET) -> list[Fault]:
    """The fault plan for one simulator sending a message every ``period_s`` scenario s."""
    out: list[Fault] = []
    for event in engine.events:
        if event["target"] not in ("all", target):
            continue
        at, kind = float(event["at_s"]), event["kind"]
        if kind == "link_drop":
            out.append(Fault(at, FaultKind.UNPLUG, duration=float(event["duration_s"])))
        elif kind == "stall":
            out.append(Fault(at, FaultKind.PAUSE, duration=float(event["duration_s"])))
        elif kind in ("corrupt", "truncate"):
            fault = FaultKind.BAD_CHECKSUM if kind == "corrupt" else FaultKind.TRUNCATE
            out.extend(Fault(at + k * period_s, fault) for k in range(int(event["count"])))
    return out


class NoisyPort(SimPort):
    """A simulated cable whose line garbles bytes while a ``noisy_line`` event is in force."""

    def __init__(
        self,
        path: Path | str | None,
        engine: Scenario,
        now: Callable[[], float] = lambda: 0.0,
        target: str = TARGET,
    ) -> None:
        self.engine = engine
        self.now = now  # scenario time; set to the simulator's clock once it exists
        self.target = target
        self.rng = random.Random(engine.seed)
        #: (generation, byte offset) of every garbled byte.
        self.garbled: list[tuple[int, int]] = []
        super().__init__(path)

    def error_rate(self) -> float:
        event = self.engine.active_event("noisy_line", self.now(), self.target)
        return 0.0 if event is None else float(event["error_rate"])

    async def write(self, data: bytes) -> int:
        rate = self.error_rate()
        if rate > 0.0 and self.listening():
            out = bytearray(data)
            for i in range(len(out)):
                if self.rng.random() < rate:
                    out[i] ^= 1 << self.rng.randrange(8)
                    self.garbled.append((self.generation, self.written + i))
            data = bytes(out)
        return await super().write(data)


def doubt_garbled(ledger: Ledger, port: NoisyPort) -> int:
    """Mark messages hit by garbled bytes (and the one after each) UNCERTAIN; returns how many.

    A message spans the bytes after the previous message of its generation up to its end,
    so protocol traffic between messages counts too (conservative).
    """
    hits = sorted(port.garbled)
    marked = 0
    previous_end: dict[int, int] = {}
    doubt_next = False
    for sent in ledger.items:
        start = previous_end.get(sent.generation, 0)
        previous_end[sent.generation] = sent.end
        hit = any(g == sent.generation and start <= off < sent.end for g, off in hits)
        if (hit or doubt_next) and sent.fate is Fate.DELIVERED:
            sent.fate = Fate.UNCERTAIN
            sent.note = GARBLED if hit else "after a garbled message"
            marked += 1
        doubt_next = hit
    return marked
