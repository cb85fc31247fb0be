"""The gateway's loop exception handler: the closed-socket watch race is one warning, counted;
any other error still reaches the default handler."""

from __future__ import annotations

import asyncio
import logging
import socket

import pytest

from gateway.loop_errors import ClosedSocketWatch


async def _watch_a_closed_socket(loop: asyncio.AbstractEventLoop) -> None:
    """What the MQTT client does on a reset: a write watch queued, then the socket closed."""
    a, b = socket.socketpair()
    fd = a.fileno()
    loop.call_soon(loop.add_writer, fd, lambda: None)
    a.close()
    b.close()
    for _ in range(3):  # the queued callback runs (and fails) on the next turns
        await asyncio.sleep(0)


async def test_the_closed_socket_race_is_one_warning_and_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    loop = asyncio.get_running_loop()
    caplog.set_level(logging.WARNING)
    watch = ClosedSocketWatch.install(loop)
    try:
        await _watch_a_closed_socket(loop)
    finally:
        watch.uninstall()
    assert watch.count == 1
    assert [r.levelname for r in caplog.records] == ["WARNING"]
    assert "closed before the event loop could watch it" in caplog.records[0].getMessage()
    assert loop.get_exception_handler() is None  # restored


async def test_without_it_the_loop_logs_the_race_as_an_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    await _watch_a_closed_socket(asyncio.get_running_loop())
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert errors and "add_writer" in errors[0].getMessage()


async def test_other_errors_still_reach_the_previous_handler(
    caplog: pytest.LogCaptureFixture,
) -> None:
    loop = asyncio.get_running_loop()
    seen: list[dict[str, object]] = []
    loop.set_exception_handler(lambda _loop, context: seen.append(context))
    watch = ClosedSocketWatch.install(loop)
    try:

        def broken() -> None:
            raise OSError(9, "Bad file descriptor")  # EBADF, but not a socket watch

        loop.call_soon(broken)
        await asyncio.sleep(0)
        await asyncio.sleep(0)
    finally:
        watch.uninstall()
        previous = loop.get_exception_handler()
        loop.set_exception_handler(None)
    assert watch.count == 0
    assert len(seen) == 1 and isinstance(seen[0]["exception"], OSError)
    assert previous is not None and previous is not watch
