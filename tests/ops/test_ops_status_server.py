"""The status server in-process against a real gateway reading Masimo simulators on ptys:
JSON API, Prometheus text, server-sent events, token auth, read-only, stopped data dir."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import sqlite3
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from ops_ward import PATIENT_IDS, poll, running_ward
from prometheus_client.parser import text_string_to_metric_families

from gateway.broker import LocalBroker
from gateway.runtime import BUFFER_FILE, Gateway
from gateway.web.server import COOKIE, StatusServer

TOKEN = "ops-test-token-0123456789abcdef"
RISKS = ("low", "low-medium", "medium", "high")


async def get_json(session: aiohttp.ClientSession, url: str, **kw: Any) -> dict[str, Any]:
    async with session.get(url, **kw) as r:
        assert r.status == 200, await r.text()
        body: dict[str, Any] = await r.json()
        return body


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


async def test_api_and_metrics_follow_the_running_gateway(
    tmp_path: Path, broker: LocalBroker
) -> None:
    async with running_ward(tmp_path, beds=3, mqtt_port=broker.port) as ward:
        gw = ward.gateway
        assert gw.pipeline is not None
        pipeline = gw.pipeline
        await poll(lambda: min(pipeline.ingested.values(), default=0) >= 30, what="records")
        async with aiohttp.ClientSession() as session:
            # wait until the page has a trend and NEWS2 for every patient
            async def ready() -> dict[str, Any]:
                while True:
                    doc = await get_json(session, ward.base_url + "/api/status")
                    pats = doc["patients"]
                    if all(
                        p["news2"] and any(len(v["trend"]) >= 3 for v in p["vitals"]) for p in pats
                    ):
                        return doc
                    await asyncio.sleep(0.1)

            doc = await asyncio.wait_for(ready(), 30)
            assert doc["gateway"] == "ops-gw" and doc["running"] and doc["in_process"]
            assert [d["id"] for d in doc["devices"]] == ["bed01-spo2", "bed02-spo2", "bed03-spo2"]
            for d in doc["devices"]:
                assert d["state"] == "connected"
                assert d["records"] > 0 and d["parse_errors"] == 0
                assert d["link_quality_pct"] == 100.0
            assert [p["id"] for p in doc["patients"]] == list(PATIENT_IDS[:3])
            assert [p["bed"] for p in doc["patients"]] == ["bed-01", "bed-02", "bed-03"]
            sent = {i: {s.spo2 for s in sim.sent} for i, sim in enumerate(ward.sims)}
            for i, p in enumerate(doc["patients"]):
                spo2 = next(v for v in p["vitals"] if v["label"] == "SpO2")
                assert spo2["unit"] == "%"
                assert spo2["value"] is None or int(spo2["value"]) in sent[i]
                assert all(x is None or int(x) in sent[i] for x in spo2["trend"])
                n = p["news2"]
                assert n["risk"] in RISKS and n["partial"] is True
                assert "respiration_rate" in n["missing"]  # no device measures RR
            # NEWS2 manual inputs: p-0002 is "V" (3 points alone), p-0003 "C" + oxygen (5)
            assert doc["patients"][1]["news2"]["total"] >= 3
            assert doc["patients"][1]["news2"]["risk"] != "low"
            assert doc["patients"][2]["news2"]["total"] >= 5
            assert doc["patients"][2]["news2"]["risk"] in ("medium", "high")
            up = doc["uplink"]
            assert up["connected"] and up["state"] == "connected"
            assert up["target"] == f"127.0.0.1:{broker.port}"

            async with session.get(ward.base_url + "/metrics") as r:
                assert r.status == 200
                assert r.headers["Content-Type"].startswith("text/plain")
                first = samples(await r.text())
            # security figures: TLS health and sealed rows that failed authentication
            assert ("edgetwin_tls_handshake_failures_total", ()) in first
            assert first[("edgetwin_buffer_unreadable_rows", ())] == 0
            await poll(
                lambda: (
                    min(pipeline.ingested.values())
                    > max(
                        v
                        for (name, _), v in first.items()
                        if name == "edgetwin_device_records_total"
                    )
                ),
                what="more records",
            )
            async with session.get(ward.base_url + "/metrics") as r:
                second = samples(await r.text())
        for dev in ("bed01-spo2", "bed02-spo2", "bed03-spo2"):
            key = ("edgetwin_device_records_total", (("device", dev),))
            assert 0 < first[key] < second[key] <= pipeline.ingested[dev]
            assert second[("edgetwin_device_connected", (("device", dev), ("kind", "masimo")))] == 1
            assert second[("edgetwin_device_parse_errors_total", (("device", dev),))] == 0
            assert second[("edgetwin_device_reconnects_total", (("device", dev),))] == 0
        assert second[("edgetwin_uplink_connected", ())] == 1
        assert second[("edgetwin_uplink_alarm_connection_up", ())] == 1
        assert second[("edgetwin_uplink_alarm_connection_failures_total", ())] == 0
        assert second[("edgetwin_uplink_acked_records_total", ())] > 0
        assert second[("edgetwin_buffer_bytes", ())] > 0
        assert gw.buffer is not None
        waits = second[("edgetwin_buffer_write_waits_total", ())]
        assert 0 <= waits <= gw.buffer.write_waits  # a counter of the live buffer
        yields = second[("edgetwin_buffer_write_yields_total", ())]
        assert 0 <= yields <= gw.buffer.write_yields
        assert gw.loop_errors is not None  # the gateway's loop handler, counting races
        races = second[("edgetwin_uplink_closed_socket_watches_total", ())]
        assert races == gw.loop_errors.count == 0  # no broker reset in this test
        assert ("edgetwin_buffer_oldest_age_seconds", ()) in second
        assert ("edgetwin_uplink_lag_seconds", ()) in second
        priorities = {
            dict(labels)["priority"] for name, labels in second if name == "edgetwin_alarms_active"
        }
        assert priorities == {"high", "medium", "low"}
        active = sum(v for (name, _), v in second.items() if name == "edgetwin_alarms_active")
        assert active >= 0
        text_labels = " ".join(str(k) for k in second)
        assert "p-000" not in text_labels  # no patient id in any metric


async def test_events_stream_changing_values(tmp_path: Path) -> None:
    async with running_ward(tmp_path, beds=2) as ward:
        events: list[dict[str, Any]] = []
        ids: list[int] = []
        async with (
            aiohttp.ClientSession() as session,
            session.get(ward.base_url + "/events") as r,
        ):
            assert r.status == 200
            assert r.headers["Content-Type"].startswith("text/event-stream")

            async def read() -> None:
                event: dict[str, str] = {}
                async for raw in r.content:
                    line = raw.decode().rstrip("\n")
                    if not line:
                        if "data" in event:
                            ids.append(int(event["id"]))
                            events.append(json.loads(event["data"]))
                            if len(events) >= 4 and _records(events[-1]) > _records(events[0]):
                                return
                        event = {}
                    elif not line.startswith(":"):
                        key, _, value = line.partition(":")
                        event[key] = value.strip()

            await asyncio.wait_for(read(), 30)
        assert ids == sorted(ids) and len(set(ids)) == len(ids)
        assert events[-1]["generated_ns"] > events[0]["generated_ns"]
        assert _records(events[-1]) > _records(events[0])


def _records(doc: dict[str, Any]) -> int:
    return sum(d["records"] for d in doc["devices"])


async def test_token_is_required_when_configured(tmp_path: Path) -> None:
    async with running_ward(tmp_path, beds=1, token=TOKEN) as ward:
        url = ward.base_url
        async with aiohttp.ClientSession() as session:
            for path in ("/", "/api/status", "/events", "/metrics", "/static/app.js"):
                async with session.get(url + path) as r:
                    assert r.status == 401, path
                    assert r.headers["WWW-Authenticate"].startswith("Bearer")
            async with session.get(
                url + "/api/status", headers={"Authorization": "Bearer wrong-token-xxxxxxxx"}
            ) as r:
                assert r.status == 401
            doc = await get_json(
                session, url + "/api/status", headers={"Authorization": f"Bearer {TOKEN}"}
            )
            assert doc["gateway"] == "ops-gw"
            async with session.get(
                url + "/metrics", headers={"Authorization": f"Bearer {TOKEN}"}
            ) as r:
                assert r.status == 200
        # ?token= once sets an HttpOnly cookie that the page's EventSource then uses
        jar = aiohttp.CookieJar(unsafe=True)
        async with aiohttp.ClientSession(cookie_jar=jar) as session:
            async with session.get(url + f"/?token={TOKEN}") as r:
                assert r.status == 200
                assert "HttpOnly" in r.headers["Set-Cookie"]
            assert any(c.key == COOKIE for c in jar)
            assert (await get_json(session, url + "/api/status"))["gateway"] == "ops-gw"


async def test_read_only_and_security_headers(tmp_path: Path) -> None:
    async with running_ward(tmp_path, beds=1) as ward, aiohttp.ClientSession() as session:
        for method in ("POST", "PUT", "DELETE"):
            async with session.request(method, ward.base_url + "/api/status") as r:
                assert r.status == 405, method
        async with session.get(ward.base_url + "/") as r:
            assert r.status == 200
            csp = r.headers["Content-Security-Policy"]
            assert "script-src 'self'" in csp and "default-src 'none'" in csp
            html = await r.text()
        assert "http://" not in html and "https://" not in html  # no CDN
        async with session.get(ward.base_url + "/static/app.js") as r:
            js = await r.text()
        assert "EventSource" in js and "innerHTML" not in js
        async with session.get(ward.base_url + "/static/../server.py") as r:
            assert r.status == 404


async def test_serves_a_stopped_gateways_data_dir(tmp_path: Path) -> None:
    async with running_ward(tmp_path, beds=2, serve=False) as ward:
        assert ward.gateway.pipeline is not None
        pipeline = ward.gateway.pipeline
        await poll(lambda: min(pipeline.ingested.values(), default=0) >= 20, what="records")
        config = ward.gateway.config
    db = sqlite3.connect(config.data_dir / BUFFER_FILE)
    committed = dict(
        db.execute("SELECT device_id, sum(committed) FROM streams GROUP BY device_id").fetchall()
    )
    db.close()
    server = StatusServer(Gateway(config), port=0)  # never run: only its data dir is read
    task = asyncio.create_task(server.run())
    try:
        await poll(server.started.is_set, what="listening")
        async with aiohttp.ClientSession() as session:
            doc = await get_json(session, f"http://127.0.0.1:{server.bound_port}/api/status")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert doc["running"] is False and doc["in_process"] is False
    assert doc["uplink"]["enabled"] is False
    for d in doc["devices"]:
        assert d["state"] == "stopped"
        assert d["records"] == committed[d["id"]] > 0
    for p in doc["patients"]:
        assert p["news2"] is not None and p["news2"]["risk"] in RISKS
        assert p["vitals"], "latest values from the buffer"


async def test_a_port_in_use_is_logged_not_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with running_ward(tmp_path, beds=1, serve=False) as ward:
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            with caplog.at_level(logging.ERROR, logger="gateway.web.server"):
                await asyncio.wait_for(StatusServer(ward.gateway, port=port).run(), 10)
    assert any("status page disabled" in r.getMessage() for r in caplog.records)
