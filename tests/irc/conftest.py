"""Fixtures for the IRC door's tests: a server with guests allowed, accounts registered over
HTTP, and the other doors' clients (telnet, WebSocket) to talk with."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.conftest import ServerFactory
from tests.helpers.http import bearer, http_client, login, register, ws_url
from tests.helpers.irc import IrcUser
from tests.helpers.telnet_client import TelnetClient
from torbit.app import App

Frame = dict[str, Any]


@pytest.fixture
async def app(make_server: ServerFactory) -> App:
    return await make_server(irc={"guests": True})


@pytest.fixture
async def accounts(app: App) -> Callable[..., Awaitable[None]]:
    async def make(*names: str) -> None:
        async with http_client(app) as client:
            await register(client, *names)

    return make


@pytest.fixture
async def cleanup() -> AsyncIterator[list[Any]]:
    """Clients to disconnect at the end: pydle clients, telnet clients, WebSockets."""
    clients: list[Any] = []
    yield clients
    for c in reversed(clients):
        if isinstance(c, IrcUser):
            if c.connected:
                await c.disconnect(expected=True)
        elif isinstance(c, TelnetClient):
            await c.close()
        else:
            await c.close()


async def ws_user(app: App, name: str) -> ClientConnection:
    async with http_client(app) as client:
        token = await login(client, name)
    ws = await connect(ws_url(app), additional_headers=bearer(token))
    await ws_expect(ws, "notice", "logged in as")
    return ws


async def ws_expect(ws: ClientConnection, kind: str, text_has: str = "") -> Frame:
    """The next frame of this type whose text has `text_has`; others are passed over."""
    async with asyncio.timeout(10):
        while True:
            frame: Frame = json.loads(await ws.recv())
            if frame["type"] != kind:
                continue
            text = frame["message"]["text"] if kind == "message" else frame.get("text", "")
            if text_has in (text or ""):
                return frame


async def ws_subscribe(ws: ClientConnection, room: str) -> None:
    await ws.send(json.dumps({"type": "subscribe", "room": room}))
    await ws_expect(ws, "notice", "you are in #")
