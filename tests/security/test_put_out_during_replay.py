"""ignore63's neighbours: the reader put out of #hall (kicked, banned, or leaving it from
another session) while a join's history is shown, with lines held meanwhile.

The join is held as in test_ignore_during_replay.py (the log's read of #hall's history once
answered; IRC's read of the roles for NAMES) while bob posts a line ("before"), mal is put
out, and bob posts again ("after"). Where the hub held, the join is refused and shows
nothing (attack53's check after the read). IRC's own hold, though, wrote what it held after
the KICK (or PART) it had already written: bob's history and "before" in a channel the
client was told it was out of; now what a door held for a join it no longer listens to is
dropped, as the hub's hold drops it (`Subscriptions.still_heard`). Counted, not timed: what
mal is shown of bob's once a command of mal's own door is answered after the join."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from tests.helpers.moderation import api, command, in_hall, open_hall
from tests.helpers.telnet_client import TelnetClient
from tests.security.test_ignore_during_replay import WINDOWS, Door, Holder, post
from torbit.app import App


async def leave_elsewhere(app: App, owner: TelnetClient) -> None:
    """mal leaves #hall from another session (HTTP)."""
    async with api(app, "mal") as c:
        r = await c.delete("/api/v1/rooms/hall/members/mal")
        assert r.status_code in (200, 204), r.text


def by_owner(line: str, told: str) -> Callable[[App, TelnetClient], Awaitable[None]]:
    async def act(app: App, owner: TelnetClient) -> None:
        await command(owner, line, told)

    return act


ACTS = {
    "kick": by_owner("/kick mal", r"mal was kicked from #hall"),
    "ban": by_owner("/ban mal", r"mal was banned from #hall"),
    "leave": leave_elsewhere,
}


async def answered(door: Door) -> None:
    """A command on mal's door answered after the join (each door takes its client's
    commands one at a time): the join is over, shown or refused."""
    if door.telnet is not None:
        await command(door.telnet, "/ignored", "you ignore nobody")
    elif door.ws is not None:
        await door.ws.send(type="ping")
        await door.ws.next("pong")
    else:
        assert door.irc is not None
        door.irc.send("PING :over")
        await door.irc.expect("PONG")


async def put_out_replay(
    server: App,
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
    holder: Holder,
    act: Callable[[App, TelnetClient], Awaitable[None]],
    near: App | None = None,
) -> Door:
    """mal joins #hall on `kind` (on `near`, carol's witness too, if given), held at
    `holder` while bob posts "before", `act(server, alice's telnet)` puts mal out and bob
    posts "after"; mal's door, once the join is over, to count."""
    near = near or server
    await open_hall(server, "mal")
    carol = await in_hall(near, "carol")
    owner = await in_hall(server, "alice")
    door = Door(near, kind, "mal")
    await door.open()  # before mal is a member: telnet's login would land in #hall
    async with api(server, "mal") as c:
        assert (await c.put("/api/v1/rooms/hall/members/mal")).status_code == 200
    await post(server, "bob", "old", carol)
    held = holder(near, monkeypatch)
    await door.join()
    await held.until_reached()
    await post(server, "bob", "before", carol)
    await act(server, owner)
    await post(server, "bob", "after", carol)
    held.let_go()
    await answered(door)
    for client in (carol, owner):
        await client.close()
    return door


@pytest.mark.parametrize("act", sorted(ACTS))
@pytest.mark.parametrize(("kind", "holder"), WINDOWS)
async def test_put_out_during_a_joins_history_is_shown_nothing_of_the_room(
    server: App, monkeypatch: pytest.MonkeyPatch, kind: str, holder: Holder, act: str
) -> None:
    """On main: IRC with NAMES held showed bob's "old" and "before" after the KICK/PART."""
    door = await put_out_replay(server, monkeypatch, kind, holder, ACTS[act])
    assert door.heard("bob") == []
    await door.close()
