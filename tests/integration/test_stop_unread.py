"""A stop closes every connection its doors hold and leaves none of their tasks running, also
for clients that read nothing: their output can never leave, so a close that waits for it to
go out waits forever, and only a cut (an abort) ends the connection. Counted after
`App.stop` returns: the server's end of the client's connection in the kernel's table of
this process's TCP sockets (/proc), and the tasks left on the loop."""

from __future__ import annotations

import asyncio
import os
import socket

import pytest

from tests.conftest import ServerFactory
from tests.helpers.http import eventually
from tests.helpers.irc import RawIrc
from tests.helpers.slow_reader import stop_reading
from tests.helpers.telnet_client import TelnetClient

MB = 1 << 20
LINES = 100  # ~300 KB to the client that never reads: far past the kernel's small buffers


def server_end_open(client: asyncio.StreamWriter, port: int) -> bool:
    """Whether a socket of this process is still the server's end (on `port`) of `client`'s
    connection."""
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            link = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # closed meanwhile (the listing's own)
            continue
        if link.startswith("socket:["):
            inodes.add(link.removeprefix("socket:[").removesuffix("]"))
    peer = client.get_extra_info("sockname")[1]
    for table in ("/proc/self/net/tcp", "/proc/self/net/tcp6"):
        with open(table) as f:
            for row in list(f)[1:]:
                cols = row.split()
                local, remote = (int(a.rsplit(":", 1)[1], 16) for a in cols[1:3])
                if (local, remote) == (port, peer) and cols[9] in inodes:
                    return True
    return False


def other_tasks() -> list[asyncio.Task[object]]:
    me = asyncio.current_task()
    return [t for t in asyncio.all_tasks() if t is not me]


@pytest.mark.parametrize("door", ["telnet", "irc"])
async def test_a_stop_cuts_a_client_that_hung_up_without_reading(
    make_server: ServerFactory, door: str
) -> None:
    # On stage the door closed our side at the client's EOF (`LineDoor.hang_up`), the session
    # gone, and forgot the connection: its close waited for the output to go out, and the stop
    # did not cut it (no session of the door's held it): the socket stayed open after the stop.
    app = await make_server(
        telnet={"max_output_buffer": MB}, irc={"guests": True, "max_output_buffer": MB}
    )
    assert app.telnet_port is not None and app.irc_port is not None
    slow: TelnetClient | RawIrc
    if door == "telnet":
        slow = await TelnetClient.connect(app.telnet_port)
        await slow.login("slow")
    else:
        slow = await RawIrc.connect(app)
        await slow.register("slow")
        slow.send("JOIN #lobby")
        await slow.expect(" 366 slow #lobby ")
    session = stop_reading(app, slow.writer, "slow")
    alice = await TelnetClient.connect(app.telnet_port)
    await alice.login("alice")
    bob = await TelnetClient.connect(app.telnet_port)
    await bob.login("bob")
    for i in range(LINES):
        alice.send(f"{i} " + "x" * 3000)
    await bob.expect(f"<alice> {LINES - 1} x")  # all sent: slow's copies wait at the server
    slow.writer.write_eof()  # and it hangs up, with nothing left to answer
    host = app.telnet if door == "telnet" else app.irc
    assert host is not None
    await eventually(lambda: session not in host.sessions)  # it departed: our side is closing
    port = app.telnet_port if door == "telnet" else app.irc_port
    assert server_end_open(slow.writer, port)  # its output unread
    await app.stop()
    assert not server_end_open(slow.writer, port)
    assert other_tasks() == []


async def test_a_stop_cuts_an_http_client_that_never_reads(make_server: ServerFactory) -> None:
    # On stage uvicorn's shutdown cancelled the request still writing to such a client after
    # its grace, and the request, answering the cancellation with a 500 on the full
    # connection, waited for it to drain: the stop returned with the task still running (it
    # waited CANCELLED_WAIT for it) and the connection open.
    app = await make_server()
    assert app.http_port is not None and app.http is not None
    _, client = await asyncio.open_connection("127.0.0.1", app.http_port)
    try:
        client.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        client.transport.pause_reading()  # type: ignore[attr-defined]
        client.write(b"GET /app.js HTTP/1.1\r\nHost: torbit\r\n\r\n" * 400)  # ~12 MB to answer
        state = app.http._server.server_state  # uvicorn's

        def writing_stuck() -> bool:
            return any(c.flow.write_paused for c in state.connections)

        await eventually(writing_stuck)
        assert server_end_open(client, app.http_port)
        await app.stop()
        assert not server_end_open(client, app.http_port)
        assert other_tasks() == []
    finally:
        client.transport.abort()


async def test_a_stop_cuts_a_balancer_connection_before_its_proxy_header(
    make_server: ServerFactory,
) -> None:
    # On stage a connection from a trusted balancer waiting for its PROXY header was nobody's
    # to cut: it stayed open past the stop, until the header's timeout (HEADER_TIMEOUT) closed
    # it, if the loop still ran by then.
    trusted = {"proxy_protocol": True, "trusted_proxies": ["127.0.0.1/32"]}
    app = await make_server(telnet=trusted)
    assert app.telnet_port is not None
    _, client = await asyncio.open_connection("127.0.0.1", app.telnet_port)
    try:
        await eventually(lambda: server_end_open(client, app.telnet_port or 0))
        await app.stop()
        assert not server_end_open(client, app.telnet_port)
    finally:
        client.transport.abort()
