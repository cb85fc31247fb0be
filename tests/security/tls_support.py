"""A throwaway PKI for the TLS tests, generated with ``cryptography`` (EC P-256, fast).

``pki`` (once per session): a fleet CA, a broker certificate for 127.0.0.1/localhost,
per-gateway client certificates whose CN is the gateway id, an expired one, one not yet
valid, and one from a foreign CA. Keys are written mode 0600, as a deployment would.

"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import os
import shutil
import ssl
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from gateway.broker import LocalBroker
from gateway.config import MqttConfig

NOW = dt.datetime.now(dt.UTC)
DAY = dt.timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Issued:
    """A certificate and its private key on disk (PEM; key mode 0600)."""

    cert: Path
    key: Path

    def copy_to(self, folder: Path, name: str) -> Issued:
        """A private copy (for tests that rewrite or chmod the files)."""
        folder.mkdir(parents=True, exist_ok=True)
        cert, key = folder / f"{name}.crt", folder / f"{name}.key"
        shutil.copyfile(self.cert, cert)
        shutil.copyfile(self.key, key)
        key.chmod(0o600)
        return Issued(cert, key)


class Authority:
    """A self-signed CA that issues server and client certificates into ``folder``."""

    def __init__(self, folder: Path, name: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(self.name)
            .issuer_name(self.name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(NOW - DAY)
            .not_valid_after(NOW + 3650 * DAY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(self.key, hashes.SHA256())
        )
        self.cert_path = folder / f"{name}.crt"
        self.cert_path.write_bytes(self.certificate.public_bytes(serialization.Encoding.PEM))

    def issue(
        self,
        name: str,
        common_name: str,
        *,
        server: bool = False,
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
    ) -> Issued:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(self.name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before or NOW - DAY)
            .not_valid_after(not_after or NOW + 365 * DAY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
        )
        if server:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(
                    [
                        x509.DNSName("localhost"),
                        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    ]
                ),
                critical=False,
            )
        cert = builder.sign(self.key, hashes.SHA256())
        issued = Issued(self.folder / f"{name}.crt", self.folder / f"{name}.key")
        issued.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        fd = os.open(issued.key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
        return issued


@dataclass(frozen=True, slots=True)
class Pki:
    ca: Authority
    foreign_ca: Authority
    server: Issued
    gw_a: Issued  # CN gw-a
    gw_b: Issued  # CN gw-b
    gw_a_renewed: Issued  # CN gw-a, a second certificate and key (rotation)
    expired: Issued  # CN gw-a, expired yesterday
    not_yet_valid: Issued  # CN gw-a, valid from tomorrow
    expiring: Issued  # CN gw-a, expires in 10 days
    foreign: Issued  # CN gw-a, signed by the foreign CA
    backend: Issued  # CN edgetwin-backend (the deploy ACL's reader of everything)


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    root = tmp_path_factory.mktemp("pki")
    ca = Authority(root / "ca", "edgetwin-test-ca")
    foreign_ca = Authority(root / "foreign", "someone-elses-ca")
    return Pki(
        ca=ca,
        foreign_ca=foreign_ca,
        server=ca.issue("broker", "localhost", server=True),
        gw_a=ca.issue("gw-a", "gw-a"),
        gw_b=ca.issue("gw-b", "gw-b"),
        gw_a_renewed=ca.issue("gw-a-renewed", "gw-a"),
        expired=ca.issue("expired", "gw-a", not_before=NOW - 30 * DAY, not_after=NOW - DAY),
        not_yet_valid=ca.issue("future", "gw-a", not_before=NOW + DAY, not_after=NOW + 30 * DAY),
        expiring=ca.issue("expiring", "gw-a", not_after=NOW + 10 * DAY),
        foreign=foreign_ca.issue("foreign", "gw-a"),
        backend=ca.issue("backend", "edgetwin-backend"),
    )


DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "mosquitto"
#: LocalBroker writes these itself (private port, user, logs, no persistence)
_LOCAL = {"listener", "user", "log_dest", "log_type", "persistence", "persistence_location"}


def render_deploy_config(pki: Pki, folder: Path) -> str:
    """deploy/mosquitto/edgetwin-broker.conf with its files pointed at the test PKI.

    The ACL is copied as it is; every other line but those LocalBroker owns is kept.
    """
    folder.mkdir(parents=True, exist_ok=True)
    acl = folder / "acl"
    shutil.copyfile(DEPLOY / "acl", acl)
    files = {
        "acl_file": acl,
        "cafile": pki.ca.cert_path,
        "certfile": pki.server.cert,
        "keyfile": pki.server.key,
    }
    out: list[str] = []
    for line in (DEPLOY / "edgetwin-broker.conf").read_text().splitlines():
        directive = line.split(maxsplit=1)[0] if line.strip() else ""
        if not directive or directive.startswith("#") or directive in _LOCAL:
            continue
        if directive in files:
            line = f"{directive} {files.pop(directive)}"
        out.append(line)
    assert not files, f"the deploy config lost {sorted(files)}"
    return "\n".join(out)


@pytest.fixture
def deploy_broker(pki: Pki, tmp_path: Path) -> Iterator[LocalBroker]:
    """mosquitto running the deploy config (TLS, client certificates, the deploy ACL)."""
    conf = render_deploy_config(pki, tmp_path / "deploy")
    with LocalBroker(tmp_path / "broker", allow_anonymous=False, extra_config=conf) as broker:
        yield broker


def mqtt_config(broker: LocalBroker, pki: Pki, client: Issued | None, **changes: Any) -> MqttConfig:
    """[mqtt] of a gateway that talks mutual TLS to ``broker``."""
    return replace(
        MqttConfig(
            host=broker.host,
            port=broker.port,
            tls=True,
            ca_file=str(pki.ca.cert_path),
            cert_file=str(client.cert) if client else None,
            key_file=str(client.key) if client else None,
        ),
        **changes,
    )


class Backend:
    """The backend identity (CN edgetwin-backend): sees every topic, writes desired state."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self.client: aiomqtt.Client | None = None

    def topics(self) -> list[str]:
        return [topic for topic, _ in self.messages]


@pytest.fixture
async def backend(deploy_broker: LocalBroker, pki: Pki) -> AsyncIterator[Backend]:
    issued = pki.backend
    context = ssl.create_default_context(cafile=str(pki.ca.cert_path))
    context.load_cert_chain(issued.cert, issued.key)
    seen = Backend()
    async with aiomqtt.Client(
        deploy_broker.host,
        deploy_broker.port,
        identifier="backend",
        protocol=aiomqtt.ProtocolVersion.V5,
        tls_context=context,
    ) as client:
        await client.subscribe("edgetwin/v1/#", qos=1)
        seen.client = client

        async def listen() -> None:
            async for message in client.messages:
                assert isinstance(message.payload, bytes)
                seen.messages.append((str(message.topic), message.payload))

        task = asyncio.create_task(listen())
        yield seen
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
