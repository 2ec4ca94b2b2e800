"""Stopping a node waits for what is open, and for nothing else: tests start and stop hundreds
of servers, so a fixed pause in a stop is paid hundreds of times."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from tests.conftest import ServerFactory
from tests.helpers.http import http_client
from torbit.app import App


def count_sleeps(app: App, monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The delays the HTTP server's task asks of asyncio.sleep from now on (it still sleeps
    them)."""
    assert app.http is not None
    server_task = app.http._task
    asked: list[float] = []
    real: Callable[..., Awaitable[object]] = asyncio.sleep

    async def sleep(delay: float, result: object = None) -> object:
        if asyncio.current_task() is server_task:
            asked.append(delay)
        return await real(delay, result)

    monkeypatch.setattr(asyncio, "sleep", sleep)
    return asked


async def test_a_stop_with_nothing_open_asks_for_no_pause(
    make_server: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # on main uvicorn's shutdown slept a fixed 0.1 s, connections or not
    app = await make_server()
    asked = count_sleeps(app, monkeypatch)
    await app.stop()
    assert asked == []


async def test_a_stop_waits_for_an_open_connection_to_close(
    make_server: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = await make_server()
    async with http_client(app) as client:
        assert (await client.get("/healthz")).status_code == 200  # a kept-alive connection
        assert app.http is not None
        state = app.http._server.server_state
        assert len(state.connections) == 1
        asked = count_sleeps(app, monkeypatch)
        await app.stop()
        assert not state.connections  # closed by the server, not cut by the stop's end
        assert asked and all(delay < 0.1 for delay in asked)
