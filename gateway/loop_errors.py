"""The gateway's event-loop exception handler: one known, harmless race logged as what it is.

When the broker resets a connection, the MQTT client (paho, under aiomqtt) can ask the event
loop to watch its socket for writing just as that socket is being closed. The loop then
runs ``add_writer`` on a closed file descriptor, and its default handler logs an ERROR with
a traceback ("Exception in callback BaseSelectorEventLoop.add_writer(9, ...) ... Bad file
descriptor"), which reads like a fault although nothing is lost: the client is already
being replaced, and the uplink reconnects and resends what was not acknowledged.

:class:`ClosedSocketWatch` turns exactly that case (``add_writer``/``add_reader`` failing
with ``EBADF``) into one WARNING that says so, and counts it (``/metrics``:
``edgetwin_uplink_closed_socket_watches_total``). Every other error goes to the handler
that was installed before, or to the loop's default one, unchanged.
"""

from __future__ import annotations

import asyncio
import errno
import logging
from typing import Any

log = logging.getLogger(__name__)

_WATCHES = (".add_writer(", ".add_reader(")


class ClosedSocketWatch:
    """Installed on a loop for the gateway's run; :meth:`uninstall` restores the previous."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.count = 0
        self._previous = loop.get_exception_handler()

    @classmethod
    def install(cls, loop: asyncio.AbstractEventLoop | None = None) -> ClosedSocketWatch:
        watch = cls(loop or asyncio.get_running_loop())
        watch.loop.set_exception_handler(watch)
        return watch

    def uninstall(self) -> None:
        if self.loop.get_exception_handler() is self:
            self.loop.set_exception_handler(self._previous)

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if is_closed_socket_watch(context):
            self.count += 1
            log.warning(
                "a socket was closed before the event loop could watch it (the MQTT client "
                "after a connection reset); ignored: that connection is being replaced and "
                "unacknowledged data is resent"
            )
            return
        if self._previous is not None:
            self._previous(loop, context)
        else:
            loop.default_exception_handler(context)


def is_closed_socket_watch(context: dict[str, Any]) -> bool:
    """Whether ``context`` is an ``add_writer``/``add_reader`` callback that failed because
    its file descriptor was already closed."""
    exc = context.get("exception")
    if not isinstance(exc, OSError) or exc.errno != errno.EBADF:
        return False
    handle = context.get("handle")
    return handle is not None and any(w in repr(handle) for w in _WATCHES)
