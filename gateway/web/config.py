"""The ``[status]`` table: where the local status page listens and whether it wants a token.

::

    [status]
    enabled = true            # default true
    host = "127.0.0.1"        # default: loopback only
    port = 8080
    token_file = "/etc/edgetwin/status-token"   # optional: require "Authorization: Bearer ..."
"""

from __future__ import annotations

import logging
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.errors import ConfigError

log = logging.getLogger(__name__)

_KEYS = ("enabled", "host", "port", "token_file")
#: Longest token accepted from ``token_file`` (a guard against pointing it at a big file).
MAX_TOKEN_BYTES = 4096


@dataclass(frozen=True, slots=True)
class StatusConfig:
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 8080
    token_file: str | None = None
    source: str = "<defaults>"

    def read_token(self) -> str | None:
        """The bearer token from ``token_file`` (first line, stripped), or None if unset."""
        if self.token_file is None:
            return None
        key = "status.token_file"
        path = Path(self.token_file)
        try:
            raw = path.read_bytes()[: MAX_TOKEN_BYTES + 1]
            mode = stat.S_IMODE(path.stat().st_mode)
        except OSError as exc:
            raise ConfigError(
                self.source, key, f"a readable file holding the token ({exc})"
            ) from None
        if mode & 0o007:
            log.warning(
                "status token file %s is accessible to every local user (mode %04o): "
                "chmod 0640 it and chgrp it to the service group",
                path,
                mode,
            )
        if len(raw) > MAX_TOKEN_BYTES:
            raise ConfigError(self.source, key, f"a token of at most {MAX_TOKEN_BYTES} bytes")
        try:
            lines = raw.decode("utf-8").strip().splitlines()
        except UnicodeDecodeError:
            raise ConfigError(self.source, key, "a UTF-8 text file") from None
        token = lines[0].strip() if lines else ""
        if len(token) < 16:
            raise ConfigError(
                self.source, key, "a token of at least 16 characters on its first line"
            )
        return token


def parse_status_table(table: Mapping[str, Any], source: str) -> StatusConfig:
    """Validate a ``[status]`` table; raise :class:`ConfigError` naming file, key, expectation."""
    for key in table:
        if key not in _KEYS:
            raise ConfigError(source, f"status.{key}", f"a known key (one of {', '.join(_KEYS)})")
    enabled = table.get("enabled", True)
    if not isinstance(enabled, bool):
        raise ConfigError(source, "status.enabled", f"true or false, got {enabled!r}")
    host = table.get("host", "127.0.0.1")
    if not isinstance(host, str) or not host.strip() or any(c.isspace() for c in host):
        raise ConfigError(source, "status.host", f"a host name or IP address, got {host!r}")
    port = table.get("port", 8080)
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ConfigError(source, "status.port", f"an integer from 1 to 65535, got {port!r}")
    token_file = table.get("token_file")
    if token_file is not None and (not isinstance(token_file, str) or not token_file):
        raise ConfigError(source, "status.token_file", f"a non-empty path, got {token_file!r}")
    return StatusConfig(enabled, host, port, token_file, source)
