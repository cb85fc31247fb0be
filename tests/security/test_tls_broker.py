"""Mutual TLS and least privilege against a real mosquitto running the deploy config.

The broker is deploy/mosquitto/edgetwin-broker.conf with its ACL (paths pointed at a
throwaway PKI): TLS only, a client certificate from the fleet CA required, its CN as username.
"""

from __future__ import annotations

import json
import ssl
from pathlib import Path

import aiomqtt
import pytest
from support import ClosingListener, wait_until
from tls_support import DEPLOY, Backend, Pki, mqtt_config

from gateway import tls
from gateway.broker import LocalBroker, free_port
from gateway.desired import desired_topic
from gateway.envelope import status_topic, topic
from gateway.errors import BrokerUnavailableError, PublishRefusedError, TlsError
from gateway.model import PRIORITY
from gateway.uplink import MqttUplink

NOT_AUTHORIZED = 0x87  # MQTT 5 reason code, PUBACK and SUBACK


def test_the_deploy_config_is_tls_only_with_client_certificates() -> None:
    directives = dict(
        line.split(maxsplit=1)
        for line in (DEPLOY / "edgetwin-broker.conf").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    )
    assert directives["listener"] == "8883"
    assert directives["allow_anonymous"] == "false"
    assert directives["require_certificate"] == "true"
    assert directives["use_identity_as_username"] == "true"
    assert directives["tls_version"] in ("tlsv1.2", "tlsv1.3")
    assert "acl_file" in directives and "password_file" not in directives


def test_the_acl_lets_a_gateway_write_every_kind_it_sends_and_nothing_else() -> None:
    rules = [
        line.split(maxsplit=2)
        for line in (DEPLOY / "acl").read_text().splitlines()
        if line.startswith("pattern ")
    ]
    writes = {t for _, access, t in rules if access == "write"}
    reads = {t for _, access, t in rules if access == "read"}
    kinds = {*PRIORITY, "gap"}  # every outbox kind (gap reports included)
    assert writes == {"edgetwin/v1/+/%u/status"} | {f"edgetwin/v1/+/%u/{k}/#" for k in kinds}
    assert reads == {"edgetwin/v1/+/%u/desired"}
    assert desired_topic("s", "g") == "edgetwin/v1/s/g/desired"  # the layout the ACL assumes
    assert status_topic("s", "g") == "edgetwin/v1/s/g/status"


async def test_a_gateway_publishes_below_its_own_prefix(
    deploy_broker: LocalBroker, pki: Pki, backend: Backend
) -> None:
    data = topic("lab", "gw-a", "numeric", "oxi.150456")
    async with MqttUplink(mqtt_config(deploy_broker, pki, pki.gw_a), "gw-a", "lab") as uplink:
        assert uplink.certificate is not None and uplink.certificate.common_name == "gw-a"
        await uplink.publish(data, b'{"v":1}')
        await wait_until(lambda: data in backend.topics(), what="data at the backend")
    # the retained birth message passed the ACL too
    assert status_topic("lab", "gw-a") in backend.topics()


@pytest.mark.parametrize(
    "target",
    [
        topic("lab", "gw-b", "numeric", "oxi.150456"),  # another gateway's data
        status_topic("lab", "gw-b"),  # another gateway's status
        desired_topic("lab", "gw-a"),  # its own desired state: only the backend writes it
        "edgetwin/v1/lab/gw-a/unknown-kind/x",
        "somewhere/else",
    ],
)
async def test_publishing_outside_its_rights_is_refused_with_0x87(
    deploy_broker: LocalBroker, pki: Pki, backend: Backend, target: str
) -> None:
    marker = topic("lab", "gw-a", "event", "marker")
    async with MqttUplink(mqtt_config(deploy_broker, pki, pki.gw_a), "gw-a", "lab") as uplink:
        with pytest.raises(PublishRefusedError, match=r"reason code 135.*broker ACL"):
            await uplink.publish(target, b'{"v":1}')
        # same session, in order: once the marker arrived, the refused message never will
        await uplink.publish(marker, b'{"v":1}')
        await wait_until(lambda: marker in backend.topics(), what="marker at the backend")
    assert target not in backend.topics()


async def test_another_gateways_desired_state_is_never_delivered(
    deploy_broker: LocalBroker, pki: Pki, backend: Backend
) -> None:
    """mosquitto 2.0 grants the SUBSCRIBE (an acl_file never refuses one: see
    eclipse-mosquitto/mosquitto#2042) and withholds every message the ACL does not let the
    subscriber read; the own desired state is the positive control."""
    assert backend.client is not None
    mine, theirs = desired_topic("lab", "gw-a"), desired_topic("lab", "gw-b")
    await backend.client.publish(theirs, b'{"version":1}', qos=1, retain=True)
    await backend.client.publish(mine, b'{"version":1}', qos=1, retain=True)
    context = tls.build_context(mqtt_config(deploy_broker, pki, pki.gw_a))
    received: list[tuple[str, bytes]] = []
    async with aiomqtt.Client(
        deploy_broker.host,
        deploy_broker.port,
        identifier="edgetwin-gw-a",
        protocol=aiomqtt.ProtocolVersion.V5,
        tls_context=context,
    ) as client:
        granted_theirs = await client.subscribe(theirs, qos=1)
        granted_mine = await client.subscribe(mine, qos=1)
        await backend.client.publish(theirs, b'{"version":2}', qos=1)
        await backend.client.publish(mine, b'{"version":2}', qos=1)
        async for message in client.messages:
            assert isinstance(message.payload, bytes)
            received.append((str(message.topic), message.payload))
            if json.loads(message.payload)["version"] == 2:
                break  # the live message of our own topic came after the other one
    assert [getattr(r, "value", r) for r in (*granted_theirs, *granted_mine)] == [1, 1]
    assert received == [(mine, b'{"version":1}'), (mine, b'{"version":2}')]
    assert NOT_AUTHORIZED not in [getattr(r, "value", r) for r in granted_theirs]


LOST_ALERT = "closed the connection right after the TLS handshake"


@pytest.mark.parametrize(
    ("client", "skip_local_checks", "expected"),
    [
        (None, False, "requires a client certificate"),
        ("foreign", False, "does not trust the CA that issued our client certificate"),
        ("expired", True, "broker says our client certificate has expired"),
        # OpenSSL answers a certificate that is not valid yet with a bad_certificate alert
        ("not_yet_valid", True, "broker refused our client certificate as bad"),
    ],
)
async def test_the_broker_refuses_clients_without_a_good_certificate(
    deploy_broker: LocalBroker,
    pki: Pki,
    monkeypatch: pytest.MonkeyPatch,
    client: str | None,
    skip_local_checks: bool,
    expected: str,
) -> None:
    if skip_local_checks:  # present the certificate anyway: the broker must refuse it too
        monkeypatch.setattr(tls, "check_validity", lambda *args, **kwargs: None)
    issued = getattr(pki, client) if client else None
    cfg = mqtt_config(deploy_broker, pki, issued)
    before = tls.METRICS.handshake_failures
    # with TLS 1.3 the broker judges our certificate after the handshake; now and then its
    # reset overtakes its alert, and all we can say is the likely cause (next test)
    with pytest.raises(TlsError, match=f"{expected}|{LOST_ALERT}") as refused:
        async with MqttUplink(cfg, "gw-a", "lab"):
            pass
    assert f"{deploy_broker.host}:{deploy_broker.port}" in str(refused.value)
    assert tls.METRICS.handshake_failures == before + 1
    assert expected in tls.METRICS.last_error or LOST_ALERT in tls.METRICS.last_error


async def test_a_reset_right_after_the_handshake_reads_as_a_refused_certificate(
    pki: Pki, tmp_path: Path
) -> None:
    # the broker's reset overtook its alert: no reason on the wire, yet no 10 s wait for
    # a CONNACK that cannot come, and an error that points at the likely cause
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(pki.server.cert, pki.server.key)
    with ClosingListener(tls=server) as listener:
        at = LocalBroker(tmp_path / "none", port=listener.port)  # not started: its address
        cfg = mqtt_config(at, pki, pki.gw_a)
        before = tls.METRICS.handshake_failures
        with pytest.raises(TlsError, match=f"{LOST_ALERT}.*client certificate"):
            async with MqttUplink(cfg, "gw-a", "lab"):
                pass
    assert listener.accepted == 1
    assert tls.METRICS.handshake_failures == before + 1


async def test_a_broker_certificate_from_an_unknown_ca_is_refused(
    deploy_broker: LocalBroker, pki: Pki
) -> None:
    cfg = mqtt_config(deploy_broker, pki, pki.gw_a, ca_file=str(pki.foreign_ca.cert_path))
    with pytest.raises(TlsError, match=r"broker's certificate is not trusted.*mqtt\.ca_file"):
        async with MqttUplink(cfg, "gw-a", "lab"):
            pass


async def test_tls_server_name_is_the_name_checked_in_the_broker_certificate(
    deploy_broker: LocalBroker, pki: Pki, backend: Backend
) -> None:
    named = mqtt_config(deploy_broker, pki, pki.gw_a, tls_server_name="localhost")
    async with MqttUplink(named, "gw-a", "lab") as uplink:
        await uplink.publish(topic("lab", "gw-a", "event", "named"), b"{}")
    wrong = mqtt_config(deploy_broker, pki, pki.gw_a, tls_server_name="mqtt.elsewhere.example")
    with pytest.raises(TlsError, match=r"not trusted.*'mqtt\.elsewhere\.example'"):
        async with MqttUplink(wrong, "gw-a", "lab"):
            pass


@pytest.mark.parametrize(
    ("client", "mode", "expected"),
    [
        ("gw_a", 0o644, r"mode 0644.*chmod 600"),
        ("gw_a", 0o640, r"mode 0640.*chmod 600"),
        ("expired", 0o600, r"expired on .* install a renewed certificate"),
        ("not_yet_valid", 0o600, r"not valid before .* clock"),
    ],
)
async def test_bad_local_credentials_are_refused_before_connecting(
    pki: Pki, tmp_path: Path, client: str, mode: int, expected: str
) -> None:
    issued = getattr(pki, client).copy_to(tmp_path, "gw")
    issued.key.chmod(mode)
    # nothing listens on this port: a connection attempt would be BrokerUnavailableError
    broker = LocalBroker(tmp_path / "none", port=free_port())
    with pytest.raises(TlsError, match=expected):
        async with MqttUplink(mqtt_config(broker, pki, issued), "gw-a", "lab"):
            pass
    issued.key.chmod(0o600)
    if client == "gw_a":  # the same files, once private, get as far as the (absent) broker
        with pytest.raises(BrokerUnavailableError):
            async with MqttUplink(mqtt_config(broker, pki, issued), "gw-a", "lab"):
                pass


async def test_tls_to_a_plain_port_says_the_port_does_not_speak_tls(
    broker: LocalBroker, pki: Pki
) -> None:
    with pytest.raises(TlsError, match="may not speak TLS"):
        async with MqttUplink(mqtt_config(broker, pki, pki.gw_a), "gw-a", "lab"):
            pass


def test_the_client_context_refuses_tls_older_than_1_2(pki: Pki) -> None:
    context = tls.build_context(mqtt_config(LocalBroker(Path("/nonexistent")), pki, pki.gw_a))
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
