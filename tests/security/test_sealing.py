"""Buffer payloads sealed at rest (gateway.sealing): the blob format byte by byte, round
trips, tampering, rows swapped, wrong or rotated keys, key files, ``edgetwin keys`` and the
``[buffer] encrypt`` / ``key_file`` configuration."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.cli import main
from gateway.config import load_config, parse_config
from gateway.errors import BufferError_, ConfigError
from gateway.sealing import (
    BAD_VERSION,
    OVERHEAD,
    TAMPERED,
    TRUNCATED,
    WRONG_KEY,
    Sealer,
    SealingError,
    bench_sealing,
    key_id,
    load_key,
    outbox_aad,
    row_aad,
)

KEY = bytes(range(32))  # 00 01 02 ... 1f
OTHER_KEY = bytes(range(32, 64))
ROW = outbox_aad("bed01-spo2.spo2", "numeric", 1, 60)
FAST = settings(max_examples=60, deadline=None)


def write_key(path: Path, content: bytes, mode: int = 0o600) -> Path:
    path.write_bytes(content)
    path.chmod(mode)
    return path


# -- the format, from the module's specification ----------------------------------------------


def test_key_id_is_the_first_four_bytes_of_sha256() -> None:
    # SHA-256 of 32 zero bytes = 66687aad f862bd77 ... (FIPS 180-4 digest, computed elsewhere)
    assert key_id(bytes(32)) == bytes.fromhex("66687aad")
    assert Sealer(bytes(32)).key_id.hex() == "66687aad"


def test_row_aad_is_a_tagged_length_prefixed_encoding() -> None:
    expected = (
        b"ETR1"
        + b"s" + b"\x00\x00\x00\x06" + b"outbox"  # str: 's', u32 length, UTF-8
        + b"s" + b"\x00\x00\x00\x02" + b"\xc3\xa9"  # "é" is two UTF-8 bytes
        + b"i" + b"\x00\x00\x00\x00\x00\x00\x01\x02"  # int: 'i', 8 bytes big-endian
    )  # fmt: skip
    assert row_aad("outbox", "é", 258) == expected
    assert outbox_aad("a", "gap", 1, 2) == row_aad("outbox", "a", "gap", 1, 2)
    for bad in (-1, 1 << 64, True, 1.5):
        with pytest.raises(ValueError, match="row_aad"):
            row_aad("outbox", bad)  # type: ignore[arg-type]


def test_a_sealed_blob_has_the_documented_layout() -> None:
    blob = Sealer(KEY).seal(b'{"v":1}', ROW)
    assert len(blob) == 1 + 4 + 12 + 7 + 16 == 7 + OVERHEAD
    assert blob[0] == 1  # format version
    assert blob[1:5] == hashlib.sha256(KEY).digest()[:4]  # key id
    nonce, sealed = blob[5:17], blob[17:]
    # AES-256-GCM over the payload; associated data = the 5-byte header, then the row's aad
    assert AESGCM(KEY).decrypt(nonce, sealed, blob[:5] + ROW) == b'{"v":1}'


def test_opens_a_blob_built_by_hand_from_the_layout() -> None:
    header = b"\x01" + hashlib.sha256(KEY).digest()[:4]
    nonce = bytes.fromhex("00112233445566778899aabb")
    blob = header + nonce + AESGCM(KEY).encrypt(nonce, b"hello ward", header + ROW)
    assert Sealer(KEY).open(blob, ROW) == b"hello ward"
    # the header is authenticated: the same ciphertext without it in the aad does not open
    bare = header + nonce + AESGCM(KEY).encrypt(nonce, b"hello ward", ROW)
    with pytest.raises(SealingError) as err:
        Sealer(KEY).open(bare, ROW)
    assert err.value.reason == TAMPERED


def test_every_seal_draws_a_fresh_nonce() -> None:
    sealer = Sealer(KEY)
    blobs = [sealer.seal(b"same payload", ROW) for _ in range(50)]
    assert len({b[5:17] for b in blobs}) == 50
    assert {sealer.open(b, ROW) for b in blobs} == {b"same payload"}


# -- round trip, tamper, swapped rows -----------------------------------------------------------


rows = st.tuples(
    st.sampled_from(["outbox", "twin_latest"]),
    st.text(max_size=40),
    st.sampled_from(["numeric", "wave", "alarm", "gap"]),
    st.integers(0, 2**64 - 1),
    st.integers(0, 2**64 - 1),
)


@FAST
@given(data=st.binary(max_size=4096), row=rows)
def test_round_trip(data: bytes, row: tuple[str, str, str, int, int]) -> None:
    aad = row_aad(*row)
    sealer = Sealer(KEY)
    blob = sealer.seal(data, aad)
    assert len(blob) == len(data) + OVERHEAD
    assert sealer.open(blob, aad) == data
    assert Sealer(bytes(KEY)).open(blob, aad) == data  # the key, not the object, matters


def test_flipping_any_bit_of_a_blob_is_refused() -> None:
    sealer = Sealer(KEY)
    blob = sealer.seal(b"spo2 97", ROW)
    for i in range(len(blob)):
        for mask in (0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0xFF):
            bad = bytearray(blob)
            bad[i] ^= mask
            with pytest.raises(SealingError) as err:
                sealer.open(bytes(bad), ROW)
            expected = BAD_VERSION if i == 0 else WRONG_KEY if i < 5 else TAMPERED
            assert err.value.reason == expected, (i, mask)


def test_truncated_or_extended_blobs_are_refused() -> None:
    sealer = Sealer(KEY)
    blob = sealer.seal(b"pulse 72", ROW)
    for n in range(len(blob)):
        with pytest.raises(SealingError) as err:
            sealer.open(blob[:n], ROW)
        assert err.value.reason == (TRUNCATED if n < OVERHEAD else TAMPERED)
    with pytest.raises(SealingError) as err:
        sealer.open(blob + b"\x00", ROW)
    assert err.value.reason == TAMPERED


def test_a_blob_does_not_open_in_another_row() -> None:
    sealer = Sealer(KEY)
    here = ("outbox", "bed01-spo2.spo2", "numeric", 1, 60)
    blob = sealer.seal(b"batch 1..60", row_aad(*here))
    elsewhere = [
        ("outbox", "bed01-spo2.spo2", "numeric", 61, 120),  # next batch of the same stream
        ("outbox", "bed02-spo2.spo2", "numeric", 1, 60),  # same numbers, other stream
        ("outbox", "bed01-spo2.spo2", "gap", 1, 60),  # same range as a gap report
        ("twin_latest", "bed01-spo2.spo2", "numeric", 1, 60),  # other table
        ("outbox", "bed01-spo2.spo", "2numeric", 1, 60),  # same characters, other split
    ]
    for row in elsewhere:
        with pytest.raises(SealingError) as err:
            sealer.open(blob, row_aad(*row))
        assert err.value.reason == TAMPERED, row
    assert sealer.open(blob, row_aad(*here)) == b"batch 1..60"


@FAST
@given(a=rows, b=rows)
def test_swapping_rows_is_detected(
    a: tuple[str, str, str, int, int], b: tuple[str, str, str, int, int]
) -> None:
    sealer = Sealer(KEY)
    blob_a, blob_b = sealer.seal(b"row a", row_aad(*a)), sealer.seal(b"row b", row_aad(*b))
    if a == b:
        assert sealer.open(blob_b, row_aad(*a)) == b"row b"
        return
    assert row_aad(*a) != row_aad(*b)
    for blob, aad in ((blob_a, row_aad(*b)), (blob_b, row_aad(*a))):
        with pytest.raises(SealingError):
            sealer.open(blob, aad)


# -- keys -------------------------------------------------------------------------------------


def test_a_wrong_or_rotated_key_names_both_key_ids() -> None:
    blob = Sealer(KEY).seal(b"x", ROW)
    with pytest.raises(SealingError) as err:
        Sealer(OTHER_KEY).open(blob, ROW)
    assert err.value.reason == WRONG_KEY
    assert isinstance(err.value, BufferError_)
    assert key_id(KEY).hex() in str(err.value) and key_id(OTHER_KEY).hex() in str(err.value)
    assert "rotated" in str(err.value)
    # rewriting the key id to the other key's does not help: the header is authenticated
    forged = blob[:1] + key_id(OTHER_KEY) + blob[5:]
    with pytest.raises(SealingError) as err:
        Sealer(OTHER_KEY).open(forged, ROW)
    assert err.value.reason == TAMPERED


def test_unsealed_payloads_and_unknown_versions_are_refused() -> None:
    sealer = Sealer(KEY)
    plain = b'{"v":1,"gw":"g","samples":[' + b"0," * 20 + b"0]}"  # a row from before sealing
    with pytest.raises(SealingError) as err:
        sealer.open(plain, ROW)
    assert err.value.reason == BAD_VERSION and "not sealed" in str(err.value)
    future = b"\x02" + sealer.seal(b"x", ROW)[1:]
    with pytest.raises(SealingError) as err:
        sealer.open(future, ROW)
    assert err.value.reason == BAD_VERSION and "version 2" in str(err.value)


@settings(max_examples=300, deadline=None)
@given(blob=st.binary(max_size=200), keep_header=st.booleans())
def test_random_bytes_raise_only_sealing_errors(blob: bytes, keep_header: bool) -> None:
    sealer = Sealer(KEY)
    if keep_header:  # get past the cheap checks, into AES-GCM
        blob = b"\x01" + sealer.key_id + blob
    with pytest.raises(SealingError) as err:
        sealer.open(blob, ROW)
    assert err.value.reason in (TRUNCATED, BAD_VERSION, WRONG_KEY, TAMPERED)


def test_a_sealer_shows_its_key_id_never_its_key() -> None:
    text = repr(Sealer(KEY))
    assert key_id(KEY).hex() in text
    assert KEY.hex() not in text and str(KEY) not in text


def test_a_key_must_be_256_bits() -> None:
    for n in (0, 16, 24, 31, 33):
        with pytest.raises(ValueError, match="32 bytes"):
            Sealer(bytes(n))


def test_key_files_in_hex_or_raw_load(tmp_path: Path) -> None:
    assert load_key(write_key(tmp_path / "hex", KEY.hex().encode() + b"\n")) == KEY
    assert load_key(write_key(tmp_path / "HEX", b"  " + KEY.hex().upper().encode())) == KEY
    assert load_key(write_key(tmp_path / "raw", KEY, mode=0o400)) == KEY
    target = write_key(tmp_path / "target", KEY.hex().encode())
    (tmp_path / "link").symlink_to(target)  # e.g. a mounted secret: the target is checked
    assert Sealer.from_key_file(tmp_path / "link").key_id == key_id(KEY)


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620, 0o602, 0o660, 0o610])
def test_key_files_others_can_access_are_refused(tmp_path: Path, mode: int) -> None:
    path = write_key(tmp_path / "buffer.key", KEY.hex().encode(), mode)
    with pytest.raises(ConfigError) as err:
        load_key(path)
    assert err.value.file == str(path) and err.value.key == "buffer.key_file"
    assert f"{mode:04o}" in str(err.value) and f"chmod 600 {path}" in str(err.value)


@pytest.mark.parametrize(
    ("content", "size"),
    [
        (b"", "0"),
        (bytes(31), "31"),
        (bytes(33), "33"),
        (KEY.hex()[:-1].encode() + b"\n", "64"),  # 63 hex digits
        (KEY.hex().encode() + b"00", "66"),
        (b"z" * 64, "64"),  # 64 characters, not hex
        ("é".encode() * 32, "64"),
        (b"0" * 5000, "more than 4096"),
    ],
)
def test_key_files_of_the_wrong_length_are_refused(
    tmp_path: Path, content: bytes, size: str
) -> None:
    path = write_key(tmp_path / "buffer.key", content)
    with pytest.raises(ConfigError) as err:
        load_key(path)
    assert err.value.file == str(path)
    assert f"holds {size} bytes" in str(err.value) and "keys init" in str(err.value)


def test_missing_key_files_and_directories_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"keys init --key-file .*nope"):
        load_key(tmp_path / "nope")
    folder = tmp_path / "dir"
    folder.mkdir(mode=0o700)
    with pytest.raises(ConfigError, match="regular file"):
        load_key(folder)


# -- edgetwin keys ------------------------------------------------------------------------------


def test_keys_init_writes_a_private_key_and_never_overwrites(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "buffer.key"
    old_umask = os.umask(0)  # even with no umask the file is 0600
    try:
        assert main(["keys", "init", "--key-file", str(path)]) == 0
    finally:
        os.umask(old_umask)
    assert path.stat().st_mode & 0o777 == 0o600
    text = path.read_bytes()
    assert len(text) == 65 and text.endswith(b"\n")
    key = load_key(path)
    assert key.hex().encode() == text.strip()
    assert key_id(key).hex() in capsys.readouterr().out
    assert main(["keys", "id", "--key-file", str(path)]) == 0
    assert capsys.readouterr().out.strip() == key_id(key).hex()
    # a second init refuses and leaves the key alone
    assert main(["keys", "init", "--key-file", str(path)]) == 1
    assert "refusing to overwrite" in capsys.readouterr().err
    assert path.read_bytes() == text
    # two new files get two different keys
    assert main(["keys", "init", "--key-file", str(tmp_path / "second.key")]) == 0
    assert load_key(tmp_path / "second.key") != key


def test_keys_id_reports_a_bad_key_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_key(tmp_path / "k", KEY.hex().encode(), 0o644)
    assert main(["keys", "id", "--key-file", str(path)]) == 1
    assert "chmod 600" in capsys.readouterr().err


# -- [buffer] encrypt / key_file ------------------------------------------------------------------


def raw_config(**buffer: Any) -> dict[str, Any]:
    return {
        "gateway": {"id": "gw-1"},
        "buffer": buffer,
        "patients": [{"id": "p-1"}],
        "devices": [{"id": "ox-1", "kind": "masimo", "patient": "p-1", "port": "/dev/ttyUSB0"}],
    }


def test_encryption_is_on_exactly_when_a_key_file_is_configured(tmp_path: Path) -> None:
    key = write_key(tmp_path / "buffer.key", KEY.hex().encode())
    off = parse_config(raw_config(), "t.toml").buffer
    assert (off.encrypt, off.key_file) == (False, None)
    on = parse_config(raw_config(key_file=str(key)), "t.toml").buffer
    assert (on.encrypt, on.key_file) == (True, str(key))
    opted_out = parse_config(raw_config(key_file=str(key), encrypt=False), "t.toml").buffer
    assert (opted_out.encrypt, opted_out.key_file) == (False, str(key))


def test_a_relative_key_file_is_beside_the_configuration(tmp_path: Path) -> None:
    write_key(tmp_path / "buffer.key", KEY.hex().encode())
    toml = tmp_path / "gw.toml"
    toml.write_text(
        '[gateway]\nid = "gw-1"\n[buffer]\nkey_file = "buffer.key"\n'
        '[[patients]]\nid = "p-1"\n'
        '[[devices]]\nid = "ox-1"\nkind = "masimo"\npatient = "p-1"\nport = "/dev/ttyUSB0"\n'
    )
    cfg = load_config(toml)
    assert cfg.buffer.encrypt and cfg.buffer.key_file == str(tmp_path / "buffer.key")


def test_encryption_without_a_usable_key_refuses_to_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(raw_config(encrypt=True), "t.toml")
    assert (err.value.file, err.value.key) == ("t.toml", "buffer.key_file")
    assert "keys init" in str(err.value)
    with pytest.raises(ConfigError) as err:
        parse_config(raw_config(encrypt="yes"), "t.toml")
    assert err.value.key == "buffer.encrypt"
    loose = write_key(tmp_path / "loose.key", KEY.hex().encode(), 0o644)
    with pytest.raises(ConfigError) as err:
        parse_config(raw_config(key_file=str(loose)), "t.toml")
    assert err.value.file == str(loose) and "chmod 600" in str(err.value)
    with pytest.raises(ConfigError) as err:
        parse_config(raw_config(key_file=str(tmp_path / "absent.key")), "t.toml")
    assert err.value.key == "buffer.key_file"


# -- the cost -------------------------------------------------------------------------------------


def test_bench_sealing_reports_consistent_figures() -> None:
    r = bench_sealing(payload_bytes=1024, n=50)
    assert (r["payload_bytes"], r["n"], r["overhead_bytes"]) == (1024, 50, OVERHEAD)
    assert all(r[k] > 0 for k in ("seal_us", "open_us", "seal_open_bytes_per_s"))
    # the ratio is the two throughputs divided, and the time per op matches the throughput
    assert r["slowdown_vs_memcpy"] == pytest.approx(
        r["memcpy_bytes_per_s"] / r["seal_open_bytes_per_s"]
    )
    assert r["seal_open_bytes_per_s"] == pytest.approx(1024 / ((r["seal_us"] + r["open_us"]) / 1e6))
    for bad in ({"payload_bytes": 0, "n": 1}, {"payload_bytes": 1, "n": 0}):
        with pytest.raises(ValueError, match="bench_sealing"):
            bench_sealing(**bad)
