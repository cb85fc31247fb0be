"""Stop when asked, even after a library swallowed the request.

Python 3.11's ``asyncio.wait_for`` returns its result instead of raising when the awaitable
completes at the moment the caller is cancelled (bumble's LE connect awaits it; other
libraries may have similar races). A loop that catches errors and retries (a driver's
reconnect cycle, the uplink's connect-and-back-off) would then go on as if never
cancelled, and a shutdown that waits for it waits forever. The request is still counted by
:meth:`asyncio.Task.cancelling`: such loops call :func:`stop_if_cancelled` once a turn.
"""

from __future__ import annotations

import asyncio
from typing import Any


def stop_if_cancelled(task: asyncio.Task[Any] | None = None) -> None:
    """Raise ``CancelledError`` if this task was asked to stop and something swallowed it.

    A per-record loop passes its task (``asyncio.current_task()`` costs 0.36 µs in 3.11).
    """
    task = task or asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
