"""Local checks of the TLS files, before any connection: permissions, validity, key match.

Also the [mqtt] TLS keys of the configuration file.
"""

from __future__ import annotations

import datetime as dt
import os
import ssl
import stat
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from hypothesis import given, settings
from hypothesis import strategies as st
from tls_support import Issued, Pki

from gateway import tls
from gateway.config import MqttConfig, parse_config
from gateway.errors import ConfigError, TlsError

UTC = dt.UTC
T0 = dt.datetime(2030, 6, 1, tzinfo=UTC)


def cfg_for(pki: Pki, issued: Issued | None, **changes: Any) -> MqttConfig:
    base = MqttConfig(
        tls=True,
        ca_file=str(pki.ca.cert_path),
        cert_file=str(issued.cert) if issued else None,
        key_file=str(issued.key) if issued else None,
    )
    return replace(base, **changes)


def test_every_mode_with_group_or_other_bits_is_refused(tmp_path: Path) -> None:
    key = tmp_path / "k.pem"
    key.write_bytes(b"x")
    for mode in range(0o1000):
        key.chmod(mode)
        problem = tls.key_permission_problem(str(key))
        assert (problem is not None) == bool(mode & 0o077), oct(mode)
        if problem:
            assert f"mode {mode:04o}" in problem and f"chmod 600 {key}" in problem
    assert tls.key_permission_problem(str(tmp_path / "missing")) is None


def test_a_readable_key_is_refused_naming_file_and_fix(pki: Pki, tmp_path: Path) -> None:
    issued = pki.gw_a.copy_to(tmp_path, "gw")
    issued.key.chmod(0o604)
    with pytest.raises(TlsError, match=rf"mqtt\.key_file.*{issued.key}.*chmod 600"):
        tls.build_context(cfg_for(pki, issued))


def test_a_good_pair_builds_a_mutual_tls_context(pki: Pki) -> None:
    context = tls.build_context(cfg_for(pki, pki.gw_a, tls_server_name="broker.example"))
    assert isinstance(context, ssl.SSLContext)
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert context.server_name == "broker.example"
    info = tls.read_certificate(str(pki.gw_a.cert))
    assert info.common_name == "gw-a" and info.subject == "CN=gw-a"


def test_a_key_of_another_certificate_is_refused(pki: Pki, tmp_path: Path) -> None:
    mixed = Issued(pki.gw_a.cert, pki.gw_b.key)
    with pytest.raises(TlsError, match=r"does not belong to mqtt\.cert_file"):
        tls.build_context(cfg_for(pki, mixed))


def test_an_encrypted_key_is_refused_instead_of_prompting(pki: Pki, tmp_path: Path) -> None:
    key = serialization.load_pem_private_key(pki.gw_a.key.read_bytes(), password=None)
    encrypted = tmp_path / "enc.key"
    encrypted.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"),
        )
    )
    encrypted.chmod(0o600)
    with pytest.raises(TlsError, match="is encrypted"):
        tls.build_context(cfg_for(pki, Issued(pki.gw_a.cert, encrypted)))


def test_an_unusable_ca_file_names_the_key(pki: Pki, tmp_path: Path) -> None:
    with pytest.raises(TlsError, match=r"mqtt\.ca_file .*nope\.pem"):
        tls.build_context(cfg_for(pki, pki.gw_a, ca_file=str(tmp_path / "nope.pem")))
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate")
    with pytest.raises(TlsError, match=r"mqtt\.ca_file"):
        tls.build_context(cfg_for(pki, pki.gw_a, ca_file=str(garbage)))


def test_a_certificate_for_another_gateway_is_warned_about(
    pki: Pki, caplog: pytest.LogCaptureFixture
) -> None:
    tls.build_context(cfg_for(pki, pki.gw_b), expected_cn="gw-a")
    assert any("CN=gw-b, not to this gateway (gw-a)" in r.getMessage() for r in caplog.records)


def _info(
    not_before: dt.datetime, not_after: dt.datetime, serial: int = 1, path: str = "c.pem"
) -> tls.CertificateInfo:
    return tls.CertificateInfo(path, "CN=x", "x", serial, not_before, not_after)


@settings(max_examples=200, deadline=None)
@given(
    start=st.integers(-(10**6), 10**6),
    length=st.integers(1, 10**7),
    now=st.integers(-2 * 10**7, 2 * 10**7),
)
def test_validity_is_refused_exactly_outside_the_window(start: int, length: int, now: int) -> None:
    before = T0 + dt.timedelta(seconds=start)
    after = before + dt.timedelta(seconds=length)
    moment = T0 + dt.timedelta(seconds=now)
    info = _info(before, after, serial=start * 10**8 + length)
    if moment >= after:
        with pytest.raises(TlsError, match="expired on"):
            tls.check_validity(info, moment)
    elif moment < before:
        with pytest.raises(TlsError, match="not valid before"):
            tls.check_validity(info, moment)
    else:
        tls.check_validity(info, moment)


def test_the_expiry_warning_starts_thirty_days_before() -> None:
    after = T0 + dt.timedelta(days=365)
    count = tls.METRICS.expiry_warnings
    info = _info(T0, after, path="expiry-window.pem")
    tls.check_validity(info, after - dt.timedelta(days=30))
    assert tls.METRICS.expiry_warnings == count
    tls.check_validity(info, after - dt.timedelta(days=29, hours=23))
    assert tls.METRICS.expiry_warnings == count + 1


@settings(max_examples=150, deadline=None)
@given(data=st.binary(max_size=600))
def test_random_certificate_bytes_raise_only_tls_error(
    data: bytes, tmp_path_factory: pytest.TempPathFactory
) -> None:
    folder = tmp_path_factory.mktemp("fuzz")
    cert = folder / "c.pem"
    cert.write_bytes(data)
    with pytest.raises(TlsError):
        tls.read_certificate(str(cert))
    framed = folder / "framed.pem"
    framed.write_bytes(b"-----BEGIN CERTIFICATE-----\n" + data + b"\n-----END CERTIFICATE-----\n")
    with pytest.raises(TlsError):
        tls.read_certificate(str(framed))


@settings(max_examples=150, deadline=None)
@given(data=st.binary(max_size=600))
def test_random_key_bytes_raise_only_tls_error(
    data: bytes, pki: Pki, tmp_path_factory: pytest.TempPathFactory
) -> None:
    key = tmp_path_factory.mktemp("fuzz") / "k.pem"
    fd = os.open(key, os.O_WRONLY | os.O_CREAT, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(b"-----BEGIN PRIVATE KEY-----\n" + data + b"\n-----END PRIVATE KEY-----\n")
    with pytest.raises(TlsError, match=r"mqtt\.key_file"):
        tls.check_key_matches(str(pki.gw_a.cert), str(key))


def test_the_file_stamp_changes_on_replace_and_on_rewrite(pki: Pki, tmp_path: Path) -> None:
    issued = pki.gw_a.copy_to(tmp_path, "gw")
    cfg = cfg_for(pki, issued)
    first = tls.stamp(cfg)
    assert None not in first and tls.stamp(cfg) == first
    replacement = tmp_path / "new.crt"
    replacement.write_bytes(pki.gw_a_renewed.cert.read_bytes())
    os.replace(replacement, issued.cert)  # new inode
    second = tls.stamp(cfg)
    assert second[1] != first[1] and second[0] == first[0] and second[2] == first[2]
    issued.key.write_bytes(pki.gw_a_renewed.key.read_bytes())  # rewritten in place
    os.utime(issued.key, ns=(0, 1))  # even with an old mtime, inode or size or mtime differ
    assert tls.stamp(cfg)[2] != second[2]
    issued.key.unlink()
    assert tls.stamp(cfg)[2] is None


# -- configuration ------------------------------------------------------------------------


def _raw(mqtt: dict[str, object]) -> dict[str, object]:
    return {
        "gateway": {"id": "gw-a"},
        "mqtt": mqtt,
        "patients": [{"id": "p-1"}],
        "devices": [{"id": "d", "kind": "synthetic", "patient": "p-1"}],
    }


def test_config_reads_the_tls_keys_and_resolves_relative_paths(pki: Pki, tmp_path: Path) -> None:
    issued = pki.gw_a.copy_to(tmp_path / "etc", "gw-a")
    cfg = parse_config(
        _raw(
            {
                "tls": True,
                "ca_file": "/etc/ssl/ca.pem",
                "cert_file": "etc/gw-a.crt",
                "key_file": "etc/gw-a.key",
                "tls_reload": False,
                "tls_reload_interval_s": 2.5,
                "tls_server_name": "mqtt.example",
            }
        ),
        "gw.toml",
        base_dir=tmp_path,
    ).mqtt
    assert (cfg.cert_file, cfg.key_file) == (str(issued.cert), str(issued.key))
    assert cfg.ca_file == "/etc/ssl/ca.pem"
    assert (cfg.tls_reload, cfg.tls_reload_interval_s, cfg.tls_server_name) == (
        False,
        2.5,
        "mqtt.example",
    )
    defaults = parse_config(_raw({}), "gw.toml").mqtt
    assert (defaults.tls_reload, defaults.tls_reload_interval_s) == (True, 5.0)


def test_config_refuses_a_readable_key_naming_file_key_and_fix(pki: Pki, tmp_path: Path) -> None:
    issued = pki.gw_a.copy_to(tmp_path, "gw-a")
    issued.key.chmod(0o644)
    raw = _raw({"tls": True, "cert_file": str(issued.cert), "key_file": str(issued.key)})
    with pytest.raises(ConfigError, match=r"gw\.toml: mqtt\.key_file: .*chmod 600") as refused:
        parse_config(raw, "gw.toml")
    assert refused.value.key == "mqtt.key_file"
    issued.key.chmod(stat.S_IRUSR | stat.S_IWUSR)
    assert parse_config(raw, "gw.toml").mqtt.key_file == str(issued.key)


@pytest.mark.parametrize("key", ["ca_file", "cert_file", "tls_server_name"])
def test_config_refuses_tls_files_without_tls(key: str) -> None:
    mqtt: dict[str, object] = {key: "x"}
    if key == "cert_file":
        mqtt["key_file"] = "y"
    with pytest.raises(ConfigError, match=rf"mqtt\.tls: true when mqtt\.{key} is given"):
        parse_config(_raw(mqtt), "gw.toml")


@pytest.mark.parametrize(
    ("key", "value"), [("tls_reload", "yes"), ("tls_reload_interval_s", 0), ("tls_server_name", "")]
)
def test_config_refuses_bad_tls_values(key: str, value: object) -> None:
    with pytest.raises(ConfigError, match=rf"mqtt\.{key}"):
        parse_config(_raw({"tls": True, key: value}), "gw.toml")
