"""A room admin matching a ban mask loses the rights that exempted them (attack4, "with the
session left open after the right was taken away"). Masks never bar a room's admins (nor
server admins: the last tests), so an admin connected from a banned address stays when the
mask is set; masks are matched again only at a join or when one is set. Deopped (or stepping down) while connected, the admin
was a plain member matching a mask and went on talking in the room for as long as the
session lasted. Losing the rights now matches the room's masks against the user's sessions
listening to the room, on every node: a match puts them out as a new mask would (a kick
naming the mask, once); a session from an address no mask matches stays."""

from __future__ import annotations

import asyncio

import pytest
from argon2 import PasswordHasher

from tests.conftest import CHEAP_ARGON2, ServerFactory
from tests.helpers.http import PASSWORD, error_of, eventually, register
from tests.helpers.irc import RawIrc
from tests.helpers.moderation import api, audit, create_room, services
from torbit.app import App
from torbit.core.accounts import Accounts
from torbit.core.hashing import PasswordHashing

BANNED_ADDRESS = "127.0.0.3"
MASK = f"*!*@{BANNED_ADDRESS}"


async def irc_login(app: App, nick: str, address: str) -> RawIrc:
    assert app.irc_port is not None
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", app.irc_port, local_addr=(address, 0)
    )
    irc = RawIrc(reader, writer)
    irc.send(f"PASS {nick}:{PASSWORD}")
    await irc.register(nick)
    return irc


async def irc_from(app: App, nick: str, address: str) -> RawIrc:
    irc = await irc_login(app, nick, address)
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


def cli_accounts(app: App) -> Accounts:
    """Accounts as `torbit user ...` has them: another process sharing only the store, so
    what it tells the nodes goes through the store (a revocation row they poll for)."""
    assert app.core is not None
    hasher = PasswordHasher(
        time_cost=CHEAP_ARGON2["argon2_time_cost"],
        memory_cost=CHEAP_ARGON2["argon2_memory_kib"],
        parallelism=CHEAP_ARGON2["argon2_parallelism"],
    )
    hashing = PasswordHashing(hasher, workers=1, queue=1)
    return Accounts(app.core.store, registration_open=False, min_password_length=6,
                    hashing=hashing)  # fmt: skip


async def test_a_server_admin_demoted_by_the_cli_from_a_banned_address_is_closed(
    hall: App,
) -> None:
    """Masks never bar a server admin either (leftovers): `torbit user set-admin carol
    --revoke` changed only the store, and carol's session, let stay in #hall when a mask
    matching her address was set, went on there as a plain member the mask bars. Now taking
    the right away closes her sessions on every node (a revocation, as `torbit user passwd`
    sends); logged in again from that address, her JOIN is matched and puts her out."""
    assert hall.core is not None
    async with api(hall, "alice") as a:
        await register(a, "carol")
    await hall.core.accounts.set_admin("carol", True)
    carol = await irc_from(hall, "carol", BANNED_ADDRESS)
    await set_mask(hall)  # a server admin: exempt, stays
    carol.send("PRIVMSG #hall :an admin may stay", "PING :done")
    await carol.expect("PONG")
    assert not [x for x in carol.lines if " KICK " in x or " 404 " in x], carol.lines
    cli = cli_accounts(hall)
    try:
        await cli.set_admin("carol", False)
    finally:
        cli.hashing.close()
    notice = await carol.expect("no longer a server admin")
    assert "you are logged out" in notice, notice
    assert "login revoked" in await carol.expect("ERROR")
    await carol.close()
    assert await kicks(hall) == []
    again = await irc_login(hall, "carol", BANNED_ADDRESS)
    again.send("JOIN #hall")
    await again.expect(" 474 carol #hall ")
    assert await kicks(hall) == [("alice", "carol", f"banned: {MASK}")]
    await again.close()


async def test_demoting_a_server_admin_closes_only_their_sessions(hall: App) -> None:
    """The revocation names the demoted account only, and a user who was no server admin is
    left alone by `--revoke` (nothing to take away)."""
    assert hall.core is not None
    async with api(hall, "alice") as a:
        await register(a, "carol")
    await hall.core.accounts.set_admin("carol", True)
    carol = await irc_from(hall, "carol", "127.0.0.4")
    bob = await irc_from(hall, "bob", "127.0.0.5")
    cli = cli_accounts(hall)
    try:
        await cli.set_admin("bob", False)  # not an admin: no revocation
        await cli.set_admin("carol", False)
    finally:
        cli.hashing.close()
    await carol.expect("ERROR")
    bob.send("PRIVMSG #hall :still here", "PING :done")
    await bob.expect("PONG")
    assert not [x for x in bob.lines if "ERROR" in x or "no longer" in x], bob.lines
    await bob.close()
    await carol.close()


async def test_a_demoted_server_admin_loses_a_membership_held_beside_a_ban(hall: App) -> None:
    """No room bans a server admin: carol, banned from #hall before she became one, joined
    it as one (leftovers). Demoted, she was a member beside her ban, and a member is
    admitted as such: her JOIN went through again, and her HTTP reads of the room too.
    Demotion now ends that membership, and every node forgets it."""
    async with api(hall, "alice") as a:
        await register(a, "carol")
        assert (await a.put("/api/v1/rooms/hall/bans/carol")).status_code == 204
    assert hall.core is not None
    await hall.core.accounts.set_admin("carol", True)
    async with api(hall, "carol") as c:
        assert (await c.put("/api/v1/rooms/hall/members/carol")).status_code == 200
        assert (await c.get("/api/v1/rooms/hall/messages")).status_code == 200
        known = services(hall).membership.known
        assert known.room("carol", "hall") is not None
        cli = cli_accounts(hall)
        try:
            await cli.set_admin("carol", False)
        finally:
            cli.hashing.close()
        await eventually(lambda: known.room("carol", "hall") is None)  # the revocation
        error_of(await c.get("/api/v1/rooms/hall/messages"), 403)
        message = error_of(await c.put("/api/v1/rooms/hall/members/carol"), 403)
    assert message == "you are banned from #hall"
