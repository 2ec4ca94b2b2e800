"""How a telnet session's end moves the read cursor (core/comeback.py) when its client did
not get everything it was given: carol was shown all she had unread in #den, then stopped
reading while dave talked on. Whatever way her session ends, a line never sent to her must
still come from `/receive` (some shown ones may come again: one cursor cannot tell them
apart). Before, each of these marked #den read up to the end of her session:
- her client half-closed (EOF) with output still queued: the door dropped its writer
  before the session asked it what it had not sent;
- her client closed with lines unread in its socket (the kernel answers with a reset);
- she typed /quit with output queued: a client that never read it was cut after the
  linger, its transport's buffer emptied before the session asked; one that read it late
  drained normally, and the lines said after her /quit (dropped: our side was closing)
  were marked read with the rest."""

from __future__ import annotations

import asyncio
import fcntl
import socket
import struct
import termios
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ServerFactory
from tests.helpers.http import basic, eventually, http_client
from tests.helpers.slow_reader import stop_reading
from tests.helpers.telnet_client import TelnetClient
from tests.helpers.tls import tls_doors, trusting
from tests.integration.test_telnet_comeback import gone
from tests.integration.test_telnet_read_cursor import _den, _received
from torbit.app import App
from torbit.frontends import doors
from torbit.frontends.line_session import LineSession


async def _say(c: httpx.AsyncClient, text: str) -> None:
    r = await c.post("/send/den/dave", content=text, auth=basic("dave"))
    assert r.status_code == 201, r.text


async def _carol_caught_up(app: App, c: httpx.AsyncClient) -> TelnetClient:
    """carol read "before" with `/receive`, and logs in on telnet: back in #den with
    nothing unread (so leaving would mark it read)."""
    await _den(app, c)
    await _say(c, "before")
    assert await _received(c) == ["before"]  # her cursor on it
    assert app.telnet_port is not None
    carol = await TelnetClient.connect(app.telnet_port)
    await carol.login("carol")
    await carol.expect(r"^\* back in #den")
    return carol


async def _backlog(c: httpx.AsyncClient, session: LineSession[Any]) -> list[str]:
    """dave talks until the door holds output for carol it could not send (she reads
    nothing): his lines, in order."""
    said: list[str] = []
    writer = session._writer
    assert writer is not None
    while not writer.unsent():
        said.append(f"{len(said):03d} " + "x" * 3000)
        await _say(c, said[-1])
        assert len(said) < 80, "nothing was ever held for carol"
    return said


def _unread_in_socket(sock: socket.socket) -> int:
    """Bytes the client's kernel holds that the client has not read (FIONREAD)."""
    return int(struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0" * 4))[0])


async def test_a_half_close_with_output_queued_marks_nothing_read(server: App) -> None:
    async with http_client(server) as c:
        carol = await _carol_caught_up(server, c)
        said = await _backlog(c, stop_reading(server, carol.writer, "carol"))
        carol.writer.write_eof()
        await gone(server, "carol", "den")
        assert await _received(c) == said
        carol.writer.transport.abort()


async def test_a_client_closed_with_lines_unread_in_its_socket_marks_nothing_read(
    server: App,
) -> None:
    async with http_client(server) as c:
        carol = await _carol_caught_up(server, c)
        stop_reading(server, carol.writer, "carol")
        await _say(c, "never read")
        sock = carol.writer.get_extra_info("socket")
        await eventually(lambda: _unread_in_socket(sock) > 0)
        carol.writer.close()  # with unread data: the kernel resets the connection
        await gone(server, "carol", "den")
        assert await _received(c) == ["never read"]


@pytest.mark.parametrize("late", [False, True], ids=["never-reads", "reads-late"])
async def test_a_quit_with_output_queued_marks_nothing_read(
    make_server: ServerFactory, monkeypatch: pytest.MonkeyPatch, late: bool
) -> None:
    if not late:  # cut soon after our close, its output unread
        monkeypatch.setattr(doors, "LINGER", 0.2)
    app = await make_server()
    async with http_client(app) as c:
        carol = await _carol_caught_up(app, c)
        session = stop_reading(app, carol.writer, "carol")
        said = await _backlog(c, session)
        carol.send("/quit")
        await eventually(lambda: not session.is_open())
        await _say(c, "after her quit")
        if late:  # she reads it all: our side's close completes
            carol.writer.transport.resume_reading()  # type: ignore[attr-defined]
            await asyncio.wait_for(carol.reader.read(), 30)
        await gone(app, "carol", "den")
        assert await _received(c) == [*said, "after her quit"]
        carol.writer.transport.abort()


async def test_a_switch_away_with_output_queued_marks_nothing_read(server: App) -> None:
    # she switches rooms with #den's lines still queued, then is dropped for not reading
    # them: the switch marked #den read past them (they never left)
    async with http_client(server) as c:
        carol = await _carol_caught_up(server, c)
        said = await _backlog(c, stop_reading(server, carol.writer, "carol"))
        carol.send("/join lobby")
        assert server.core is not None
        online = server.core.subscriptions.online
        await eventually(lambda: "carol" in online("lobby") and "carol" not in online("den"))
        carol.writer.transport.abort()
        await gone(server, "carol", "lobby")
        assert await _received(c) == said


async def test_a_tls_quit_with_output_queued_under_the_tls_layer_marks_nothing_read(
    make_server: ServerFactory, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The TLS transport counts only what its own layer holds: what it handed to the TCP
    # transport under it (up to that one's high-water mark, 64 KiB) looked sent.
    monkeypatch.setattr(doors, "LINGER", 0.2)
    ca, tls, _ = tls_doors(tmp_path)
    app = await make_server(telnet=tls)
    assert app.telnet_tls_port is not None and app.telnet is not None
    async with http_client(app) as c:
        await _den(app, c)
        await _say(c, "before")
        assert await _received(c) == ["before"]
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", app.telnet_tls_port, ssl=trusting(ca), server_hostname="127.0.0.1"
        )
        carol = TelnetClient(reader, writer)
        await carol.login("carol")
        await carol.expect(r"^\* back in #den")
        # the client's TCP transport stops reading (its TLS one would read on into memory)
        writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        client_tls = getattr(writer.transport, "_ssl_protocol", None)
        if client_tls is None:  # the server's TLS layer is asyncio's on either loop
            pytest.skip("this loop's TLS client has no handle on its TCP transport")
        client_tls._transport.pause_reading()
        (session,) = [s for s in app.telnet.sessions if s.name == "carol"]
        assert session._writer is not None and session._writer.transport is not None
        tls_transport = session._writer.transport
        tls_transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        tcp = tls_transport._ssl_protocol._transport  # type: ignore[attr-defined]
        said: list[str] = []
        while not tcp.get_write_buffer_size():
            said.append(f"{len(said):03d} " + "x" * 3000)
            await _say(c, said[-1])
            assert len(said) < 80, "nothing was ever held for carol"
        carol.send("/quit")
        await eventually(lambda: not session.is_open())
        await gone(app, "carol", "den")
        assert await _received(c) == said
        writer.transport.abort()
