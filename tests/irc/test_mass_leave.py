"""Many IRC clients vanishing at once are logged out a slice at a time, as on telnet (the
doors share it: frontends/doors.py): the loop gets to poll sockets between slices (counted in
loop turns, never timed), and a nick or a room they held is free once they are gone."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from tests.helpers.held_calls import HeldCall
from tests.helpers.irc import RawIrc
from tests.helpers.telnet_client import TelnetClient
from tests.helpers.turns import Turns
from torbit.app import App
from torbit.core.delivery import Session
from torbit.frontends import doors
from torbit.frontends.irc.session import IrcSession


async def test_clients_leaving_at_once_are_logged_out_over_many_loop_turns(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert app.irc is not None and app.core is not None
    n = 20
    clients = [await RawIrc.connect(app) for _ in range(n)]
    for i, c in enumerate(clients):
        await c.register(f"quitter{i}")
        c.send("JOIN #lobby")
        await c.expect(" 366 ")
    assert len(app.core.membership.online("lobby")) == n

    loop = asyncio.get_running_loop()
    sessions = app.irc.core.sessions
    real_logout = sessions.logout
    turns_at_logout: list[int] = []

    async def counted_logout(session: Session, reason: str = "", *, said: bool = True) -> None:
        turns_at_logout.append(turns.count)
        await real_logout(session, reason, said=said)

    monkeypatch.setattr(sessions, "logout", counted_logout)
    monkeypatch.setattr(doors, "LOGOUT_SLICE", 0.0)  # one logout per slice
    turns = Turns()
    for c in clients:  # all in one turn: the server sees every close in one poll
        c.writer.transport.abort()
    deadline = loop.time() + 30  # generous: the machine may be busy; nothing here is timed
    while loop.time() < deadline:
        if len(turns_at_logout) == n and not app.core.membership.online("lobby"):
            break
        await asyncio.sleep(0.01)
    turns.stop()
    assert len(turns_at_logout) == n
    assert len(set(turns_at_logout)) == n  # each in a turn of its own
    assert app.core.membership.online("lobby") == []
    # the last one's nick is free again and the room takes a newcomer
    newcomer = await RawIrc.connect(app)
    await newcomer.register(f"quitter{n - 1}")
    newcomer.send("JOIN #lobby")
    await newcomer.expect(" 366 ")
    assert app.core.membership.online("lobby") == [f"quitter{n - 1}"]
    await newcomer.close()


async def test_a_nick_is_taken_again_while_its_owner_is_still_leaving(app: App) -> None:
    """A newcomer asking for the nick of a client whose logout is queued waits for it."""
    assert app.irc is not None
    first = await RawIrc.connect(app)
    await first.register("comeback")
    first.send("JOIN #lobby")
    await first.expect(" 366 ")
    first.writer.transport.abort()
    again = await RawIrc.connect(app)  # at once: the logout may still be queued
    await again.register("comeback")
    again.send("JOIN #lobby")
    await again.expect(" 366 ")
    assert app.core is not None
    assert app.core.membership.online("lobby") == ["comeback"]
    await again.close()


async def test_each_door_counts_its_connected_clients_up_and_down(app: App) -> None:
    """The gauge children are looked up once per door (metrics.connected_on), and still count."""
    assert app.telnet_port is not None

    def connected(door: str) -> float | None:
        return app.metrics.registry.get_sample_value("torbit_connected_clients", {"door": door})

    irc = [await RawIrc.connect(app) for _ in range(3)]
    for i, c in enumerate(irc):
        await c.register(f"counted{i}")
    telnet = await TelnetClient.connect(app.telnet_port)
    await telnet.login("countedt")
    assert connected("irc") == 3 and connected("telnet") == 1
    for c in irc[:2]:
        await c.close()
    await telnet.close()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30  # nothing timed: the closes just have to be seen
    while loop.time() < deadline and (connected("irc"), connected("telnet")) != (1, 0):
        await asyncio.sleep(0.01)
    assert connected("irc") == 1 and connected("telnet") == 0
    await irc[2].close()


async def test_an_idle_irc_client_keeps_no_dict_and_no_per_turn_set(app: App) -> None:
    """Memory per idle client: the session is slotted, and the set that keeps a QUIT seen in
    two shared rooms from being sent twice exists only during the turn that needs it."""
    assert app.irc is not None
    watcher, leaver = await RawIrc.connect(app), await RawIrc.connect(app)
    for c, nick in ((watcher, "watcher"), (leaver, "leaver")):
        await c.register(nick)
        c.send("JOIN #one,#two")
        await c.expect(" 366 ")
        await c.expect(" 366 ")
    (session,) = [s for s in app.irc.sessions if s.nick == "watcher"]
    assert not hasattr(session, "__dict__")
    assert session._seen is None
    leaver.send("QUIT :bye")
    await watcher.expect(" QUIT ")
    watcher.send("PING :after")
    await watcher.expect("after")
    quits = [line for line in watcher.lines if " QUIT " in line]
    assert len(quits) == 1, quits  # one line for both rooms
    assert session._seen is None  # gone with the turn
    await watcher.close()
    await leaver.close()


async def test_sockets_of_irc_clients_that_closed_theirs_are_closed_a_batch_per_loop_turn(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As on telnet: the EOF makes the session deaf at once; it departs (its QUIT announced,
    with the EOF's reason; off every room's online list) and our side of its socket is
    closed CLOSE_BATCH a turn. On main every session departed in the turn that read the
    EOFs: 10,000 departures in one turn, the IRC crowd's longest stall."""
    assert app.irc is not None and app.core is not None
    n, batch = 20, 3
    watcher = await RawIrc.connect(app)
    await watcher.register("watcher")
    watcher.send("JOIN #lobby")
    await watcher.expect(" 366 ")
    clients = [await RawIrc.connect(app) for _ in range(n)]
    for i, c in enumerate(clients):
        await c.register(f"closer{i}")
        c.send("JOIN #lobby")
        await c.expect(" 366 ")
    for i in range(n):  # the watcher has read every JOIN: no unread bytes, so a FIN, no RST
        await watcher.expect(f"closer{i}!")
    for c in clients:  # and each closer has what was written to it (none held by Nagle's
        c.send("PING drained")  # algorithm, which would meet the closed socket: a RST)
        await c.expect("PONG")

    loop = asyncio.get_running_loop()
    turns_at_close: list[int] = []
    silent_before_close: list[bool] = []
    real_lost = IrcSession.connection_lost

    def counted_lost(self: IrcSession, exc: Exception | None) -> None:
        if self.nick.startswith("closer"):
            turns_at_close.append(turns.count)
            silent_before_close.append(self.closed and self.output_pending() is False)
        real_lost(self, exc)

    turns_at_departure: list[int] = []
    real_closed = app.irc.closed

    def counted_closed(session: IrcSession) -> None:
        if session.nick.startswith("closer"):
            turns_at_departure.append(turns.count)
        real_closed(session)

    monkeypatch.setattr(IrcSession, "connection_lost", counted_lost)
    monkeypatch.setattr(app.irc, "closed", counted_closed)
    monkeypatch.setattr(doors, "CLOSE_BATCH", batch)
    turns = Turns()
    for c in clients:  # all in one turn: the server reads every EOF in one poll
        c.writer.transport.abort()
    deadline = loop.time() + 30  # generous: the machine may be busy; nothing here is timed
    while loop.time() < deadline:
        if len(turns_at_close) == n and app.core.membership.online("lobby") == ["watcher"]:
            break
        await asyncio.sleep(0.01)
    turns.stop()
    assert len(turns_at_close) == len(turns_at_departure) == n
    per_turn = Counter(turns_at_close)
    assert max(per_turn.values()) <= batch
    assert max(Counter(turns_at_departure).values()) <= batch  # main: 20 in one turn
    assert len(per_turn) == -(-n // batch)  # ceil(n / batch) turns
    assert all(silent_before_close)
    assert app.core.membership.online("lobby") == ["watcher"]
    for i in range(n):  # each QUIT announced, with the reason an EOF gives
        await watcher.expect(f"closer{i}!")
    quits = [line for line in watcher.lines if " QUIT " in line]
    assert len(quits) == n and all("Connection closed" in q for q in quits)
    await watcher.close()


async def test_a_storm_of_eofs_is_closed_in_small_pieces_with_the_door_defaults(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the door's own CLOSE_BATCH (not lowered here): 150 clients closing at once are
    departed and closed over several loop turns, so that the loop polls sockets between the
    pieces (EOFs still arriving are read a few at a time, not piled up into one poll behind
    a long turn; a PING is answered). At 256 a turn, all 150 went in one turn."""
    assert app.irc is not None and app.core is not None
    n = 150
    clients = [await RawIrc.connect(app) for _ in range(n)]
    for i, c in enumerate(clients):
        await c.register(f"piece{i}")

    loop = asyncio.get_running_loop()
    turns_at_departure: list[int] = []
    real_closed = app.irc.closed

    def counted_closed(session: IrcSession) -> None:
        if session.nick.startswith("piece"):
            turns_at_departure.append(turns.count)
        real_closed(session)

    monkeypatch.setattr(app.irc, "closed", counted_closed)
    turns = Turns()
    for c in clients:  # all in one turn: the server reads every EOF in one poll
        c.writer.transport.abort()
    deadline = loop.time() + 30  # generous: the machine may be busy; nothing here is timed
    while loop.time() < deadline and (len(turns_at_departure) < n or app.irc.sessions):
        await asyncio.sleep(0.01)
    turns.stop()
    assert len(turns_at_departure) == n
    per_turn = Counter(turns_at_departure)
    assert max(per_turn.values()) <= doors.CLOSE_BATCH
    assert len(per_turn) >= 3, per_turn  # at 256 a turn: 1
    assert not app.irc.sessions


async def test_lusers_does_not_count_unregistered_clients_that_have_quit(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client that has seen its link close after QUIT is no "unknown connection" (253),
    even while the door is still working off departures: one a turn here."""
    monkeypatch.setattr(doors, "LOGOUT_SLICE", 0.0)
    watcher = await RawIrc.connect(app)
    await watcher.register("watcher")
    n = 20
    quitters = [await RawIrc.connect(app) for _ in range(n)]
    for i, c in enumerate(quitters):
        c.send(f"NICK early{i}", "PING :sync")
        await c.expect("PONG")
    watcher.send("LUSERS")
    assert (await watcher.expect(" 253 ")).split()[3] == str(n)
    for c in quitters:
        c.send("QUIT")
    for c in quitters:  # each has seen its ERROR and the end of its link
        await c.expect("ERROR")
        assert await c.reader.read() == b""
    watcher.send("LUSERS")
    assert (await watcher.expect(" 253 ")).split()[3] == "0"
    for c in quitters:
        await c.close()
    await watcher.close()


async def _answers(watcher: RawIrc, nicks: list[str]) -> dict[str, list[str]]:
    """LUSERS, WHOIS, WHO (nick, mask), ISON and USERHOST as the watcher gets them now,
    each answer's lines."""
    asked = {
        "lusers": ("LUSERS", " 266 "),
        "whois": (f"WHOIS {nicks[0]}", " 318 "),
        "who-nick": (f"WHO {nicks[0]}", " 315 "),
        "who-mask": ("WHO leav*", " 315 "),
        "ison": (f"ISON {' '.join(nicks)}", " 303 "),
        "userhost": (f"USERHOST {' '.join(nicks[:5])}", " 302 "),
    }
    out: dict[str, list[str]] = {}
    for name, (line, end) in asked.items():
        watcher.send(f"PING sync-{name}")  # what came before is read first
        await watcher.expect(f"sync-{name}")
        before = len(watcher.lines)
        watcher.send(line)
        await watcher.expect(end)
        out[name] = watcher.lines[before:]
    return out


async def test_a_client_that_quit_counts_nowhere_while_its_logout_waits(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Registered clients that QUIT (or whose link closed) while their logouts are queued
    behind others are gone from every answer at once: LUSERS, WHOIS (401), WHO, ISON,
    USERHOST, the room's members (telnet /who, the members API). Here the first logout is
    held until the end, so all wait behind it. NAMES and WHO of the room wait until those
    leaving it have left (IrcServer.settled), then answer without them."""
    assert app.irc is not None and app.telnet_port is not None and app.core is not None
    held = HeldCall(monkeypatch, app.irc.core.sessions, "logout")
    try:
        watcher = await RawIrc.connect(app)
        await watcher.register("watcher")
        watcher.send("JOIN #lobby")
        await watcher.expect(" 366 ")
        n = 6
        nicks = [f"leaver{i}" for i in range(n)]
        leavers = [await RawIrc.connect(app) for _ in range(n)]
        for c, nick in zip(leavers, nicks, strict=True):
            await c.register(nick)
            c.send("JOIN #lobby")
            await c.expect(" 366 ")
        telnet = await TelnetClient.connect(app.telnet_port)
        await telnet.login("leavert")  # in #lobby from the start
        before = await _answers(watcher, nicks)
        assert "There are 8 users" in before["lusers"][0], before["lusers"]
        assert any(" 311 " in line for line in before["whois"])
        assert sum(" 352 " in line for line in before["who-mask"]) == n + 1
        assert before["ison"][-1].endswith(" ".join(nicks)), before["ison"]

        for c in leavers[: n // 2]:  # a QUIT, seen through to the end of the link
            c.send("QUIT :bye")
        for c in leavers[n // 2 :]:  # a link that just closes
            c.writer.transport.abort()
        for c in leavers[: n // 2]:
            await c.expect("ERROR")
            assert await c.reader.read() == b""
        for c in leavers:  # our side of every link, or its writer warns when collected
            await c.close()
        await telnet.close()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30  # generous: nothing here is timed; the closes must be seen
        while loop.time() < deadline and app.core.membership.online("lobby") != ["watcher"]:
            await asyncio.sleep(0.01)
        assert app.core.membership.online("lobby") == ["watcher"]

        after = await _answers(watcher, nicks)
        assert "There are 1 users" in after["lusers"][0], after["lusers"]
        assert any(" 401 " in line for line in after["whois"]), after["whois"]
        assert not any(" 311 " in line or " 319 " in line for line in after["whois"])
        assert not any(" 352 " in line for line in after["who-nick"] + after["who-mask"])
        assert after["ison"][-1].endswith(" 303 watcher :"), after["ison"]
        assert after["userhost"][-1].endswith(" 302 watcher :"), after["userhost"]
        watcher.send("NAMES #lobby", "WHO #lobby")  # these wait for the room to settle
    finally:
        held.let_go()  # the logouts go through, and the room is told each left
    names = await watcher.expect(" 353 ")
    assert names.endswith("#lobby watcher"), names  # the default room is the server's
    await watcher.expect(" 366 ")
    start = len(watcher.lines)
    await watcher.expect(" 315 ")
    assert sum(" 352 " in line for line in watcher.lines[start:]) == 1
    await watcher.close()
