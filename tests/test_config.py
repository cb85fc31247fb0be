"""Configuration validation: every error names the file, the key and the expectation."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gateway.config import load_config
from gateway.errors import ConfigError

EXAMPLES = Path(__file__).parent.parent / "examples"

VALID = """
[gateway]
id = "ward7-gw1"
site = "general-hospital"
data_dir = "data"

[[patients]]
id = "p-3f9a"
bed = "bed-01"

[[devices]]
id = "bed01-oxi"
kind = "masimo"
patient = "p-3f9a"
port = "/dev/ttyUSB0"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gw.toml"
    path.write_text(text)
    return path


def test_valid_file_loads_with_defaults(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, VALID))
    assert cfg.gateway_id == "ward7-gw1"
    assert cfg.mqtt.port == 1883
    assert cfg.data_dir == (tmp_path / "data").resolve()
    assert cfg.devices[0].options == {"port": "/dev/ttyUSB0"}
    assert cfg.patient_of("bed01-oxi") == "p-3f9a"


@pytest.mark.parametrize("example", sorted(EXAMPLES.glob("*.toml")), ids=lambda p: p.name)
def test_example_configs_are_valid(example: Path, tmp_path: Path) -> None:
    text = example.read_text()
    if "/etc/edgetwin/buffer.key" in text:  # the installed key file: a fresh one here
        key = tmp_path / "buffer.key"
        key.write_text(os.urandom(32).hex())
        key.chmod(0o600)
        text = text.replace("/etc/edgetwin/buffer.key", str(key))
    copy = tmp_path / example.name
    copy.write_text(text)
    cfg = load_config(copy)
    assert cfg.devices
    if example.name == "home-kit.toml":  # patient data on an SD card in a home: sealed
        assert cfg.buffer.encrypt


@pytest.mark.parametrize(
    ("change", "key", "expected"),
    [
        (('port = "/dev/ttyUSB0"', 'port = "/dev/ttyUSB0"\nbaud = 1'), None, None),
        (('kind = "masimo"', 'kind = "toaster"'), "devices[0].kind", "one of"),
        (('patient = "p-3f9a"', 'patient = "p-nobody"'), "devices[0].patient", "[[patients]]"),
        (('id = "ward7-gw1"', 'id = "ward 7!"'), "gateway.id", "letters, digits"),
        (("[gateway]", "[mqtt]\nport = 70000\n[gateway]"), "mqtt.port", "integer from 1 to 65535"),
        (("[gateway]", "[mqtt]\nhots = 'x'\n[gateway]"), "mqtt.hots", "a known key"),
        (
            ("[gateway]", "[buffer]\nflush_interval_ms = true\n[gateway]"),
            "buffer.flush_interval_ms",
            "integer",
        ),
        (('site = "general-hospital"', "site = 7"), "gateway.site", "non-empty string"),
    ],
)
def test_errors_name_file_key_and_expectation(
    tmp_path: Path, change: tuple[str, str], key: str | None, expected: str | None
) -> None:
    path = write(tmp_path, VALID.replace(*change))
    if key is None:
        load_config(path)  # unknown device options are the driver's to read
        return
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.key == key
    assert expected in info.value.expected
    assert str(path) in str(info.value)


def test_duplicate_device_ids_are_refused(tmp_path: Path) -> None:
    text = VALID + VALID[VALID.index("[[devices]]") :]
    with pytest.raises(ConfigError, match=r"devices\[\]\.id.*twice"):
        load_config(write(tmp_path, text))


def test_syntax_error_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="valid TOML"):
        load_config(write(tmp_path, "[gateway"))
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml")


def test_driver_options_are_checked_at_load_time(tmp_path: Path) -> None:
    text = VALID.replace('kind = "masimo"', 'kind = "datex-s5"').replace(
        'port = "/dev/ttyUSB0"', 'port = "/dev/ttyUSB0"\nwaves = ["ECG1", "NOPE"]'
    )
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    assert info.value.key == "devices[0].waves"
    assert "unknown waveform 'NOPE'" in info.value.expected
    nonin = VALID.replace('kind = "masimo"', 'kind = "nonin"').replace(
        'port = "/dev/ttyUSB0"', 'port = "/dev/ttyUSB0"\nformat = 2'
    )
    with pytest.raises(ConfigError, match=r"devices\[0\]\.format: 7 or 8"):
        load_config(write(tmp_path, nonin))
