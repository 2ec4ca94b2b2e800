"""The IRC door's keep-alive: one timer for the door, none per registered client (uvloop's
timer handle was ~600 bytes of an idle client's ~4.3 KB). A client silent through a whole
round is PINGed, one that answers stays, one silent a round more is dropped. Timers and
lines are counted, never timed; on main each registered client kept a timer of its own."""

from __future__ import annotations

import asyncio

import pytest

from tests.helpers.irc import RawIrc, raw_guest
from torbit.app import App
from torbit.frontends.irc import liveness


async def next_line(raw: RawIrc, starts: str, timeout: float = 10.0) -> str:
    """The next line starting with `starts`, answering each PING before it when it
    is not what is waited for."""
    async with asyncio.timeout(timeout):
        while True:
            data = await raw.reader.readline()
            if not data:
                raise EOFError(f"closed while waiting for {starts!r}; got {raw.lines[-5:]}")
            line = data.decode("utf-8", "replace").rstrip("\r\n")
            raw.lines.append(line)
            if line.startswith(starts):
                return line


async def test_registered_clients_keep_no_timer_of_their_own(app: App) -> None:
    assert app.irc is not None
    clients = [await raw_guest(app, f"idle{i}", "#lobby") for i in range(6)]
    sessions = [s for s in app.irc.sessions if s.registered]
    assert len(sessions) == len(clients)
    assert [s for s in sessions if s._timer is not None] == []
    assert app.irc.pinger._timer is not None  # the door's one, for them all
    # nothing kept of the registration's input: no line buffer between lines
    assert [s for s in sessions if s._parser.buffered or s._parser._buf is not None] == []


async def test_a_silent_client_is_pinged_then_dropped_one_answering_stays(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(liveness, "PING_INTERVAL", 0.05)
    assert app.irc is not None
    silent = await raw_guest(app, "silent")
    talker = await raw_guest(app, "talker")
    for _ in range(4):  # each PING answered: four rounds without being dropped
        ping = await next_line(talker, "PING ")
        talker.send("PONG " + ping.split(" ", 1)[1])
    await next_line(silent, "PING ")
    error = await next_line(silent, "ERROR ")
    assert "Ping timeout" in error
    assert await silent.reader.read() == b""  # closed after the ERROR
    talker.send("PING :still-here")
    assert "still-here" in await next_line(talker, ":")
    assert [s.nick for s in app.irc.sessions if not s.closed] == ["talker"]


async def test_no_rounds_without_clients(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(liveness, "PING_INTERVAL", 0.05)
    assert app.irc is not None
    assert app.irc.pinger._timer is None  # armed by the first registration
    client = await raw_guest(app, "brief")
    assert app.irc.pinger._timer is not None
    client.send("QUIT :bye")
    await next_line(client, "ERROR ")
    async with asyncio.timeout(10):
        while app.irc.sessions or app.irc.pinger._timer is not None:
            await asyncio.sleep(0.05)
