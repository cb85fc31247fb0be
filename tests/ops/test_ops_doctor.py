"""``edgetwin doctor``: each check's verdict and fix on real parts where possible (ptys, a
real mosquitto, a real TLS server with a self-signed certificate), fakes for what this
machine cannot show (BlueZ, adapters, timedatectl)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import socket
import ssl
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from ops_cli import edgetwin

from gateway import allocator
from gateway.broker import LocalBroker, free_port
from gateway.commands import doctor
from gateway.config import GatewayConfig, parse_config
from hil.pty_port import PtyPort


def config(tmp_path: Path, port: str, mqtt: dict[str, object], **buffer: int) -> GatewayConfig:
    return parse_config(
        {
            "gateway": {"id": "gw", "data_dir": str(tmp_path / "data")},
            "mqtt": mqtt,
            "buffer": buffer,
            "patients": [{"id": "p-1"}],
            "devices": [{"id": "oxi", "kind": "masimo", "patient": "p-1", "port": port}],
        },
        "<doctor test>",
    )


def write_toml(tmp_path: Path, port: str, mqtt: str = "enabled = false") -> Path:
    path = tmp_path / "gw.toml"
    path.write_text(
        f'[gateway]\nid = "gw"\ndata_dir = "data"\n\n[mqtt]\n{mqtt}\n\n'
        '[[patients]]\nid = "p-1"\n\n'
        f'[[devices]]\nid = "oxi"\nkind = "masimo"\npatient = "p-1"\nport = "{port}"\n'
    )
    return path


def fake_runner(answers: dict[str, tuple[int, str] | None]) -> doctor.Runner:
    def run(cmd: Sequence[str]) -> tuple[int, str] | None:
        return answers.get(cmd[0])

    return run


# -- python, bluez, adapter, clock, mosquitto -------------------------------------------------


def test_python_version() -> None:
    assert doctor.check_python().status == doctor.OK
    old = doctor.check_python((3, 9))
    assert old.status == doctor.FAIL and "3.11" in old.detail and old.fix


@pytest.mark.parametrize(
    ("answers", "needed", "status", "words"),
    [
        ({}, False, doctor.WARN, "apt install bluez"),
        ({}, True, doctor.FAIL, "apt install bluez"),
        ({"bluetoothctl": (0, "bluetoothctl: 5.50")}, True, doctor.FAIL, "bookworm"),
        (
            {"bluetoothctl": (0, "bluetoothctl: 5.66"), "busctl": (0, ":1.2 123 dbus")},
            True,
            doctor.FAIL,
            "systemctl enable --now bluetooth",
        ),
        (
            {"bluetoothctl": (0, "bluetoothctl: 5.66"), "busctl": (0, "org.bluez 512 bluetoothd")},
            True,
            doctor.OK,
            "",
        ),
    ],
)
def test_bluez(
    answers: dict[str, tuple[int, str] | None], needed: bool, status: str, words: str
) -> None:
    check = doctor.check_bluez(needed, fake_runner(answers))
    assert check.status == status, check
    assert words in check.fix


def test_adapter_present_missing_and_blocked(tmp_path: Path) -> None:
    sysfs, rfkill = tmp_path / "bt", tmp_path / "rfkill"
    sysfs.mkdir()
    rfkill.mkdir()
    missing = doctor.check_adapter(False, sysfs, rfkill)
    assert missing.status == doctor.WARN and "dtoverlay=disable-bt" in missing.fix
    assert doctor.check_adapter(True, sysfs, rfkill).status == doctor.FAIL
    (sysfs / "hci0").mkdir()
    assert doctor.check_adapter(True, sysfs, rfkill) == doctor.Check(
        "bluetooth adapter", doctor.OK, "hci0"
    )
    kill = rfkill / "rfkill0"
    kill.mkdir()
    (kill / "type").write_text("bluetooth\n")
    (kill / "soft").write_text("1\n")
    (kill / "hard").write_text("0\n")
    blocked = doctor.check_adapter(True, sysfs, rfkill)
    assert blocked.status == doctor.FAIL and blocked.fix == "sudo rfkill unblock bluetooth"


def test_clock(tmp_path: Path) -> None:
    flag = tmp_path / "synchronized"
    ntp = ["timedatectl"]
    yes = doctor.check_clock(fake_runner({ntp[0]: (0, "yes")}), flag)
    assert yes.status == doctor.OK
    no = doctor.check_clock(fake_runner({ntp[0]: (0, "no")}), flag)
    assert no.status == doctor.FAIL and "set-ntp true" in no.fix
    unknown = doctor.check_clock(fake_runner({ntp[0]: (1, "Failed to connect to bus")}), flag)
    assert unknown.status == doctor.WARN
    flag.touch()
    assert doctor.check_clock(fake_runner({}), flag).status == doctor.OK


def test_mosquitto_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(doctor, "find_mosquitto", lambda: None)
    check = doctor.check_mosquitto()
    assert check.status == doctor.WARN and "apt install mosquitto" in check.fix


def test_allocator() -> None:
    assert doctor.check_allocator(installed=True).status == doctor.OK
    missing = doctor.check_allocator(installed=False)
    assert missing.status == doctor.WARN and missing.fix == "sudo apt install libjemalloc2"
    assert doctor.check_allocator().status == (
        doctor.OK if allocator.jemalloc_installed() else doctor.WARN
    )


# -- serial ports ---------------------------------------------------------------------------


def test_serial_ports(tmp_path: Path, pty_port: PtyPort, monkeypatch: pytest.MonkeyPatch) -> None:
    assert doctor.check_serial_port("oxi", Path(pty_port.path)).status == doctor.OK
    gone = doctor.check_serial_port("oxi", tmp_path / "ttyUSB9")
    assert gone.status == doctor.FAIL and "/dev/serial/by-id" in gone.fix
    plain = tmp_path / "file"
    plain.write_text("")
    assert "not a serial device" in doctor.check_serial_port("oxi", plain).detail
    # as a user outside the device's group (root passes any access check, so fake access)
    monkeypatch.setattr(doctor.os, "access", lambda *a, **k: False)
    monkeypatch.setattr(doctor.os, "getgroups", list)
    denied = doctor.check_serial_port("oxi", Path(pty_port.path))
    assert denied.status == doctor.FAIL
    assert "sudo usermod -aG" in denied.fix and "log in again" in denied.fix


# -- broker ---------------------------------------------------------------------------------


def test_broker_reachable_and_not(tmp_path: Path, broker: LocalBroker) -> None:
    up = doctor.check_broker(config(tmp_path, "/dev/null", {"port": broker.port}))
    assert [c.status for c in up] == [doctor.OK]
    down = doctor.check_broker(config(tmp_path, "/dev/null", {"port": free_port()}))
    assert down[0].status == doctor.FAIL and "[mqtt] host and port" in down[0].fix
    off = doctor.check_broker(config(tmp_path, "/dev/null", {"enabled": False}))
    assert off[0].status == doctor.OK


def test_tls_against_a_plain_broker_fails(tmp_path: Path, broker: LocalBroker) -> None:
    checks = doctor.check_broker(
        config(tmp_path, "/dev/null", {"port": broker.port, "tls": True}), timeout_s=5
    )
    assert [c.status for c in checks] == [doctor.OK, doctor.FAIL]
    assert "TLS handshake" in checks[1].detail


def self_signed(folder: Path, name: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / f"{name}.crt", folder / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """A TLS listener on 127.0.0.1 that completes handshakes; yields (port, its cert)."""
    cert, key = self_signed(tmp_path, "broker")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            conn.settimeout(5)
            try:
                with context.wrap_socket(conn, server_side=True):
                    pass
            except (ssl.SSLError, OSError):
                conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1], cert
    stop.set()
    thread.join(5)
    listener.close()


def test_tls_handshake_verified_and_refused(tmp_path: Path, tls_server: tuple[int, Path]) -> None:
    port, cert = tls_server
    good = doctor.check_broker(
        config(tmp_path, "/dev/null", {"port": port, "tls": True, "ca_file": str(cert)})
    )
    assert [c.status for c in good] == [doctor.OK, doctor.OK], good
    assert "TLSv1" in good[1].detail
    other_ca, _ = self_signed(tmp_path, "someone-else")
    bad = doctor.check_broker(
        config(tmp_path, "/dev/null", {"port": port, "tls": True, "ca_file": str(other_ca)})
    )
    assert bad[1].status == doctor.FAIL and "certificate was refused" in bad[1].detail
    assert "ca_file" in bad[1].fix
    missing = doctor.check_broker(
        config(
            tmp_path,
            "/dev/null",
            {"port": port, "tls": True, "ca_file": str(tmp_path / "nope.pem")},
        )
    )
    assert missing[1].status == doctor.FAIL and "not readable" in missing[1].detail


# -- disk -----------------------------------------------------------------------------------


def test_disk_budget_against_free_space(tmp_path: Path) -> None:
    ok = doctor.check_disk(tmp_path / "data", config(tmp_path, "/dev/null", {}))
    assert [c.status for c in ok][-1] == doctor.OK
    huge = config(tmp_path, "/dev/null", {}, max_bytes=1 << 44)
    warn = doctor.check_disk(tmp_path / "data", huge)[-1]
    assert warn.status == doctor.WARN and "lower [buffer] max_bytes to" in warn.fix
    floor = config(tmp_path, "/dev/null", {}, min_free_bytes=1 << 44)
    fail = doctor.check_disk(tmp_path / "data", floor)[-1]
    assert fail.status == doctor.FAIL and "min_free_bytes" in fail.fix


def test_volatile_file_systems_are_flagged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mounts = tmp_path / "mounts"
    mounts.write_text(f"/dev/root / ext4 rw 0 0\ntmpfs {tmp_path} tmpfs rw 0 0\n")
    monkeypatch.setattr(doctor, "PROC_MOUNTS", mounts)
    assert doctor._fs_type(tmp_path / "x") == "tmpfs"
    assert doctor._fs_type(Path("/usr")) == "ext4"
    (check, *_) = doctor.check_disk(tmp_path / "data", None)
    assert check.status == doctor.WARN and "persistent storage" in check.fix


# -- the command ----------------------------------------------------------------------------


@pytest.fixture
def quiet_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine whose clock is synchronised and which has no BlueZ (not needed here)."""
    monkeypatch.setattr(doctor, "_run", fake_runner({"timedatectl": (0, "yes")}))


@pytest.mark.usefixtures("quiet_machine")
def test_command_exit_codes_and_json(
    tmp_path: Path,
    pty_port: PtyPort,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    good = write_toml(tmp_path, pty_port.path)
    assert edgetwin(monkeypatch, "doctor", "--config", str(good)) == 0
    out = capsys.readouterr().out
    assert "OK    config" in out and "0 failed" in out
    bad = write_toml(tmp_path, str(tmp_path / "ttyUSB7"))
    assert edgetwin(monkeypatch, "doctor", "--config", str(bad), "--json") == 1
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False
    (serial,) = [c for c in report["checks"] if c["name"] == "serial oxi"]
    assert serial["status"] == "FAIL" and "by-id" in serial["fix"]
    assert all(set(c) == {"name", "status", "detail", "fix"} for c in report["checks"])


@pytest.mark.usefixtures("quiet_machine")
def test_an_invalid_config_is_a_failure_with_its_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "gw.toml"
    path.write_text('[gateway]\nid = "gw"\n[mqtt]\nport = 99999\n')
    assert edgetwin(monkeypatch, "doctor", "--config", str(path)) == 1
    out = capsys.readouterr().out
    assert "FAIL  config" in out and "mqtt.port" in out
