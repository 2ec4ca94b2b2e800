"""A ping flood whose last pongs take the unsent output past the bound, from a client that
then sends nothing more (its own writes stuck, as in tests/security/test_ws_ping_flood.py
now and then: the server's buffer stayed over 1 MB for 110 s). The bound was checked only
as input came, so such a client was never cut (the keepalive ended it after 40 s); now the
pong that passes the bound cuts it, with attack10's close frame behind its output. A cut
client's session writes no more: its messages of the cut's turn (its own, echoed) went to a
transport past `write_eof` and raised in the flush shared with everyone else's output."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from websockets.asyncio.client import ClientConnection

from tests.helpers.http import register
from tests.helpers.moderation import api
from tests.security.conftest import basic_header, ws_from
from torbit.app import App
from torbit.frontends.http.ws_inbound import NOT_READING, BoundedWebSocketProtocol

PING = b"p" * 125  # its pong: 127 bytes


def server_side(app: App, ws: ClientConnection) -> BoundedWebSocketProtocol:
    """The server's protocol of the connection `ws`."""
    assert app.http is not None and app.http._server is not None
    port = ws.local_address[1]
    found = [
        p
        for p in app.http._server.server_state.connections
        if isinstance(p, BoundedWebSocketProtocol) and p.client and p.client[1] == port
    ]
    assert len(found) == 1, found
    return found[0]


async def pings(ws: ClientConnection, n: int, before: bytes = b"") -> None:
    for _ in range(n):
        ws.protocol.send_ping(PING)
    ws.transport.write(before + b"".join(ws.protocol.data_to_send()))
    while ws.transport.get_write_buffer_size():
        await asyncio.sleep(0.001)


async def near_the_bound(ws: ClientConnection, proto: BoundedWebSocketProtocol) -> None:
    """The kernels' buffers filled, then the server's up to 16 KB below the bound."""
    ws.transport.pause_reading()
    bound = proto.unsent_max
    unsent = proto.transport.get_write_buffer_size
    while unsent() < bound - 16 * 1024:
        await pings(ws, 1000 if unsent() < bound // 2 else 50)
        for _ in range(5):
            await asyncio.sleep(0.002)
    assert not proto.cut


async def test_a_flood_that_goes_quiet_past_the_bound_is_cut_off(server: App) -> None:
    async with api(server, "mallory") as http:
        await register(http, "mallory")
    ws = await ws_from(server, basic_header("mallory"), logged_in=True)
    proto = server_side(server, ws)
    await near_the_bound(ws, proto)
    unsent = proto.transport.get_write_buffer_size
    # then one ping at a time, each answered before the next, until a pong passes the bound
    sent = 0
    while unsent() <= proto.unsent_max and not proto.cut:
        before = unsent()
        await pings(ws, 1)
        sent += 1
        for _ in range(1000):  # until the server has answered it
            if unsent() != before or proto.cut:
                break
            await asyncio.sleep(0.001)
    # nothing more is sent: cut by the pong that passed the bound (before: not cut, and
    # the buffer stayed past the bound until the keepalive)
    assert proto.cut, (unsent(), proto.unsent_max, sent)
    ws.transport.resume_reading()
    async with asyncio.timeout(30):
        await ws.wait_closed()
    assert (ws.close_code, ws.close_reason) == (1008, NOT_READING)


async def test_a_cut_client_s_own_message_is_not_written_past_its_end(
    server: App, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    async with api(server, "mallory") as http:
        await register(http, "mallory", "alice")
    alice = await ws_from(server, basic_header("alice"), logged_in=True)
    await alice.send(json.dumps({"type": "subscribe", "room": "hall"}))
    await alice.send('{"type": "ping"}')  # her subscribe is in once its pong comes back:
    async with asyncio.timeout(10):  # else mallory's join may come first, unheard (CI)
        while json.loads(await alice.recv())["type"] != "pong":
            pass
    ws = await ws_from(server, basic_header("mallory"), logged_in=True)
    await ws.send(json.dumps({"type": "subscribe", "room": "hall"}))
    async with asyncio.timeout(10):  # alice hears mallory join
        while "mallory joined" not in json.loads(await alice.recv()).get("text", ""):
            pass
    proto = server_side(server, ws)
    await near_the_bound(ws, proto)
    # a message to the room, then pongs past the bound, in one read: the message waits for
    # the handler, which hands it to the room (mallory too) once she is cut
    ws.protocol.send_text(json.dumps({"type": "send", "room": "hall", "text": "hi"}).encode())
    await pings(ws, 300, b"".join(ws.protocol.data_to_send()))
    async with asyncio.timeout(10):
        while json.loads(await alice.recv()).get("type") != "message":
            pass
    assert proto.cut
    await alice.send(json.dumps({"type": "send", "room": "hall", "text": "still here"}))
    async with asyncio.timeout(10):
        while json.loads(await alice.recv()).get("message", {}).get("text") != "still here":
            pass
    # before: "Exception in callback FlushQueue._flush()", a write after write_eof()
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], errors
    await alice.close()
    ws.transport.resume_reading()
    async with asyncio.timeout(30):
        await ws.wait_closed()
    assert (ws.close_code, ws.close_reason) == (1008, NOT_READING)
