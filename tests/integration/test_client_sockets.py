"""What the line doors set on their clients' sockets (telnet plain and TLS, IRC;
line_session.tune_socket): Nagle's algorithm on unless `tcp_nodelay` says otherwise (asyncio
and uvloop turn it off for every TCP socket), and the kernel's send buffer capped at
`send_buffer` unless that is 0. Read back from the server's end of each connection rather than
trusting the defaults."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

import pytest
import trustme

from tests.conftest import ServerFactory
from tests.helpers.irc import RawIrc
from tests.helpers.telnet_client import TelnetClient
from tests.helpers.tls import tls_doors, trusting
from torbit.app import App
from torbit.core.names import name_key
from torbit.frontends.line_session import LineSession


def option(session: LineSession[Any], level: int, name: int) -> int:
    """A socket option of the server's end of the session's connection."""
    assert session._writer is not None and session._writer.transport is not None
    sock = session._writer.transport.get_extra_info("socket")
    return int(sock.getsockopt(level, name))


def telnet_session(app: App, name: str) -> LineSession[Any]:
    assert app.telnet is not None
    (session,) = [s for s in app.telnet.sessions if s.name == name]
    return session


async def line_sessions(app: App, ca: trustme.CA) -> list[LineSession[Any]]:
    """The server's sessions of a plain telnet, a TLS telnet and an IRC client (kept open)."""
    assert app.telnet_port is not None and app.telnet_tls_port is not None
    assert app.irc is not None
    plain = await TelnetClient.connect(app.telnet_port)
    await plain.login("plain")
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", app.telnet_tls_port, ssl=trusting(ca), server_hostname="localhost"
    )
    secure = TelnetClient(reader, writer)
    await secure.login("secure")
    irc = await RawIrc.connect(app)
    await irc.register("ircer")
    (irc_session,) = app.irc.clients_of(name_key("ircer"))
    return [telnet_session(app, "plain"), telnet_session(app, "secure"), irc_session]


@pytest.mark.parametrize("nodelay", [False, True])
async def test_line_doors_keep_nagle_on_unless_told_not_to(
    make_server: ServerFactory, tmp_path: Path, nodelay: bool
) -> None:
    """Chatting with it on: every other telnet and IRC test."""
    ca, telnet_tls, _ = tls_doors(tmp_path)
    doors = {"tcp_nodelay": nodelay}
    app = await make_server(telnet={**telnet_tls, **doors}, irc={"guests": True, **doors})
    sessions = await line_sessions(app, ca)
    assert [option(s, socket.IPPROTO_TCP, socket.TCP_NODELAY) for s in sessions] == [nodelay] * 3


@pytest.mark.parametrize("buffers", [(24576, 20480), (0, 0)])
async def test_line_doors_cap_the_kernels_buffers_unless_told_not_to(
    make_server: ServerFactory, tmp_path: Path, buffers: tuple[int, int]
) -> None:
    """Linux doubles the value asked for (its bookkeeping); left alone, each buffer starts at
    net.ipv4.tcp_wmem's or tcp_rmem's default and autotunes from there."""
    ca, telnet_tls, _ = tls_doors(tmp_path)
    send, receive = buffers
    doors = {"send_buffer": send, "receive_buffer": receive}
    app = await make_server(telnet={**telnet_tls, **doors}, irc={"guests": True, **doors})
    sessions = await line_sessions(app, ca)
    sizes = [
        (
            option(s, socket.SOL_SOCKET, socket.SO_SNDBUF),
            option(s, socket.SOL_SOCKET, socket.SO_RCVBUF),
        )
        for s in sessions
    ]
    if send:
        assert sizes == [(2 * send, 2 * receive)] * 3
    else:
        assert all(size != (2 * 24576, 2 * 20480) for size in sizes), sizes
