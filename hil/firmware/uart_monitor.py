"""Device layer: the UART bedside-oximeter emulator on machine.UART (MicroPython).

Writes what :class:`fw_driver.UartDriver` returns (Nonin format 7 or 8, or Masimo ASCII) to
a UART through an asyncio stream. Wire the board's TX to the gateway's USB-serial RX (and
GND); levels are 3.3 V TTL, so use a TTL adapter, not an RS-232 port.
"""

import asyncio

import machine
from fw_config import scenario_time
from fw_driver import UartDriver


class UartMonitor:
    """Ticks the driver every ``tick_ms`` and writes its bytes to the UART."""

    def __init__(self, driver: UartDriver, config: dict, now_ms, diff_ms) -> None:
        self.driver = driver
        self.config = config
        self._now_ms = now_ms
        self._diff_ms = diff_ms
        u = config["uart"]
        kwargs = {"baudrate": u["baudrate"], "bits": 8, "parity": None, "stop": 1}
        if u["tx"] is not None:
            kwargs["tx"] = machine.Pin(u["tx"])
        if u["rx"] is not None:
            kwargs["rx"] = machine.Pin(u["rx"])
        self.uart = machine.UART(u["id"], **kwargs)
        self.writer = asyncio.StreamWriter(self.uart, {})

    async def run(self) -> None:
        print("ready uart", self.config["profile"], self.driver.scenario.name)
        t0 = self._now_ms()
        tick_s = self.config["tick_ms"] / 1000.0
        while True:
            t = scenario_time(self._diff_ms(self._now_ms(), t0), self.config["speed"])
            if t >= self.driver.scenario.duration_s:
                print("scenario done")
                return
            data = self.driver.tick(t)
            if data:
                self.writer.write(data)
                await self.writer.drain()
            await asyncio.sleep(tick_s)


def build(scenario, config: dict, now_ms, diff_ms) -> UartMonitor:
    """A UART monitor for ``scenario`` with the config's protocol (its profile)."""
    return UartMonitor(
        UartDriver(scenario, config["profile"], config["epoch"]), config, now_ms, diff_ms
    )
