"""Encryption at rest for buffered payloads: AES-256-GCM, each blob bound to its row.

A sealed blob (33 bytes longer than the payload)::

    offset  size   field
    0       1      format version (1)
    1       4      key id: the first 4 bytes of SHA-256(key)
    5       12     nonce: 96 random bits, fresh for every seal
    17      n + 16 AES-256-GCM ciphertext of the n payload bytes, then the 128-bit tag

AES-GCM authenticates, besides the ciphertext, the 5-byte header followed by the caller's
associated data, which names the row the blob is stored in, built with :func:`row_aad`
(an outbox row: :func:`outbox_aad`). A blob copied into another row, stream or table, a
flipped bit anywhere, a rotated key or an unknown format all raise :class:`SealingError` with
a ``reason``; nothing is ever returned unauthenticated.

The key is 32 bytes in a file that only its owner may read or write (mode 0600 or stricter),
as 64 hex digits (what ``edgetwin keys init`` writes) or as 32 raw bytes.

Not covered here: keys held in a TPM (out of scope: the key is a file protected by file
permissions; put the data directory and key on an encrypted volume for more); replay of an
older copy of the same row from a backup of the file; whatever the buffer keeps outside
sealed payloads (stream ids, pseudonymous patient ids, sequence numbers, timestamps, and the
``latest`` / ``twin_latest`` tables unless the buffer seals them too). Random nonces stay
safe for 2**32 seals per key (NIST SP 800-38D); rotate the key well before that.
"""

from __future__ import annotations

import hashlib
import os
import stat
import time
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from gateway.errors import BufferError_, ConfigError

VERSION = 1
KEY_BYTES = 32
KEY_ID_BYTES = 4
NONCE_BYTES = 12
TAG_BYTES = 16
HEADER_BYTES = 1 + KEY_ID_BYTES
#: Bytes a sealed blob adds to its payload.
OVERHEAD = HEADER_BYTES + NONCE_BYTES + TAG_BYTES
#: The configuration key that names the key file (used in every key-file error).
CONFIG_KEY = "buffer.key_file"
_MAX_KEY_FILE = 4096  # read no more than this from a key file (guards a wrong path)
_AAD_MAGIC = b"ETR1"


class SealingError(BufferError_):
    """A sealed payload cannot be opened; ``reason`` says why (one of :data:`REASONS`).

    Part of the project's tree under :class:`~gateway.errors.BufferError_`; messages never
    show the payload.
    """

    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        super().__init__(f"sealed payload cannot be opened ({reason}): {detail}")


TRUNCATED, BAD_VERSION, WRONG_KEY, TAMPERED = "truncated", "version", "wrong_key", "tampered"
REASONS = (TRUNCATED, BAD_VERSION, WRONG_KEY, TAMPERED)


def key_id(key: bytes) -> bytes:
    """The 4-byte id of a key: the first 4 bytes of its SHA-256."""
    return hashlib.sha256(key).digest()[:KEY_ID_BYTES]


def row_aad(*fields: str | int) -> bytes:
    """Associated data naming a row: an unambiguous encoding of its fields, in order.

    Strings are length-prefixed UTF-8, integers 8-byte unsigned big-endian, each behind a
    type byte, so no two different field lists give the same bytes.
    """
    out = bytearray(_AAD_MAGIC)
    for value in fields:
        if isinstance(value, str):
            raw = value.encode("utf-8")
            out += b"s" + len(raw).to_bytes(4, "big") + raw
        elif isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 1 << 64:
            out += b"i" + value.to_bytes(8, "big")
        else:
            raise ValueError(f"row_aad takes strings and integers 0..2**64-1, got {value!r}")
    return bytes(out)


def outbox_aad(stream_id: str, kind: str, seq_first: int, seq_last: int) -> bytes:
    """The associated data of an outbox row (every reader and writer of the outbox uses this)."""
    return row_aad("outbox", stream_id, kind, seq_first, seq_last)


def load_key(path: str | Path) -> bytes:
    """Read a 256-bit key from a file only its owner can access.

    Raises :class:`ConfigError` naming the file, ``buffer.key_file`` and the fix.
    """
    name = str(path)
    create = f"create one with 'edgetwin keys init --key-file {name}'"
    try:
        fd = os.open(name, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise ConfigError(name, CONFIG_KEY, f"an existing key file; {create}") from None
    except OSError as exc:
        raise ConfigError(
            name, CONFIG_KEY, f"a key file this user can read ({exc.strerror})"
        ) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError(name, CONFIG_KEY, "a regular file holding the key")
        mode = stat.S_IMODE(info.st_mode)
        if mode & 0o077:
            raise ConfigError(
                name,
                CONFIG_KEY,
                f"a file only its owner can read (mode is {mode:04o}); "
                f"fix: chmod 600 {name} and chown it to the service user",
            )
        raw = os.read(fd, _MAX_KEY_FILE + 1)
    finally:
        os.close(fd)
    if len(raw) == KEY_BYTES:
        return raw
    text = raw.strip()
    if len(text) == 2 * KEY_BYTES:
        try:
            return bytes.fromhex(text.decode("ascii"))
        except ValueError:  # UnicodeDecodeError is a ValueError too
            pass
    size = f"more than {_MAX_KEY_FILE}" if len(raw) > _MAX_KEY_FILE else str(len(raw))
    raise ConfigError(
        name,
        CONFIG_KEY,
        f"a 256-bit key (64 hex digits or 32 raw bytes), but the file holds {size} bytes; "
        f"restore the right key file or {create}",
    )


class Sealer:
    """Seals and opens payloads with one AES-256 key."""

    __slots__ = ("_aead", "_header", "key_id")

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise ValueError(f"an AES-256 key is {KEY_BYTES} bytes, got {len(key)}")
        self._aead = AESGCM(key)
        self.key_id = key_id(key)
        self._header = bytes([VERSION]) + self.key_id

    @classmethod
    def from_key_file(cls, path: str | Path) -> Sealer:
        return cls(load_key(path))

    def __repr__(self) -> str:
        return f"Sealer(key_id={self.key_id.hex()})"

    def seal(self, data: bytes, aad: bytes) -> bytes:
        """Encrypt and authenticate ``data``, bound to ``aad`` (see :func:`row_aad`)."""
        nonce = os.urandom(NONCE_BYTES)
        return self._header + nonce + self._aead.encrypt(nonce, data, self._header + aad)

    def open(self, blob: bytes, aad: bytes) -> bytes:
        """The payload sealed in ``blob`` for ``aad``; :class:`SealingError` otherwise."""
        if len(blob) < OVERHEAD:
            raise SealingError(
                TRUNCATED, f"{len(blob)} bytes, shorter than the {OVERHEAD} bytes of any blob"
            )
        if blob[0] != VERSION:
            raise SealingError(
                BAD_VERSION,
                f"format version {blob[0]}; this EdgeTwin reads version {VERSION} "
                "(the row was written by another EdgeTwin, or is not sealed)",
            )
        sealed_with = bytes(blob[1:HEADER_BYTES])
        if sealed_with != self.key_id:
            raise SealingError(
                WRONG_KEY,
                f"sealed under key id {sealed_with.hex()}, but the configured key has id "
                f"{self.key_id.hex()}: the key was rotated or buffer.key_file names another "
                f"key; restore the key with id {sealed_with.hex()} to read these rows",
            )
        nonce = blob[HEADER_BYTES : HEADER_BYTES + NONCE_BYTES]
        try:
            return self._aead.decrypt(
                nonce, blob[HEADER_BYTES + NONCE_BYTES :], blob[:HEADER_BYTES] + aad
            )
        except InvalidTag:
            raise SealingError(
                TAMPERED,
                "authentication failed: the blob was altered or belongs to another row "
                "(stream, sequence numbers or table)",
            ) from None


def bench_sealing(payload_bytes: int = 4096, n: int = 2000) -> dict[str, float | int]:
    """Time ``n`` seals and opens of a ``payload_bytes`` payload against two plain copies.

    A measurement, not a test: ``slowdown_vs_memcpy`` is how many times longer seal + open
    takes than copying the payload twice (one copy each way) in the same interpreter.
    """
    if payload_bytes < 1 or n < 1:
        raise ValueError("bench_sealing needs payload_bytes >= 1 and n >= 1")
    sealer = Sealer(os.urandom(KEY_BYTES))
    payload = os.urandom(payload_bytes)
    aad = outbox_aad("bench-device.spo2", "numeric", 1, 60)
    blob = sealer.seal(payload, aad)  # warm up; then keep one blob at a time, as the buffer does
    t0 = time.perf_counter_ns()
    for _ in range(n):
        blob = sealer.seal(payload, aad)
    t1 = time.perf_counter_ns()
    for _ in range(n):
        sealer.open(blob, aad)
    t2 = time.perf_counter_ns()
    for _ in range(n):
        bytes(bytearray(payload))
    t3 = time.perf_counter_ns()
    total = payload_bytes * n
    seal_ns, open_ns, copy_ns = max(t1 - t0, 1), max(t2 - t1, 1), max(t3 - t2, 1)
    return {
        "payload_bytes": payload_bytes,
        "n": n,
        "overhead_bytes": OVERHEAD,
        "seal_us": seal_ns / n / 1e3,
        "open_us": open_ns / n / 1e3,
        "seal_open_bytes_per_s": total / ((seal_ns + open_ns) / 1e9),
        "memcpy_bytes_per_s": total / (copy_ns / 1e9),
        "slowdown_vs_memcpy": (seal_ns + open_ns) / copy_ns,
    }


__all__ = [
    "OVERHEAD",
    "REASONS",
    "Sealer",
    "SealingError",
    "bench_sealing",
    "key_id",
    "load_key",
    "outbox_aad",
    "row_aad",
]
