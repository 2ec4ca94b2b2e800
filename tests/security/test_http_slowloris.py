"""Slowloris on the HTTP port (attack11): heads sent a byte at a time and never finished,
and bodies promised by Content-Length and never sent. The head deadline runs from a head's
first byte and is not renewed by each byte (frontends/http/guard.py), so every dribbled head
gets 408 and is closed while still dribbling; a body that never comes gets 408 at the body
deadline; meanwhile another client is served and a WebSocket opens. Held: no change needed."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import Counter
from typing import Any

import pytest
from websockets.asyncio.client import connect

from tests.conftest import ServerFactory
from tests.helpers.http import PASSWORD, bearer, http_client, login, ws_url
from tests.helpers.moderation import services
from tests.security.http_attack import REMOTE, client_from, open_from, read_response
from torbit.app import App
from torbit.frontends.http import guard

SLOW = 30  # dribbled heads
MUTE = 10  # promised bodies never sent
HEAD = b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"X-Pad: " + b"a" * 200  # never ends


async def dribble_head(app: App) -> tuple[int, int]:
    """A head a byte every 0.05 s; the answer's status and the bytes sent by then."""
    reader, writer = await open_from(app)
    answer = asyncio.create_task(read_response(reader, timeout=30))
    sent = 0
    with contextlib.suppress(ConnectionError):
        while sent < len(HEAD) and not answer.done() and not writer.is_closing():
            writer.write(HEAD[sent : sent + 1])
            await writer.drain()
            sent += 1
            await asyncio.sleep(0.05)
    status, _ = await answer
    writer.close()
    return status, sent


async def mute_body(app: App) -> int:
    reader, writer = await open_from(app)
    writer.write(
        b"POST /api/v1/sessions HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: application/json\r\nContent-Length: 50\r\n\r\n{"
    )
    status, _ = await read_response(reader, timeout=30)
    with contextlib.suppress(ConnectionError):
        body = await asyncio.wait_for(reader.read(), 30)  # to its end: the server hangs up
        assert json.loads(body)["error"]["code"] == "timeout"
    writer.close()
    return status


async def test_slow_heads_and_mute_bodies_are_cut_while_others_are_served(
    make_server: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # HEAD is 200+ bytes: 10 s to dribble. The deadline is every connection's, the honest
    # ones' below too: at 1 s, a loaded CI machine (ci133) let the remote client's request
    # reach the server after it, closed unanswered
    monkeypatch.setattr(guard, "HEAD_TIMEOUT", 3.0)
    app = await make_server(http={"body_timeout": 1}, limits={"connections_per_ip": 0})
    await services(app).accounts.register("alice", PASSWORD, by_admin=True)
    attack = asyncio.gather(
        *(dribble_head(app) for _ in range(SLOW)), *(mute_body(app) for _ in range(MUTE))
    )
    # meanwhile: another address is served, a WebSocket opens and is greeted
    async with client_from(app, REMOTE) as remote:
        assert (await remote.get("/healthz")).status_code == 200
    async with http_client(app) as c:
        token = await login(c, "alice")
    async with connect(ws_url(app), additional_headers=bearer(token)) as ws:
        assert json.loads(await ws.recv())["text"] == "logged in as alice"
    results: list[Any] = list(await attack)
    heads: list[tuple[int, int]] = results[:SLOW]
    assert Counter(status for status, _ in heads) == {408: SLOW}
    assert max(sent for _, sent in heads) < len(HEAD)
    assert Counter(results[SLOW:]) == {408: MUTE}
    assert app.telnet is not None
    assert app.telnet.connections.open == 0  # every one of them let go
