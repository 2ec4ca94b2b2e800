"""Attacks on a real server, each from the door(s) it applies to, with real parallel clients.

Several client addresses on one machine: every 127.x.y.z address is the loopback, so a
client that binds 127.0.0.2 as its source is "another address" to the server (the owner,
while the attacker guesses from 127.0.0.1)."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.helpers.http import PASSWORD, base_url, ws_url
from tests.helpers.telnet_client import TelnetClient
from torbit.app import App
from torbit.core.identity import DEFAULT_RESERVED_NAMES

ATTACKER = "127.0.0.1"
OWNER = "127.0.0.2"

# what the defaults would be, where tests/conftest.py lifts them for the other suites
DEFAULT_ACCOUNTS = {"reserved_names": list(DEFAULT_RESERVED_NAMES)}


@asynccontextmanager
async def http_from(app: App, address: str = ATTACKER) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.AsyncHTTPTransport(local_address=address)
    async with httpx.AsyncClient(base_url=base_url(app), timeout=40, transport=transport) as c:
        yield c


async def telnet_from(app: App, address: str = ATTACKER) -> TelnetClient:
    assert app.telnet_port is not None
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", app.telnet_port, local_addr=(address, 0), limit=2**22
    )
    return TelnetClient(reader, writer)


def basic_header(name: str, password: str = PASSWORD) -> dict[str, str]:
    raw = base64.b64encode(f"{name}:{password}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


async def ws_from(
    app: App,
    headers: dict[str, str],
    address: str = ATTACKER,
    query: str = "",
    *,
    logged_in: bool = False,
    sock: socket.socket | None = None,
) -> ClientConnection:
    """With `logged_in`, once the server said so: the handshake is answered before the
    credentials are checked (argon2, off the loop), and a revocation that overtakes the
    check fails it (1008), where a test of revocation wants the session's end (4001)."""
    where: dict[str, Any] = {"sock": sock} if sock is not None else {"local_addr": (address, 0)}
    ws = await connect(ws_url(app, query), additional_headers=headers, open_timeout=30, **where)
    if logged_in:
        async with asyncio.timeout(30):
            frame = json.loads(await ws.recv())
        assert str(frame.get("text", "")).startswith("logged in as"), frame
    return ws


async def first_frames(
    ws: ClientConnection, n: int = 5, timeout: float = 20
) -> list[dict[str, Any]]:
    """The frames the server sends until it closes the socket (or n of them)."""
    frames: list[dict[str, Any]] = []
    try:
        async with asyncio.timeout(timeout):
            while len(frames) < n:
                frames.append(json.loads(await ws.recv()))
    except ConnectionClosed:
        pass
    return frames


async def closed(
    ws: ClientConnection, timeout: float = 10
) -> tuple[int | None, str | None, list[dict[str, Any]]]:
    """Read until the server closes the socket: its close code, reason and the frames before."""
    frames: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout):
        try:
            while True:
                frames.append(json.loads(await ws.recv()))
        except ConnectionClosed:
            pass
    return ws.close_code, ws.close_reason, frames


async def telnet_login(
    app: App, name: str, password: str = PASSWORD, address: str = ATTACKER
) -> TelnetClient:
    client = await telnet_from(app, address)
    await client.login(name, password)
    return client
