"""A guest's NICK changes in a loop (attack4, guests over IRC). Each change is told to every
room the guest is in (a NICK line to each IRC client there, a node event) and, for a new
name, costs the store an account made, its memberships copied and the old one deleted; a
change of the letters' case is told the same way. Nothing bounded them: 100 changes in two
seconds all reached the room. They are now charged to the bucket of the other changes told
to every room (`limits.away_rate`, as SETNAME is): past its burst a NICK is refused (438)
and the room is told nothing."""

from __future__ import annotations

import pytest

from tests.conftest import ServerFactory
from tests.helpers.irc import RawIrc
from torbit.app import App

TRIES = 40


@pytest.fixture
async def app(make_server: ServerFactory) -> App:
    app = await make_server(irc={"guests": True})
    assert 0 < app.settings.limits.away_burst < TRIES and app.settings.limits.away_rate > 0
    return app


async def guest_in_hall(app: App, nick: str) -> RawIrc:
    irc = await RawIrc.connect(app)
    await irc.register(nick)
    irc.send("JOIN #hall")
    await irc.expect(f" 366 {nick} #hall ")
    return irc


async def flood(app: App, nicks: list[str]) -> tuple[int, int, int]:
    """NICK changes sent at once by a guest in #hall: (taken, refused with 438, NICK lines
    the other member of #hall saw)."""
    watcher = await guest_in_hall(app, "watcher")
    guest = await guest_in_hall(app, nicks[0])
    guest.lines.clear()
    guest.send(*(f"NICK {nick}" for nick in nicks[1:]), "PING :done")
    await guest.expect("PONG", timeout=60)
    taken = sum(" NICK " in line for line in guest.lines)
    refused = sum(" 438 " in line for line in guest.lines)
    watcher.lines.clear()
    watcher.send("PING :done")
    await watcher.expect("PONG")
    seen = sum(" NICK " in line for line in watcher.lines)
    await guest.close()
    await watcher.close()
    return taken, refused, seen


async def test_new_nicks_in_a_loop_are_bounded(app: App) -> None:
    burst = app.settings.limits.away_burst
    taken, refused, seen = await flood(app, [f"g{i}" for i in range(TRIES + 1)])
    assert taken <= burst + 1 and seen <= burst + 1, (taken, seen)
    assert taken + refused == TRIES


async def test_case_changes_in_a_loop_are_bounded(app: App) -> None:
    burst = app.settings.limits.away_burst
    taken, refused, seen = await flood(app, ["gus" if i % 2 else "GUS" for i in range(TRIES + 1)])
    assert taken <= burst + 1 and seen <= burst + 1, (taken, seen)
    assert refused > 0  # (once refused, every other NICK asks for the nick it has: no reply)
