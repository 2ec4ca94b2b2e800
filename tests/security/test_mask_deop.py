"""A room admin matching a ban mask loses the rights that exempted them (attack4, "with the
session left open after the right was taken away"). Masks never bar a room's admins, so an
admin connected from a banned address stays when the mask is set; masks are matched again
only at a join or when one is set. Deopped (or stepping down) while connected, the admin
was a plain member matching a mask and went on talking in the room for as long as the
session lasted. Losing the rights now matches the room's masks against the user's sessions
listening to the room, on every node: a match puts them out as a new mask would (a kick
naming the mask, once); a session from an address no mask matches stays."""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import ServerFactory
from tests.helpers.http import PASSWORD, register
from tests.helpers.irc import RawIrc
from tests.helpers.moderation import api, audit, create_room
from torbit.app import App

BANNED_ADDRESS = "127.0.0.3"
MASK = f"*!*@{BANNED_ADDRESS}"


async def irc_from(app: App, nick: str, address: str) -> RawIrc:
    assert app.irc_port is not None
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", app.irc_port, local_addr=(address, 0)
    )
    irc = RawIrc(reader, writer)
    irc.send(f"PASS {nick}:{PASSWORD}")
    await irc.register(nick)
    irc.send("JOIN #hall")
    await irc.expect(f" 366 {nick} #hall ")
    return irc


@pytest.fixture
async def hall(make_server: ServerFactory) -> App:
    """alice owns #hall; bob is in it and made an admin."""
    app = await make_server(limits={"moderation_rate": 0})
    async with api(app, "alice") as a:
        await register(a, "alice", "bob")
        await create_room(a, "hall")
    async with api(app, "bob") as b:
        assert (await b.put("/api/v1/rooms/hall/members/bob")).status_code == 200
    async with api(app, "alice") as a:
        assert (await a.put("/api/v1/rooms/hall/admins/bob")).status_code == 204
    return app


async def set_mask(app: App) -> None:
    async with api(app, "alice") as a:
        r = await a.put("/api/v1/rooms/hall/banmasks", params={"mask": MASK})
        assert r.status_code == 204, r.text


async def kicks(app: App) -> list[tuple[str, str | None, str]]:
    return [(e.actor, e.target, e.detail) for e in await audit(app, "hall") if e.action == "kick"]


async def test_a_deopped_admin_from_a_banned_address_is_put_out(hall: App) -> None:
    bob = await irc_from(hall, "bob", BANNED_ADDRESS)
    await set_mask(hall)  # bob is an admin: exempt, stays
    async with api(hall, "alice") as a:
        assert (await a.delete("/api/v1/rooms/hall/admins/bob")).status_code == 204
    line = await bob.expect(" KICK #hall bob ")
    assert f"banned: {MASK}" in line, line
    async with api(hall, "alice") as a:
        members = (await a.get("/api/v1/rooms/hall/members")).json()["members"]
    assert "bob" not in members
    assert await kicks(hall) == [("alice", "bob", f"banned: {MASK}")]
    await bob.close()


async def test_an_admin_stepping_down_from_a_banned_address_is_put_out(hall: App) -> None:
    bob = await irc_from(hall, "bob", BANNED_ADDRESS)
    await set_mask(hall)
    bob.send("MODE #hall -o bob")
    line = await bob.expect(" KICK #hall bob ")
    assert f"banned: {MASK}" in line, line
    await bob.close()


async def test_a_deopped_admin_from_another_address_stays(hall: App) -> None:
    bob = await irc_from(hall, "bob", "127.0.0.4")
    await set_mask(hall)
    async with api(hall, "alice") as a:
        assert (await a.delete("/api/v1/rooms/hall/admins/bob")).status_code == 204
    bob.send("PRIVMSG #hall :still here", "PING :done")
    await bob.expect("PONG")
    assert not [x for x in bob.lines if " KICK " in x], bob.lines
    async with api(hall, "alice") as a:
        members = (await a.get("/api/v1/rooms/hall/members")).json()["members"]
    assert "bob" in members and await kicks(hall) == []
    await bob.close()
