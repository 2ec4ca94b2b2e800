"""Many telnet clients vanishing at once are logged out a slice at a time: the loop gets to
poll sockets between slices (counted in loop turns, never timed)."""

from __future__ import annotations

import asyncio
import gc
from collections import Counter

import pytest

from tests.conftest import ServerFactory
from tests.helpers.telnet_client import TelnetClient
from tests.helpers.turns import Turns
from torbit.core.delivery import Session
from torbit.frontends import doors
from torbit.frontends.telnet import session as session_module
from torbit.frontends.telnet.session import TelnetSession


async def test_clients_leaving_at_once_are_logged_out_over_many_loop_turns(
    make_server: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = await make_server()
    assert app.telnet_port is not None and app.telnet is not None and app.core is not None
    n = 20
    clients = [await TelnetClient.connect(app.telnet_port) for _ in range(n)]
    for i, c in enumerate(clients):
        await c.login(f"leaver{i}")
    assert len(app.core.membership.online("lobby")) == n

    loop = asyncio.get_running_loop()
    sessions = app.telnet.core.sessions
    real_logout = sessions.logout
    turns_at_logout: list[int] = []
    collecting: list[bool] = []  # the cycle collector's state at each logout

    async def counted_logout(session: Session) -> None:
        turns_at_logout.append(turns.count)
        collecting.append(gc.isenabled())
        await real_logout(session)

    monkeypatch.setattr(sessions, "logout", counted_logout)
    monkeypatch.setattr(doors, "LOGOUT_SLICE", 0.0)  # one logout per slice
    monkeypatch.setattr(doors, "QUIET_GC_AT", 5)  # a storm, for this test
    assert gc.isenabled()
    turns = Turns()
    for c in clients:  # all in one turn: the server sees every close in one poll
        c.writer.transport.abort()
    deadline = loop.time() + 30  # generous: the machine may be busy; nothing here is timed
    while loop.time() < deadline:  # until the door has worked the storm off (the last
        # logout may still be finishing once the lobby is empty: the collector comes back after)
        done = len(turns_at_logout) == n and not app.core.membership.online("lobby")
        if done and app.telnet._departures is None:
            break
        await asyncio.sleep(0.01)
    turns.stop()
    assert len(turns_at_logout) == n
    assert len(set(turns_at_logout)) == n  # each in a turn of its own
    assert app.core.membership.online("lobby") == []
    # the storm's last logouts ran with the cycle collector off; it is back on after
    assert collecting[-1] is False and gc.isenabled()
    newcomer = await TelnetClient.connect(app.telnet_port)
    await newcomer.login("newcomer")
    assert app.core.membership.online("lobby") == ["newcomer"]
    await newcomer.close()


async def test_sockets_of_clients_that_closed_theirs_are_closed_a_batch_per_loop_turn(
    make_server: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client's EOF makes its session deaf at once; the door departs it and closes our
    side of the socket CLOSE_BATCH a loop turn (uvloop would close every one in the turn
    after the poll that read them all), and a session waiting for that close is sent
    nothing more (what the others' departures tell it would reset the socket in that turn)."""
    app = await make_server()
    assert app.telnet_port is not None and app.telnet is not None and app.core is not None
    n, batch = 20, 3
    clients = [await TelnetClient.connect(app.telnet_port) for _ in range(n)]
    for i, c in enumerate(clients):
        await c.login(f"closer{i}")
    stayer = await TelnetClient.connect(app.telnet_port)
    await stayer.login("stayer")
    assert len(app.core.membership.online("lobby")) == n + 1

    loop = asyncio.get_running_loop()
    turns_at_close: list[int] = []
    silent_before_close: list[bool] = []  # departed and deaf by the time its socket closes
    real_lost = TelnetSession.connection_lost

    def counted_lost(self: TelnetSession, exc: Exception | None) -> None:
        if self.user_key.startswith("closer"):
            turns_at_close.append(turns.count)
            silent_before_close.append(
                self.closed and self.deliver is session_module._not_connected
            )
        real_lost(self, exc)

    monkeypatch.setattr(TelnetSession, "connection_lost", counted_lost)
    monkeypatch.setattr(doors, "CLOSE_BATCH", batch)
    turns = Turns()
    for c in clients:  # all in one turn: the server reads every EOF in one poll
        c.writer.transport.abort()
    deadline = loop.time() + 30  # generous: the machine may be busy; nothing here is timed
    while loop.time() < deadline:
        if len(turns_at_close) == n and app.core.membership.online("lobby") == ["stayer"]:
            break
        await asyncio.sleep(0.01)
    turns.stop()
    assert len(turns_at_close) == n
    per_turn = Counter(turns_at_close)
    assert max(per_turn.values()) <= batch
    assert len(per_turn) == -(-n // batch)  # ceil(n / batch) turns
    assert all(silent_before_close)
    assert app.core.membership.online("lobby") == ["stayer"]
    assert not app.telnet.sessions - {s for s in app.telnet.sessions if s.user_key == "stayer"}
    await stayer.close()


async def test_a_client_that_half_closes_gets_its_last_answer_and_then_our_close(
    make_server: ServerFactory,
) -> None:
    """A client that sends a line and closes its side (`nc -q`, a script piping input) still
    gets what was written before its EOF was read, then our side's close."""
    app = await make_server()
    assert app.telnet_port is not None and app.core is not None
    c = await TelnetClient.connect(app.telnet_port)
    await c.login("halfway")
    c.writer.write(b"/who\r\n")
    await c.writer.drain()
    await c.expect("halfway")
    c.writer.write_eof()
    with pytest.raises(EOFError):
        await c.expect("never said")
    deadline = asyncio.get_running_loop().time() + 30
    while app.core.membership.online("lobby") and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.01)
    assert app.core.membership.online("lobby") == []
    c.writer.close()


async def test_clients_eofs_only_judge_their_moves_which_are_made_when_they_depart(
    make_server: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """uvloop reads the EOFs of clients leaving at once in one poll: what each EOF does there
    holds the loop for all of them. A telnet session's EOF only judges what its end moves
    (ending.py); the moves themselves (its room's, its inbox's) are made when the door
    departs it, a batch a loop turn, and still land: each room marked read, noted as the
    room its user comes back to (counted, never timed)."""
    app = await make_server()
    assert app.telnet_port is not None and app.telnet is not None and app.core is not None
    n, batch = 12, 3
    talker = await TelnetClient.connect(app.telnet_port)
    await talker.login("talker")
    clients = [await TelnetClient.connect(app.telnet_port) for _ in range(n)]
    for i, c in enumerate(clients):
        await c.login(f"eofer{i}")
    talker.send("hello everyone")
    for c in clients:
        await c.read_until("hello everyone")

    comeback = app.core.comeback
    in_eof: list[bool] = []
    moves_in_eof: list[str] = []
    real_eof = TelnetSession.eof_received
    real_left = comeback.left

    def watched_eof(self: TelnetSession) -> bool | None:
        in_eof.append(True)
        try:
            return real_eof(self)
        finally:
            in_eof.pop()

    def watched_left(user_key: str, room_key: str, **kw: object) -> None:
        if in_eof:
            moves_in_eof.append(user_key)
        real_left(user_key, room_key, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(TelnetSession, "eof_received", watched_eof)
    monkeypatch.setattr(comeback, "left", watched_left)
    monkeypatch.setattr(doors, "CLOSE_BATCH", batch)
    for c in clients:  # all in one turn: the server reads every EOF in one poll
        c.writer.transport.abort()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30  # generous: the machine may be busy; nothing here is timed
    while loop.time() < deadline:
        if app.core.membership.online("lobby") == ["talker"] and comeback.idle:
            break
        await asyncio.sleep(0.01)
    assert app.core.membership.online("lobby") == ["talker"]
    while not comeback.idle:  # the queued writes, a batch at a time
        await asyncio.sleep(0.01)
    assert moves_in_eof == []
    newest = (await app.core.message_log.read("lobby", limit=1, newest=True))[0].id
    for i in range(n):
        assert await app.core.store.get_cursor(f"eofer{i}", "lobby") == newest
        assert await app.core.store.last_entered(f"eofer{i}") == "lobby"
    await talker.close()
