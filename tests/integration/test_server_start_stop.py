"""Starting and stopping a node does what it must and nothing more: tests start and stop
hundreds of servers in one process, so a fixed pause in a stop, or work a start repeats for
nothing, is paid hundreds of times."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from pydantic import TypeAdapter

from tests.conftest import ServerFactory
from tests.helpers.http import basic, error_of, http_client, register
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


async def test_a_second_server_builds_no_pydantic_adapter_again(
    make_server: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # on main each start's HTTP app built ~270 adapters, the same ones every time
    await make_server()
    built: list[object] = []
    real = TypeAdapter.__init__

    def counting(self: TypeAdapter[object], *args: object, **kwargs: object) -> None:
        built.append(args[0] if args else kwargs.get("type"))
        real(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(TypeAdapter, "__init__", counting)
    second = await make_server()
    monkeypatch.undo()
    assert built == []
    # and the shared adapters validate on the second server as on the first
    async with http_client(second) as client:
        await register(client, "alice")
        r = await client.get("/receive/lobby/alice?limit=0", auth=basic("alice"))
        error_of(r, 422)
        r = await client.get("/receive/lobby/alice?limit=2", auth=basic("alice"))
        assert r.status_code == 200, r.text
