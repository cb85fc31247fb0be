"""Start a private mosquitto on a free loopback port (demo and tests), and stop it.

Readiness is polled (TCP connect with a deadline), never waited for with a fixed sleep.
Optionally the listener speaks TLS (with client certificates) and the broker enforces an ACL
file and a password file, as a deployment would (see deploy/mosquitto/).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
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


@dataclass(frozen=True, slots=True)
class BrokerTls:
    """TLS settings of the listener (PEM files; the key readable by the broker's user)."""

    cafile: Path
    certfile: Path
    keyfile: Path
    require_certificate: bool = True
    use_identity_as_username: bool = True
    tls_version: str = "tlsv1.2"  # the oldest version accepted

    def lines(self) -> list[str]:
        return [
            f"cafile {self.cafile}",
            f"certfile {self.certfile}",
            f"keyfile {self.keyfile}",
            f"tls_version {self.tls_version}",
            f"require_certificate {str(self.require_certificate).lower()}",
            f"use_identity_as_username {str(self.use_identity_as_username).lower()}",
        ]


class LocalBroker:
    """A mosquitto process bound to 127.0.0.1 on a free port, with its own config file.

    Defaults: plain MQTT, anonymous clients allowed. With ``tls``, ``acl_file`` or
    ``password_file``, anonymous clients are refused unless ``allow_anonymous`` says otherwise.
    ``extra_config`` lines come last, after the listener.
    """

    def __init__(
        self,
        workdir: Path,
        port: int | None = None,
        persistence: bool = False,
        extra_config: str = "",
        *,
        tls: BrokerTls | None = None,
        acl_file: Path | None = None,
        password_file: Path | None = None,
        allow_anonymous: bool | None = None,
        per_listener_settings: bool = False,
        max_inflight: int = 128,
    ) -> None:
        self.workdir = workdir
        #: unacknowledged QoS 1/2 messages per client, announced as MQTT 5 Receive Maximum
        self.max_inflight = max_inflight
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.persistence = persistence
        self.extra_config = extra_config
        self.tls = tls
        self.acl_file = acl_file
        self.password_file = password_file
        self.allow_anonymous = (
            allow_anonymous
            if allow_anonymous is not None
            else tls is None and acl_file is None and password_file is None
        )
        self.per_listener_settings = per_listener_settings
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / "mosquitto.log"

    def _security_lines(self) -> list[str]:
        lines = [f"allow_anonymous {str(self.allow_anonymous).lower()}"]
        if self.acl_file is not None:
            lines.append(f"acl_file {self.acl_file}")
        if self.password_file is not None:
            lines.append(f"password_file {self.password_file}")
        return lines

    def config_lines(self) -> list[str]:
        """The generated mosquitto.conf, line by line."""
        # per_listener_settings moves the security options below the listener they guard
        security = self._security_lines()
        return [
            # started as root, mosquitto would drop to the 'mosquitto' user and could not
            # read files in private temporary folders; stay the user that started it
            f"user {pwd.getpwuid(os.geteuid()).pw_name}",
            f"per_listener_settings {str(self.per_listener_settings).lower()}",
            *([] if self.per_listener_settings else security),
            f"persistence {'true' if self.persistence else 'false'}",
            f"persistence_location {self.workdir}/",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
            "max_queued_messages 100000",
            # mosquitto leaves Nagle's algorithm on by default: a PUBACK then waits for the
            # ACK of the previous segment, and a gateway publishing a backlog on the same
            # connection read its alarm's PUBACK ~10 ms late instead of ~1.5 ms
            # (docs/performance.md)
            "set_tcp_nodelay true",
            # announced as MQTT 5 Receive Maximum (mosquitto's default is 20); the gateway
            # keeps its window under it (gateway/uplink.py)
            f"max_inflight_messages {self.max_inflight}",
            f"listener {self.port} {self.host}",
            *(security if self.per_listener_settings else []),
            *(self.tls.lines() if self.tls is not None else []),
            self.extra_config,
        ]

    def start(self, deadline_s: float = 10.0) -> None:
        binary = find_mosquitto()
        if binary is None:
            raise BrokerUnavailableError(
                "mosquitto is not installed (Debian: apt-get install mosquitto)"
            )
        self.workdir.mkdir(parents=True, exist_ok=True)
        conf = self.workdir / "mosquitto.conf"
        conf.write_text("\n".join(self.config_lines()) + "\n")
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
