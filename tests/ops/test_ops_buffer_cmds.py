"""``edgetwin buffer inspect|export`` on a real buffer filled by a gateway with no broker,
and the progress helper (drawn only on a terminal)."""

from __future__ import annotations

import io
import json
import os
import sqlite3
import sys
import types
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from ops_cli import edgetwin
from ops_ward import poll, running_ward

from gateway import envelope
from gateway.commands.buffer import Progress, inspect_buffer
from gateway.errors import BufferError_
from gateway.runtime import BUFFER_FILE


@pytest_asyncio.fixture
async def data_dir(tmp_path: Path) -> AsyncIterator[Path]:
    """A stopped gateway's data dir with a few hundred records waiting (no broker)."""
    async with running_ward(tmp_path, beds=2, serve=False, interval_s=0.02) as ward:
        pipeline = ward.gateway.pipeline
        assert pipeline is not None
        await poll(lambda: sum(pipeline.ingested.values()) >= 400, what="records")
        path = ward.gateway.config.data_dir
    yield path


def waiting(data_dir: Path) -> tuple[int, int]:
    db = sqlite3.connect(data_dir / BUFFER_FILE)
    rows, records = db.execute("SELECT count(*), sum(n) FROM outbox").fetchone()
    db.close()
    return rows, records


async def test_inspect_counts_what_waits(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    rows, records = waiting(data_dir)
    report = inspect_buffer(data_dir)
    assert (report["rows"], report["records"]) == (rows, records) and records >= 400
    db = sqlite3.connect(data_dir / BUFFER_FILE)
    committed = dict(db.execute("SELECT stream_id, committed FROM streams").fetchall())
    db.close()
    for s in report["streams"]:
        if s["kind"] not in ("alarm", "twin", "event"):
            assert s["records"] == committed[s["stream"]]  # nothing acked without a broker
        assert s["oldest_age_s"] >= 0
    kinds = [s["kind"] for s in report["streams"]]
    assert kinds.index("numeric") > max(i for i, k in enumerate(kinds) if k in ("alarm", "twin"))
    assert edgetwin(monkeypatch, "buffer", "inspect", "--data-dir", str(data_dir)) == 0
    out = capsys.readouterr().out
    assert f"{records} records in {rows} batches waiting" in out
    assert "bed01-spo2.150456" in out
    assert edgetwin(monkeypatch, "buffer", "inspect", "--data-dir", str(data_dir), "--json") == 0
    assert json.loads(capsys.readouterr().out)["records"] == records


async def test_export_jsonl_is_every_envelope_once(
    data_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    rows, records = waiting(data_dir)
    out = tmp_path / "export.jsonl"
    assert (
        edgetwin(monkeypatch, "buffer", "export", "--data-dir", str(data_dir), "--out", str(out))
        == 0
    )
    assert f"{rows} envelopes ({records} records)" in capsys.readouterr().err
    lines = out.read_bytes().splitlines()
    assert len(lines) == rows
    bodies = [envelope.decode(line) for line in lines]
    assert sum(len(b["samples"]) for b in bodies) == records
    seqs: dict[str, list[int]] = {}
    for b in bodies:
        assert b["gateway"] == "ops-gw"
        seqs.setdefault(b["stream"], []).extend(s["seq"] for s in b["samples"])
    for stream, numbers in seqs.items():
        assert sorted(numbers) == list(range(1, len(numbers) + 1)), stream
    assert waiting(data_dir) == (rows, records)  # export leaves the outbox as it was
    assert not list(tmp_path.glob(".export.jsonl.partial-*"))
    # to standard output as well
    assert edgetwin(monkeypatch, "buffer", "export", "--data-dir", str(data_dir)) == 0
    assert capsys.readouterr().out.encode().splitlines() == lines


async def test_export_fhir_uses_the_mapper_and_skips_unmapped(
    data_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake = types.ModuleType("gateway.fhir")

    def to_bundle(body: dict[str, Any]) -> dict[str, Any] | None:
        if body["kind"] not in ("numeric", "wave"):
            return None
        return {"resourceType": "Bundle", "type": "transaction", "stream": body["stream"]}

    fake.to_bundle = to_bundle  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "gateway.fhir", fake)
    rows, _ = waiting(data_dir)
    out = tmp_path / "export.fhir.ndjson"
    code = edgetwin(
        monkeypatch, "buffer", "export", "--data-dir", str(data_dir), "--format", "fhir",
        "--out", str(out),
    )  # fmt: skip
    assert code == 0
    bundles = [json.loads(x) for x in out.read_text().splitlines()]
    db = sqlite3.connect(data_dir / BUFFER_FILE)
    (numeric,) = db.execute(
        "SELECT count(*) FROM outbox WHERE kind IN ('numeric', 'wave')"
    ).fetchone()
    db.close()
    assert len(bundles) == numeric > 0
    assert all(b["resourceType"] == "Bundle" for b in bundles)
    assert (
        f"{numeric} FHIR bundles, {rows - numeric} envelopes not mapped" in capsys.readouterr().err
    )


async def test_export_fhir_without_the_module_is_a_clear_error(
    data_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setitem(sys.modules, "gateway.fhir", None)  # as if gateway/fhir.py were absent
    out = tmp_path / "x.ndjson"
    code = edgetwin(
        monkeypatch, "buffer", "export", "--data-dir", str(data_dir), "--format", "fhir",
        "--out", str(out),
    )  # fmt: skip
    assert code == 1
    assert "FHIR export needs gateway/fhir.py" in capsys.readouterr().err
    assert not out.exists()


async def test_export_fhir_with_the_real_mapper(data_dir: Path) -> None:
    fhir = pytest.importorskip("gateway.fhir", reason="gateway/fhir.py not in this tree")
    assert callable(getattr(fhir, "to_bundle", None) or getattr(fhir, "envelope_to_bundle", None))
    from gateway.commands.buffer import export_buffer

    sink = io.BytesIO()
    counts = export_buffer(data_dir, sink, "fhir")
    bundles = [json.loads(x) for x in sink.getvalue().splitlines()]
    assert len(bundles) == counts["bundles"] > 0
    assert counts["bundles"] + counts["skipped"] == counts["envelopes"]
    assert all(b["resourceType"] == "Bundle" for b in bundles)


def test_missing_buffer_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(BufferError_, match="no gateway buffer"):
        inspect_buffer(tmp_path)


def test_progress_draws_only_on_a_terminal() -> None:
    quiet = io.StringIO()
    with Progress(10, "exporting", stream=quiet) as p:
        p.update(5)
        p.update(5)
    assert quiet.getvalue() == ""
    master, slave = os.openpty()
    try:
        with os.fdopen(slave, "w", closefd=False) as tty:
            assert Progress(1, "x", stream=tty).enabled
        shown = io.StringIO()
        with Progress(4, "exporting", stream=shown, enabled=True, unit=" batches") as p:
            p.update(1)
            p.set(4)
        assert shown.getvalue().endswith("100% 4/4 batches\n")
        assert "[" + "#" * 30 + "]" in shown.getvalue()
        assert Progress(None, "scanning", enabled=True).render() == "scanning 0"
    finally:
        os.close(master)
        os.close(slave)
