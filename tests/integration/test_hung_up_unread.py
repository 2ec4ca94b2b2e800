"""A client that closes its side (EOF) while output to it is unread ends its session at once,
but our side of its connection stays open until that output is out. Until it is lost, the
connection still counts against its address (limits.connections_per_ip), and it is cut if
the client has not read its output within doors.LINGER seconds; a client that does read it
gets all of it. Counted with real sockets: the server's end of each connection in the
kernel's table of this process's TCP sockets (/proc, as test_stop_unread)."""

from __future__ import annotations

import asyncio
import re
import ssl
from typing import Any

import pytest

from tests.conftest import ServerFactory
from tests.helpers.http import eventually
from tests.helpers.irc import RawIrc
from tests.helpers.slow_reader import stop_reading
from tests.helpers.telnet_client import TelnetClient
from tests.integration.test_stop_unread import server_end_open
from torbit.app import App
from torbit.frontends import doors

MB = 1 << 20
LINES = 100  # ~300 KB to each client that stops reading: far past the kernel's small buffers
PER_ADDRESS = 3
HOSTILE = "127.0.0.2"  # the clients that hang up unread; the others connect from 127.0.0.1


async def start(make_server: ServerFactory, tls: dict[str, Any] | None = None) -> App:
    """The server; with `tls` (tests.helpers.tls.tls_doors' settings), TLS ports too."""
    return await make_server(
        limits={"connections_per_ip": PER_ADDRESS},
        telnet={"max_output_buffer": MB, **(tls or {})},
        irc={"guests": True, "max_output_buffer": MB, **(tls or {})},
    )


def port_of(app: App, door: str, tls: bool = False) -> int:
    if tls:
        port = app.telnet_tls_port if door == "telnet" else app.irc_tls_port
    else:
        port = app.telnet_port if door == "telnet" else app.irc_port
    assert port is not None
    return port


async def connect(
    app: App, door: str, tls: ssl.SSLContext | None = None
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection(
        "127.0.0.1",
        port_of(app, door, tls is not None),
        local_addr=(HOSTILE, 0),
        limit=1 << 22,
        ssl=tls,
        server_hostname="127.0.0.1" if tls else None,
    )


Client = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def silent_clients(
    app: App, door: str, n: int, tls: ssl.SSLContext | None = None
) -> list[Client]:
    """`n` clients from HOSTILE (over TLS with `tls`), logged in (in #lobby), that read nothing
    from now on; then LINES long messages said in #lobby, all of them queued for those clients
    at the server."""
    clients: list[Client] = []
    for i in range(n):
        name = f"silent{i}"
        if door == "telnet":
            client = TelnetClient(*await connect(app, door, tls))
            await client.login(name)
            clients.append((client.reader, client.writer))
        else:
            irc = RawIrc(*await connect(app, door, tls))
            await irc.register(name)
            irc.send("JOIN #lobby")
            await irc.expect(f" 366 {name} #lobby ")
            clients.append((irc.reader, irc.writer))
        stop_reading(app, clients[-1][1], name)
    alice = await TelnetClient.connect(app.telnet_port or 0)
    await alice.login("alice")
    bob = await TelnetClient.connect(app.telnet_port or 0)
    await bob.login("bob")
    for i in range(LINES):
        alice.send(f"{i} " + "x" * 3000)
    await bob.expect(f"<alice> {LINES - 1} x")  # all sent: the silent ones' copies wait
    return clients


def sessions(app: App, door: str) -> int:
    """The door's sessions of clients from HOSTILE."""
    host = app.telnet if door == "telnet" else app.irc
    assert host is not None
    return sum(s.ip == HOSTILE for s in host.sessions)


async def hang_up(app: App, door: str, writers: list[asyncio.StreamWriter]) -> None:
    """Each closes its side, with nothing left to answer: its session ends."""
    for w in writers:
        w.write_eof()
    await eventually(lambda: not sessions(app, door))


async def refused(app: App, door: str) -> bytes:
    """The first line a new client from HOSTILE reads."""
    reader, writer = await connect(app, door)
    try:
        return await asyncio.wait_for(reader.readline(), 10)
    finally:
        writer.close()


async def connects_again(app: App, door: str) -> None:
    """A new client from HOSTILE is served: the address's count was returned."""
    if door == "telnet":
        again = TelnetClient(*await connect(app, door))
        await again.read_until("Name: ")
    else:
        irc = RawIrc(*await connect(app, door))
        await irc.register("again")


async def read_late(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> str:
    """Everything the silent client was sent, read now to the end: every message, in order."""
    writer.transport.resume_reading()  # type: ignore[attr-defined]
    data = (await asyncio.wait_for(reader.read(), 10)).decode(errors="replace")
    # (an IRC line carries a part of each message: its first begins with the number)
    said = re.findall(r"(?:<alice> |PRIVMSG #lobby :)(\d+) x", data)
    assert [int(n) for n in said] == list(range(LINES))
    return data


@pytest.mark.parametrize("door", ["telnet", "irc"])
async def test_a_hung_up_connection_counts_until_its_socket_closes(
    make_server: ServerFactory, door: str
) -> None:
    # On tidy the address's count was returned at the hang-up, the socket still open: one
    # address could hold any number of them, each with its output queued.
    app = await start(make_server)
    writers = [w for _, w in await silent_clients(app, door, PER_ADDRESS)]
    await hang_up(app, door, writers)
    port = port_of(app, door)
    assert sum(server_end_open(w, port) for w in writers) == PER_ADDRESS
    assert b"too many connections from your address" in await refused(app, door)
    assert app.metrics.dropped_clients.labels(door)._value.get() == 0
    for w in writers:
        w.transport.abort()


@pytest.mark.parametrize("door", ["telnet", "irc"])
async def test_a_hung_up_client_that_never_reads_is_cut_after_the_linger(
    make_server: ServerFactory, door: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # On tidy its socket stayed open until the client read, or the node stopped.
    monkeypatch.setattr(doors, "LINGER", 0.2)
    app = await start(make_server)
    writers = [w for _, w in await silent_clients(app, door, PER_ADDRESS)]
    await hang_up(app, door, writers)
    port = port_of(app, door)
    await eventually(lambda: not any(server_end_open(w, port) for w in writers))
    assert app.metrics.dropped_clients.labels(door)._value.get() == PER_ADDRESS
    # their address's count returned: it connects again
    await connects_again(app, door)
    for w in writers:
        w.transport.abort()


@pytest.mark.parametrize("door", ["telnet", "irc"])
async def test_a_hung_up_client_that_reads_later_gets_all_its_output(
    make_server: ServerFactory, door: str
) -> None:
    # as a piped client does whose input was all handled before its EOF: the session ends at
    # the EOF, and what was queued for it still goes out, then our side closes
    app = await start(make_server)
    ((reader, writer),) = await silent_clients(app, door, 1)
    await hang_up(app, door, [writer])
    assert server_end_open(writer, port_of(app, door))
    await read_late(reader, writer)
    assert app.metrics.dropped_clients.labels(door)._value.get() == 0
    writer.close()
