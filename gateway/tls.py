"""Mutual TLS for the uplink: checked credentials, a strict client context, clear errors, reload.

Before a connection is tried, the files named in ``[mqtt]`` are checked: the key must be
readable by its owner only, the client certificate valid now and matching the key. The
context (TLS 1.2 or newer) records the TLS failures that paho meets inside aiomqtt, so the
uplink can say what went wrong (:func:`handshake_error`) instead of "operation timed out".

Rotation: :class:`CredentialWatch` notices new files (inode, size, mtime polled every few
seconds) and :func:`request_reload` (the SIGHUP hook); the uplink then reconnects with a new
context. New files are validated first, so a half-written certificate never drops a working
connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import socket
import ssl
import stat
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from gateway.errors import TlsError

if TYPE_CHECKING:
    from gateway.config import MqttConfig

log = logging.getLogger(__name__)

#: a client certificate closer than this to its notAfter is logged and counted
EXPIRY_WARNING = dt.timedelta(days=30)
MINIMUM_VERSION = ssl.TLSVersion.TLSv1_2


@dataclass
class TlsMetrics:
    """Process-wide counters and gauges for the metrics endpoint."""

    reloads: int = 0  # reconnects because the files changed or a reload was requested
    expiry_warnings: int = 0  # distinct client certificates loaded within EXPIRY_WARNING
    handshake_failures: int = 0
    cert_not_after_s: float = 0.0  # Unix time of the client certificate's notAfter (gauge)
    last_error: str = ""


METRICS = TlsMetrics()
_warned_expiry: set[tuple[str, int]] = set()


@dataclass(frozen=True, slots=True)
class CertificateInfo:
    path: str
    subject: str  # RFC 4514
    common_name: str | None
    serial: int
    not_before: dt.datetime
    not_after: dt.datetime

    def remaining(self, now: dt.datetime) -> dt.timedelta:
        return self.not_after - now


def read_certificate(path: str, key: str = "mqtt.cert_file") -> CertificateInfo:
    """The first (leaf) certificate of a PEM file."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise TlsError(f"{key} {path} is not readable: {exc.strerror or exc}") from None
    try:
        leaf = x509.load_pem_x509_certificates(data)[0]
    except (ValueError, IndexError):
        raise TlsError(f"{key} {path} holds no PEM certificate") from None
    names = leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    cn = names[0].value if names else None
    return CertificateInfo(
        path=path,
        subject=leaf.subject.rfc4514_string(),
        common_name=cn if isinstance(cn, str) else None,
        serial=leaf.serial_number,
        not_before=leaf.not_valid_before_utc,
        not_after=leaf.not_valid_after_utc,
    )


def key_permission_problem(path: str) -> str | None:
    """Why the key file at ``path`` is too open, or None (missing files are not judged here)."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None
    if stat.S_IMODE(mode) & 0o077:
        return (
            f"{path} has mode {stat.S_IMODE(mode):04o}, so other users can read the private "
            f"key; run: chmod 600 {path} (owned by the service user)"
        )
    return None


def check_key_file(path: str) -> None:
    problem = key_permission_problem(path)
    if problem:
        raise TlsError(f"refusing mqtt.key_file: {problem}")


def check_validity(info: CertificateInfo, now: dt.datetime, key: str = "mqtt.cert_file") -> None:
    """Refuse a certificate outside its validity; warn (once) when it expires soon."""
    who = f"{key} {info.path} ({info.subject})"
    if now >= info.not_after:
        raise TlsError(
            f"{who} expired on {info.not_after:%Y-%m-%d %H:%M} UTC; install a renewed "
            "certificate and key (the gateway picks them up without a restart)"
        )
    if now < info.not_before:
        raise TlsError(
            f"{who} is not valid before {info.not_before:%Y-%m-%d %H:%M} UTC; check the "
            "gateway clock (timedatectl) or the certificate's dates"
        )
    if info.remaining(now) < EXPIRY_WARNING and (info.path, info.serial) not in _warned_expiry:
        _warned_expiry.add((info.path, info.serial))
        METRICS.expiry_warnings += 1
        log.warning(
            "%s expires in %d days (%s UTC); issue a renewed certificate",
            who,
            info.remaining(now).days,
            f"{info.not_after:%Y-%m-%d %H:%M}",
        )


def _no_password() -> bytes:
    raise TlsError("encrypted private keys are not supported")


def check_key_matches(cert_path: str, key_path: str) -> None:
    """Refuse a key that does not belong to the certificate (or cannot be read unprompted)."""
    try:
        pem = Path(key_path).read_bytes()
    except OSError as exc:
        raise TlsError(f"mqtt.key_file {key_path} is not readable: {exc.strerror or exc}") from None
    try:
        private = serialization.load_pem_private_key(pem, password=None)
    except TypeError:
        raise TlsError(
            f"mqtt.key_file {key_path} is encrypted; the gateway starts unattended, so store "
            "the key unencrypted with mode 0600 instead"
        ) from None
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise TlsError(
            f"mqtt.key_file {key_path} holds no usable PEM private key ({exc})"
        ) from None
    cert = x509.load_pem_x509_certificates(Path(cert_path).read_bytes())[0]
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if private.public_key().public_bytes(*spki) != cert.public_key().public_bytes(*spki):
        raise TlsError(
            f"mqtt.key_file {key_path} does not belong to mqtt.cert_file {cert_path}; install "
            "the key that was generated with this certificate's request"
        )


class _RecordingSocket(ssl.SSLSocket):
    """Records TLS failures on its :class:`ClientContext` (paho only logs them)."""

    def do_handshake(self, block: bool = False) -> None:
        try:
            super().do_handshake(block)
        except OSError as exc:  # ssl.SSLError, or the peer closing the connection
            self._record(exc, after_handshake=False)
            self.close()  # paho drops the socket without closing it
            raise

    def recv(self, buflen: int = 1024, flags: int = 0) -> bytes:
        try:
            return super().recv(buflen, flags)
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            raise
        except ssl.SSLError as exc:
            # TLS 1.3: the broker checks our certificate after the handshake, and its alert
            # arrives with the first read
            self._record(exc, after_handshake=True)
            raise

    def _record(self, exc: OSError, *, after_handshake: bool) -> None:
        context = self.context
        if isinstance(context, ClientContext):
            context.failure = exc
            if after_handshake and context.on_failure is not None:
                context.on_failure()


class ClientContext(ssl.SSLContext):
    """A client context that keeps the last TLS failure and can override the checked name."""

    sslsocket_class: ClassVar[type[ssl.SSLSocket]] = _RecordingSocket  # type: ignore[misc]
    server_name: str | None = None
    failure: OSError | None = None  # ssl.SSLError, or a reset during the handshake
    #: called (from the event loop) when a TLS alert ends the connection after the handshake
    on_failure: Callable[[], None] | None = None

    def wrap_socket(
        self,
        sock: socket.socket,
        server_side: bool = False,
        do_handshake_on_connect: bool = True,
        suppress_ragged_eofs: bool = True,
        server_hostname: str | bytes | None = None,
        session: ssl.SSLSession | None = None,
    ) -> ssl.SSLSocket:
        return super().wrap_socket(
            sock,
            server_side,
            do_handshake_on_connect,
            suppress_ragged_eofs,
            self.server_name or server_hostname,
            session,
        )


def build_context(
    cfg: MqttConfig, *, now: dt.datetime | None = None, expected_cn: str | None = None
) -> ClientContext:
    """Check the configured files and build the client context (TLS 1.2+, hostname checked)."""
    now = now or dt.datetime.now(dt.UTC)
    context = ClientContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies the broker and its name
    context.minimum_version = MINIMUM_VERSION
    context.server_name = cfg.tls_server_name
    try:
        if cfg.ca_file:
            context.load_verify_locations(cafile=cfg.ca_file)
        else:
            context.load_default_certs()
    except (OSError, ssl.SSLError) as exc:
        raise TlsError(
            f"mqtt.ca_file {cfg.ca_file} cannot be used as CA bundle ({exc}); it must hold "
            "the PEM certificate of the CA that signed the broker's certificate"
        ) from None
    if cfg.cert_file and cfg.key_file:
        check_key_file(cfg.key_file)
        info = read_certificate(cfg.cert_file)
        check_validity(info, now)
        check_key_matches(cfg.cert_file, cfg.key_file)
        METRICS.cert_not_after_s = info.not_after.timestamp()
        if expected_cn is not None and info.common_name != expected_cn:
            log.warning(
                "mqtt.cert_file %s is issued to CN=%s, not to this gateway (%s): a broker "
                "that takes the CN as username will refuse this gateway's topics",
                cfg.cert_file,
                info.common_name,
                expected_cn,
            )
        try:
            context.load_cert_chain(cfg.cert_file, cfg.key_file, password=_no_password)
        except (OSError, ssl.SSLError) as exc:
            raise TlsError(
                f"mqtt.cert_file {cfg.cert_file} with mqtt.key_file {cfg.key_file}: {exc}"
            ) from None
    return context


#: OpenSSL reason of an alert from the broker -> what it means for us and what to do
_ALERTS = {
    "TLSV1_ALERT_UNKNOWN_CA": (
        "the broker does not trust the CA that issued our client certificate",
        "install a certificate issued by the fleet CA that the broker's cafile holds",
    ),
    "SSLV3_ALERT_CERTIFICATE_EXPIRED": (
        "the broker says our client certificate has expired",
        "install a renewed certificate and key; check the clocks of gateway and broker",
    ),
    "TLSV13_ALERT_CERTIFICATE_REQUIRED": (
        "the broker requires a client certificate and we sent none",
        "set mqtt.cert_file and mqtt.key_file to this gateway's certificate and key",
    ),
    "SSLV3_ALERT_HANDSHAKE_FAILURE": (
        "the broker requires a client certificate and we sent none",
        "set mqtt.cert_file and mqtt.key_file to this gateway's certificate and key",
    ),
    "SSLV3_ALERT_BAD_CERTIFICATE": (
        "the broker refused our client certificate as bad",
        "check its validity dates against the broker's clock and that it is a client "
        "certificate (extendedKeyUsage clientAuth) of the fleet CA",
    ),
    "SSLV3_ALERT_CERTIFICATE_REVOKED": (
        "the broker says our client certificate is revoked",
        "request a new certificate for this gateway",
    ),
    "TLSV1_ALERT_PROTOCOL_VERSION": (
        "the broker and we share no TLS version (we require TLS 1.2 or newer)",
        "enable TLS 1.2 or 1.3 on the broker listener (tls_version tlsv1.2)",
    ),
    "WRONG_VERSION_NUMBER": (
        "the broker port does not speak TLS",
        "use the broker's TLS port (usually 8883) or set mqtt.tls = false for a plain port",
    ),
}


def handshake_error(exc: BaseException, cfg: MqttConfig) -> TlsError:
    """Translate a TLS failure seen while connecting into a :class:`TlsError` that says why."""
    where = f"{cfg.host}:{cfg.port}"
    METRICS.handshake_failures += 1
    if isinstance(exc, ssl.SSLCertVerificationError):
        checked = cfg.tls_server_name or cfg.host
        error = TlsError(
            f"TLS to {where}: the broker's certificate is not trusted ({exc.verify_message}); "
            f"check that mqtt.ca_file ({cfg.ca_file or 'system CAs'}) holds the CA that signed "
            f"it and that it names {checked!r} (mqtt.host, or mqtt.tls_server_name)"
        )
    elif not isinstance(exc, ssl.SSLError):
        error = TlsError(
            f"TLS to {where}: the broker closed the connection during the TLS handshake "
            f"({exc}); the port may not speak TLS (a plain MQTT port does this): use the "
            "broker's TLS port (usually 8883) or set mqtt.tls = false for a plain port"
        )
    else:
        reason = getattr(exc, "reason", None)
        meaning, fix = _ALERTS.get(
            str(reason), (f"the TLS handshake failed ({exc})", "see the broker log")
        )
        error = TlsError(f"TLS to {where}: {meaning}; {fix} [{reason or type(exc).__name__}]")
    METRICS.last_error = str(error)
    return error


def closed_after_handshake(cfg: MqttConfig) -> TlsError:
    """The broker ended a TLS connection after the handshake, before CONNACK, without an
    alert we could read: with TLS 1.3 that is how a refused client certificate looks when
    the broker's reset overtakes its alert."""
    METRICS.handshake_failures += 1
    error = TlsError(
        f"TLS to {cfg.host}:{cfg.port}: the broker closed the connection right after the "
        "TLS handshake, before CONNACK, and its reason (a TLS alert) was lost with the "
        "connection: it most likely refused our client certificate; check the certificate's "
        "validity dates against the broker's clock, that the broker's cafile holds its CA, "
        "and the broker log"
    )
    METRICS.last_error = str(error)
    return error


@dataclass(frozen=True, slots=True)
class FileStamp:
    inode: int
    size: int
    mtime_ns: int


def stamp(cfg: MqttConfig) -> tuple[FileStamp | None, ...]:
    """What identifies the current CA, certificate and key files (None: missing)."""
    out: list[FileStamp | None] = []
    for path in (cfg.ca_file, cfg.cert_file, cfg.key_file):
        try:
            st = os.stat(path) if path else None
        except OSError:
            st = None
        out.append(None if st is None else FileStamp(st.st_ino, st.st_size, st.st_mtime_ns))
    return tuple(out)


class _ReloadHub:
    """Process-wide reload requests (SIGHUP); every live watch gets woken, on its own loop
    (the alarm connection runs on a thread and loop of its own)."""

    def __init__(self) -> None:
        self.generation = 0
        #: each watch's wake event -> the loop it waits on (None: not known)
        self.events: weakref.WeakKeyDictionary[asyncio.Event, asyncio.AbstractEventLoop | None]
        self.events = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()  # watches come and go on other threads' loops

    def add(self, event: asyncio.Event) -> None:
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        with self._lock:
            self.events[event] = loop

    def discard(self, event: asyncio.Event) -> None:
        with self._lock:
            self.events.pop(event, None)

    def request(self) -> None:
        self.generation += 1
        try:
            here: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            here = None
        with self._lock:
            watches = list(self.events.items())
        for event, loop in watches:
            if loop is None or loop is here:
                event.set()
            else:
                with contextlib.suppress(RuntimeError):  # that loop has ended
                    loop.call_soon_threadsafe(event.set)


_HUB = _ReloadHub()


def request_reload() -> None:
    """Make every live uplink re-read its TLS files and reconnect with them.

    The SIGHUP hook: call it in the event loop's thread, e.g.
    ``loop.add_signal_handler(signal.SIGHUP, gateway.tls.request_reload)``.
    """
    log.info("TLS reload requested")
    _HUB.request()


class CredentialWatch:
    """Waits until the TLS files changed (and are usable) or a reload was requested."""

    def __init__(
        self, cfg: MqttConfig, interval_s: float | None = None, expected_cn: str | None = None
    ) -> None:
        self.cfg = cfg
        self.interval_s = cfg.tls_reload_interval_s if interval_s is None else interval_s
        self.expected_cn = expected_cn
        self.baseline = stamp(cfg)
        self.generation = _HUB.generation
        self._wake = asyncio.Event()
        _HUB.add(self._wake)
        self._logged = ""

    async def changed(self) -> str:
        """Return why the credentials should be reloaded, once the new ones check out."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval_s)
            self._wake.clear()
            current = stamp(self.cfg)
            if _HUB.generation != self.generation:
                reason = "reload requested"
            elif current != self.baseline:
                reason = "TLS files changed"
            else:
                continue
            self.generation, self.baseline = _HUB.generation, current
            try:
                build_context(self.cfg, expected_cn=self.expected_cn)
            except TlsError as exc:
                if str(exc) != self._logged:
                    self._logged = str(exc)
                    log.error(
                        "%s, but the new files are not usable (%s); keeping the current connection",
                        reason,
                        exc,
                    )
                continue
            self._logged = ""
            return reason

    def close(self) -> None:
        _HUB.discard(self._wake)
