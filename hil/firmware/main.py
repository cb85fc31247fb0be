"""Board entry point: read ``scenario.json`` and ``config.json``, run the chosen mode.

``edgetwin hil flash`` copies the firmware, ``engine.py``, the scenario (TOML converted to
JSON) and the config to the board's root; MicroPython runs this file after boot.
"""

import asyncio
import json
import time

from engine import Scenario
from fw_config import load_config


def _read_json(path: str) -> dict:
    with open(path) as f:
        return json.load(f)


async def _main(scenario_path: str = "scenario.json", config_path: str = "config.json") -> None:
    config = load_config(_read_json(config_path))
    scenario = Scenario(_read_json(scenario_path))
    if config["mode"] == "ble":
        import ble_peripheral

        device = ble_peripheral.build(scenario, config, time.ticks_ms, time.ticks_diff)
    else:
        import uart_monitor

        device = uart_monitor.build(scenario, config, time.ticks_ms, time.ticks_diff)
    await device.run()


def run() -> None:
    """Run the scenario once; errors are printed so a rig sees them on the REPL."""
    try:
        asyncio.run(_main())
    except Exception as exc:  # noqa: BLE001 - report anything on the console and stop
        print("error:", exc)


if __name__ == "__main__":
    run()
