"""``edgetwin keys``: the key that seals the buffer at rest (see :mod:`gateway.sealing`).

``keys init --key-file PATH`` writes a fresh 256-bit key as 64 hex digits to a new file of
mode 0600 and never overwrites one: rows sealed with a lost key cannot be read again.
``keys id --key-file PATH`` prints a key's id (the one sealing errors name).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from gateway.sealing import KEY_BYTES, key_id, load_key

EXIT_OK = 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``keys`` sub-command."""
    parser = subparsers.add_parser("keys", help="create or inspect the buffer encryption key")
    sub = parser.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    init = sub.add_parser("init", help="create a new 256-bit key file (mode 0600)")
    init.add_argument("--key-file", required=True, type=Path, help="where to write the key")
    init.set_defaults(func=_cmd_init)
    show = sub.add_parser("id", help="print the id of the key in a key file")
    show.add_argument("--key-file", required=True, type=Path, help="the key file")
    show.set_defaults(func=_cmd_id)


def create_key_file(path: Path) -> bytes:
    """Write a new random key to ``path`` (mode 0600); refuse if ``path`` exists."""
    key = os.urandom(KEY_BYTES)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    except FileExistsError:
        raise FileExistsError(
            f"{path} exists; refusing to overwrite a key (rows sealed with it could never be "
            "read again): move it aside first if you really mean to replace it"
        ) from None
    try:
        os.fchmod(fd, 0o600)  # whatever the umask
        os.write(fd, key.hex().encode("ascii") + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    return key


def _cmd_init(args: argparse.Namespace) -> int:
    key = create_key_file(args.key_file)
    print(
        f"created {args.key_file} (key id {key_id(key).hex()}); keep a copy somewhere safe: "
        "without it the sealed buffer cannot be read; set [buffer] key_file to this path"
    )
    return EXIT_OK


def _cmd_id(args: argparse.Namespace) -> int:
    print(key_id(load_key(args.key_file)).hex())
    return EXIT_OK
