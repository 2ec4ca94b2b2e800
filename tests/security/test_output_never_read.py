"""Big answers to small questions, asked again and again by a client that never reads them:
a history page of 4 KB messages (IRC `CHATHISTORY LATEST #big * 100`, telnet `/history 500`,
`GET /api/v1/rooms/big/messages?limit=1000` pipelined on one connection), a roster of 3,000
members (telnet `/who`), the help text (telnet `/help`, 3 KB for 6 bytes, no budget), on the
plain and TLS ports. Each is a few dozen bytes in and up to 2 MB out. The server's memory for
the connection must stay bounded (the writer's byte limit, `max_output_buffer`; HTTP's
`send_timeout`), the client be cut, and the others keep chatting meanwhile."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import socket
import ssl
from datetime import UTC, datetime
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.conftest import ServerFactory
from tests.helpers.http import PASSWORD, ws_url
from tests.helpers.moderation import telnet
from tests.helpers.tls import tls_doors
from torbit.app import App
from torbit.core.models import Room, User

MESSAGES = 100  # in #big, ~3.9 KB each: a page of 100 is ~400 KB
MEMBERS = 3000
REQUESTS = 3000
MB = 1 << 20


def rss() -> int:
    with open("/proc/self/status", "rb") as f:
        for line in f:
            if line.startswith(b"VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


async def big_room(app: App) -> None:
    assert app.core is not None
    store, now = app.core.store, datetime.now(UTC)
    for name in ("eve", "alice", "bob"):
        await app.core.accounts.register(name, PASSWORD)
    await store.ensure_room(Room("big", now))
    for name in ("eve", "alice", "bob"):
        await store.add_member("big", name)
    for i in range(MEMBERS):  # offline members, straight into the store: no sockets
        await store.add_member("big", (await store.create_user(User(f"m{i:05d}", "x", now))).key)
    for i in range(MESSAGES):
        await app.core.messaging.send("alice", "big", f"{i:03d} " + "x" * 3900)


async def open_unread(
    port: int, tls: ssl.SSLContext | None
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A connection with a 4 KB receive window and a 1 KB reader: once the test stops reading,
    next to nothing the server writes leaves the server."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    return await asyncio.open_connection(
        sock=sock, limit=1024, ssl=tls, server_hostname="127.0.0.1" if tls else None
    )


async def read_until(reader: asyncio.StreamReader, marker: bytes) -> None:
    seen = b""
    async with asyncio.timeout(20):
        while marker not in seen:
            chunk = await reader.read(1024)
            assert chunk, seen[-300:]
            seen = seen[-2000:] + chunk


async def flood(writer: asyncio.StreamWriter, request: bytes, cut: asyncio.Event) -> int:
    """Send `request` up to REQUESTS times, never reading; how many went before the server
    cut (counted as they leave this side: the server may not have read the last few)."""
    sent = 0
    try:
        while sent < REQUESTS and not cut.is_set() and not writer.transport.is_closing():
            writer.write(request)
            sent += 1
            await asyncio.sleep(0.002)
            if writer.transport.get_write_buffer_size() > 64 * 1024:
                await asyncio.sleep(0.1)  # our own side is full: the server stopped reading
    except (ConnectionError, RuntimeError):  # RuntimeError: uvloop's write after the close
        pass
    return sent


async def chat_meanwhile(app: App, stop: asyncio.Event) -> int:
    """alice talks, bob reads: every line arrives while the flood goes on."""
    alice, bob = await telnet(app, "alice"), await telnet(app, "bob")
    for c in (alice, bob):
        c.send("/join big")
        await c.expect(r"you are (now )?in #big")
    said = 0
    while not stop.is_set() or said < 5:
        alice.send(f"honest {said}")
        await bob.expect(rf"<alice> honest {said}$", timeout=20)
        said += 1
        await asyncio.sleep(0.05)
    await alice.close()
    await bob.close()
    return said


def dropped(app: App, door: str) -> float:
    return (
        app.metrics.registry.get_sample_value("torbit_dropped_slow_clients_total", {"door": door})
        or 0.0
    )


DOORS = {
    # door: (login lines, the line that says it is done, the request)
    "irc": (
        [f"PASS eve:{PASSWORD}", "NICK eve", "USER eve 0 * :eve", "CAP REQ :batch", "CAP END"],
        b" 376 ",
        b"CHATHISTORY LATEST #big * 100\r\n",
    ),
    "telnet/history": (["eve", PASSWORD, "/join big"], b"#big", b"/history 500\r\n"),
    "telnet/help": (["eve", PASSWORD], b"Welcome", b"/help\r\n"),
}


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
@pytest.mark.parametrize("door", sorted(DOORS))
async def test_a_client_that_never_reads_its_answers_is_cut(
    make_server: ServerFactory, tmp_path: Path, door: str, tls: bool
) -> None:
    ca, tls_settings, _ = tls_doors(tmp_path)
    app = await make_server(
        telnet=tls_settings,
        irc=tls_settings,
        limits={"read_rate": 1000.0, "read_burst": 10000},
        chat={"history_on_join": 0},
    )
    await big_room(app)
    context = None
    if tls:
        context = ssl.create_default_context()
        ca.configure_trust(context)
    irc = door == "irc"
    port = (
        (app.irc_tls_port if tls else app.irc_port)
        if irc
        else (app.telnet_tls_port if tls else app.telnet_port)
    )
    label = ("irc" if irc else "telnet") + ("-tls" if tls else "")
    assert port is not None
    login, ready, request = DOORS[door]
    reader, writer = await open_unread(port, context)
    writer.write(b"".join(line.encode() + b"\r\n" for line in login))
    await read_until(reader, ready)
    before = peak = rss()
    cut = asyncio.Event()
    stop = asyncio.Event()

    async def watch() -> None:
        nonlocal peak
        while not cut.is_set() and not stop.is_set():
            peak = max(peak, rss())
            if dropped(app, label):
                cut.set()
            await asyncio.sleep(0.02)

    async def attack() -> int:
        try:
            sent = await flood(writer, request, cut)
            with contextlib.suppress(TimeoutError):  # not cut: the asserts below say so
                async with asyncio.timeout(30):
                    await cut.wait()
            return sent
        finally:
            stop.set()

    watcher = asyncio.create_task(watch())
    sent, said = await asyncio.gather(attack(), chat_meanwhile(app, stop))
    await watcher
    writer.transport.abort()  # cut by the server, or not: ours is gone either way
    print(
        f"\n{door} {label}: cut after {sent} requests sent; rss {before / MB:.1f} -> peak {peak / MB:.1f} MB (+{(peak - before) / MB:.1f}); honest lines {said}"
    )
    assert dropped(app, label) == 1
    assert sent < REQUESTS
    assert peak - before < 24 * MB


async def count_answers(reader: asyncio.StreamReader, needle: bytes) -> tuple[int, bool]:
    """Read what the server still has for us: how many answers, and whether it hung up."""
    count, tail = 0, b""
    try:
        async with asyncio.timeout(20):
            while chunk := await reader.read(65536):
                data = tail + chunk
                count += data.count(needle)
                tail = data[-len(needle) + 1 :]
        return count, True
    except ConnectionError:
        return count, True
    except TimeoutError:
        return count, False


async def test_pipelined_http_pages_never_read_are_cut(make_server: ServerFactory) -> None:
    """300 pipelined requests for a page of 100 messages (400 KB each, 120 MB in all) and for
    the roster of 3,000, on one connection that reads nothing: answered one at a time while the
    socket takes them, then cut at `send_timeout` (2 s here) with most never made."""
    app = await make_server(
        http={"send_timeout": 2.0},
        limits={"read_rate": 1000.0, "read_burst": 10000},
        chat={"history_on_join": 0},
    )
    await big_room(app)
    assert app.http_port is not None
    auth = base64.b64encode(f"eve:{PASSWORD}".encode()).decode()
    pages = [
        f"GET /api/v1/rooms/big/{what} HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {auth}\r\n\r\n"
        for what in ("messages?limit=1000", "members")
    ]
    reader, writer = await open_unread(app.http_port, None)
    before = peak = rss()
    stop = asyncio.Event()

    async def attack() -> None:
        nonlocal peak
        writer.write("".join(pages[i % 2] for i in range(300)).encode())
        for _ in range(200):  # 4 s: two send timeouts
            peak = max(peak, rss())
            await asyncio.sleep(0.02)
        stop.set()

    _, said = await asyncio.gather(attack(), chat_meanwhile(app, stop))
    answers, hung_up = await count_answers(reader, b"HTTP/1.1 ")
    writer.transport.abort()  # cut by the server, or not: ours is gone either way
    print(
        f"\nhttp: {answers} of 300 answered before the cut; rss {before / MB:.1f} -> peak {peak / MB:.1f} MB (+{(peak - before) / MB:.1f}); honest lines {said}"
    )
    assert hung_up
    assert answers < 20
    assert peak - before < 24 * MB


async def test_websocket_subscribes_never_read_are_cut(make_server: ServerFactory) -> None:
    """`subscribe` (a history page of 100 messages, 400 KB) and `unsubscribe`, 300 times on a
    socket whose frames are never read: the session's writer bound cuts it (1008)."""
    app = await make_server(
        limits={"read_rate": 1000.0, "read_burst": 10000}, chat={"history_on_join": 100}
    )
    await big_room(app)
    assert app.http_port is not None
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", app.http_port))
    auth = base64.b64encode(f"eve:{PASSWORD}".encode()).decode()
    ws = await connect(
        ws_url(app),
        sock=sock,
        max_queue=1,
        open_timeout=30,
        additional_headers={"Authorization": f"Basic {auth}"},
    )
    before = peak = rss()
    stop = asyncio.Event()

    async def attack() -> int:
        nonlocal peak
        sent = 0
        try:
            while sent < REQUESTS and not dropped(app, "http-ws"):
                kind = "subscribe" if sent % 2 == 0 else "unsubscribe"
                await asyncio.wait_for(ws.send(json.dumps({"type": kind, "room": "big"})), 5)
                sent += 1
                peak = max(peak, rss())
                await asyncio.sleep(0.002)
            for _ in range(250):
                if dropped(app, "http-ws"):
                    break
                peak = max(peak, rss())
                await asyncio.sleep(0.02)
        except (ConnectionClosed, TimeoutError):
            pass
        finally:
            stop.set()
        return sent

    sent, said = await asyncio.gather(attack(), chat_meanwhile(app, stop))
    ws.transport.abort()  # cut by the server: nothing to say goodbye to
    print(
        f"\nws: cut after {sent} frames sent; rss {before / MB:.1f} -> peak {peak / MB:.1f} MB (+{(peak - before) / MB:.1f}); honest lines {said}"
    )
    assert dropped(app, "http-ws") == 1
    assert sent < REQUESTS
    assert peak - before < 24 * MB
