"""The broker refuses us: bad credentials, or an ACL that denies our topics.

One clear error, data kept in the outbox, retried with backoff; a canary pins the aiomqtt
internals that the PUBACK reason-code check relies on.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import subprocess
from pathlib import Path

import aiomqtt
import pytest
from support import ClosingListener, wait_until

from gateway.backoff import Backoff
from gateway.broker import LocalBroker
from gateway.buffer import Buffer
from gateway.config import MqttConfig
from gateway.errors import BrokerUnavailableError
from gateway.model import Measurement, Quality, ReceiveTime
from gateway.sync import UplinkWorker
from gateway.uplink import MqttUplink


async def test_canary_aiomqtt_internals_used_for_puback_reason_codes() -> None:
    client = aiomqtt.Client("127.0.0.1", 1, protocol=aiomqtt.ProtocolVersion.V5)
    paho = client._client
    assert callable(paho.on_publish)
    assert callable(paho.publish)
    # on_publish(self, client, userdata, mid, reason_code, properties)
    assert paho.on_publish.__func__.__code__.co_argcount == 6
    assert isinstance(client._disconnected, asyncio.Future)


async def run_worker(
    tmp_path: Path, cfg: MqttConfig
) -> tuple[Buffer, UplinkWorker, asyncio.Task[None]]:
    buf = await Buffer.open(tmp_path / "b.sqlite3", "gw", "lab")
    records = [
        Measurement("oxi", "oxi.150456", 150456, "%", 97.0, Quality(0), ReceiveTime(i, i))
        for i in range(20)
    ]
    await buf.commit(records, lambda d: "p-1")
    worker = UplinkWorker(
        buf,
        lambda: MqttUplink(cfg, "gw", "lab"),
        site="lab",
        gateway_id="gw",
        window=8,
        wake=asyncio.Event(),
        backoff=Backoff(0.05, 0.2),
    )
    return buf, worker, asyncio.create_task(worker.run())


async def test_an_acl_refusal_keeps_the_data_and_says_why(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    acl = tmp_path / "acl"
    acl.write_text("topic readwrite edgetwin/v1/lab/gw/status\n")  # data topics denied
    with LocalBroker(tmp_path / "broker", extra_config=f"acl_file {acl}") as broker:
        cfg = MqttConfig(port=broker.port)
        buf, worker, task = await run_worker(tmp_path, cfg)
        await wait_until(lambda: worker.metrics.failures >= 3, what="refusals retried")
        stats = await buf.stats()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await buf.close()
    assert stats.outbox_records == 20  # nothing was treated as delivered
    assert "Not authorized" in worker.metrics.last_error
    assert "check the broker ACL" in worker.metrics.last_error
    warnings = [
        r for r in caplog.records if r.levelno == logging.WARNING and "uplink" in r.getMessage()
    ]
    assert len(warnings) == 1  # one clear line, not one per retry


@pytest.mark.skipif(shutil.which("mosquitto_passwd") is None, reason="mosquitto_passwd missing")
async def test_bad_credentials_are_one_clear_error_and_data_stays(tmp_path: Path) -> None:
    passwd = tmp_path / "passwd"
    passwd.write_text("")
    subprocess.run(["mosquitto_passwd", "-b", str(passwd), "gw", "right"], check=True)
    passwd.chmod(0o600)
    conf = f"allow_anonymous false\npassword_file {passwd}"
    with LocalBroker(tmp_path / "broker", extra_config=conf) as broker:
        cfg = MqttConfig(port=broker.port, username="gw", password="wrong")
        buf, worker, task = await run_worker(tmp_path, cfg)
        await wait_until(lambda: worker.metrics.failures >= 2, what="auth failures retried")
        stats = await buf.stats()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await buf.close()
    assert stats.outbox_records == 20
    assert (
        "Not authorized" in worker.metrics.last_error
        or "authori" in worker.metrics.last_error.lower()
    )
    assert "wrong" not in worker.metrics.last_error  # the secret is never echoed


async def test_a_broker_that_closes_before_connack_fails_the_connect_at_once() -> None:
    # aiomqtt alone would wait out its 10 s connect timeout ("Operation timed out")
    with ClosingListener() as listener:
        cfg = MqttConfig(host="127.0.0.1", port=listener.port)
        with pytest.raises(BrokerUnavailableError, match="closed the connection before CONNACK"):
            async with MqttUplink(cfg, "gw", "lab"):
                pass
    assert listener.accepted == 1


async def test_canary_paho_reports_a_lost_connection_through_on_disconnect() -> None:
    client = aiomqtt.Client("127.0.0.1", 1, protocol=aiomqtt.ProtocolVersion.V5)
    # aiomqtt's own handler, which _watch_early_close wraps
    assert callable(client._client.on_disconnect)
