"""The consumer against a real mosquitto: shared subscription, dedup, gaps, restarts."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiomqtt
import paho.mqtt.client as paho
import pytest
from fhir.resources.R4B.bundle import Bundle
from support import wait_until

from gateway import envelope
from gateway.backoff import Backoff
from gateway.broker import LocalBroker, free_port
from gateway.errors import BrokerUnavailableError
from gateway.ingest import DirectorySink, Gap, IngestError, Ingestor, consume
from gateway.model import Measurement, Quality, ReceiveTime

GW, SITE, PATIENT, DEVICE = "gw01", "ward7", "p-0042", "bed01-oxi"
STREAM = f"{DEVICE}.150456"
T0 = 1_700_000_000_000_000_000


def message(seqs: list[int], stream: str = STREAM) -> tuple[str, bytes]:
    """(topic, payload) of one numeric envelope, built by the gateway's own encoder."""
    records = [
        Measurement(
            DEVICE, stream, 150456, "%", 90.0 + s % 10, Quality(0), ReceiveTime(T0 + s, 0), seq=s
        )
        for s in seqs
    ]
    payload = envelope.encode_batch(records, gateway=GW, site=SITE, patient=PATIENT)
    return envelope.topic(SITE, GW, "numeric", stream), payload


def gap_message(first: int, last: int) -> tuple[str, bytes]:
    payload = envelope.encode_gap(
        gateway=GW, site=SITE, stream=STREAM, first=first, last=last, reason="evicted", t_ns=T0
    )
    return envelope.topic(SITE, GW, "gap", STREAM), payload


def records_in(*outs: Path) -> list[str]:
    found = []
    for out in outs:
        for path in sorted(out.glob("*.json")):
            bundle = json.loads(path.read_text())
            Bundle.model_validate(bundle)
            found += [
                e["resource"]["identifier"][0]["value"]
                for e in bundle["entry"]
                if e["resource"]["resourceType"] == "Observation"
            ]
    return found


def ids(seqs: range | list[int], stream: str = STREAM) -> list[str]:
    return [f"{GW}/{stream}/{s}" for s in seqs]


async def publish(broker: LocalBroker, messages: list[tuple[str, bytes]]) -> None:
    """Publish at QoS 1; each call returns after the broker's PUBACK."""
    async with aiomqtt.Client(
        broker.host, broker.port, protocol=aiomqtt.ProtocolVersion.V5
    ) as client:
        for topic, payload in messages:
            await client.publish(topic, payload, qos=1)


@contextlib.asynccontextmanager
async def running(
    ingestor: Ingestor, broker: LocalBroker, **kw: Any
) -> AsyncIterator[asyncio.Task[None]]:
    """A consumer task, subscribed before the block starts, stopped after it."""
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(consume(ingestor, broker.host, broker.port, stop, ready=ready, **kw))
    await wait_until(lambda: ready.is_set() or task.done(), what="consumer subscribed")
    if task.done():
        task.result()
    try:
        yield task
    finally:
        stop.set()
        if not task.done():
            await task


async def test_end_to_end_exactly_once_gaps_and_restart(
    broker: LocalBroker, tmp_path: Path
) -> None:
    state, out = tmp_path / "state.sqlite", tmp_path / "out"
    with Ingestor(state, DirectorySink(out)) as ing:
        async with running(ing, broker):
            await publish(
                broker,
                [
                    message([1, 2, 3]),
                    message([1, 2, 3]),  # resend
                    message([4, 5]),
                    message([9, 10]),  # 6..8 missing
                    message([2, 3, 4]),  # resend, overlapping
                ],
            )
            await wait_until(lambda: ing.stats.messages == 5, what="5 messages")
            assert (ing.stats.records_new, ing.stats.duplicates) == (7, 6)
            assert ing.open_gaps() == [Gap(GW, STREAM, 6, 8)]
            assert (ing.stats.gaps_open, ing.stats.missing_records) == (1, 3)

            await publish(broker, [message([6, 7, 8])])  # the missing records arrive
            await wait_until(lambda: ing.stats.messages == 6, what="6 messages")
            assert ing.open_gaps() == []
            assert ing.stats.gaps_open == 0

    # a new consumer process on the same state file still knows what it has
    with Ingestor(state, DirectorySink(out)) as ing:
        async with running(ing, broker):
            await publish(broker, [message([1, 2, 3]), message([9, 10, 11]), message([14])])
            await wait_until(lambda: ing.stats.messages == 3, what="3 messages after restart")
            assert (ing.stats.records_new, ing.stats.duplicates) == (2, 5)
            assert ing.open_gaps() == [Gap(GW, STREAM, 12, 13)]
            await publish(broker, [gap_message(12, 13)])  # the gateway says: evicted
            await wait_until(lambda: ing.stats.messages == 4, what="gap report")
            assert ing.open_gaps() == [] and ing.stats.lost_records == 2

    got = records_in(out)
    assert sorted(got) == sorted(ids([*range(1, 12), 14]))  # every record exactly once


async def test_two_consumers_of_one_group_share_the_work(
    broker: LocalBroker, tmp_path: Path
) -> None:
    state = tmp_path / "group-state.sqlite"  # one ledger for the group: dedup across members
    out_a, out_b = tmp_path / "a", tmp_path / "b"
    streams = [f"{DEVICE}.{n}" for n in range(8)]  # 86 messages: above RECEIVE_MAXIMUM
    batches = [message([2 * k + 1, 2 * k + 2], stream=s) for s in streams for k in range(8)]
    resends = batches[::3]
    with (
        Ingestor(state, DirectorySink(out_a)) as a,
        Ingestor(state, DirectorySink(out_b)) as b,
    ):
        async with running(a, broker, group="fhir"), running(b, broker, group="fhir"):
            await publish(broker, batches + resends)
            await wait_until(
                lambda: a.stats.messages + b.stats.messages == len(batches) + len(resends),
                what="every message consumed once by the group",
            )
        assert a.open_gaps() == b.open_gaps() == []  # one ledger: no gap between members
    assert a.stats.messages > 0 and b.stats.messages > 0  # the broker split the work
    assert a.stats.records_new + b.stats.records_new == 2 * len(batches)
    assert a.stats.duplicates + b.stats.duplicates == 2 * len(resends)
    together = records_in(out_a, out_b)
    expected = [i for s in streams for i in ids(range(1, 17), stream=s)]
    assert sorted(together) == sorted(expected)  # each record in exactly one file


async def test_unacknowledged_message_comes_back_after_a_crash(
    broker: LocalBroker, tmp_path: Path
) -> None:
    """The PUBACK follows the commit: a consumer that fails before it gets the message again."""

    class BrokenDisk:
        def write(self, name: str, bundle: Any) -> str:
            raise IngestError("disk failed")

    state, out = tmp_path / "state.sqlite", tmp_path / "out"
    with Ingestor(state, BrokenDisk()) as ing:
        stop, ready = asyncio.Event(), asyncio.Event()
        task = asyncio.create_task(
            consume(ing, broker.host, broker.port, stop, client_id="ingest-1", ready=ready)
        )
        await wait_until(ready.is_set, what="consumer subscribed")
        await publish(broker, [message([1, 2])])
        with pytest.raises(IngestError, match="disk failed"):
            await task
        assert ing.stats.messages == 0
    await publish(broker, [message([3])])  # sent while no consumer runs: queued by the session

    with Ingestor(state, DirectorySink(out)) as ing:
        async with running(ing, broker, client_id="ingest-1"):
            await wait_until(lambda: ing.stats.records_new == 3, what="redelivered messages")
    assert sorted(records_in(out)) == sorted(ids([1, 2, 3]))


async def test_consumer_reconnects_after_a_broker_restart(
    broker: LocalBroker, tmp_path: Path
) -> None:
    with Ingestor(tmp_path / "state.sqlite") as ing:
        async with running(ing, broker, backoff=Backoff(base_s=0.05, cap_s=0.2)) as task:
            await publish(broker, [message([1])])
            await wait_until(lambda: ing.stats.messages == 1, what="first message")
            broker.stop()
            broker.start()
            # the consumer resubscribes on its own; publish until it has the message
            deadline = time.monotonic() + 20
            while ing.stats.messages < 2:
                assert not task.done() and time.monotonic() < deadline, "no resubscribe"
                await publish(broker, [message([2])])
                await asyncio.sleep(0.05)
    assert ing.stats.records_new == 2


async def test_unreachable_broker_fails_at_once(tmp_path: Path) -> None:
    with (
        Ingestor(tmp_path / "state.sqlite") as ing,
        pytest.raises(BrokerUnavailableError, match="cannot subscribe"),
    ):
        await consume(ing, "127.0.0.1", free_port(), asyncio.Event())


async def test_canary_aiomqtt_internals_used_for_manual_ack() -> None:
    """aiomqtt 2.x has no manual-ack API; the consumer uses its paho client for it."""
    client = aiomqtt.Client("127.0.0.1", 1883)
    assert isinstance(client._client, paho.Client)
    assert callable(client._client.manual_ack_set) and callable(client._client.ack)
