"""What the kernel holds for a client that never reads, once our side has closed: a graceful
close leaves an orphan socket that no door counts, kept for as long as the client keeps its
window shut. Stop 47's probe: 150 HTTP connections from one address, each asking for the API
docs' 1.5 MB script and never reading it, held 220 MB of kernel memory past the per-address
limit, unchanged after minutes (the HTTP door left the send buffer to autotuning); the line
doors and TLS did the same with less. Every door's client sockets now carry a user timeout
(TCP_USER_TIMEOUT: the kernel aborts a socket whose output has not been taken for that long,
orphan or not) and a bounded send buffer. Read back from the server's own sockets."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import socket
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.conftest import ServerFactory
from tests.helpers.http import register
from tests.helpers.moderation import Ws, api
from tests.helpers.tls import tls_doors, trusting
from torbit.frontends.flow import USER_TIMEOUT_MS

pytestmark = pytest.mark.skipif(
    not hasattr(socket, "TCP_USER_TIMEOUT"), reason="TCP_USER_TIMEOUT is Linux's"
)

SEND_BUFFER = 64 * 1024


async def server_socket_of(client: socket.socket) -> socket.socket:
    """The server's end of `client`'s connection (the server runs in this process), once
    the door has taken it."""
    here = client.getsockname()
    async with asyncio.timeout(10):
        while True:
            for o in gc.get_objects():
                # by its type's name: uvloop's transports are no asyncio.Transport, and a
                # dead weak proxy among the objects raises on isinstance
                kind = type(o)
                if (
                    "Transport" in kind.__name__
                    and hasattr(kind, "get_extra_info")
                    and o.get_extra_info("peername") == here
                ):
                    sock = o.get_extra_info("socket")
                    if sock is not None:
                        return sock  # type: ignore[no-any-return]
            await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def server_end(client: socket.socket) -> AsyncIterator[socket.socket]:
    """The server's end of `client`'s connection, kept open by a duplicate of its descriptor:
    read after the server closed its own (so no FIN, no end of stream for the client)."""
    server = await server_socket_of(client)
    kept = socket.socket(fileno=os.dup(server.fileno()))
    try:
        yield kept
    finally:
        kept.close()


def user_timeout(sock: socket.socket) -> int:
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT)


async def bounded_soon(kept: socket.socket) -> None:
    """Wait until the server's socket carries the kernel's bound (set as its side closes)."""
    async with asyncio.timeout(10):
        while user_timeout(kept) != USER_TIMEOUT_MS:
            await asyncio.sleep(0.05)


async def test_an_http_connection_is_bounded_from_the_start(make_server: ServerFactory) -> None:
    app = await make_server(http={"ws_send_buffer": SEND_BUFFER})
    assert app.http_port is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", app.http_port)
    try:  # a connection's protocol is made once the doorman lets it in
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        await reader.readuntil(b"\r\n\r\n")
        server = await server_socket_of(writer.get_extra_info("socket"))
        assert user_timeout(server) == USER_TIMEOUT_MS
        # Linux doubles the value asked, for its bookkeeping; autotuned it grows to megabytes
        assert server.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) <= 2 * SEND_BUFFER
    finally:
        writer.close()


@pytest.mark.parametrize(("door", "goodbye"), [("telnet", None), ("irc", b"QUIT\r\n")])
async def test_a_line_door_bounds_its_side_once_it_closes(
    make_server: ServerFactory, door: str, goodbye: bytes | None
) -> None:
    """Live, a client that stops reading is the door's to drop, with its reason; once our side
    closes (the client hung up, or QUIT), the kernel's bound, set just before. The server's
    socket is kept open here by a duplicate of its descriptor, read after the door closed
    its own."""
    app = await make_server(telnet={"send_buffer": SEND_BUFFER}, irc={"send_buffer": SEND_BUFFER})
    port = app.telnet_port if door == "telnet" else app.irc_port
    assert port is not None
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        async with server_end(writer.get_extra_info("socket")) as kept:
            assert user_timeout(kept) == 0  # live
            assert kept.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) <= 2 * SEND_BUFFER
            if goodbye is None:
                writer.write_eof()
            else:
                writer.write(goodbye)
            await bounded_soon(kept)
    finally:
        writer.close()


async def test_a_websocket_is_the_doors_to_drop_while_it_lives(make_server: ServerFactory) -> None:
    """Upgraded, the kernel's bound is lifted (a WebSocket that stops reading is dropped by
    the door, with its reason: ws_inbound.py), and set again as our side closes."""
    app = await make_server()
    async with api(app, "owner") as owner:
        await register(owner, "owner", "wendy")
    wendy = await Ws.open(app, "wendy")
    async with server_end(wendy.ws.transport.get_extra_info("socket")) as kept:
        assert user_timeout(kept) == 0
        wendy.ws.close_timeout = 0.5  # the duplicate holds back the end of the stream
        await wendy.close()
        await bounded_soon(kept)


async def test_a_tls_close_notify_bounds_our_side_before_the_tls_layer_closes(
    make_server: ServerFactory, tmp_path: Path
) -> None:
    """A TLS client's close_notify: asyncio's TLS layer closes the connection itself once the
    session's `eof_received` returns, never through the door (stop 47's probe: 60 IRC-over-TLS
    orphans, each holding the output asked for and never read, 90 s and on)."""
    ca, line_tls, _ = tls_doors(tmp_path)
    app = await make_server(telnet=line_tls)
    port = app.telnet_tls_port
    assert port is not None

    def connect() -> ssl.SSLSocket:
        raw = socket.create_connection(("127.0.0.1", port), timeout=10)
        return trusting(ca).wrap_socket(raw, server_hostname="127.0.0.1")

    client = await asyncio.to_thread(connect)
    try:
        async with server_end(client) as kept:
            assert user_timeout(kept) == 0  # live
            with contextlib.suppress(ssl.SSLError):  # sent; the server's output comes after
                await asyncio.to_thread(client.unwrap)
            await bounded_soon(kept)
    finally:
        client.close()
