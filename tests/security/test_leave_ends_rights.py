"""A room admin who leaves a room of their own accord (telnet /leave, HTTP DELETE of their own
membership, IRC PART) loses their admin rights with the membership, as on a kick or ban (and as
IRC loses ops on PART): joining again makes them a plain member, and a session that stayed open
on another door has no rights either. The owner is the room's and stays its owner. On main, a
left admin joined again as an admin and kicked, from every door."""

from __future__ import annotations

from typing import Any

from tests.helpers.http import PASSWORD, error_of
from tests.helpers.irc import irc_user
from tests.helpers.moderation import api, command, services, telnet
from tests.security.test_ranks_hold import hall
from torbit.app import App

REFUSED = r"^! only .* of #hall may /kick: you are a member$"


async def admins(app: App) -> list[str]:
    found: list[str] = await services(app).store.list_room_admins("hall")
    return found


def names(reply: Any) -> set[str]:
    """The nicks of a 353 (NAMES) reply with their prefixes, without user@host."""
    return {entry.split("!")[0] for entry in str(reply.params[-1]).split()}


async def op_bob(app: App) -> None:
    async with api(app, "alice") as alice:
        assert (await alice.put("/api/v1/rooms/hall/admins/bob")).status_code == 204
    assert await admins(app) == ["bob"]


async def test_an_admin_who_leaves_on_telnet_comes_back_a_plain_member(server: App) -> None:
    await hall(server)
    bob = await telnet(server, "bob")
    await command(bob, "/join hall", r"^\* you are (already )?in #hall")
    await command(bob, "/leave hall", r"^\* you left #hall")
    assert await admins(server) == []
    await command(bob, "/join hall", r"^\* you are (already )?in #hall")
    await command(bob, "/kick carol", REFUSED)
    async with api(server, "bob") as b:  # nor over HTTP
        error_of(await b.delete("/api/v1/rooms/hall/members/carol"), 403, "forbidden")
    assert await services(server).store.list_members("hall") == ["alice", "bob", "carol"]
    # a database an older version wrote: the right outlived the membership; a join drops it
    await command(bob, "/leave hall", r"^\* you left #hall")
    await services(server).store.set_room_admin("hall", "bob", True)
    await command(bob, "/join hall", r"^\* you are (already )?in #hall")
    assert await admins(server) == []
    await command(bob, "/kick carol", REFUSED)
    await bob.close()


async def test_an_admin_who_leaves_over_http_loses_the_rights_on_an_open_telnet_session(
    server: App,
) -> None:
    await hall(server)
    bob = await telnet(server, "bob")  # open all along
    await command(bob, "/join hall", r"^\* you are (already )?in #hall")
    async with api(server, "bob") as b:
        assert (await b.delete("/api/v1/rooms/hall/members/bob")).status_code == 204
        assert await admins(server) == []
        assert (await b.put("/api/v1/rooms/hall/members/bob")).status_code == 200
        error_of(await b.delete("/api/v1/rooms/hall/members/carol"), 403, "forbidden")
        error_of(await b.put("/api/v1/rooms/hall/bans/carol"), 403, "forbidden")
    await command(bob, "/join hall", r"^\* you are (already )?in #hall")
    await command(bob, "/kick carol", REFUSED)
    await bob.close()


async def test_an_admin_who_parts_on_irc_loses_the_rights_on_every_door(server: App) -> None:
    await hall(server)
    bob = await telnet(server, "bob")  # a telnet session open while bob PARTs over IRC
    await command(bob, "/join hall", r"^\* you are (already )?in #hall")
    irc = await irc_user(server, "x", sasl_username="bob", sasl_password=PASSWORD, join=("#hall",))
    try:
        assert "@bob" in names(irc.find("353"))
        await irc.rawmsg("PART", "#hall")
        await irc.expect("PART", "#hall")
        assert await admins(server) == []
        await command(bob, "/join hall", r"^\* you are (already )?in #hall")
        await command(bob, "/kick carol", REFUSED)
        await irc.rawmsg("JOIN", "#hall")
        assert "bob" in names(await irc.expect("353"))  # no @ any more
        await irc.rawmsg("KICK", "#hall", "carol")
        await irc.expect("482")
        await irc.rawmsg("MODE", "#hall", "+o", "bob")
        await irc.expect("482")
    finally:
        await irc.disconnect(expected=True)
    assert await admins(server) == []
    assert await services(server).store.list_members("hall") == ["alice", "bob", "carol"]
    # the owner may make bob an admin again; then he kicks
    await op_bob(server)
    await command(bob, "/kick carol", r"^\* carol was kicked from #hall by bob")
    await bob.close()


async def test_the_owner_who_leaves_is_still_the_owner(server: App) -> None:
    await hall(server)
    alice = await telnet(server, "alice")
    await command(alice, "/join hall", r"^\* you are (already )?in #hall")
    await command(alice, "/leave hall", r"^\* you left #hall")
    room = await services(server).membership.room("hall")
    assert room.owner == "alice"
    await command(alice, "/join hall", r"^\* you are (already )?in #hall")
    await command(alice, "/kick carol", r"^\* carol was kicked from #hall by alice")
    async with api(server, "bob") as b:  # bob, an admin, still cannot act on the owner
        error_of(await b.delete("/api/v1/rooms/hall/members/alice"), 403, "forbidden")
    await alice.close()
