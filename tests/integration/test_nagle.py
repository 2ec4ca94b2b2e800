"""Nagle's algorithm on the line doors' sockets (telnet plain and TLS, IRC): on unless
`tcp_nodelay` says otherwise (line_session.allow_joined_writes). asyncio and uvloop turn it
off for every TCP socket, so this reads the option back from the server's end of each
connection rather than trusting the default."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ServerFactory
from tests.helpers.irc import RawIrc
from tests.helpers.telnet_client import TelnetClient
from tests.helpers.tls import tls_doors, trusting
from torbit.app import App
from torbit.core.names import name_key
from torbit.frontends.line_session import LineSession


def nodelay_of(session: LineSession[Any]) -> int:
    """TCP_NODELAY on the server's end of the session's connection (0: Nagle on)."""
    assert session._writer is not None and session._writer.transport is not None
    sock = session._writer.transport.get_extra_info("socket")
    return int(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))


def telnet_session(app: App, name: str) -> LineSession[Any]:
    assert app.telnet is not None
    (session,) = [s for s in app.telnet.sessions if s.name == name]
    return session


@pytest.mark.parametrize("nodelay", [False, True])
async def test_line_doors_keep_nagle_on_unless_told_not_to(
    make_server: ServerFactory, tmp_path: Path, nodelay: bool
) -> None:
    ca, telnet_tls, _ = tls_doors(tmp_path)
    app = await make_server(
        telnet={**telnet_tls, "tcp_nodelay": nodelay}, irc={"guests": True, "tcp_nodelay": nodelay}
    )
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

    sessions = [telnet_session(app, "plain"), telnet_session(app, "secure"), irc_session]
    assert [nodelay_of(s) for s in sessions] == [int(nodelay)] * 3
    await plain.close()  # chatting with it on: every other telnet and IRC test
    await secure.close()
