"""The local status page: an aiohttp server, read-only, bound to loopback unless configured.

Routes (all ``GET``): ``/`` the page, ``/static/*`` its CSS and JS (package data, no CDN),
``/api/status`` the JSON document, ``/events`` the same document pushed every second as
server-sent events, ``/metrics`` Prometheus text, ``/healthz`` a liveness probe. With a token
configured every route but ``/healthz`` wants ``Authorization: Bearer <token>`` (or ``?token=``
once, which sets an HttpOnly cookie so the browser's EventSource can follow); ``/healthz``
stays open for probes and says nothing but that the page is up.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import json
import logging
from importlib import resources
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from gateway.runtime import Gateway
from gateway.web.metrics import make_registry
from gateway.web.reader import read_view
from gateway.web.snapshot import StatusModel

log = logging.getLogger(__name__)

COOKIE = "edgetwin_status_token"
STATIC = {
    "app.js": "text/javascript",
    "app.css": "text/css",
}
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
#: Loggers whose warnings and errors the page lists under "recent errors".
WATCHED_LOGGERS = ("gateway", "drivers", "edge_models")
#: Routes served without a token: they reveal nothing about patients or devices.
OPEN_PATHS = frozenset({"/healthz"})


class StatusServer:
    """Serve the status page of ``gateway`` until cancelled."""

    def __init__(
        self,
        gateway: Gateway,
        host: str = "127.0.0.1",
        port: int = 8080,
        token: str | None = None,
        *,
        interval_s: float = 1.0,
        max_event_clients: int = 32,
    ) -> None:
        self.gateway = gateway
        self.host = host
        self.port = port
        self.token = token or None
        self.interval_s = interval_s
        self.max_event_clients = max_event_clients
        self.model = StatusModel(gateway)
        self.registry = make_registry(self.model)
        self.bound_port: int | None = None
        self.started = asyncio.Event()
        self._doc: dict[str, Any] | None = None
        self._doc_json = b"{}"
        self._version = 0
        self._changed = asyncio.Event()
        self._closing = False
        self._event_clients = 0
        self._static = {name: _asset(name) for name in (*STATIC, "index.html")}
        self._runner: web.AppRunner | None = None
        self.app = self._build_app()

    # -- lifecycle -------------------------------------------------------------------------

    async def run(self) -> None:
        """Listen and push updates until cancelled. A port in use is logged, not raised,
        so the status page can never take the gateway down."""
        try:
            await self.start()
        except OSError as exc:
            log.error(
                "status page disabled: cannot listen on %s:%d (%s); set [status] port "
                "or host, or enabled = false",
                self.host,
                self.port,
                exc,
            )
            return
        try:
            await self._sample_forever()
        finally:
            await self.stop()

    async def start(self) -> None:
        """Bind and start serving (raises ``OSError`` if the address is taken)."""
        if not _is_loopback(self.host) and self.token is None:
            log.warning(
                "status page listens on %s without a token: anyone on that network can read "
                "it; set [status] token_file",
                self.host,
            )
        for name in WATCHED_LOGGERS:
            logging.getLogger(name).addHandler(self.model.errors)
        runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=2.0)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self.port).start()
        except BaseException:
            await runner.cleanup()
            self._detach_log_handler()
            raise
        self._runner = runner
        self.bound_port = int(runner.addresses[0][1])
        try:
            await self.refresh()
        except Exception:  # served as soon as a sample succeeds; never fatal
            log.exception("status page: cannot build the first status")
        self.started.set()
        log.info("status page on http://%s:%d/", self.host, self.bound_port)

    async def stop(self) -> None:
        self._closing = True
        self._changed.set()
        self._detach_log_handler()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    def _detach_log_handler(self) -> None:
        for name in WATCHED_LOGGERS:
            logging.getLogger(name).removeHandler(self.model.errors)

    async def _sample_forever(self) -> None:
        failures = 0
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self.refresh()
                failures = 0
            except Exception:  # the page must keep going whatever one sample hits
                failures += 1
                if failures in (1, 10) or failures % 600 == 0:
                    log.exception("status page: cannot build the status (%d times)", failures)

    async def refresh(self) -> dict[str, Any]:
        """Read the gateway now, publish the document to every event stream, return it."""
        view = await asyncio.to_thread(read_view, self.gateway.config.data_dir)
        doc = self.model.build(view)
        self._doc = doc
        self._doc_json = json.dumps(doc, separators=(",", ":"), allow_nan=False).encode()
        self._version += 1
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()
        return doc

    # -- the application -------------------------------------------------------------------

    def _build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._auth])
        app.router.add_get("/", self._index)
        app.router.add_get("/static/{name}", self._asset)
        app.router.add_get("/api/status", self._status)
        app.router.add_get("/events", self._events)
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/healthz", self._healthz)
        app.on_response_prepare.append(_security_headers)
        app.on_shutdown.append(self._on_shutdown)
        return app

    async def _on_shutdown(self, app: web.Application) -> None:
        self._closing = True
        self._changed.set()

    @web.middleware
    async def _auth(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if self.token is None or request.path in OPEN_PATHS:
            return await handler(request)
        header = request.headers.get("Authorization", "")
        scheme, _, given = header.partition(" ")
        via_query = request.query.get("token", "")
        candidates = [
            given.strip() if scheme.lower() == "bearer" else "",
            request.cookies.get(COOKIE, ""),
            via_query,
        ]
        if not any(c and _same(c, self.token) for c in candidates):
            return web.json_response(
                {"error": "missing or wrong bearer token"},
                status=401,
                headers={"WWW-Authenticate": 'Bearer realm="edgetwin"'},
            )
        response = await handler(request)
        if via_query and _same(via_query, self.token) and not response.prepared:
            response.set_cookie(
                COOKIE, self.token, httponly=True, samesite="Strict", path="/", max_age=86400
            )
        return response

    async def _index(self, request: web.Request) -> web.StreamResponse:
        return web.Response(body=self._static["index.html"], content_type="text/html")

    async def _asset(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name not in STATIC:
            raise web.HTTPNotFound()
        return web.Response(body=self._static[name], content_type=STATIC[name])

    async def _status(self, request: web.Request) -> web.StreamResponse:
        if self._doc is None:
            await self.refresh()
        return web.Response(body=self._doc_json, content_type="application/json")

    async def _metrics(self, request: web.Request) -> web.StreamResponse:
        body = generate_latest(self.registry)
        response = web.Response(body=body)
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response

    async def _healthz(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({"status": "ok"})

    async def _events(self, request: web.Request) -> web.StreamResponse:
        if self._event_clients >= self.max_event_clients:
            raise web.HTTPServiceUnavailable(text="too many live views open")
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "X-Accel-Buffering": "no"}
        )
        self._event_clients += 1
        try:
            await response.prepare(request)
            await response.write(b"retry: 2000\n\n")
            seen = -1
            while not self._closing:
                if self._version != seen and self._doc is not None:
                    seen = self._version
                    await response.write(
                        b"id: %d\nevent: status\ndata: %s\n\n" % (seen, self._doc_json)
                    )
                    continue
                changed = self._changed
                try:
                    await asyncio.wait_for(changed.wait(), timeout=15.0)
                except TimeoutError:
                    await response.write(b": keep-alive\n\n")
            return response
        except ConnectionError:
            return response  # the browser went away
        finally:
            self._event_clients -= 1


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Cache-Control", "no-store")


MISSING_ASSETS = (
    b"EdgeTwin: the status page's files (gateway/web/static) are missing from this install; "
    b"/api/status and /metrics still work. Reinstall EdgeTwin with its package data."
)


def _asset(name: str) -> bytes:
    try:
        return resources.files("gateway.web").joinpath("static", name).read_bytes()
    except OSError as exc:
        log.error("status page: cannot read static/%s (%s)", name, exc)
        return MISSING_ASSETS


def _same(given: str, token: str) -> bool:
    return hmac.compare_digest(given.encode(), token.encode())


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    with contextlib.suppress(ValueError):
        return ipaddress.ip_address(host).is_loopback
    return False
