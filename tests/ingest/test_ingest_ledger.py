"""The consumer core without MQTT: dedup, gaps, state across restarts, outputs, rejects."""

from __future__ import annotations

import http.server
import itertools
import json
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway import envelope
from gateway.ingest import (
    DirectorySink,
    FhirServerSink,
    Gap,
    IngestError,
    Ingestor,
    bundle_name,
    covered,
    holes,
    merge,
)
from gateway.model import DeviceEvent, EventKind, Measurement, Quality, ReceiveTime

GW, SITE, PATIENT, DEVICE = "gw01", "ward7", "p-0042", "bed01-oxi"
STREAM = f"{DEVICE}.150456"
T0 = 1_700_000_000_000_000_000


def message(seqs: list[int], stream: str = STREAM, patient: str = PATIENT) -> tuple[str, bytes]:
    """(topic, payload) of one numeric envelope, built by the gateway's own encoder."""
    records = [
        Measurement(
            DEVICE, stream, 150456, "%", 90.0 + s % 10, Quality(0), ReceiveTime(T0 + s, 0), seq=s
        )
        for s in seqs
    ]
    payload = envelope.encode_batch(records, gateway=GW, site=SITE, patient=patient)
    return envelope.topic(SITE, GW, "numeric", stream), payload


def gap_message(first: int, last: int, stream: str = STREAM) -> tuple[str, bytes]:
    payload = envelope.encode_gap(
        gateway=GW, site=SITE, stream=stream, first=first, last=last, reason="evicted", t_ns=T0
    )
    return envelope.topic(SITE, GW, "gap", stream), payload


def records_in(out: Path) -> list[str]:
    """Observation identifiers across every Bundle file in ``out``."""
    found = []
    for path in sorted(out.glob("*.json")):
        bundle = json.loads(path.read_text())
        Bundle.model_validate(bundle)
        for entry in bundle["entry"]:
            if entry["resource"]["resourceType"] == "Observation":
                found.append(entry["resource"]["identifier"][0]["value"])
    return found


def ids(seqs: list[int] | range, stream: str = STREAM) -> list[str]:
    return [f"{GW}/{stream}/{s}" for s in seqs]


@pytest.fixture
def out(tmp_path: Path) -> Path:
    return tmp_path / "out"


@pytest.fixture
def ingestor(tmp_path: Path, out: Path) -> Iterator[Ingestor]:
    with Ingestor(tmp_path / "state.sqlite", DirectorySink(out)) as ing:
        yield ing


# -- dedup ---------------------------------------------------------------------------------


def test_duplicates_are_dropped(ingestor: Ingestor, out: Path) -> None:
    first = ingestor.handle(*message([1, 2, 3]))
    again = ingestor.handle(*message([1, 2, 3]))
    overlap = ingestor.handle(*message([2, 3, 4, 5]))
    assert first.new == (1, 2, 3) and first.duplicates == 0
    assert again.new == () and again.duplicates == 3 and again.written is None
    assert overlap.new == (4, 5) and overlap.duplicates == 2
    assert sorted(p.name for p in out.iterdir()) == [
        "gw01__bed01-oxi.150456__1-3.json",
        "gw01__bed01-oxi.150456__4-5.json",
    ]
    assert records_in(out) == ids([1, 2, 3, 4, 5])  # only new records go into a Bundle
    s = ingestor.stats
    assert (s.messages, s.records_new, s.duplicates, s.bundles) == (3, 5, 5, 2)


def test_repeated_seq_inside_one_message_counts_once(ingestor: Ingestor, out: Path) -> None:
    outcome = ingestor.handle(*message([1, 2, 2, 3]))
    assert outcome.new == (1, 2, 3) and outcome.duplicates == 1
    assert records_in(out) == ids([1, 2, 3])


def test_streams_are_independent(ingestor: Ingestor) -> None:
    ingestor.handle(*message([1, 2]))
    other = ingestor.handle(*message([1, 2], stream=f"{DEVICE}.149530"))
    assert other.new == (1, 2)


# -- gaps ----------------------------------------------------------------------------------


def test_gap_opens_and_late_records_close_it(ingestor: Ingestor) -> None:
    events: list[tuple[str, Gap]] = []
    ingestor.on_gap = lambda what, gap: events.append((what, gap))
    ingestor.handle(*message([1, 2, 3]))
    opened = ingestor.handle(*message([7, 8]))
    assert opened.opened == (Gap(GW, STREAM, 4, 6),)
    assert ingestor.open_gaps() == [Gap(GW, STREAM, 4, 6)]
    assert (ingestor.stats.gaps_open, ingestor.stats.missing_records) == (1, 3)

    middle = ingestor.handle(*message([5]))  # splits the gap in two
    assert middle.closed == (Gap(GW, STREAM, 4, 6),)
    assert middle.opened == (Gap(GW, STREAM, 4, 4), Gap(GW, STREAM, 6, 6))
    assert (ingestor.stats.gaps_open, ingestor.stats.missing_records) == (2, 2)

    rest = ingestor.handle(*message([4, 6]))
    assert rest.new == (4, 6) and rest.opened == ()
    assert ingestor.open_gaps() == []
    assert (ingestor.stats.gaps_open, ingestor.stats.missing_records) == (0, 0)
    assert events == [
        ("opened", Gap(GW, STREAM, 4, 6)),
        ("closed", Gap(GW, STREAM, 4, 6)),
        ("opened", Gap(GW, STREAM, 4, 4)),
        ("opened", Gap(GW, STREAM, 6, 6)),
        ("closed", Gap(GW, STREAM, 4, 4)),
        ("closed", Gap(GW, STREAM, 6, 6)),
    ]


def test_first_seen_seq_is_the_baseline(ingestor: Ingestor) -> None:
    # a consumer joining a running fleet does not report the history before it
    ingestor.handle(*message([1000, 1001]))
    assert ingestor.open_gaps() == []
    earlier = ingestor.handle(*message([998]))  # older data still arrives: accepted
    assert earlier.new == (998,)
    assert ingestor.open_gaps() == [Gap(GW, STREAM, 999, 999)]


def test_gap_report_from_the_gateway_closes_the_gap(ingestor: Ingestor, out: Path) -> None:
    ingestor.handle(*message([1, 2]))
    ingestor.handle(*message([9]))
    assert ingestor.open_gaps() == [Gap(GW, STREAM, 3, 8)]
    report = ingestor.handle(*gap_message(3, 8))
    assert report.closed == (Gap(GW, STREAM, 3, 8),)
    assert ingestor.open_gaps() == []
    assert ingestor.stats.lost_records == 6
    ingestor.handle(*gap_message(3, 8))  # the report itself resent: counted once
    assert ingestor.stats.lost_records == 6
    # a record announced lost that still turns up (sent before it was evicted) is kept
    late = ingestor.handle(*message([4]))
    assert late.new == (4,)
    assert sorted(records_in(out)) == sorted(ids([1, 2, 9, 4]))


def test_unmapped_kinds_are_deduplicated_without_output(ingestor: Ingestor, out: Path) -> None:
    stream = f"{DEVICE}.event"
    records = [
        DeviceEvent(DEVICE, stream, EventKind.CONNECTED, ReceiveTime(T0, 0), seq=s) for s in (1, 3)
    ]
    payload = envelope.encode_batch(records, gateway=GW, site=SITE, patient=PATIENT)
    topic = envelope.topic(SITE, GW, "event", stream)
    first = ingestor.handle(topic, payload)
    again = ingestor.handle(topic, payload)
    assert first.new == (1, 3) and again.duplicates == 2
    assert first.written is None and list(out.iterdir()) == []
    assert ingestor.open_gaps() == [Gap(GW, stream, 2, 2)]
    assert ingestor.stats.unmapped == 2 and ingestor.stats.bundles == 0


def test_unknown_kind_is_deduplicated_not_mapped(ingestor: Ingestor, out: Path) -> None:
    # a newer gateway may send kinds this consumer does not know: keep the ledger honest
    topic = envelope.topic(SITE, GW, "spectrum", STREAM)
    payload = _body(kind="spectrum")
    assert ingestor.handle(topic, payload).new == (1,)
    assert ingestor.handle(topic, payload).duplicates == 1
    assert ingestor.stats.unmapped == 2 and ingestor.stats.mapping_errors == 0
    assert list(out.iterdir()) == []


# -- restart -------------------------------------------------------------------------------


def test_state_survives_a_restart(tmp_path: Path, out: Path) -> None:
    state = tmp_path / "state.sqlite"
    with Ingestor(state, DirectorySink(out)) as first:
        first.handle(*message([1, 2, 3]))
        first.handle(*message([6]))
    with Ingestor(state, DirectorySink(out)) as second:
        assert second.open_gaps() == [Gap(GW, STREAM, 4, 5)]
        assert (second.stats.gaps_open, second.stats.missing_records) == (1, 2)  # from state
        resent = second.handle(*message([1, 2, 3]))
        assert resent.new == () and resent.duplicates == 3
        fill = second.handle(*message([4, 5]))
        assert fill.closed == (Gap(GW, STREAM, 4, 5),)
    assert sorted(records_in(out)) == sorted(ids([1, 2, 3, 4, 5, 6]))


def test_newer_state_schema_is_refused(tmp_path: Path) -> None:
    import sqlite3

    state = tmp_path / "state.sqlite"
    db = sqlite3.connect(state)
    db.execute("PRAGMA user_version=99")
    db.close()
    with pytest.raises(IngestError, match="schema 99"):
        Ingestor(state)


def test_garbage_state_file_is_one_clear_error(tmp_path: Path) -> None:
    state = tmp_path / "state.sqlite"
    state.write_bytes(b"this is not a database" * 100)
    with pytest.raises(IngestError, match="state file"):
        Ingestor(state)


# -- output failures -----------------------------------------------------------------------


class FailingSink:
    def __init__(self) -> None:
        self.failing = False
        self.written: list[str] = []

    def write(self, name: str, bundle: Any) -> str:
        if self.failing:
            raise IngestError("disk on fire")
        self.written.append(name)
        return name


def test_failed_write_records_nothing(tmp_path: Path) -> None:
    sink = FailingSink()
    with Ingestor(tmp_path / "state.sqlite", sink) as ing:
        ing.handle(*message([1]))
        sink.failing = True
        with pytest.raises(IngestError):
            ing.handle(*message([3, 4]))
        sink.failing = False
        assert ing.open_gaps() == []  # 3..4 not recorded, so no gap yet either
        assert (ing.stats.messages, ing.stats.records_new) == (1, 1)
        retry = ing.handle(*message([3, 4]))  # redelivered: now written, exactly once
        assert retry.new == (3, 4)
        assert sink.written == [
            "gw01__bed01-oxi.150456__1-1.json",
            "gw01__bed01-oxi.150456__3-4.json",
        ]


def test_unwritable_directory_is_an_ingest_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(IngestError, match="output directory"):
        DirectorySink(blocker / "out")


def test_files_are_written_whole_and_no_temporaries_stay(ingestor: Ingestor, out: Path) -> None:
    for n in range(1, 30, 3):
        ingestor.handle(*message([n, n + 1, n + 2]))
    names = sorted(p.name for p in out.iterdir())
    assert len(names) == 10 and all(n.endswith(".json") for n in names)
    assert len(records_in(out)) == 30


def test_bundle_name_is_safe_and_unambiguous() -> None:
    assert bundle_name("gw01", "bed01.150456", 4, 9) == "gw01__bed01.150456__4-9.json"
    odd = bundle_name("gw 01", "../x", 1, 1)
    assert "/" not in odd and " " not in odd and not odd.startswith(".")
    assert bundle_name("gw_01", "s", 1, 1) != bundle_name("gw 01", "s", 1, 1)


# -- FHIR server output --------------------------------------------------------------------


class _Recorder(http.server.BaseHTTPRequestHandler):
    posts: list[tuple[str, dict[str, str], bytes]]
    status = 200

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.posts.append((self.path, dict(self.headers), body))
        answer = json.dumps({"resourceType": "Bundle", "type": "transaction-response"}).encode()
        self.send_response(self.status)
        self.send_header("Content-Type", "application/fhir+json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def fhir_server() -> Iterator[tuple[str, type[_Recorder]]]:
    handler = type("Handler", (_Recorder,), {"posts": [], "status": 200})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/fhir/", handler
    server.shutdown()
    server.server_close()
    thread.join()


def test_bundles_are_posted_to_the_fhir_base_url(
    tmp_path: Path, fhir_server: tuple[str, type[_Recorder]]
) -> None:
    url, handler = fhir_server
    with Ingestor(tmp_path / "state.sqlite", FhirServerSink(url)) as ing:
        ing.handle(*message([1, 2]))
        ing.handle(*message([1, 2]))  # duplicate: not posted again
    [(path, headers, body)] = handler.posts
    assert path == "/fhir"  # transaction: POST [base]
    assert headers["Content-Type"] == "application/fhir+json"
    bundle = json.loads(body)
    Bundle.model_validate(bundle)
    assert bundle["type"] == "transaction"
    assert len(bundle["entry"]) == 5  # Patient, gateway, device, 2 Observations


def test_server_error_is_an_ingest_error_and_retried(
    tmp_path: Path, fhir_server: tuple[str, type[_Recorder]]
) -> None:
    url, handler = fhir_server
    handler.status = 500
    with Ingestor(tmp_path / "state.sqlite", FhirServerSink(url)) as ing:
        with pytest.raises(IngestError, match="HTTP 500"):
            ing.handle(*message([1, 2]))
        handler.status = 200
        assert ing.handle(*message([1, 2])).new == (1, 2)
    assert len(handler.posts) == 2


def test_unreachable_server_is_an_ingest_error(tmp_path: Path) -> None:
    from gateway.broker import free_port

    sink = FhirServerSink(f"http://127.0.0.1:{free_port()}/fhir", timeout_s=5)
    with Ingestor(tmp_path / "state.sqlite", sink) as ing, pytest.raises(IngestError):
        ing.handle(*message([1]))


@pytest.mark.parametrize("url", ["ftp://x/fhir", "file:///etc/passwd", "fhir", "http://"])
def test_fhir_url_must_be_http(url: str) -> None:
    with pytest.raises(ValueError, match="FHIR base URL"):
        FhirServerSink(url)


# -- malformed messages --------------------------------------------------------------------


def _body(**changes: Any) -> bytes:
    body = json.loads(message([1])[1])
    body.update(changes)
    return json.dumps(body).encode()


TOPIC = envelope.topic(SITE, GW, "numeric", STREAM)


@pytest.mark.parametrize(
    ("topic", "payload"),
    [
        (TOPIC, b"not json"),
        (TOPIC, b"\xff\xfe"),
        (TOPIC, b"[1, 2]"),
        (TOPIC, b"[" * 100_000),
        (TOPIC, _body(v=2)),
        (TOPIC, _body(gateway="gw99")),
        (TOPIC, _body(stream="other")),
        (TOPIC, _body(site="elsewhere")),
        (TOPIC, _body(samples=[])),
        (TOPIC, _body(samples=[{"seq": 0}])),
        (TOPIC, _body(samples=[{"seq": True}])),
        (TOPIC, _body(samples=[{"seq": 2**63}])),
        (TOPIC, _body(samples=["x"])),
        ("edgetwin/v1/ward7/gw01/numeric", message([1])[1]),
        ("other/v1/ward7/gw01/numeric/s", message([1])[1]),
        (envelope.topic(SITE, GW, "gap", STREAM), _body(kind="gap", seq=[5, 4])),
    ],
)
def test_malformed_messages_are_rejected(ingestor: Ingestor, topic: str, payload: bytes) -> None:
    outcome = ingestor.handle(topic, payload)
    assert outcome.rejected
    assert ingestor.stats.rejected == 1 and ingestor.stats.messages == 0
    assert ingestor.handle(*message([1])).new == (1,)  # nothing was recorded


def test_cbor_and_zstd_envelopes_are_accepted(ingestor: Ingestor, out: Path) -> None:
    pytest.importorskip("gateway.payload")  # metered-link encodings, when present
    cbor2 = pytest.importorskip("cbor2")
    zstandard = pytest.importorskip("zstandard")
    topic, payload = message([1, 2])
    cbor = cbor2.dumps(json.loads(payload))
    ingestor.handle(topic, cbor)
    packed = zstandard.ZstdCompressor().compress(cbor2.dumps(json.loads(message([3])[1])))
    ingestor.handle(topic, packed)
    assert ingestor.stats.rejected == 0
    assert sorted(records_in(out)) == sorted(ids([1, 2, 3]))


def test_status_messages_are_ignored(ingestor: Ingestor) -> None:
    outcome = ingestor.handle(envelope.status_topic(SITE, GW), b'{"v":1,"state":"online"}')
    assert outcome == type(outcome)()
    assert ingestor.stats.rejected == 0 and ingestor.stats.messages == 0


def test_unmappable_envelope_is_recorded_and_counted(ingestor: Ingestor, out: Path) -> None:
    outcome = ingestor.handle(*message([1, 2], patient=""))
    assert outcome.new == (1, 2) and outcome.written is None
    assert ingestor.stats.mapping_errors == 1
    assert ingestor.handle(*message([1, 2], patient="")).duplicates == 2


# -- interval arithmetic and the whole consumer, against set models -----------------------

spans = st.lists(st.tuples(st.integers(1, 60), st.integers(0, 8)), max_size=12).map(
    lambda xs: [(a, a + n) for a, n in xs]
)


@settings(max_examples=200, deadline=None)
@given(spans, st.integers(0, 80))
def test_intervals_match_a_set_model(ranges: list[tuple[int, int]], probe: int) -> None:
    numbers = {n for a, b in ranges for n in range(a, b + 1)}
    merged = merge(ranges)
    assert {n for a, b in merged for n in range(a, b + 1)} == numbers
    assert all(b + 1 < c for (_, b), (c, _) in itertools.pairwise(merged))
    assert covered(merged, probe) == (probe in numbers)
    missing = {n for a, b in holes(ranges) for n in range(a, b + 1)}
    expected = set(range(min(numbers), max(numbers) + 1)) - numbers if numbers else set()
    assert missing == expected


@st.composite
def deliveries(draw: st.DrawFn) -> list[list[int]]:
    """Batches of 1..N as the gateway sends them, then lost, resent and reordered."""
    n = draw(st.integers(1, 40))
    cuts = sorted(draw(st.sets(st.integers(2, n), max_size=10))) if n > 1 else []
    bounds = [1, *cuts, n + 1]
    batches = [list(range(a, b)) for a, b in itertools.pairwise(bounds)]
    sent = [b for b in batches if draw(st.booleans()) or draw(st.booleans())]  # ~25 % lost
    sent += draw(st.lists(st.sampled_from(batches), max_size=6))  # resends
    return draw(st.permutations(sent))


@settings(max_examples=25, deadline=None)  # each example fsyncs a real SQLite file
@given(deliveries())
def test_any_delivery_order_is_exactly_once(delivered: list[list[int]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out"
        with Ingestor(Path(tmp) / "state.sqlite", DirectorySink(out)) as ing:
            for batch in delivered:
                ing.handle(*message(batch))
            got = {s for b in delivered for s in b}
            assert ing.stats.records_new == len(got)
            assert ing.stats.duplicates == sum(map(len, delivered)) - len(got)
            assert sorted(records_in(out)) == sorted(ids(sorted(got)))
            missing = set(range(min(got), max(got) + 1)) - got if got else set()
            assert {n for g in ing.open_gaps() for n in range(g.first, g.last + 1)} == missing
            assert ing.stats.missing_records == len(missing)


class FailsOnSecond(FailingSink):
    """Writes one bundle, then fails, while ``armed``."""

    armed = True

    def write(self, name: str, bundle: Any) -> str:
        self.failing = self.armed and len(self.written) >= 1
        return super().write(name, bundle)


def test_group_commit_is_all_or_nothing(tmp_path: Path) -> None:
    sink = FailsOnSecond()
    with Ingestor(tmp_path / "state.sqlite", sink) as ing:
        with pytest.raises(IngestError):
            ing.handle_many([message([1, 2]), message([3]), message([4])])
        # the first message's file was written, but its sequence numbers were not recorded:
        # redelivered, the group is taken again and nothing counts twice
        assert (ing.stats.messages, ing.stats.records_new) == (0, 0)
        sink.written.clear()
        sink.armed = False
        results = ing.handle_many([message([1, 2]), message([2, 3]), gap_message(5, 5)])
    assert [r.new for r in results] == [(1, 2), (3,), ()]
    assert results[1].duplicates == 1
    assert (ing.stats.messages, ing.stats.records_new, ing.stats.duplicates) == (3, 3, 1)
    assert len(sink.written) == 2
