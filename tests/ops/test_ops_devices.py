"""``edgetwin devices scan|bind``: the no-adapter path, scan output from advertisements, and
configuration edits that keep every other line and are validated before they land."""

from __future__ import annotations

import difflib
import stat
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import bleak
import pytest
from bleak.exc import BleakError
from ops_cli import edgetwin

from gateway.commands import devices
from gateway.config import load_config
from gateway.errors import ConfigError

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SIG = "-0000-1000-8000-00805f9b34fb"


def test_scan_without_an_adapter_says_so_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(devices, "BLUETOOTH_SYSFS", tmp_path / "no-bluetooth")
    assert edgetwin(monkeypatch, "devices", "scan", "--seconds", "1") == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    (line,) = captured.err.strip().splitlines()
    assert "no Bluetooth adapter found" in line and "edgetwin doctor" in line


class FakeScanner:
    """Stands in for bleak.BleakScanner: ``seen`` is what it "heard"."""

    seen: ClassVar[dict[str, tuple[Any, Any]]] = {}
    fail: ClassVar[Exception | None] = None

    async def __aenter__(self) -> FakeScanner:
        if self.fail is not None:
            raise self.fail
        self.discovered_devices_and_advertisement_data = dict(self.seen)
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None


def adv(name: str, rssi: int, *services: str) -> tuple[Any, Any]:
    return (
        SimpleNamespace(name=None),
        SimpleNamespace(local_name=name, rssi=rssi, service_uuids=list(services)),
    )


@pytest.fixture
def adapter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "bt" / "hci0").mkdir(parents=True)
    monkeypatch.setattr(devices, "BLUETOOTH_SYSFS", tmp_path / "bt")
    monkeypatch.setattr(bleak, "BleakScanner", FakeScanner)
    monkeypatch.setattr(FakeScanner, "fail", None)


@pytest.mark.usefixtures("adapter")
def test_scan_lists_health_devices_by_service_name(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(
        FakeScanner,
        "seen",
        {
            "AA:00:00:00:00:01": adv("Cuff", -70, f"00001810{SIG}", f"0000180f{SIG}"),
            "AA:00:00:00:00:02": adv("Strap", -50, "180d", "12345678-1234-1234-1234-123456789abc"),
            "AA:00:00:00:00:03": adv("Speaker", -40, f"0000110b{SIG}"),
        },
    )
    assert edgetwin(monkeypatch, "devices", "scan", "--seconds", "0.2") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split()[:3] == ["AA:00:00:00:00:02", "-50", "Strap"]
    assert lines[1].endswith("Heart Rate (+1 other)")
    assert lines[2].endswith("Blood Pressure, Battery")
    assert "Speaker" not in "\n".join(lines)
    assert lines[-1].startswith("2 shown, 1 without a health service hidden")


@pytest.mark.usefixtures("adapter")
def test_scan_when_bluez_is_not_there(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(FakeScanner, "fail", BleakError("org.bluez not found"))
    assert edgetwin(monkeypatch, "devices", "scan", "--seconds", "0.2") == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "Bluetooth is not available (org.bluez not found)" in line


def test_service_names() -> None:
    names, other, health = devices.describe_services(
        [f"0000180f{SIG}", "0x1822", "0000FEAA" + SIG, "not-a-uuid"]
    )
    assert names == ("Pulse Oximeter", "Battery") and other == 2 and health
    assert devices.describe_services(["180f"])[2] is False


# -- bind ------------------------------------------------------------------------------------


@pytest.fixture
def ward_toml(tmp_path: Path) -> Path:
    path = tmp_path / "ward.toml"
    path.write_text((EXAMPLES / "ward.toml").read_text())
    path.chmod(0o640)
    return path


def changed_lines(before: str, after: str) -> list[str]:
    return [
        d
        for d in difflib.unified_diff(before.splitlines(), after.splitlines(), n=0, lineterm="")
        if d[:1] in "+-" and not d.startswith(("+++", "---"))
    ]


def test_bind_a_new_device_to_a_new_patient(
    ward_toml: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    before = ward_toml.read_text()
    code = edgetwin(
        monkeypatch, "devices", "bind", "--config", str(ward_toml), "--device", "bed04-spo2",
        "--patient", "p-5c1e", "--bed", "bed-04", "--kind", "masimo", "--port", "/dev/ttyUSB3",
    )  # fmt: skip
    assert code == 0
    assert "added device bed04-spo2 -> patient p-5c1e" in capsys.readouterr().out
    after = ward_toml.read_text()
    assert all(line.startswith("+") for line in changed_lines(before, after))  # only additions
    cfg = load_config(ward_toml)
    dev = next(d for d in cfg.devices if d.id == "bed04-spo2")
    assert (dev.kind, dev.patient, dev.options["port"]) == ("masimo", "p-5c1e", "/dev/ttyUSB3")
    assert next(p for p in cfg.patients if p.id == "p-5c1e").bed == "bed-04"
    assert [p.id for p in cfg.patients][-1] == "p-5c1e"
    # comments are all still there, in order
    comments = [x for x in before.splitlines() if x.startswith("#")]
    assert [x for x in after.splitlines() if x.startswith("#")] == comments
    assert stat.S_IMODE(ward_toml.stat().st_mode) == 0o640
    assert not list(ward_toml.parent.glob(".ward.toml.edit-*"))


def test_rebind_changes_only_the_keys_it_must(
    ward_toml: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = ward_toml.read_text()
    old = load_config(ward_toml)
    code = edgetwin(
        monkeypatch, "devices", "bind", "--config", str(ward_toml), "--device", "bed02-spo2",
        "--patient", "p-0d47", "--port", "/dev/serial/by-id/usb-new-adapter",
    )  # fmt: skip
    assert code == 0
    after = ward_toml.read_text()
    assert changed_lines(before, after) == [
        '-patient = "p-81c2"',
        '-port = "/dev/serial/by-id/usb-FTDI_FT232R_USB_UART_A10K2XYZ-if00-port0"',
        '+patient = "p-0d47"',
        '+port = "/dev/serial/by-id/usb-new-adapter"',
    ]
    new = load_config(ward_toml)
    moved = next(d for d in new.devices if d.id == "bed02-spo2")
    assert moved.patient == "p-0d47" and moved.options["silence_timeout_s"] == 5.0
    assert [d for d in new.devices if d.id != "bed02-spo2"] == [
        d for d in old.devices if d.id != "bed02-spo2"
    ]


def test_an_invalid_result_leaves_the_file_untouched(
    ward_toml: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    before = ward_toml.read_bytes()
    code = edgetwin(
        monkeypatch, "devices", "bind", "--config", str(ward_toml), "--device", "bed05",
        "--patient", "p-3f9a", "--kind", "no-such-driver", "--port", "/dev/ttyUSB5",
    )  # fmt: skip
    assert code == 1
    err = capsys.readouterr().err
    assert str(ward_toml) in err and "devices[3].kind" in err
    assert ward_toml.read_bytes() == before
    code = edgetwin(
        monkeypatch, "devices", "bind", "--config", str(ward_toml), "--device", "bed05",
        "--patient", "p-3f9a",
    )  # fmt: skip
    assert code == 1 and "needs --kind and --port or --address" in capsys.readouterr().err
    code = edgetwin(
        monkeypatch, "devices", "bind", "--config", str(ward_toml), "--device", "bed01-spo2",
        "--patient", "not an id",
    )  # fmt: skip
    assert code == 1 and ward_toml.read_bytes() == before
    assert not list(ward_toml.parent.glob(".ward.toml.edit-*"))


def test_switching_port_to_address_and_comments_inside_the_block() -> None:
    text = (
        '# site config\n[gateway]\nid = "gw"\n\n[[patients]]\nid = "p-1"\n\n'
        '# the cuff\n[[devices]]\nid = "cuff"  # by the bed\nkind = "masimo"\n'
        'patient = "p-1"\nport = "/dev/ttyUSB0" # old cable\n# keep me\n\n'
        "# trailing comment of the file\n"
    )
    result = devices.bind_text(text, "t.toml", "cuff", "p-1", address="AA:BB:CC:DD:EE:FF")
    assert result.created_device is False and result.created_patient is False
    assert "port" not in result.text
    assert 'address = "AA:BB:CC:DD:EE:FF"' in result.text
    for kept in ("# site config", "# the cuff", 'id = "cuff"  # by the bed', "# keep me",
                 "# trailing comment of the file"):  # fmt: skip
        assert kept in result.text


def test_multiline_strings_that_look_like_tables_are_left_alone() -> None:
    text = (
        '[gateway]\nid = "gw"\nnote = """\n[[devices]]\nid = "fake"\n"""\n\n'
        '[[patients]]\nid = "p-1"\n'
    )
    result = devices.bind_text(
        text, "t.toml", "oxi", "p-1", kind="masimo", port='/dev/tty"odd\\name'
    )
    assert result.text.startswith(text.rstrip("\n"))
    assert result.text.endswith(
        '[[devices]]\nid = "oxi"\nkind = "masimo"\npatient = "p-1"\n'
        'port = "/dev/tty\\"odd\\\\name"\n'
    )


def test_inline_arrays_are_refused() -> None:
    text = 'patients = [{id = "p-1"}]\n[gateway]\nid = "gw"\n'
    with pytest.raises(ConfigError, match="inline arrays"):
        devices.bind_text(text, "t.toml", "oxi", "p-1", kind="masimo", port="/dev/x")
