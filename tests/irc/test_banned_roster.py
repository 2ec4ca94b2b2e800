"""A user banned from a public room cannot list its members on any door; anyone else may,
as on IRC for a channel without +s/+p (`policy.check_roster`). On main the banned user got
the roster over HTTP (`GET .../members`, every member with the away messages) and IRC
(NAMES and WHO #room: the members online)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from tests.helpers.http import PASSWORD, base_url, basic, error_of
from tests.helpers.irc import IrcUser, irc_user
from tests.irc.test_doors import telnet_user
from torbit.app import App

Accounts = Callable[..., Awaitable[None]]


def listed(user: IrcUser, command: str, channel: str) -> list[Any]:
    return [m for m in user.received(command) if channel in m.params]


async def test_a_ban_takes_the_roster_away_on_every_door(
    app: App, accounts: Accounts, cleanup: list[Any]
) -> None:
    await accounts("alice", "bob", "carol")
    alice = await irc_user(app, "x", sasl_username="alice", sasl_password=PASSWORD, join=("#hall",))
    bob_tel = await telnet_user(app, "bob", "hall", cleanup)  # a session left open
    bob = await irc_user(app, "y", sasl_username="bob", sasl_password=PASSWORD)
    carol = await irc_user(app, "z", sasl_username="carol", sasl_password=PASSWORD)
    cleanup += [alice, bob, carol]
    async with httpx.AsyncClient(base_url=base_url(app), auth=basic("alice")) as http:
        assert (await http.put("/api/v1/rooms/hall/bans/bob")).status_code == 204
    await bob_tel.expect("banned")
    async with httpx.AsyncClient(base_url=base_url(app), auth=basic("bob")) as http:
        r = await http.get("/api/v1/rooms/hall/members")
        assert "banned from #hall" in error_of(r, 403, "forbidden")  # main: 200, the roster
        r = await http.get("/api/v1/rooms/hall")  # the room and its count stay public
        assert r.status_code == 200 and r.json()["members"] == 1
    async with httpx.AsyncClient(base_url=base_url(app), auth=basic("carol")) as http:
        r = await http.get("/api/v1/rooms/hall/members")  # a non-member: IRC's rule
        assert r.status_code == 200 and r.json()["members"] == ["alice"]
    for client in (bob, carol):
        await client.rawmsg("WHOIS", "alice")
        await client.expect("318")
        await client.rawmsg("NAMES", "#hall")
        await client.expect("366")
        await client.rawmsg("WHO", "#hall")
        await client.expect("315")
    assert listed(bob, "353", "#hall") == [] and listed(bob, "352", "#hall") == []  # main: alice
    assert len(listed(carol, "353", "#hall")) == 1 and len(listed(carol, "352", "#hall")) == 1
    whois = {
        c: [m.params[-1].lstrip("~&@%+") for m in listed(c, "319", "alice")] for c in (bob, carol)
    }
    assert whois[bob] == [] and set(whois[carol]) == {"#hall"}  # main: bob saw her in #hall
    bob_tel.send("/who")  # the telnet session that was in #hall lists nothing either
    await bob_tel.expect("you are not in a room")
