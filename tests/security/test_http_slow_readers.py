"""HTTP clients that ask for large answers and never read them. An answer goes to the
transport whole (a page of 1,000 messages is up to 4 MB), and while the client does not
read, the next pipelined request is answered too and waits for the socket: before
`http.send_timeout`, 95 such connections from one address held 760 MB of the server's memory
for as long as they stayed open. Now a client that reads too little of a stalled answer
within `send_timeout` is disconnected and the unsent answer dropped; one that reads, even
slowly, gets everything."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import ServerFactory
from tests.helpers.http import PASSWORD, eventually, http_client, register
from tests.scale.processes import NodeProcess
from torbit.app import App

MESSAGES = 300
TEXT = "x" * 4000  # a page of MESSAGES is ~1.2 MB of JSON
PIPELINED = 4
READERS = 20
HANGUPS = 10
TCP_ESTABLISHED = 1  # the first byte of Linux's struct tcp_info (TCP_INFO) is the state


async def big_room(app: App) -> str:
    async with http_client(app) as c:
        await register(c, "alice")
    assert app.core is not None
    await app.core.membership.become_member("alice", "big")
    for i in range(MESSAGES):
        await app.core.messaging.send("alice", "big", f"{i} {TEXT}")
    return page_request()


def page_request() -> str:
    basic = base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
    return (
        "GET /api/v1/rooms/big/messages?limit=1000 HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: Basic {basic}\r\n\r\n"
    )


async def stuck_reader(app: App, request: str) -> socket.socket:
    """Asks for the page PIPELINED times, with a tiny receive window, and reads nothing."""
    assert app.http_port is not None
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.setblocking(False)
    await asyncio.get_running_loop().sock_connect(s, ("127.0.0.1", app.http_port))
    await asyncio.get_running_loop().sock_sendall(s, request.encode() * PIPELINED)
    return s


def established(s: socket.socket) -> bool:
    """Whether the connection is still up, seen without reading from it."""
    return s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0] == TCP_ESTABLISHED


async def read_all(s: socket.socket, timeout: float) -> tuple[int, bool]:
    """Bytes read until the server ends the connection (True), or until `timeout` (False)."""
    loop = asyncio.get_running_loop()
    got = 0
    try:
        async with asyncio.timeout(timeout):
            while data := await loop.sock_recv(s, 1 << 16):
                got += len(data)
    except TimeoutError:
        return got, False
    except ConnectionError:
        pass
    return got, True


async def test_clients_that_do_not_read_their_answers_are_cut_off(
    make_server: ServerFactory,
) -> None:
    app = await make_server(http={"send_timeout": 1.0})
    request = await big_room(app)
    async with http_client(app) as c:
        page = len(
            (await c.get("/api/v1/rooms/big/messages?limit=1000", auth=("alice", PASSWORD))).content
        )
    assert page > 1_000_000
    stuck = [await stuck_reader(app, request) for _ in range(READERS)]
    try:
        await eventually(lambda: not any(map(established, stuck)), timeout=30)
        results = [await read_all(s, timeout=5) for s in stuck]
    finally:
        for s in stuck:
            s.close()
    assert all(ended for _, ended in results)
    assert max(got for got, _ in results) < PIPELINED * page
    # a client that reads gets every answer, however large
    reader = await stuck_reader(app, request)
    with contextlib.closing(reader):
        got, _ = await read_all(reader, timeout=5)
    assert got > PIPELINED * page


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[NodeProcess]:
    """`torbit serve` in its own process, as deployed: on uvloop, where a write to a closed
    transport raises (the in-process servers of the other tests run on asyncio's loop)."""
    n = NodeProcess(
        tmp_path / "node",
        TORBIT_STORAGE__URL=f"sqlite:///{tmp_path}/torbit.db",
        TORBIT_LIMITS__READ_RATE="0",  # the same big page, again and again
    )
    await asyncio.to_thread(n.start)
    yield n
    await asyncio.to_thread(n.stop)


async def test_hanging_up_on_pipelined_requests_logs_no_errors(node: NodeProcess) -> None:
    """uvicorn told only the newest of a connection's requests that the client was gone; the
    one being answered wrote to the closed transport and logged an error with a traceback:
    one per connection, for any client that pipelines two requests and hangs up."""
    assert node.http_port is not None
    base = f"http://127.0.0.1:{node.http_port}"
    async with httpx.AsyncClient(base_url=base, auth=("alice", PASSWORD), timeout=30) as c:
        await register(c, "alice")
        assert (await c.put("/api/v1/rooms/big/members/alice")).status_code == 200
        for i in range(MESSAGES):
            r = await c.post("/api/v1/rooms/big/messages", json={"text": f"{i} {TEXT}"})
            assert r.status_code == 201
    request = page_request()
    loop = asyncio.get_running_loop()
    for _ in range(HANGUPS):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.setblocking(False)
        await loop.sock_connect(s, ("127.0.0.1", node.http_port))
        await loop.sock_sendall(s, request.encode() * PIPELINED)
        assert await loop.sock_recv(s, 4096)  # the first answer has begun
        s.close()
    # answered after the hang-ups were seen: the server has dealt with them by then
    async with httpx.AsyncClient(base_url=base, auth=("alice", PASSWORD), timeout=30) as c:
        for _ in range(HANGUPS):
            assert (await c.get("/api/v1/rooms/big/messages?limit=1000")).status_code == 200
    log = node.output(everything=True)
    assert "Traceback" not in log and " ERROR " not in log, log[-3000:]
