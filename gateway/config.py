"""Gateway configuration: one TOML file, validated before anything starts.

Every error names the file, the dotted key and what was expected, and the gateway refuses to
start on an invalid file. Devices and patients are bound by pseudonymous ids only.
"""

from __future__ import annotations

import math
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from drivers.base import DeviceSpec
from drivers.registry import known_kinds, validate_options
from edge_models.alarms import Limit, Side
from gateway.errors import ConfigError
from gateway.model import AlarmPriority
from gateway.payload import COMPRESSIONS, ENCODINGS, check_available
from gateway.tls import key_permission_problem
from gateway.web.config import StatusConfig, parse_status_table

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


@dataclass(frozen=True, slots=True)
class MqttConfig:
    host: str = "127.0.0.1"
    port: int = 1883
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    client_id: str | None = None
    keepalive_s: int = 30
    session_expiry_s: int = 7 * 24 * 3600
    inflight_window: int = 64
    #: payload bytes of backlog rows (numerics, waves) in flight at most: an alarm published
    #: now waits behind at most this much on the connection (0 = no limit)
    inflight_backlog_bytes: int = 256 * 1024
    #: alarms on a second connection of their own (client id ``<client id>-urgent``)
    alarm_connection: bool = True
    tls: bool = False
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    tls_reload: bool = True  # reconnect with new cert/key/CA files without a restart
    tls_reload_interval_s: float = 5.0  # how often the files are checked for changes
    tls_server_name: str | None = None  # name to verify in the broker's certificate
    enabled: bool = True
    encoding: str = "json"  # or "cbor" for metered links
    compression: str = "none"  # or "zstd"


@dataclass(frozen=True, slots=True)
class BufferConfig:
    flush_interval_ms: int = 250
    max_batch_records: int = 2000
    queue_size: int = 10_000
    max_bytes: int = 1 << 30
    min_free_bytes: int = 100 << 20
    #: seal payloads at rest (gateway.sealing); defaults to on when key_file is set
    encrypt: bool = False
    key_file: str | None = None


@dataclass(frozen=True, slots=True)
class TwinConfig:
    tau_s: float = 30.0
    snapshot_interval_s: float = 5.0
    state_save_interval_s: float = 60.0
    stale_after_s: float = 60.0
    #: device-twin seconds per real second: 1 in service; an accelerated HIL run sets its
    #: speed so battery, drift and link models keep the clinical timing in scenario time
    device_time_scale: float = 1.0


@dataclass(frozen=True, slots=True)
class Patient:
    """A pseudonymous patient and the NEWS2 inputs that no device measures."""

    id: str
    bed: str = ""
    consciousness: str | None = None  # ACVPU letter; None = not assessed (NEWS2 partial)
    on_oxygen: bool | None = None  # None = unknown (NEWS2 partial)
    spo2_scale: int = 1


NO_STATUS_PAGE = StatusConfig(enabled=False)


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    gateway_id: str
    site: str
    data_dir: Path
    mqtt: MqttConfig
    buffer: BufferConfig
    twin: TwinConfig
    patients: tuple[Patient, ...]
    devices: tuple[DeviceSpec, ...]
    source: str = "<defaults>"
    alarms_enabled: bool = True
    alarm_limits: tuple[Limit, ...] = ()  # empty = the twin's adult ward defaults
    status: StatusConfig = NO_STATUS_PAGE
    #: how long the interpreter lets one thread hold the GIL (µs); 0 keeps Python's 5 ms.
    #: Short: the buffer's SQLite threads get the GIL back at once after each call
    switch_interval_us: int = 100
    #: how often freed heap memory goes back to the system (s, glibc); 0 = never
    heap_trim_interval_s: float = 60.0
    #: the cyclic collector's young threshold while the gateway runs (Python's is 700;
    #: 0 keeps it): queued records then die before they are walked (gateway/gc_tuning.py)
    gc_young_threshold: int = 10_000

    def patient_of(self, device_id: str) -> str:
        for device in self.devices:
            if device.id == device_id:
                return device.patient
        raise KeyError(device_id)


def load_config(path: str | Path) -> GatewayConfig:
    """Read and validate a TOML file; raise :class:`ConfigError` on any problem."""
    path = Path(path)
    name = str(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(name, "(file)", "file does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(name, "(syntax)", f"valid TOML ({exc})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(name, "(file)", f"a readable UTF-8 file ({exc})") from None
    return parse_config(raw, name, base_dir=path.parent)


def parse_config(
    raw: Mapping[str, Any], source: str, base_dir: Path | None = None
) -> GatewayConfig:
    """Validate an already-parsed TOML document."""
    r = ConfigReader(source)
    r.only(
        raw, "", {"gateway", "mqtt", "buffer", "twin", "alarms", "status", "patients", "devices"}
    )
    gw = r.table(raw, "gateway")
    r.only(
        gw,
        "gateway",
        {
            "id",
            "site",
            "data_dir",
            "switch_interval_us",
            "heap_trim_interval_s",
            "gc_young_threshold",
        },
    )
    gateway_id = r.ident(gw, "gateway.id")
    site = r.ident(gw, "gateway.site", default="default-site")
    data_dir = Path(r.string(gw, "gateway.data_dir", default="./edgetwin-data"))
    if not data_dir.is_absolute() and base_dir is not None and "data_dir" in gw:
        data_dir = (base_dir / data_dir).resolve()

    mq = r.table(raw, "mqtt", required=False)
    r.only(mq, "mqtt", set(MqttConfig.__dataclass_fields__))
    mqtt = MqttConfig(
        host=r.string(mq, "mqtt.host", default="127.0.0.1"),
        port=r.integer(mq, "mqtt.port", default=1883, lo=1, hi=65535),
        username=r.opt_string(mq, "mqtt.username"),
        password=r.opt_string(mq, "mqtt.password"),
        client_id=r.opt_string(mq, "mqtt.client_id"),
        keepalive_s=r.integer(mq, "mqtt.keepalive_s", default=30, lo=5, hi=3600),
        session_expiry_s=r.integer(mq, "mqtt.session_expiry_s", default=604800, lo=0, hi=2**32 - 1),
        inflight_window=r.integer(mq, "mqtt.inflight_window", default=64, lo=1, hi=1000),
        inflight_backlog_bytes=r.integer(
            mq, "mqtt.inflight_backlog_bytes", default=256 * 1024, lo=0, hi=1 << 30
        ),
        alarm_connection=r.boolean(mq, "mqtt.alarm_connection", default=True),
        tls=r.boolean(mq, "mqtt.tls", default=False),
        ca_file=r.opt_string(mq, "mqtt.ca_file"),
        cert_file=r.opt_string(mq, "mqtt.cert_file"),
        key_file=r.opt_string(mq, "mqtt.key_file"),
        tls_reload=r.boolean(mq, "mqtt.tls_reload", default=True),
        tls_reload_interval_s=r.number(
            mq, "mqtt.tls_reload_interval_s", default=5.0, lo=0.1, hi=3600
        ),
        tls_server_name=r.opt_string(mq, "mqtt.tls_server_name"),
        enabled=r.boolean(mq, "mqtt.enabled", default=True),
        encoding=r.choice(mq, "mqtt.encoding", ENCODINGS, "json"),
        compression=r.choice(mq, "mqtt.compression", COMPRESSIONS, "none"),
    )
    missing = check_available(mqtt.encoding, mqtt.compression)
    if missing:
        raise ConfigError(source, "mqtt.encoding", f"a codec available here: {missing}")
    if (mqtt.cert_file is None) != (mqtt.key_file is None):
        raise ConfigError(source, "mqtt.cert_file", "cert_file and key_file given together")
    mqtt = _check_tls(mqtt, source, base_dir)

    bu = r.table(raw, "buffer", required=False)
    r.only(bu, "buffer", set(BufferConfig.__dataclass_fields__))
    encrypt, key_file = _sealing(r, bu, base_dir)
    buffer = BufferConfig(
        flush_interval_ms=r.integer(bu, "buffer.flush_interval_ms", default=250, lo=1, hi=60000),
        max_batch_records=r.integer(bu, "buffer.max_batch_records", default=2000, lo=1, hi=10**6),
        queue_size=r.integer(bu, "buffer.queue_size", default=10000, lo=10, hi=10**7),
        max_bytes=r.integer(bu, "buffer.max_bytes", default=1 << 30, lo=1 << 20, hi=1 << 44),
        min_free_bytes=r.integer(bu, "buffer.min_free_bytes", default=100 << 20, lo=0, hi=1 << 44),
        encrypt=encrypt,
        key_file=key_file,
    )

    tw = r.table(raw, "twin", required=False)
    r.only(tw, "twin", set(TwinConfig.__dataclass_fields__))
    twin = TwinConfig(
        tau_s=r.number(tw, "twin.tau_s", default=30.0, lo=0.1, hi=86400),
        snapshot_interval_s=r.number(tw, "twin.snapshot_interval_s", default=5.0, lo=0.1, hi=3600),
        state_save_interval_s=r.number(
            tw, "twin.state_save_interval_s", default=60.0, lo=1.0, hi=86400
        ),
        stale_after_s=r.number(tw, "twin.stale_after_s", default=60.0, lo=1, hi=86400),
        device_time_scale=r.number(tw, "twin.device_time_scale", default=1.0, lo=1.0, hi=1000),
    )

    patients: list[Patient] = []
    for i, p in enumerate(r.array_of_tables(raw, "patients")):
        key = f"patients[{i}]"
        r.only(p, key, {"id", "bed", "consciousness", "on_oxygen", "spo2_scale"})
        consciousness = r.opt_string(p, f"{key}.consciousness")
        if consciousness is not None and consciousness not in ACVPU:
            raise ConfigError(source, f"{key}.consciousness", f"one of {', '.join(ACVPU)}")
        on_oxygen = p.get("on_oxygen")
        if on_oxygen is not None and not isinstance(on_oxygen, bool):
            raise ConfigError(source, f"{key}.on_oxygen", f"true or false, got {on_oxygen!r}")
        patients.append(
            Patient(
                r.ident(p, f"{key}.id"),
                r.string(p, f"{key}.bed", default=""),
                consciousness,
                on_oxygen,
                r.integer(p, f"{key}.spo2_scale", default=1, lo=1, hi=2),
            )
        )
    patient_ids = [p.id for p in patients]
    r.unique(patient_ids, "patients[].id")

    devices: list[DeviceSpec] = []
    for i, d in enumerate(r.array_of_tables(raw, "devices")):
        key = f"devices[{i}]"
        device_id = r.ident(d, f"{key}.id")
        kind = r.string(d, f"{key}.kind")
        if kind not in known_kinds():
            raise ConfigError(
                source, f"{key}.kind", f"one of {', '.join(known_kinds())}, got {kind!r}"
            )
        patient = r.string(d, f"{key}.patient")
        if patient not in patient_ids:
            raise ConfigError(
                source, f"{key}.patient", f"the id of a [[patients]] entry, got {patient!r}"
            )
        options = {k: v for k, v in d.items() if k not in {"id", "kind", "patient"}}
        spec = DeviceSpec(device_id, kind, patient, options)
        try:
            validate_options(spec)
        except ValueError as exc:
            option, _, expected = str(exc).partition(": ")
            raise ConfigError(source, f"{key}.{option}", expected or str(exc)) from None
        devices.append(spec)
    r.unique([d.id for d in devices], "devices[].id")
    if not devices:
        raise ConfigError(source, "devices", "at least one [[devices]] entry")

    al = r.table(raw, "alarms", required=False)
    r.only(al, "alarms", {"enabled", "limits"})
    limits = tuple(
        read_limit(r, lim, f"alarms.limits[{i}]")
        for i, lim in enumerate(r.array_of_tables(al, "limits"))
    )

    # the page runs when the file has a [status] table (the examples do); tests and
    # embedded configurations without one do not open a port
    status = (
        parse_status_table(r.table(raw, "status", required=False), source)
        if "status" in raw
        else NO_STATUS_PAGE
    )
    if status.token_file and not Path(status.token_file).is_absolute() and base_dir is not None:
        status = replace(status, token_file=str((base_dir / status.token_file).resolve()))
    status.read_token()  # a bad token file refuses to start, naming the key

    return GatewayConfig(
        gateway_id=gateway_id,
        switch_interval_us=r.integer(gw, "gateway.switch_interval_us", 100, 0, 100_000),
        heap_trim_interval_s=r.number(gw, "gateway.heap_trim_interval_s", 60.0, 0.0, 86_400.0),
        gc_young_threshold=r.integer(gw, "gateway.gc_young_threshold", 10_000, 0, 1_000_000),
        status=status,
        alarms_enabled=r.boolean(al, "alarms.enabled", default=True),
        alarm_limits=limits,
        site=site,
        data_dir=data_dir,
        mqtt=mqtt,
        buffer=buffer,
        twin=twin,
        patients=tuple(patients),
        devices=tuple(devices),
        source=source,
    )


def _sealing(
    r: ConfigReader, bu: Mapping[str, Any], base_dir: Path | None
) -> tuple[bool, str | None]:
    """``buffer.encrypt`` (default: on when ``buffer.key_file`` is set) and a usable key."""
    key_file = r.opt_string(bu, "buffer.key_file")
    if key_file is not None and not Path(key_file).is_absolute() and base_dir is not None:
        key_file = str((base_dir / key_file).resolve())
    encrypt = r.boolean(bu, "buffer.encrypt", default=key_file is not None)
    if encrypt:
        if key_file is None:
            raise r.fail(
                "buffer.key_file",
                "a key file when buffer.encrypt = true "
                "(create one with 'edgetwin keys init --key-file PATH')",
            )
        from gateway.sealing import load_key

        load_key(key_file)  # a missing, open or malformed key refuses to start, naming the file
    return encrypt, key_file


def _check_tls(mqtt: MqttConfig, source: str, base_dir: Path | None) -> MqttConfig:
    """TLS files: relative paths are relative to the config file; no credentials in the clear."""
    if not mqtt.tls:
        for key in ("ca_file", "cert_file", "key_file", "tls_server_name"):
            if getattr(mqtt, key) is not None:
                # a certificate without TLS would send patient data in the clear
                raise ConfigError(source, "mqtt.tls", f"true when mqtt.{key} is given")
        return mqtt
    if base_dir is not None:

        def resolve(path: str | None) -> str | None:
            # abspath, not resolve(): a symlink swapped on rotation must be followed anew
            return path if path is None else os.path.abspath(base_dir / path)

        mqtt = replace(
            mqtt,
            ca_file=resolve(mqtt.ca_file),
            cert_file=resolve(mqtt.cert_file),
            key_file=resolve(mqtt.key_file),
        )
    if mqtt.key_file is not None:
        problem = key_permission_problem(mqtt.key_file)
        if problem:
            raise ConfigError(source, "mqtt.key_file", f"a key only its owner can read: {problem}")
    return mqtt


ACVPU = ("A", "C", "V", "P", "U")
VITAL_NAMES = ("spo2", "pulse", "hr", "rr", "temp", "sbp")


def read_limit(r: ConfigReader, t: Mapping[str, Any], key: str) -> Limit:
    """One alarm limit table (``[[alarms.limits]]``, desired state) as a :class:`Limit`."""
    r.only(
        t,
        key,
        {
            "vital",
            "side",
            "threshold",
            "priority",
            "onset_delay_s",
            "clear_delay_s",
            "hysteresis",
            "latching",
            "level",
        },
    )
    vital = r.string(t, f"{key}.vital")
    if vital not in VITAL_NAMES:
        raise ConfigError(r.source, f"{key}.vital", f"one of {', '.join(VITAL_NAMES)}")
    side = r.string(t, f"{key}.side")
    if side not in ("low", "high"):
        raise ConfigError(r.source, f"{key}.side", "low or high")
    priority = r.string(t, f"{key}.priority")
    if priority not in ("high", "medium", "low"):
        raise ConfigError(r.source, f"{key}.priority", "high, medium or low")
    return Limit(
        vital,
        Side(side),
        r.number(t, f"{key}.threshold", default=math.nan, lo=-1e6, hi=1e6),
        AlarmPriority[priority.upper()],
        r.number(t, f"{key}.onset_delay_s", default=10.0, lo=0, hi=3600),
        r.number(t, f"{key}.clear_delay_s", default=10.0, lo=0, hi=3600),
        r.number(t, f"{key}.hysteresis", default=0.0, lo=0, hi=1e6),
        r.boolean(t, f"{key}.latching", default=False),
        r.integer(t, f"{key}.level", default=0, lo=0, hi=9),
    )


class ConfigReader:
    """Typed getters that raise :class:`ConfigError` naming file, key and expectation."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, key: str, expected: str) -> ConfigError:
        return ConfigError(self.source, key, expected)

    def only(self, table: Mapping[str, Any], where: str, allowed: set[str]) -> None:
        for key in table:
            if key not in allowed:
                dotted = f"{where}.{key}" if where else key
                raise self.fail(dotted, f"a known key (one of {', '.join(sorted(allowed))})")

    def table(self, raw: Mapping[str, Any], key: str, required: bool = True) -> Mapping[str, Any]:
        value = raw.get(key)
        if value is None:
            if required:
                raise self.fail(f"[{key}]", "a table, but it is missing")
            return {}
        if not isinstance(value, dict):
            raise self.fail(key, "a table")
        return value

    def array_of_tables(self, raw: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
        value = raw.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise self.fail(key, f"an array of tables ([[{key}]])")
        return value

    def string(self, t: Mapping[str, Any], key: str, default: str | None = None) -> str:
        leaf = key.rsplit(".", 1)[-1]
        if leaf not in t:
            if default is None:
                raise self.fail(key, "a string, but it is missing")
            return default
        value = t[leaf]
        if not isinstance(value, str) or not value:
            raise self.fail(key, f"a non-empty string, got {value!r}")
        return value

    def opt_string(self, t: Mapping[str, Any], key: str) -> str | None:
        leaf = key.rsplit(".", 1)[-1]
        return None if leaf not in t else self.string(t, key)

    def ident(self, t: Mapping[str, Any], key: str, default: str | None = None) -> str:
        value = self.string(t, key, default)
        if not _ID.match(value):
            raise self.fail(key, f"an id of letters, digits, '-' or '_' (max 64), got {value!r}")
        return value

    def integer(self, t: Mapping[str, Any], key: str, default: int, lo: int, hi: int) -> int:
        value = t.get(key.rsplit(".", 1)[-1], default)
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise self.fail(key, f"an integer from {lo} to {hi}, got {value!r}")
        return value

    def number(self, t: Mapping[str, Any], key: str, default: float, lo: float, hi: float) -> float:
        value = t.get(key.rsplit(".", 1)[-1], default)
        if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
            raise self.fail(key, f"a number from {lo:g} to {hi:g}, got {value!r}")
        return float(value)

    def choice(self, t: Mapping[str, Any], key: str, options: tuple[str, ...], default: str) -> str:
        value = t.get(key.rsplit(".", 1)[-1], default)
        if value not in options:
            raise self.fail(key, f"one of {', '.join(options)}, got {value!r}")
        return str(value)

    def boolean(self, t: Mapping[str, Any], key: str, default: bool) -> bool:
        value = t.get(key.rsplit(".", 1)[-1], default)
        if not isinstance(value, bool):
            raise self.fail(key, f"true or false, got {value!r}")
        return value

    def unique(self, ids: list[str], key: str) -> None:
        seen: set[str] = set()
        for value in ids:
            if value in seen:
                raise self.fail(key, f"unique ids, but {value!r} appears twice")
            seen.add(value)
