"""The WebSocket fan-out's costs, counted over real sockets: a message is framed once however
many sockets take it, in order for each; a connection on the fast path is one task, kept alive
by one shared pinger."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.helpers.http import bearer, eventually, http_client, login, register, ws_url
from torbit.app import App
from torbit.core.delivery import Delivery
from torbit.frontends.http import ws as ws_module
from torbit.frontends.http import ws_session

CLIENTS = 5


@pytest.fixture
async def client(server: App) -> AsyncIterator[httpx.AsyncClient]:
    async with http_client(server) as c:
        await register(c, "alice", *(f"user{i}" for i in range(CLIENTS)))
        yield c


def endpoint(app: App) -> ws_module.LiveEndpoint:
    assert app.http is not None
    live = app.http._server.config.app.state.live
    assert isinstance(live, ws_module.LiveEndpoint)
    return live


async def subscribed(app: App, client: httpx.AsyncClient) -> list[ClientConnection]:
    """CLIENTS sockets in #lobby, each past its "you are in" notice."""
    sockets = []
    for i in range(CLIENTS):
        ws = await connect(
            ws_url(app),
            additional_headers=bearer(await login(client, f"user{i}")),
            ping_interval=None,
        )
        await ws.send(json.dumps({"type": "subscribe", "room": "lobby"}))
        while "you are in #" not in json.loads(await ws.recv()).get("text", ""):
            pass
        sockets.append(ws)
    return sockets


async def messages(ws: ClientConnection, count: int) -> list[tuple[int, str]]:
    """The next `count` message frames' (id, text), other frames skipped."""
    got: list[tuple[int, str]] = []
    async with asyncio.timeout(20):
        while len(got) < count:
            raw = await ws.recv()
            assert isinstance(raw, str)
            frame = json.loads(raw)
            if frame["type"] == "message":
                assert '"type":"message"' in raw  # compact JSON
                got.append((frame["message"]["id"], frame["message"]["text"]))
    return got


async def test_a_message_is_framed_once_for_all_its_sockets_and_arrives_in_order(
    server: App, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert server.core is not None
    await server.core.membership.become_member("alice", "lobby")
    sockets = await subscribed(server, client)
    framed: list[int] = []
    make_frame = ws_session._message_frame

    def counted(delivery: Delivery) -> bytes:
        framed.append(delivery.message.id)
        return make_frame(delivery)

    monkeypatch.setattr(ws_session, "_message_frame", counted)
    count = 40
    # sent concurrently: several are committed together and fanned out as one run
    await asyncio.gather(
        *(server.core.messaging.send("alice", "lobby", f"m{i}") for i in range(count))
    )
    received = await asyncio.gather(*(messages(ws, count) for ws in sockets))
    ids = [m_id for m_id, _ in received[0]]
    assert ids == sorted(ids) and len(set(ids)) == count  # in the order they were stored
    assert all(r == received[0] for r in received)  # the same, in the same order, for each
    assert sorted(framed) == ids  # one frame per message, not per socket
    for ws in sockets:
        await ws.close()


def server_tasks() -> set[asyncio.Task[object]]:
    """The running tasks of torbit's and uvicorn's code (not the test client's)."""

    def ours(task: asyncio.Task[object]) -> bool:
        code = getattr(task.get_coro(), "cr_code", None)
        name = code.co_filename if code is not None else ""
        return "torbit" in name or "uvicorn" in name

    return {t for t in asyncio.all_tasks() if ours(t) and not t.done()}


async def test_a_fast_path_connection_is_one_task(server: App, client: httpx.AsyncClient) -> None:
    before = server_tasks()
    sockets = await subscribed(server, client)
    live = endpoint(server)
    assert all(s.fast for s in live.live)
    assert len(server_tasks() - before) == CLIENTS  # uvicorn's own, which reads the client
    for ws in sockets:
        await ws.close()
    await eventually(lambda: not live.live)
    await eventually(lambda: not (server_tasks() - before))


async def test_one_pinger_keeps_every_idle_socket_alive_and_stops_when_none_is_left(
    server: App, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ws_session, "PING_INTERVAL", 0.05)
    sockets = await subscribed(server, client)
    pinger = endpoint(server)._pinger
    assert len(pinger.sessions) == CLIENTS

    async def pinged(ws: ClientConnection) -> None:
        async with asyncio.timeout(10):
            while json.loads(await ws.recv())["type"] != "ping":
                pass

    await asyncio.gather(*(pinged(ws) for ws in sockets))
    for ws in sockets:
        await ws.close()
    await eventually(lambda: not pinger.sessions)
    assert pinger._timer is None
