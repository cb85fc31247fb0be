"""Fuzz the configuration loader: TOML syntax, every table's checks and each driver's options.

The input is the file's bytes; it is written to a scratch directory (relative paths in it
resolve there) and read with :func:`gateway.config.load_config`. Documented: any problem
raises :class:`~gateway.errors.ConfigError`, nothing else.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

if __name__ == "__main__":  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fuzz.harness import instrumented, main
from gateway.errors import ConfigError

with instrumented(__name__ == "__main__"):
    from gateway.config import load_config

TARGET = "config"
_SCRATCH: list[Path] = []


def _path() -> Path:
    """One scratch file per process, rewritten for every input."""
    if not _SCRATCH:
        _SCRATCH.append(Path(tempfile.mkdtemp(prefix="edgetwin-fuzz-config-")) / "edgetwin.toml")
    return _SCRATCH[0]


def decode(data: bytes) -> list[object]:
    """The loaded configuration, or its ConfigError as a value."""
    path = _path()
    path.write_bytes(data)
    try:
        return [load_config(path)]
    except ConfigError as exc:
        return [exc]


def fuzz_one(data: bytes) -> None:
    decode(data)


if __name__ == "__main__":
    main(fuzz_one)
