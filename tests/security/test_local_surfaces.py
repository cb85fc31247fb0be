"""Local surfaces: the status page and /metrics listen on loopback by default, want a bearer
token when one is configured (401 without it, compared in constant time), keep /healthz open
but empty of patient data, and a full gateway run logging JSON at debug level names none of
its configured patients (ids or the names put in their bed labels) in logs or metrics."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import os
import signal
import socket
import sqlite3
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.broker import LocalBroker
from gateway.config import load_config, parse_config
from gateway.desired import DesiredStateHandler, desired_topic
from gateway.logging_json import JsonFormatter
from gateway.runtime import BUFFER_FILE, Gateway
from gateway.twin import PatientTwins
from gateway.web.config import StatusConfig, parse_status_table
from gateway.web.server import StatusServer
from hil.pty_port import PtyPort
from hil.sim.masimo_sim import MasimoSimulator

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "local-surface-token-7f3a9c21b04e"
#: Distinctive pseudonymous ids and, as the only free-text patient field, names in the beds.
PATIENTS = (("pid-QX7731", "Winifred Hartley"), ("pid-ZK0442", "Osvaldo Quintero"))
PROTECTED = ("/", "/static/app.js", "/api/status", "/metrics", "/events")


def idle_gateway(data_dir: Path) -> Gateway:
    """A configured gateway that is not running (the page reads its empty data dir)."""
    cfg = parse_config(
        {
            "gateway": {"id": "surface-gw", "data_dir": str(data_dir)},
            "patients": [{"id": pid, "bed": bed} for pid, bed in PATIENTS],
            "devices": [
                {"id": f"ox-{i}", "kind": "masimo", "patient": pid, "port": "/dev/ttyUSB9"}
                for i, (pid, _) in enumerate(PATIENTS)
            ],
        },
        "<surface test>",
    )
    return Gateway(cfg)


@contextlib.asynccontextmanager
async def serving(gateway: Gateway, token: str | None) -> AsyncIterator[StatusServer]:
    server = StatusServer(gateway, port=0, token=token, interval_s=60)  # default host
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_the_page_listens_on_loopback_unless_told_otherwise(tmp_path: Path) -> None:
    assert StatusConfig().host == "127.0.0.1"
    assert parse_status_table({}, "x.toml").host == "127.0.0.1"
    toml = tmp_path / "gw.toml"
    toml.write_text(
        '[gateway]\nid = "gw"\n[status]\nport = 9000\n[[patients]]\nid = "p-1"\n'
        '[[devices]]\nid = "ox"\nkind = "masimo"\npatient = "p-1"\nport = "/dev/ttyUSB0"\n'
    )
    status = load_config(toml).status
    assert (status.enabled, status.host, status.port) == (True, "127.0.0.1", 9000)


async def test_a_default_server_binds_loopback_only(tmp_path: Path) -> None:
    async with serving(idle_gateway(tmp_path), None) as server:
        runner = server._runner
        assert runner is not None
        hosts = {addr[0] for addr in runner.addresses}
        assert hosts == {"127.0.0.1"}


async def test_every_route_but_healthz_wants_the_bearer_token(tmp_path: Path) -> None:
    async with serving(idle_gateway(tmp_path), TOKEN) as server:
        url = f"http://127.0.0.1:{server.bound_port}"
        wrong = [
            {},
            {"Authorization": f"Bearer {TOKEN[:-1]}x"},  # same length, last character differs
            {"Authorization": f"Bearer {TOKEN[:-1]}"},  # a prefix
            {"Authorization": f"Bearer {TOKEN}0"},  # longer
            {"Authorization": f"Basic {TOKEN}"},  # right secret, wrong scheme
            {"Authorization": "Bearer"},
        ]
        async with aiohttp.ClientSession() as session:
            for path in PROTECTED:
                for headers in wrong:
                    async with session.get(url + path, headers=headers) as r:
                        assert r.status == 401, (path, headers)
                        assert r.headers["WWW-Authenticate"].startswith("Bearer")
                        body = await r.text()
                        assert all(p not in body and b not in body for p, b in PATIENTS)
            good = {"Authorization": f"Bearer {TOKEN}"}
            for path in ("/", "/static/app.js", "/metrics"):
                async with session.get(url + path, headers=good) as r:
                    assert r.status == 200, path
            async with session.get(url + "/api/status", headers=good) as r:
                assert r.status == 200
                doc = await r.text()
            # the token opens the page that does show patients (pseudonymous, by design)
            assert PATIENTS[0][0] in doc
            async with session.get(
                url + "/metrics", headers={"Authorization": f"bearer  {TOKEN} "}
            ) as r:
                assert r.status == 200  # scheme case-insensitive, whitespace tolerated


async def test_healthz_is_open_and_says_nothing_else(tmp_path: Path) -> None:
    gateway = idle_gateway(tmp_path)
    for token in (TOKEN, None):
        async with serving(gateway, token) as server, aiohttp.ClientSession() as session:
            url = f"http://127.0.0.1:{server.bound_port}/healthz"
            async with session.get(url) as r:
                assert r.status == 200
                assert await r.json() == {"status": "ok"}


async def test_tokens_are_compared_in_constant_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)  # what gateway.web.server calls
    async with serving(idle_gateway(tmp_path), TOKEN) as server, aiohttp.ClientSession() as s:
        url = f"http://127.0.0.1:{server.bound_port}/metrics"
        async with s.get(url, headers={"Authorization": "Bearer guess-guess-guess-1"}) as r:
            assert r.status == 401
        async with s.get(url, headers={"Authorization": f"Bearer {TOKEN}"}) as r:
            assert r.status == 200
    assert (b"guess-guess-guess-1", TOKEN.encode()) in calls
    assert (TOKEN.encode(), TOKEN.encode()) in calls


def test_a_token_file_every_user_can_read_is_flagged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "status-token"
    path.write_text(TOKEN + "\n")
    path.chmod(0o640)
    with caplog.at_level(logging.WARNING, logger="gateway.web.config"):
        assert StatusConfig(token_file=str(path)).read_token() == TOKEN
        assert not caplog.records
        path.chmod(0o644)
        assert StatusConfig(token_file=str(path)).read_token() == TOKEN
    (warning,) = caplog.records
    assert "0644" in warning.getMessage() and str(path) in warning.getMessage()
    assert TOKEN not in warning.getMessage()


# -- a full run: JSON logs at debug level and /metrics name no patient ------------------------


def ward_toml(tmp_path: Path, ptys: list[PtyPort], mqtt_port: int, status_port: int) -> Path:
    token_file = tmp_path / "status-token"
    token_file.write_text(TOKEN + "\n")
    token_file.chmod(0o600)
    lines = [
        f'[gateway]\nid = "surface-gw"\nsite = "surface-ward"\ndata_dir = "{tmp_path / "data"}"',
        f"[mqtt]\nport = {mqtt_port}",
        "[buffer]\nflush_interval_ms = 100",
        "[twin]\nsnapshot_interval_s = 0.5",
        f'[status]\nport = {status_port}\ntoken_file = "{token_file}"',
        # a limit every simulated patient crosses, so alarms are raised and logged too
        '[[alarms.limits]]\nvital = "spo2"\nside = "low"\nthreshold = 100\n'
        'priority = "high"\nonset_delay_s = 0.5\nclear_delay_s = 1',
    ]
    for i, ((pid, name), pty) in enumerate(zip(PATIENTS, ptys, strict=True)):
        lines.append(f'[[patients]]\nid = "{pid}"\nbed = "{name}"\nconsciousness = "A"')
        lines.append(
            f'[[devices]]\nid = "bed{i + 1:02d}-spo2"\nkind = "masimo"\npatient = "{pid}"\n'
            f'port = "{pty.path}"'
        )
    path = tmp_path / "ward.toml"
    path.write_text("\n\n".join(lines) + "\n")
    return path


async def fetch(session: aiohttp.ClientSession, url: str, **kw: Any) -> tuple[int, str]:
    try:
        async with session.get(url, **kw) as r:
            return r.status, await r.text()
    except aiohttp.ClientError:
        return 0, ""


async def test_a_full_run_logs_and_exports_no_patient_identity(
    tmp_path: Path, broker: LocalBroker
) -> None:
    ptys = [PtyPort() for _ in PATIENTS]
    sims = [
        asyncio.create_task(MasimoSimulator(p, seed=i, interval_s=0.1).run())
        for i, p in enumerate(ptys)
    ]
    status_port = free_port()
    config = ward_toml(tmp_path, ptys, broker.port, status_port)
    log_file = tmp_path / "gateway.log.jsonl"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("EDGETWIN_LOG_FORMAT", None)
    url = f"http://127.0.0.1:{status_port}"
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with log_file.open("wb") as log_out, (tmp_path / "stdout.txt").open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "gateway.cli",
            "--log-level",
            "debug",
            "--log-format",
            "json",
            "run",
            "--config",
            str(config),
            stdout=out,
            stderr=log_out,
            cwd=tmp_path,
            env=env,
        )
        try:
            async with aiohttp.ClientSession() as session:
                deadline = time.monotonic() + 60
                # run until both patients have a NEWS2 score and an alarm on the page
                while True:
                    assert proc.returncode is None, log_file.read_text()[-3000:]
                    assert time.monotonic() < deadline, "the ward never came up"
                    code, text = await fetch(session, url + "/api/status", headers=auth)
                    if code == 200:
                        pats = json.loads(text)["patients"]
                        if len(pats) == 2 and all(p["news2"] and p["alarms"] for p in pats):
                            break
                    await asyncio.sleep(0.2)
                status_doc = text
                code, metrics = await fetch(session, url + "/metrics", headers=auth)
                assert code == 200
                assert (await fetch(session, url + "/metrics"))[0] == 401
                health_code, health = await fetch(session, url + "/healthz")
                assert health_code == 200
        finally:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
            rc = await asyncio.wait_for(proc.wait(), 60)
            for task in sims:
                task.cancel()
            await asyncio.gather(*sims, return_exceptions=True)
            for p in ptys:
                p.close()
    assert rc == 0, log_file.read_text()[-3000:]

    # the run really handled these patients: the page, the buffer and the metrics show them
    db = sqlite3.connect(tmp_path / "data" / BUFFER_FILE)
    stored = {p for (p,) in db.execute("SELECT DISTINCT patient FROM streams")}
    db.close()
    assert {pid for pid, _ in PATIENTS} <= stored
    for pid, name in PATIENTS:
        assert pid in status_doc and name in status_doc
    assert 'edgetwin_alarms_active{priority="high"} 2.0' in metrics
    assert "bed01-spo2" in metrics  # devices are labelled, patients are not

    lines = log_file.read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines if line.startswith("{")]
    assert len(records) >= 3 and all({"ts", "level", "logger", "msg"} <= set(r) for r in records)
    assert any(r["logger"].startswith("gateway.") for r in records)
    everything = "\n".join(lines) + "\n" + metrics + "\n" + health
    for pid, name in PATIENTS:
        for needle in (pid, name, *name.split()):
            assert needle.lower() not in everything.lower(), f"{needle!r} leaked"


async def test_a_rejected_desired_state_names_no_patient_in_the_logs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    gateway = idle_gateway(tmp_path)
    stored: list[Any] = []

    async def put(record: Any) -> None:
        stored.append(record)

    async def meta(values: dict[str, str]) -> None:
        pass

    handler = DesiredStateHandler(gateway.config, PatientTwins(gateway.config), put, meta)
    pid = PATIENTS[0][0]
    bad = {"version": 2, "patients": {pid: {"consciousness": "Z"}}}
    with caplog.at_level(logging.DEBUG):
        await handler.handle(desired_topic("s", "surface-gw"), json.dumps(bad).encode())
    assert stored and stored[-1].state["status"] == "rejected"  # it was rejected (and said so)
    logged = "\n".join(JsonFormatter().format(r) for r in caplog.records)
    assert "desired state rejected" in logged
    assert pid not in logged
