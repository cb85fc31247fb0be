"""pytest plugin for hardware-in-the-loop tests: marker ``hil``, option ``--rig FILE``.

Register it in the root ``tests/conftest.py`` with ``pytest_plugins = ["hil.pytest_plugin"]``
(or run ``pytest -p hil.pytest_plugin``; a test module may also name it in its own
``pytest_plugins``). Tests that use the ``hil_bench`` fixture get the marker by themselves.
The rig is ``--rig=FILE`` (with ``=``: with a space pytest may take the path for a test
path), else ``$EDGETWIN_HIL_RIG``, else the emulated rig. On a hardware rig, every ``hil``
test is skipped, with the reasons, when an adapter, port or board of the rig is absent.

Fixtures:

* ``hil_rig``: the loaded :class:`~hil.rig.Rig` (session).
* ``hil_bench``: starts a scenario on the rig's targets and gives the running bench::

      async def test_x(hil_bench):
          bench = await hil_bench("desaturation", speed=30)
          ...                     # bench.devices / bench.sims / bench.gateway are running
          result = await bench.result()     # waits for the end, evaluates [[expect]]
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from gateway.twin import DEFAULT_LIMITS
from hil.report import ScenarioResult, evaluate
from hil.rig import DEFAULT_RIG, Rig, load_rig
from hil.runner import EmulatedBench, RunSettings, run_hardware
from hil.scenarios.engine import Scenario
from hil.scenarios.loader import library_scenario

ENV_RIG = "EDGETWIN_HIL_RIG"
_RIG_KEY = pytest.StashKey[Rig]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("hil", "hardware-in-the-loop rig")
    group.addoption(
        "--rig",
        default=None,
        metavar="FILE",
        help=f"HIL rig description (default: ${ENV_RIG} or {DEFAULT_RIG.name})",
    )


def rig_path(config: pytest.Config) -> Path:
    given = config.getoption("--rig", default=None) or os.environ.get(ENV_RIG)
    return Path(given) if given else DEFAULT_RIG


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "hil: runs scenarios on the HIL rig (--rig FILE; emulated by default)"
    )


def _rig(config: pytest.Config) -> Rig:
    if _RIG_KEY not in config.stash:
        config.stash[_RIG_KEY] = load_rig(rig_path(config))
    return config.stash[_RIG_KEY]


@pytest.hookimpl(tryfirst=True)  # before ``-m`` selects on the marker
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests that use ``hil_bench`` are ``hil`` tests; skip them all if hardware is absent."""
    for item in items:
        if "hil_bench" in getattr(item, "fixturenames", ()) and not item.get_closest_marker("hil"):
            item.add_marker(pytest.mark.hil)
    hil_items = [item for item in items if item.get_closest_marker("hil") is not None]
    if not hil_items:
        return
    rig = _rig(config)
    missing = rig.missing()
    if not missing:
        return
    skip = pytest.mark.skip(reason=f"rig {rig.name}: " + "; ".join(missing))
    for item in hil_items:
        item.add_marker(skip)


@pytest.fixture(scope="session")
def hil_rig(pytestconfig: pytest.Config) -> Rig:
    """The rig of this session (``--rig``)."""
    return _rig(pytestconfig)


class RunningBench:
    """A scenario running on the rig's targets (emulated: the devices and simulators)."""

    def __init__(self, engine: Scenario, rig: Rig, bench: EmulatedBench | None, work: Path):
        self.engine = engine
        self.rig = rig
        self.bench = bench
        self.work = work

    @property
    def emulated(self) -> EmulatedBench:
        if self.bench is None:
            raise RuntimeError("the rig is hardware: no emulated targets to look at")
        return self.bench

    async def result(self) -> ScenarioResult:
        """Wait for the scenario's end and evaluate its ``[[expect]]``."""
        if self.bench is not None:
            obs = await self.bench.finish()
        else:
            obs = await run_hardware(self.engine, self.rig, RunSettings(1.0, self.work))
        return evaluate(self.engine, obs, DEFAULT_LIMITS)


@pytest.fixture
async def hil_bench(
    hil_rig: Rig, tmp_path: Path
) -> AsyncIterator[Callable[..., Awaitable[RunningBench]]]:
    """Factory: ``await hil_bench(name_or_scenario, speed=None)`` -> :class:`RunningBench`."""
    benches: list[EmulatedBench] = []

    async def start(scenario: str | Scenario, speed: float | None = None) -> RunningBench:
        engine = library_scenario(scenario) if isinstance(scenario, str) else scenario
        work = tmp_path / f"{engine.name}-{len(benches)}"
        work.mkdir()
        if not hil_rig.emulated:
            return RunningBench(engine, hil_rig, None, work)
        bench = EmulatedBench(engine, hil_rig, RunSettings(speed or hil_rig.speed, work))
        benches.append(bench)
        await bench.__aenter__()
        return RunningBench(engine, hil_rig, bench, work)

    yield start
    for bench in benches:
        await bench.close()
