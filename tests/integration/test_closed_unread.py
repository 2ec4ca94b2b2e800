"""A connection our side closes (a telnet /quit, an IRC QUIT, a drain; as the end of a piped
client's input, a kick-ban or an error does) while output to it is unread stays open until
that output is out, counted against its address, and is cut if the client has not read it
within doors.LINGER seconds, counted as a client dropped for not reading; a client that reads
it within the linger gets all of it, the goodbye last. Counted with real sockets, as
test_hung_up_unread (whose clients close their side first)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.conftest import ServerFactory
from tests.helpers.http import eventually
from tests.helpers.slow_reader import kernel_holds
from tests.helpers.tls import tls_doors, trusting
from tests.integration.test_hung_up_unread import (
    HOSTILE,
    PER_ADDRESS,
    connects_again,
    port_of,
    read_late,
    sessions,
    silent_clients,
    start,
)
from tests.integration.test_stop_unread import server_end_open
from torbit.app import App
from torbit.frontends import doors

QUIT = {"telnet": b"/quit\r\n", "irc": b"QUIT :gone\r\n"}
GOODBYE = {"telnet": "* bye", "irc": "ERROR :Closing link: "}


def kept(app: App, door: str) -> int:
    """The door's connections closed by our side, kept until lost (or cut)."""
    host = app.telnet if door == "telnet" else app.irc
    assert host is not None
    return len(host._closing)


def open_sessions(app: App, door: str) -> int:
    """The door's sessions of clients from HOSTILE not closing."""
    host = app.telnet if door == "telnet" else app.irc
    assert host is not None
    return sum(s.ip == HOSTILE and s.is_open() for s in host.sessions)


async def quit_unread(app: App, door: str, writers: list[asyncio.StreamWriter]) -> None:
    """Each quits (reading nothing, its output queued): our side closes."""
    for w in writers:
        w.write(QUIT[door])
    await eventually(lambda: not open_sessions(app, door))


async def drain_unread(app: App, door: str) -> None:
    """Each is told the node is leaving (as `LineDoor.drain` tells every session), reading
    nothing: our side closes."""
    host = app.telnet if door == "telnet" else app.irc
    assert host is not None
    for s in [s for s in host.sessions if s.ip == HOSTILE]:
        s.drain("node draining, reconnect")
    await eventually(lambda: not open_sessions(app, door))


@pytest.mark.parametrize("how", ["quit", "quit-then-eof", "drain"])
@pytest.mark.parametrize("door", ["telnet", "irc"])
async def test_a_client_closed_by_us_that_never_reads_is_cut_after_the_linger(
    make_server: ServerFactory, door: str, how: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Before, our side waited for it to read for ever: each such socket, with its output
    # queued, stayed until the node stopped. (An EOF after the quit changes nothing: both
    # loops stop reading at our close, so it is never seen.)
    monkeypatch.setattr(doors, "LINGER", 0.2)
    app = await start(make_server)
    writers = [w for _, w in await silent_clients(app, door, PER_ADDRESS)]
    if how == "drain":
        await drain_unread(app, door)
    else:
        await quit_unread(app, door, writers)
    if how == "quit-then-eof":
        for w in writers:
            w.write_eof()
    port = port_of(app, door)
    await eventually(lambda: not any(server_end_open(w, port) for w in writers))
    # and reset: no orphan is left in the kernel holding what they did not read
    peers = [w.get_extra_info("sockname")[1] for w in writers]
    await eventually(lambda: not any(kernel_holds(port, peer) for peer in peers))
    await eventually(lambda: not sessions(app, door))
    assert app.metrics.dropped_clients.labels(door)._value.get() == PER_ADDRESS
    assert app.telnet is not None and app.irc is not None
    assert (app.telnet.lingered.total, app.irc.lingered.total) == (
        (PER_ADDRESS, 0) if door == "telnet" else (0, PER_ADDRESS)
    )
    assert kept(app, door) == 0
    # their address's count returned: it connects again
    await connects_again(app, door)
    for w in writers:
        w.transport.abort()


@pytest.mark.parametrize("door", ["telnet", "irc"])
async def test_a_client_that_quits_and_reads_within_the_linger_gets_all_its_output(
    make_server: ServerFactory, door: str
) -> None:
    # as a piped client does: our side closes at its QUIT, and what was queued still goes
    # out (the goodbye last), then the connection is lost, nothing cut
    app = await start(make_server)
    ((reader, writer),) = await silent_clients(app, door, 1)
    await quit_unread(app, door, [writer])
    assert server_end_open(writer, port_of(app, door))
    data = await read_late(reader, writer)
    assert data.rstrip("\r\n").rsplit("\r\n", 1)[-1].startswith(GOODBYE[door])
    await eventually(lambda: kept(app, door) == 0)
    assert app.metrics.dropped_clients.labels(door)._value.get() == 0
    writer.close()


@pytest.mark.parametrize("door", ["telnet", "irc"])
async def test_a_tls_client_that_quits_and_never_reads_is_cut_after_the_linger(
    make_server: ServerFactory, door: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the TLS layer's own close (its close_notify behind the output) waits for it the same way
    monkeypatch.setattr(doors, "LINGER", 0.2)
    ca, tls, _ = tls_doors(tmp_path)
    app = await start(make_server, tls)
    clients = await silent_clients(app, door, PER_ADDRESS, trusting(ca))
    writers = [w for _, w in clients]
    peers = [w.get_extra_info("sockname")[1] for w in writers]  # a reset client forgets it
    await quit_unread(app, door, writers)
    port = port_of(app, door, tls=True)
    await eventually(lambda: not any(kernel_holds(port, peer) for peer in peers))
    await eventually(lambda: not sessions(app, door))
    assert app.metrics.dropped_clients.labels(f"{door}-tls")._value.get() == PER_ADDRESS
    for w in writers:
        w.transport.abort()
