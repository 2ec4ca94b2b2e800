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
import gc
import socket

import pytest

from tests.conftest import ServerFactory
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
                if isinstance(o, asyncio.Transport) and o.get_extra_info("peername") == here:
                    sock = o.get_extra_info("socket")
                    if sock is not None:
                        return sock  # type: ignore[no-any-return]
            await asyncio.sleep(0.05)


@pytest.mark.parametrize("door", ["telnet", "irc", "http"])
async def test_every_door_bounds_what_an_unread_client_holds(
    make_server: ServerFactory, door: str
) -> None:
    app = await make_server(
        telnet={"send_buffer": SEND_BUFFER},
        irc={"send_buffer": SEND_BUFFER},
        http={"ws_send_buffer": SEND_BUFFER},
    )
    port = {"telnet": app.telnet_port, "irc": app.irc_port, "http": app.http_port}[door]
    assert port is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        if door == "http":  # a connection's protocol is made once the doorman lets it in
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            await reader.readuntil(b"\r\n\r\n")
        server = await server_socket_of(writer.get_extra_info("socket"))
        assert server.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) == USER_TIMEOUT_MS
        # Linux doubles the value asked, for its bookkeeping; autotuned it grows to megabytes
        assert server.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) <= 2 * SEND_BUFFER
    finally:
        writer.close()
