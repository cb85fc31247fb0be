"""The device end of a simulated serial cable: a pseudo-terminal at a stable path.

A USB-serial adapter that is unplugged and plugged back in keeps its
``/dev/serial/by-id/...`` name while the ``/dev/ttyUSBn`` behind it may change. :class:`SimPort`
plays that: the driver opens :attr:`SimPort.path`, a symlink to the current pty slave;
:meth:`SimPort.unplug` removes the link and closes the pty (the driver's reads fail),
:meth:`SimPort.replug` makes a new pty and points the link at it.

The simulator also needs to know what a real transmitter does not: whether anyone has the
port open (a pty master reports a hang-up while no slave is open), and whether the receiver
has read everything sent so far (``FIONREAD`` on the slave). Bytes written while nobody
listens are dropped, as a transmitter's are on an unplugged line.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import fcntl
import os
import select
import termios
import time
import tty
from pathlib import Path


class SimPort:
    def __init__(self, path: Path | str | None = None) -> None:
        self.link = Path(path) if path is not None else None
        self.generation = 0
        #: Bytes written (and not dropped) in the current generation, and in all of them.
        self.written = 0
        self.total_written = 0
        self.dropped = 0
        self.master_fd = -1
        self.tty_path = ""
        self.plugged = False
        self._poll = select.poll()
        self._listener_since: float | None = None
        self.replug()

    # -- the cable

    @property
    def path(self) -> str:
        """What the driver opens: the stable link if there is one, else the pty itself."""
        return str(self.link) if self.link is not None else self.tty_path

    def replug(self) -> None:
        if self.plugged:
            return
        master, slave = os.openpty()
        tty.setraw(slave)
        self.tty_path = os.ttyname(slave)
        os.close(slave)  # the driver is the only one to hold the slave open
        os.set_blocking(master, False)
        self.master_fd = master
        self._poll = select.poll()
        self._poll.register(master, select.POLLOUT)
        self.generation += 1
        self.written = 0
        self._listener_since = None
        self.plugged = True
        if self.link is not None:
            tmp = self.link.with_name(self.link.name + ".new")
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            tmp.symlink_to(self.tty_path)
            tmp.replace(self.link)

    def unplug(self) -> None:
        if not self.plugged:
            return
        self.plugged = False
        if self.link is not None:
            with contextlib.suppress(FileNotFoundError):
                self.link.unlink()
        with contextlib.suppress(OSError):
            os.close(self.master_fd)
        self.master_fd = -1
        self._listener_since = None

    def close(self) -> None:
        self.unplug()

    # -- who is listening

    def listening(self) -> bool:
        """True while a receiver has the port open (the master reports no hang-up)."""
        if not self.plugged:
            return False
        events = dict(self._poll.poll(0)).get(self.master_fd, 0)
        if events & select.POLLHUP:
            self._listener_since = None
            return False
        if self._listener_since is None:
            self._listener_since = time.monotonic()
        return True

    def listening_for(self) -> float:
        """Seconds since a listener was first seen (0 when there is none)."""
        if not self.listening() or self._listener_since is None:
            return 0.0
        return time.monotonic() - self._listener_since

    def unread(self) -> int | None:
        """Bytes the receiver has not read yet (its tty input queue); None if unknown."""
        if not self.listening():
            return None
        try:
            fd = os.open(self.tty_path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        except OSError:
            return None
        try:
            buf = array.array("i", [0])
            fcntl.ioctl(fd, termios.FIONREAD, buf)
            return buf[0]
        finally:
            os.close(fd)

    async def drain(self, timeout_s: float = 2.0) -> bool:
        """Wait until the receiver has read everything written; False if it did not."""
        deadline = time.monotonic() + timeout_s
        quiet = 0
        while time.monotonic() < deadline:
            pending = self.unread()
            if pending is None:
                return False
            quiet = quiet + 1 if pending == 0 else 0
            if quiet >= 5:  # the pty moves data to the reader asynchronously: confirm
                return True
            await asyncio.sleep(0.004)
        return False

    # -- bytes

    async def write(self, data: bytes) -> int:
        """Send ``data``; returns how many bytes went out (the rest dropped, no listener).

        While someone listens, a full pty makes this wait, as a line with flow control does.
        """
        view = memoryview(data)
        while view:
            if not self.listening():
                break
            try:
                sent = os.write(self.master_fd, view)
            except BlockingIOError:
                await asyncio.sleep(0.002)
                continue
            except OSError:
                break
            view = view[sent:]
            self.written += sent
            self.total_written += sent
        self.dropped += len(view)
        return len(data) - len(view)

    def read_nowait(self, n: int = 65536) -> bytes:
        """What the host sent (requests), or b'' if nothing is waiting."""
        if not self.plugged:
            return b""
        try:
            return os.read(self.master_fd, n)
        except OSError:  # EAGAIN: nothing yet; EIO: no slave open
            return b""
