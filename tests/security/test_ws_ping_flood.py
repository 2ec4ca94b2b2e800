"""A WebSocket client that sends ping frames as fast as it can and never reads: each ping is
answered with a pong written straight to the socket (uvicorn, websockets' sans-I/O
protocol), outside the door's bounded writer, and a ping queues no message, so reading never
pauses. The pongs piled up in the server's write buffer: 21 MB for one socket after 26 MB of
pings. Now a client whose unsent output passes the bound while it keeps sending is cut off,
and the others' sockets go on."""

from __future__ import annotations

import asyncio
import json
import socket
import tracemalloc

from websockets.protocol import State

from tests.helpers.http import register
from tests.helpers.moderation import api
from tests.security.conftest import ATTACKER, basic_header, ws_from
from torbit.app import App

PINGS = 200_000  # 26 MB of masked 125-byte ping frames


async def tiny_reader(app: App) -> socket.socket:
    """A socket connected to the HTTP door with a 4 KB receive buffer, set before the
    connection is made so the window it offers fits it. Shrunk after the handshake, the
    buffer was overfull with one loopback segment of pongs, the client's kernel dropped what
    came next, the server's window updates with it, and (4 of 6 runs with the CPU loaded,
    ci144) the flood stalled on a window it believed shut: the server read no more, and
    the test waited for the keepalive and then TCP to give up (stop 55)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    sock.bind((ATTACKER, 0))
    assert app.http_port is not None
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", app.http_port))
    return sock


async def test_a_ping_flood_from_a_client_that_does_not_read_is_cut_off(server: App) -> None:
    async with api(server, "mallory") as http:
        await register(http, "mallory", "alice")
    alice = await ws_from(server, basic_header("alice"), logged_in=True)
    ws = await ws_from(
        server, basic_header("mallory"), logged_in=True, sock=await tiny_reader(server)
    )
    ws.transport.pause_reading()
    payload = b"p" * 125
    sent = 0
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        for _ in range(PINGS // 1000):
            if ws.transport.is_closing() or ws.protocol.state is not State.OPEN:
                break  # cut off by the server
            for _ in range(1000):
                ws.protocol.send_ping(payload)
            data = b"".join(ws.protocol.data_to_send())
            ws.transport.write(data)
            sent += len(data)
            while ws.transport.get_write_buffer_size() > 1 << 20 and not ws.transport.is_closing():
                await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # on main: 17-21 MB of pongs waited in the server's buffer, and all 26 MB were read
    assert peak < 4 * 1024 * 1024, (peak, sent)
    # cut off (on main: open after all 26 MB; since attack10 told so behind its output)
    ws.transport.resume_reading()
    async with asyncio.timeout(30):
        await ws.wait_closed()
    assert ws.protocol.state is State.CLOSED
    # the others' sockets go on
    await alice.send('{"type": "ping"}')
    async with asyncio.timeout(10):  # (the server's own keep-alive pings may come first)
        while json.loads(await alice.recv())["type"] != "pong":
            pass
    await alice.close()
