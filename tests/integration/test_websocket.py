"""The live WebSocket over real sockets: authentication, subscriptions, sending, private
messages, ignores, telnet <-> HTTP <-> WebSocket delivery, and dropping a slow reader."""

from __future__ import annotations

import asyncio
import json
import os
import socket
from collections.abc import Callable
from typing import Any

import httpx
import psutil
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.conftest import ServerFactory
from tests.helpers.http import (
    basic,
    bearer,
    eventually,
    http_client,
    login,
    register,
    texts,
    ws_url,
)
from tests.helpers.slow_reader import kernel_holds, kernel_queue
from tests.helpers.telnet_client import TelnetClient
from torbit.app import App
from torbit.frontends.http import ws as ws_module
from torbit.frontends.http import ws_session

Frame = dict[str, Any]


async def open_ws(app: App, token: str, **kwargs: Any) -> ClientConnection:
    ws = await connect(ws_url(app), additional_headers=bearer(token), **kwargs)
    await expect(ws, "notice", text_has="logged in as")
    return ws


async def frame(ws: ClientConnection) -> Frame:
    async with asyncio.timeout(10):
        raw = await ws.recv()
    data = json.loads(raw)
    assert isinstance(data, dict)
    return data


async def expect(ws: ClientConnection, kind: str, text_has: str = "") -> Frame:
    """The next frame of this type (and text), skipping others."""
    while True:
        f = await frame(ws)
        if f["type"] != kind:
            continue
        text = f["message"]["text"] if kind == "message" else f.get("text", "")
        if text_has in (text or ""):
            return f


async def subscribe(ws: ClientConnection, room: str) -> None:
    await ws.send(json.dumps({"type": "subscribe", "room": room}))
    notice = await expect(ws, "notice", text_has="you are in #")
    assert notice["room"] == room.lower()


async def closed_code(ws: ClientConnection) -> int | None:
    """Read until the server closes the connection; the close code it sent, if any."""
    with pytest.raises(ConnectionClosed) as info:
        async with asyncio.timeout(30):
            while True:
                await ws.recv()
    return info.value.rcvd.code if info.value.rcvd else None


async def test_three_ways_to_authenticate(server: App, client: httpx.AsyncClient) -> None:
    token = await login(client, "alice")
    async with connect(ws_url(server), additional_headers=bearer(token)) as ws:
        assert "alice" in (await expect(ws, "notice"))["text"]
    async with connect(
        ws_url(server),
        additional_headers={
            "Authorization": "Basic "
            + httpx.BasicAuth("alice", "secret-pw")._auth_header.split()[1]
        },
    ) as ws:
        assert "alice" in (await expect(ws, "notice"))["text"]
    async with connect(ws_url(server, f"token={token}")) as ws:
        assert "alice" in (await expect(ws, "notice"))["text"]
    async with connect(ws_url(server)) as ws:
        await ws.send(json.dumps({"type": "auth", "token": token}))
        assert "alice" in (await expect(ws, "notice"))["text"]
        await ws.send(json.dumps({"type": "auth", "token": token}))
        assert (await expect(ws, "error"))["code"] == "invalid_input"


async def test_bad_authentication_gets_an_error_and_close(
    server: App, client: httpx.AsyncClient
) -> None:
    attempts: list[tuple[dict[str, str], str, str | bytes | None]] = [
        ({"Authorization": "Bearer nope"}, "", None),
        ({}, "token=nope", None),
        ({}, "", json.dumps({"type": "auth", "token": "nope"})),
        ({}, "", json.dumps({"type": "subscribe", "room": "lobby"})),
        ({}, "", "not json"),
        ({}, "", b"binary"),
    ]
    for headers, query, first in attempts:
        async with connect(ws_url(server, query), additional_headers=headers) as ws:
            if first is not None:
                await ws.send(first)
            error = await expect(ws, "error")
            assert error["code"] in ("unauthenticated", "invalid_input")
            assert await closed_code(ws) == 1008


def strict_json(constant: str) -> None:
    raise AssertionError(f"{constant} is not JSON")


async def test_subscribe_history_then_live_send_and_frame_errors(
    server: App, client: httpx.AsyncClient
) -> None:
    await client.put("/api/v1/rooms/den/members/alice", auth=basic("alice"))
    for text in ("old 1", "old 2"):
        await client.post("/api/v1/rooms/den/messages", json={"text": text}, auth=basic("alice"))
    bob = await open_ws(server, await login(client, "bob"))
    await subscribe(bob, "Den")
    assert server.core is not None
    # frames go straight to uvicorn's transport, framed once per message (ws.py)
    assert [s.fast for s in server.core.subscriptions.sessions_of("bob")] == [True]  # type: ignore[attr-defined]
    assert (await expect(bob, "message"))["message"]["text"] == "old 1"
    assert (await expect(bob, "message"))["message"]["text"] == "old 2"
    await client.post("/api/v1/rooms/den/messages", json={"text": "live"}, auth=basic("alice"))
    live = (await expect(bob, "message"))["message"]
    assert (live["room"], live["sender"], live["text"]) == ("den", "alice", "live")

    await bob.send(json.dumps({"type": "send", "room": "den", "text": "from ws"}))
    assert (await expect(bob, "message"))["message"]["sender"] == "bob"
    r = await client.get("/receive/den/alice", auth=basic("alice"))
    assert texts(r.json())[-1] == "from ws"
    await bob.send(json.dumps({"type": "send", "room": "den", "text": "waves", "kind": "action"}))
    assert (await expect(bob, "message"))["message"]["kind"] == "action"

    await bob.send(json.dumps({"type": "ping"}))
    assert (await frame(bob))["type"] == "pong"
    await bob.send(json.dumps({"type": "subscribe", "room": "den"}))
    assert "already" in (await expect(bob, "notice"))["text"]
    refused: list[tuple[dict[str, object], str]] = [
        ({"type": "dance", "ref": 7}, "invalid_input"),
        ({"type": "send", "room": "den", "ref": "x"}, "invalid_input"),
        ({"type": "send", "room": "nowhere", "text": "hi"}, "not_found"),
        ({"type": "send", "room": "den", "text": "   "}, "invalid_input"),
        ({"type": "send", "room": "den", "text": "hi", "kind": "shout"}, "invalid_input"),
        ({"type": "send", "room": "den", "text": "hi", "kind": ["action"]}, "invalid_input"),
        ({"type": "subscribe", "room": "bad!name"}, "invalid_input"),
        ({"type": "unsubscribe", "room": "elsewhere"}, "invalid_input"),
    ]
    for bad, code in refused:
        await bob.send(json.dumps(bad))
        error = await expect(bob, "error")
        assert error["code"] == code, error
        assert error.get("ref") == bad.get("ref")
    await bob.send("[not an object]")
    assert (await expect(bob, "error"))["code"] == "invalid_input"
    await bob.send(b"binary")
    assert (await expect(bob, "error"))["code"] == "invalid_input"
    await bob.send("[" * 50_000)  # deeper than the JSON parser's recursion limit
    assert (await expect(bob, "error"))["code"] == "invalid_input"
    # not JSON, though Python's parser takes them: a "ref" of NaN came back as NaN, a frame
    # no browser parses; now the frame is refused, and every answer is strict JSON
    for constant in ("NaN", "Infinity", "-Infinity", "1e999"):
        await bob.send(f'{{"type": "send", "room": "den", "text": "t", "ref": {constant}}}')
        answer = json.loads(await bob.recv(), parse_constant=strict_json)
        assert (answer["type"], answer["code"], "ref" in answer) == (
            "error",
            "invalid_input",
            False,
        )

    hub = server.core.subscriptions
    assert len(hub.listeners("den")) == 1
    await bob.send(json.dumps({"type": "unsubscribe", "room": "den"}))
    await eventually(lambda: hub.listeners("den") == [])
    await bob.close()


async def test_private_messages_arrive_without_subscribing(
    server: App, client: httpx.AsyncClient
) -> None:
    alice = await open_ws(server, await login(client, "alice"))
    bob = await open_ws(server, await login(client, "bob"))
    await alice.send(json.dumps({"type": "private", "to": "Bob", "text": "psst"}))
    for ws in (bob, alice):
        m = (await expect(ws, "message"))["message"]
        assert (m["kind"], m["sender"], m["recipient"], m["room"]) == (
            "private",
            "alice",
            "bob",
            None,
        )
    await alice.send(json.dumps({"type": "private", "to": "nobody", "text": "x"}))
    assert (await expect(alice, "error"))["code"] == "not_found"
    await alice.close()
    await bob.close()


async def test_ignored_senders_are_not_delivered_live(
    server: App, client: httpx.AsyncClient
) -> None:
    for user in ("alice", "carol"):
        await client.put(f"/api/v1/rooms/den/members/{user}", auth=basic(user))
    bob = await open_ws(server, await login(client, "bob"))
    await subscribe(bob, "den")
    assert (await client.put("/api/v1/me/ignores/carol", auth=basic("bob"))).status_code == 204
    await client.post("/api/v1/rooms/den/messages", json={"text": "spam"}, auth=basic("carol"))
    await client.post("/api/v1/rooms/den/messages", json={"text": "real"}, auth=basic("alice"))
    assert (await expect(bob, "message"))["message"]["text"] == "real"
    await bob.close()


async def test_leaving_a_room_over_rest_stops_live_delivery(
    server: App, client: httpx.AsyncClient
) -> None:
    bob = await open_ws(server, await login(client, "bob"))
    await subscribe(bob, "den")
    hub = server.core.subscriptions  # type: ignore[union-attr]
    assert len(hub.listeners("den")) == 1
    assert (
        await client.delete("/api/v1/rooms/den/members/bob", auth=basic("bob"))
    ).status_code == 204
    assert hub.listeners("den") == []
    await bob.close()


async def test_telnet_http_and_websocket_reach_each_other(
    server: App, client: httpx.AsyncClient
) -> None:
    assert server.telnet_port is not None
    alice = await TelnetClient.connect(server.telnet_port)
    await alice.login("alice")  # telnet, in #lobby
    bob = await open_ws(server, await login(client, "bob"))
    await subscribe(bob, "lobby")

    r = await client.post("/send/lobby/carol", content="from http", auth=basic("carol"))
    assert r.status_code == 201
    await alice.expect(r"<carol> from http$")
    assert (await expect(bob, "message", "from http"))["message"]["sender"] == "carol"

    alice.send("from telnet")
    assert (await expect(bob, "message", "from telnet"))["message"]["sender"] == "alice"
    r = await client.get("/receive/lobby/carol", auth=basic("carol"))
    assert texts(r.json()) == ["from http", "from telnet"]

    await bob.send(json.dumps({"type": "send", "room": "lobby", "text": "from ws"}))
    await alice.expect(r"<bob> from ws$")
    r = await client.get("/receive/lobby/carol", auth=basic("carol"))
    assert texts(r.json()) == ["from ws"]

    await bob.send(json.dumps({"type": "private", "to": "alice", "text": "ws to telnet"}))
    await alice.expect(r"\(private\) <bob> ws to telnet$")
    alice.send("/msg bob telnet to ws")
    m = (await expect(bob, "message", "telnet to ws"))["message"]
    assert (m["kind"], m["sender"]) == ("private", "alice")
    await alice.close()
    await bob.close()


async def test_connected_clients_are_counted(server: App, client: httpx.AsyncClient) -> None:
    def connected() -> float | None:
        registry = server.metrics.registry
        return registry.get_sample_value("torbit_connected_clients", {"door": "http-ws"})

    ws = await open_ws(server, await login(client, "alice"))
    assert connected() == 1
    await ws.close()
    await eventually(lambda: connected() == 0)


async def slow_client(app: App, token: str) -> ClientConnection:
    """A client that reads nothing: a tiny receive buffer, no compression, and a client library
    that stops reading the socket once one frame is waiting."""
    assert app.http_port is not None
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", app.http_port))
    ws = await connect(
        ws_url(app),
        sock=sock,
        additional_headers=bearer(token),
        max_queue=1,
        compression=None,
        close_timeout=1,
    )
    await ws.send(json.dumps({"type": "subscribe", "room": "lobby"}))
    return ws


async def flood_until_dropped(app: App, between: Callable[[], None] = lambda: None) -> int:
    """Send to #lobby until a WebSocket client is dropped, calling `between` after each round
    of sends; the number of messages sent."""
    assert app.core is not None
    chat, registry = app.core.messaging, app.metrics.registry

    def dropped() -> float | None:
        return registry.get_sample_value("torbit_dropped_slow_clients_total", {"door": "http-ws"})

    sent = 0
    while not dropped() and sent < 5000:
        # incompressible, so that permessage-deflate cannot shrink it away
        await asyncio.gather(
            *(chat.send("alice", "lobby", f"{sent + i} {os.urandom(1800).hex()}") for i in range(8))
        )
        sent += 8
        between()
    assert dropped() == 1
    return sent


async def slow_setup(make_server: ServerFactory, **http: Any) -> tuple[App, ClientConnection, str]:
    app = await make_server(
        http={"ws_max_queue": 64, **http},
        chat={"history_on_join": 0},
        storage={"synchronous": "normal"},
    )
    assert app.core is not None
    async with http_client(app) as client:
        await register(client, "alice", "fast", "slow")
        fast_token, slow_token = await login(client, "fast"), await login(client, "slow")
    await app.core.membership.become_member("alice", "lobby")
    return app, await slow_client(app, slow_token), fast_token


async def test_a_slow_reader_is_dropped_while_others_keep_receiving(
    make_server: ServerFactory,
) -> None:
    app, slow, fast_token = await slow_setup(make_server)
    hub = app.core.subscriptions  # type: ignore[union-attr]
    fast = await open_ws(app, fast_token)
    await subscribe(fast, "lobby")
    await eventually(lambda: len(hub.listeners("lobby")) == 2)
    received: list[int] = []

    async def read_fast() -> None:
        async for raw in fast:
            f = json.loads(raw)
            if f["type"] == "message":
                received.append(int(f["message"]["text"].split()[0]))

    reader = asyncio.create_task(read_fast())
    sent = await flood_until_dropped(app)
    # the slow session leaves the room as soon as its connection handler has unwound
    await eventually(lambda: len(hub.listeners("lobby")) == 1)
    await eventually(lambda: len(received) == sent, timeout=30)
    assert sorted(received) == list(range(sent))
    # reading again, the slow client finds what was in flight, then the close frame
    assert await closed_code(slow) == 1008
    reader.cancel()
    await fast.close()
    with pytest.raises(asyncio.CancelledError):
        await reader


async def test_a_dropped_client_that_never_reads_is_cut(
    make_server: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ws_module, "CLOSE_GRACE", 0.5)
    app, slow, _ = await slow_setup(make_server)
    hub = app.core.subscriptions  # type: ignore[union-attr]
    await eventually(lambda: len(hub.listeners("lobby")) == 1)
    await flood_until_dropped(app)
    client_port = slow.local_address[1]

    def server_side_open() -> bool:
        return any(
            c.raddr and c.raddr.port == client_port and c.laddr.port == app.http_port
            for c in psutil.Process().net_connections("tcp")
        )

    assert server_side_open()
    # the close frame cannot be written to a socket nobody reads: the server cuts it, with a
    # reset, so the kernel keeps nothing of its end either (a plain abort left it an orphan
    # holding the unread bytes while the client kept its own end)
    await eventually(lambda: not server_side_open())
    port = app.http_port
    assert port is not None
    await eventually(lambda: not kernel_holds(port, client_port))
    slow.transport.abort()


async def test_a_client_that_stops_reading_pins_no_more_than_its_send_buffer(
    make_server: ServerFactory,
) -> None:
    """Beside the door's own frame limit, the kernel holds at most about twice
    `ws_send_buffer` for it (Linux doubles it), plus the one segment a write may pass it by:
    tests/security/test_socket_buffers.py for the line doors."""
    cap = 16384
    app, slow, _ = await slow_setup(make_server, ws_send_buffer=cap)
    hub = app.core.subscriptions  # type: ignore[union-attr]
    await eventually(lambda: len(hub.listeners("lobby")) == 1)
    assert app.http_port is not None
    port, peer = app.http_port, slow.local_address[1]
    seen = [0]
    await flood_until_dropped(app, lambda: seen.append(kernel_queue(port, peer) or 0))
    assert 0 < max(seen) <= 2 * cap + 65536, max(seen)
    slow.transport.abort()


@pytest.mark.parametrize("send_buffer", [24576, 0])
async def test_the_kernels_buffers_are_capped_once_upgraded_unless_told_not_to(
    make_server: ServerFactory, send_buffer: int
) -> None:
    """Read back from the server's end (Linux doubles the value asked for; left alone, each
    buffer autotunes from net.ipv4.tcp_wmem's or tcp_rmem's default)."""
    buffers = {"ws_send_buffer": send_buffer, "ws_receive_buffer": send_buffer // 2}
    app = await make_server(http=buffers)
    async with http_client(app) as client:
        await register(client, "alice")
        ws = await open_ws(app, await login(client, "alice"))
    (session,) = app.core.subscriptions.sessions_of("alice")  # type: ignore[union-attr]
    assert (
        isinstance(session, ws_session.WsSession)
        and session._out is not None
        and session._out.transport is not None
    )
    sock = session._out.transport.get_extra_info("socket")
    sizes = [sock.getsockopt(socket.SOL_SOCKET, o) for o in (socket.SO_SNDBUF, socket.SO_RCVBUF)]
    assert (sizes == [2 * 24576, 24576]) == bool(send_buffer), sizes
    await ws.close()


async def test_an_idle_connection_gets_pings(
    server: App, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ws_session, "PING_INTERVAL", 0.05)
    ws = await open_ws(server, await login(client, "alice"))
    assert (await frame(ws))["type"] == "ping"
    await ws.close()


async def test_a_session_closed_by_the_server_says_why(
    server: App, client: httpx.AsyncClient
) -> None:
    ws = await open_ws(server, await login(client, "alice"))
    hub = server.core.subscriptions  # type: ignore[union-attr]
    (session,) = hub.sessions_of("alice")
    session.close("your account was removed")
    assert (await expect(ws, "notice"))["text"] == "your account was removed"
    assert await closed_code(ws) == 1000
    await eventually(lambda: hub.sessions_of("alice") == [])


async def test_shutdown_tells_websocket_clients(make_server: ServerFactory) -> None:
    app = await make_server()
    async with http_client(app) as client:
        await register(client, "alice")
        ws = await open_ws(app, await login(client, "alice"))
    await app.stop()
    assert "shutting down" in (await expect(ws, "notice"))["text"]
    assert await closed_code(ws) in (1001, 1012)
