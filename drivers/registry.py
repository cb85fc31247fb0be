"""Map a config ``kind`` to its driver module, imported only when used.

A new device is one module exposing ``DRIVER`` (a :class:`~drivers.base.DriverFactory`)
plus one line here. Lazy imports keep BLE libraries off serial-only gateways.
"""

from __future__ import annotations

import importlib

from drivers.base import DeviceSpec, DriverFactory

DRIVER_MODULES: dict[str, str] = {
    "masimo": "drivers.masimo.driver",
    "nonin": "drivers.nonin.driver",
    "datex-s5": "drivers.datex.driver",
    "ble": "drivers.ble.driver",
    "synthetic": "hil.sim.synthetic",
    "intellivue": "drivers.intellivue.driver",
}


def known_kinds() -> list[str]:
    return sorted(DRIVER_MODULES)


def validate_options(spec: DeviceSpec) -> None:
    """Let the driver check its options at configuration time (raises ``ValueError``)."""
    module = importlib.import_module(DRIVER_MODULES[spec.kind])
    check = getattr(module, "validate", None)
    if check is not None:
        check(spec)


def driver_factory(kind: str) -> DriverFactory:
    try:
        module_name = DRIVER_MODULES[kind]
    except KeyError:
        raise KeyError(f"unknown device kind {kind!r}; known: {', '.join(known_kinds())}") from None
    factory: DriverFactory = importlib.import_module(module_name).DRIVER
    return factory
