"""A pseudo-terminal pair: the simulator writes the master, a driver opens the slave path.

The slave is put in raw mode at once (no echo, no CR/LF translation), as a real serial line
is. Writes on the master are non-blocking and wait for room when the reader lags.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tty


class PtyPort:
    def __init__(self) -> None:
        self.master_fd, self._slave_fd = os.openpty()
        tty.setraw(self._slave_fd)
        self.path = os.ttyname(self._slave_fd)
        os.set_blocking(self.master_fd, False)
        self.closed = False

    async def write(self, data: bytes) -> None:
        loop = asyncio.get_running_loop()
        view = memoryview(data)
        while view:
            try:
                sent = os.write(self.master_fd, view)
                view = view[sent:]
            except BlockingIOError:
                ready = loop.create_future()
                loop.add_writer(self.master_fd, ready.set_result, None)
                try:
                    await ready
                finally:
                    loop.remove_writer(self.master_fd)

    def read_nowait(self, n: int = 4096) -> bytes:
        """What the driver sent to the device (requests), or b'' if nothing."""
        try:
            return os.read(self.master_fd, n)
        except (BlockingIOError, OSError):
            return b""

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            for fd in (self.master_fd, self._slave_fd):
                with contextlib.suppress(OSError):
                    os.close(fd)
