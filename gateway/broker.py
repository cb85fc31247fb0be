"""Start a private mosquitto on a free loopback port (demo and tests), and stop it.

Readiness is polled (TCP connect with a deadline), never waited for with a fixed sleep.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import Self

from gateway.errors import BrokerUnavailableError

_SEARCH = ("/usr/sbin", "/usr/local/sbin", "/opt/homebrew/sbin")


def find_mosquitto() -> str | None:
    found = shutil.which("mosquitto")
    if found:
        return found
    for folder in _SEARCH:
        candidate = Path(folder) / "mosquitto"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def wait_for_port(
    host: str, port: int, deadline_s: float, proc: subprocess.Popen[bytes] | None
) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            raise BrokerUnavailableError(f"mosquitto exited with code {proc.returncode} at start")
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
            return
        time.sleep(0.02)
    raise BrokerUnavailableError(f"mosquitto did not listen on {host}:{port} within {deadline_s} s")


class LocalBroker:
    """A mosquitto process bound to 127.0.0.1 on a free port, with its own config file."""

    def __init__(
        self,
        workdir: Path,
        port: int | None = None,
        persistence: bool = False,
        extra_config: str = "",
    ) -> None:
        self.workdir = workdir
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.persistence = persistence
        self.extra_config = extra_config
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / "mosquitto.log"

    def start(self, deadline_s: float = 10.0) -> None:
        binary = find_mosquitto()
        if binary is None:
            raise BrokerUnavailableError(
                "mosquitto is not installed (Debian: apt-get install mosquitto)"
            )
        self.workdir.mkdir(parents=True, exist_ok=True)
        conf = self.workdir / "mosquitto.conf"
        lines = [
            # started as root, mosquitto would drop to the 'mosquitto' user and could not
            # read files in private temporary folders; stay the user that started it
            f"user {pwd.getpwuid(os.geteuid()).pw_name}",
            f"listener {self.port} {self.host}",
            "allow_anonymous true",
            f"persistence {'true' if self.persistence else 'false'}",
            f"persistence_location {self.workdir}/",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
            "max_queued_messages 100000",
            self.extra_config,
        ]
        conf.write_text("\n".join(lines) + "\n")
        log = self.log_path.open("ab")
        try:
            self.proc = subprocess.Popen(
                [binary, "-c", str(conf)], stdout=log, stderr=log, stdin=subprocess.DEVNULL
            )
        finally:
            log.close()
        try:
            wait_for_port(self.host, self.port, deadline_s, self.proc)
        except BrokerUnavailableError:
            self.stop()
            raise

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)

    def kill(self) -> None:
        """Stop without a clean shutdown (for outage tests)."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=5)
            self.proc = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
