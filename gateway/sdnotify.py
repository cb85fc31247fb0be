"""systemd's notify protocol in pure Python: ``READY=1``, ``WATCHDOG=1``, ``STOPPING=1``.

Messages go as one datagram to the ``AF_UNIX`` socket named by ``$NOTIFY_SOCKET`` (a path,
or an abstract name written with a leading ``@``). Outside systemd the variable is unset and
every call is a no-op that returns False, so the gateway runs the same anywhere.

With ``Type=notify`` and ``WatchdogSec=`` in the unit, call :meth:`Notifier.ready` once the
gateway is up, run :meth:`Notifier.watchdog_loop` beside it (it pings at half the interval
systemd asks for, and only while the event loop is alive), and call :meth:`Notifier.stopping`
when shutdown begins.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable, Mapping

log = logging.getLogger(__name__)


def notify(state: str, environ: Mapping[str, str] | None = None) -> bool:
    """Send ``state`` (e.g. ``"READY=1"``); True if a notify socket took it."""
    env = os.environ if environ is None else environ
    address = env.get("NOTIFY_SOCKET", "")
    if not address:
        return False
    if address[0] == "@":
        address = "\0" + address[1:]  # abstract namespace
    elif address[0] != "/":
        log.warning("NOTIFY_SOCKET %r is neither a path nor an abstract name; ignored", address)
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(state.encode())
    except OSError as exc:
        log.warning("cannot notify systemd (%s): %s", state.split("=", 1)[0], exc)
        return False
    return True


def watchdog_interval_s(environ: Mapping[str, str] | None = None) -> float | None:
    """The watchdog timeout systemd set for this process (``WATCHDOG_USEC``), or None."""
    env = os.environ if environ is None else environ
    usec = env.get("WATCHDOG_USEC", "")
    pid = env.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if pid and pid.isdigit() and int(pid) != os.getpid():
        return None  # meant for another process (e.g. our parent)
    return int(usec) / 1e6


class Notifier:
    """The gateway's side of ``Type=notify``; every method is harmless outside systemd."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self.environ = environ

    def ready(self, status: str = "") -> bool:
        return notify("READY=1" + (f"\nSTATUS={status}" if status else ""), self.environ)

    def status(self, text: str) -> bool:
        return notify(f"STATUS={text}", self.environ)

    def watchdog(self) -> bool:
        return notify("WATCHDOG=1", self.environ)

    def stopping(self) -> bool:
        return notify("STOPPING=1", self.environ)

    async def watchdog_loop(self, healthy: Callable[[], bool] | None = None) -> None:
        """Ping at half the watchdog interval while ``healthy()`` holds; until cancelled.

        Returns at once when systemd asked for no watchdog. A stalled event loop (or an
        unhealthy gateway) stops the pings, and systemd restarts the service.
        """
        interval = watchdog_interval_s(self.environ)
        if interval is None:
            return
        period = max(0.05, interval / 2)
        while True:
            if healthy is None or healthy():
                self.watchdog()
            else:
                log.warning("gateway unhealthy: withholding the systemd watchdog ping")
            await asyncio.sleep(period)
