"""Every door lists rooms in one order: name, members (and who is online), topic. On main
telnet's /rooms said "1 member(s), 1 online" and its /list "1 online, 1 member(s)", and the
HTTP room list put the topic before the counts."""

from __future__ import annotations

from typing import Any

from tests.helpers.http import basic, http_client
from tests.helpers.irc import RawIrc
from tests.irc.test_doors import Accounts, telnet_user
from torbit.app import App


async def test_rooms_list_and_the_http_list_show_name_members_topic(
    app: App, accounts: Accounts, cleanup: list[Any]
) -> None:
    await accounts("tina")
    tel = await telnet_user(app, "tina", "dev", cleanup)
    tel.send("/topic all welcome")
    await tel.expect(r"all welcome")
    tel.send("/rooms")
    by_rooms = (await tel.expect(r"^  #dev  .*$"))[0]
    tel.send("/list")
    by_list = (await tel.expect(r"^  #dev  .*$"))[0]
    assert by_rooms == by_list == "  #dev  1 member, 1 in the room now - all welcome"

    async with http_client(app) as client:
        r = await client.get("/api/v1/rooms", auth=basic("tina"))
    dev = next(room for room in r.json()["rooms"] if room["name"] == "dev")
    assert list(dev)[:4] == ["name", "members", "online", "topic"]

    irc = await RawIrc.connect(app)
    cleanup.append(irc)
    irc.send("NICK lister", "USER lister 0 * :L")
    await irc.expect(" 001 ")
    irc.send("LIST")
    assert (await irc.expect(" 322 ")).split(" ", 3)[3] == "#dev 1 :[+nt] all welcome"
