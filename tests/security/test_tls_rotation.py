"""Certificate rotation without a restart and without losing data, against the deploy broker.

The uplink polls its TLS files (inode, size, mtime) and listens to ``tls.request_reload``
(SIGHUP); it lets the publishes in flight finish, ends the session, and the worker reconnects
with the new files. A row leaves the outbox only on its PUBACK, so every record arrives.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import os
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from support import alarm_ids, spo2_alarm, wait_until
from tls_support import Backend, Issued, Pki, mqtt_config

from gateway import tls
from gateway.backoff import Backoff
from gateway.broker import LocalBroker
from gateway.buffer import Buffer
from gateway.desired import desired_topic
from gateway.model import Measurement, Quality, ReceiveTime
from gateway.sync import UplinkWorker
from gateway.uplink import MqttUplink
from gateway.urgent_link import UrgentLink

STREAM = "oxi.150456"


def install(source: Issued, target: Issued) -> None:
    """Replace the gateway's certificate, then its key, each atomically (as a deploy tool
    would): in between, the files do not match and must not be used."""
    for new, old in ((source.cert, target.cert), (source.key, target.key)):
        temporary = old.with_suffix(".new")
        temporary.write_bytes(new.read_bytes())
        temporary.chmod(0o600)
        os.replace(temporary, old)


@dataclass
class Gateway:
    files: Issued
    buffer: Buffer
    worker: UplinkWorker
    uplinks: list[MqttUplink]
    committed: int = 0

    async def produce(self, n: int) -> None:
        records = [
            Measurement("oxi", STREAM, 150456, "%", 97.0, Quality(0), ReceiveTime(i, i))
            for i in range(self.committed, self.committed + n)
        ]
        await self.buffer.commit(records, lambda _device: "p-1")
        self.committed += n
        self.worker.wake.set()

    def serials(self) -> list[int | None]:
        return [u.certificate.serial if u.certificate else None for u in self.uplinks]


def delivered(backend: Backend) -> set[int]:
    """Sequence numbers of our stream that reached the backend (duplicates folded)."""
    return {
        sample["seq"]
        for topic, payload in backend.messages
        if topic.endswith(f"/numeric/{STREAM}")
        for sample in json.loads(payload)["samples"]
    }


@pytest.fixture(params=[True, False], ids=["subscribed", "publish-only"])
async def gateway(
    request: pytest.FixtureRequest, deploy_broker: LocalBroker, pki: Pki, tmp_path: Path
) -> AsyncIterator[Gateway]:
    """gw-a with its own copy of its certificate and key, polled every 50 ms."""
    files = pki.gw_a.copy_to(tmp_path / "tls", "gw-a")
    cfg = mqtt_config(deploy_broker, pki, files, tls_reload_interval_s=0.05)
    uplinks: list[MqttUplink] = []

    def connect() -> MqttUplink:
        uplinks.append(MqttUplink(cfg, "gw-a", "lab"))
        return uplinks[-1]

    async def on_message(topic: str, payload: bytes) -> None:
        pass

    buffer = await Buffer.open(tmp_path / "buffer.sqlite3", "gw-a", "lab")
    worker = UplinkWorker(
        buffer,
        connect,
        site="lab",
        gateway_id="gw-a",
        window=8,
        wake=asyncio.Event(),
        backoff=Backoff(0.02, 0.2),
        subscriptions=[desired_topic("lab", "gw-a")] if request.param else (),
        on_message=on_message if request.param else None,
    )
    task = asyncio.create_task(worker.run())
    try:
        yield Gateway(files, buffer, worker, uplinks)
    finally:
        worker.stop()
        await asyncio.wait({task}, timeout=5)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await buffer.close()


async def test_rotation_under_load_reconnects_with_the_new_certificate_and_loses_nothing(
    gateway: Gateway, pki: Pki, backend: Backend
) -> None:
    reloads = tls.METRICS.reloads
    await wait_until(lambda: gateway.worker.metrics.connects == 1, what="first connection")
    for _ in range(10):  # before: batches keep the window busy
        await gateway.produce(5)
        await asyncio.sleep(0.002)
    install(pki.gw_a_renewed, gateway.files)
    while gateway.worker.metrics.connects < 2:  # during: records keep coming
        await gateway.produce(5)
        await asyncio.sleep(0.01)
    for _ in range(10):  # after
        await gateway.produce(5)
    await wait_until(
        lambda: len(delivered(backend)) == gateway.committed, what="every record at the backend"
    )
    seqs = delivered(backend)
    assert max(seqs) - min(seqs) + 1 == gateway.committed == len(seqs)  # no gap
    await wait_until(
        lambda: gateway.worker.metrics.acked_records >= gateway.committed, what="all acked"
    )
    serials = gateway.serials()
    assert serials[0] == _serial(pki.gw_a) and serials[-1] == _serial(pki.gw_a_renewed)
    assert tls.METRICS.reloads == reloads + 1
    assert gateway.worker.metrics.connects == 2  # one reconnect, no retry storm


async def test_a_reload_request_reconnects_with_the_files_as_they_are(
    gateway: Gateway, pki: Pki, backend: Backend
) -> None:
    await wait_until(lambda: gateway.worker.metrics.connects == 1, what="first connection")
    await gateway.produce(5)
    await wait_until(lambda: len(delivered(backend)) == 5, what="records before the reload")
    reloads = tls.METRICS.reloads
    tls.request_reload()  # what SIGHUP does
    await wait_until(lambda: tls.METRICS.reloads == reloads + 1, what="reload noticed")
    await gateway.produce(5)  # a publish-only uplink ends its session at its next publish
    await wait_until(lambda: gateway.worker.metrics.connects == 2, what="reconnect")
    await gateway.produce(5)
    await wait_until(lambda: len(delivered(backend)) == 15, what="records after the reload")
    assert gateway.serials() == [_serial(pki.gw_a)] * 2


async def test_unusable_new_files_keep_the_working_connection(
    gateway: Gateway, pki: Pki, backend: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    await wait_until(lambda: gateway.worker.metrics.connects == 1, what="first connection")
    # a new certificate whose key has not arrived (yet)
    gateway.files.cert.write_bytes(pki.gw_a_renewed.cert.read_bytes())
    await wait_until(
        lambda: any("not usable" in r.getMessage() for r in caplog.records),
        what="the new files refused",
    )
    assert any("does not belong to" in r.getMessage() for r in caplog.records)
    await gateway.produce(5)
    await wait_until(lambda: len(delivered(backend)) == 5, what="records on the old session")
    assert gateway.worker.metrics.connects == 1 and gateway.worker.metrics.connected
    # the key arrives: now the uplink switches
    reloads = tls.METRICS.reloads
    install(pki.gw_a_renewed, gateway.files)
    await wait_until(lambda: tls.METRICS.reloads == reloads + 1, what="new files noticed")
    await gateway.produce(5)  # a publish-only uplink ends its session at its next publish
    await wait_until(lambda: gateway.worker.metrics.connects == 2, what="reconnect")
    await gateway.produce(5)
    await wait_until(lambda: len(delivered(backend)) == 15, what="records after the switch")
    assert gateway.serials()[-1] == _serial(pki.gw_a_renewed)


async def test_an_expired_certificate_is_replaced_without_a_restart(
    deploy_broker: LocalBroker, pki: Pki, backend: Backend, tmp_path: Path
) -> None:
    """The worker retries an expired certificate with backoff; the renewed files are read at
    the next attempt."""
    files = pki.expired.copy_to(tmp_path / "tls", "gw-a")
    cfg = mqtt_config(deploy_broker, pki, files)
    buffer = await Buffer.open(tmp_path / "buffer.sqlite3", "gw-a", "lab")
    worker = UplinkWorker(
        buffer,
        lambda: MqttUplink(cfg, "gw-a", "lab"),
        site="lab",
        gateway_id="gw-a",
        window=8,
        wake=asyncio.Event(),
        backoff=Backoff(0.02, 0.1),
    )
    task = asyncio.create_task(worker.run())
    try:
        await wait_until(lambda: worker.metrics.failures >= 2, what="expired refused")
        assert "expired on" in worker.metrics.last_error
        assert not worker.metrics.connected
        install(pki.gw_a, files)
        await wait_until(lambda: worker.metrics.connected, what="connected after renewal")
    finally:
        worker.stop()
        await asyncio.wait({task}, timeout=5)
        await buffer.close()


def test_a_certificate_close_to_expiry_is_logged_once_and_counted(
    pki: Pki, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    files = pki.expiring.copy_to(tmp_path, "gw")
    cfg = mqtt_config(LocalBroker(tmp_path / "unused"), pki, files)
    before = tls.METRICS.expiry_warnings
    with caplog.at_level(logging.WARNING, logger="gateway.tls"):
        tls.build_context(cfg)
        tls.build_context(cfg)  # every reconnect builds a context: still one line
    warnings = [r.getMessage() for r in caplog.records if "expires in" in r.getMessage()]
    assert len(warnings) == 1 and "expires in 9 days" in warnings[0]
    assert tls.METRICS.expiry_warnings == before + 1
    assert (
        tls.METRICS.cert_not_after_s == tls.read_certificate(str(files.cert)).not_after.timestamp()
    )


def _serial(issued: Issued) -> int:
    return tls.read_certificate(str(issued.cert)).serial


async def test_a_reload_request_wakes_a_watch_on_another_threads_loop() -> None:
    """The alarm connection watches its TLS files on a loop of its own; SIGHUP is handled on
    the gateway's loop, and must wake that watch at once (not at its next poll)."""
    registered = threading.Event()

    async def watch() -> float:
        wake = asyncio.Event()
        tls._HUB.add(wake)
        registered.set()
        started = time.monotonic()
        await asyncio.wait_for(wake.wait(), 30)  # far longer than the test's patience
        return time.monotonic() - started

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        woke = pool.submit(asyncio.run, watch())
        await asyncio.to_thread(registered.wait, 10)
        tls.request_reload()
        assert await asyncio.wrap_future(woke) < 10


async def test_the_alarm_connection_on_its_own_thread_reloads_on_request(
    deploy_broker: LocalBroker, pki: Pki, backend: Backend, tmp_path: Path
) -> None:
    """SIGHUP reaches the alarm connection's TLS watch on its own thread's loop: its next
    alarm goes out on a new session (the file poll is too slow here to be the cause)."""
    files = pki.gw_a.copy_to(tmp_path / "tls", "gw-a")
    cfg = mqtt_config(deploy_broker, pki, files, tls_reload_interval_s=3600)
    buffer = await Buffer.open(tmp_path / "buffer.sqlite3", "gw-a", "lab")
    wake = asyncio.Event()
    urgent = UrgentLink(
        buffer,
        lambda: MqttUplink(cfg, "gw-a", "lab", lane="urgent"),
        site="lab",
        gateway_id="gw-a",
        on_failure=wake.set,
        backoff=Backoff(0.02, 0.2),
    )
    worker = UplinkWorker(
        buffer,
        lambda: MqttUplink(cfg, "gw-a", "lab"),
        site="lab",
        gateway_id="gw-a",
        window=8,
        wake=wake,
        urgent=urgent,
        backoff=Backoff(0.02, 0.2),
    )
    buffer.on_urgent = worker.send_now
    task = asyncio.create_task(worker.run())
    try:
        await wait_until(lambda: urgent.up and worker.idle.is_set(), what="both connections")
        await buffer.commit_urgent([spo2_alarm(1)], lambda _: "p-1")
        await wait_until(lambda: urgent.acked_rows == 1, what="first alarm on its connection")
        reloads = tls.METRICS.reloads
        tls.request_reload()  # what SIGHUP does, on the gateway's loop
        await wait_until(lambda: tls.METRICS.reloads >= reloads + 1, what="reload noticed")
        await buffer.commit_urgent([spo2_alarm(2)], lambda _: "p-1")
        await wait_until(lambda: urgent.connects == 2, what="alarm connection renewed")
        await buffer.commit_urgent([spo2_alarm(3)], lambda _: "p-1")
        await wait_until(
            lambda: {"a1", "a2", "a3"} <= set(alarm_ids(backend.messages)),
            what="every alarm at the backend",
        )
    finally:
        worker.stop()
        await asyncio.wait({task}, timeout=5)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await buffer.close()
