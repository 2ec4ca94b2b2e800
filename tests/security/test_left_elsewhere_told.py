"""A user in a room on several connections (IRC twice, telnet, a WebSocket) who leaves it on
one door: the others stopped hearing it and were not told, so an IRC client kept showing the
channel and learnt only when it next spoke there (a PART "left elsewhere", then 404), and
telnet and the web page showed a room gone silent (hostile probe, stop 46). Each of the
user's other sessions is told at once now, as of a leave on another node: IRC a PART (the
channel goes from the client), telnet and the WebSocket a line; the connection that asked
has its door's own answer, once."""

from __future__ import annotations

import re

import pytest

from tests.conftest import ServerFactory
from tests.helpers.http import PASSWORD, register
from tests.helpers.irc import RawIrc, joined
from tests.helpers.moderation import Ws, api, command, create_room, telnet
from tests.helpers.telnet_client import TelnetClient
from torbit.app import App

TOLD = "you left #den (on another connection)"


async def everywhere(app: App) -> tuple[RawIrc, RawIrc, TelnetClient, Ws]:
    """x in #den on two IRC connections, telnet and a WebSocket."""
    irc1 = await joined(app, "x", "den", password=PASSWORD)
    irc2 = await joined(app, "x", "den", password=PASSWORD)
    tel = await telnet(app, "x")
    await command(tel, "/join den", r"you are in #den")
    ws = await Ws.open(app, "x")
    await ws.subscribe("den")
    return irc1, irc2, tel, ws


async def still_quiet(client: RawIrc) -> list[str]:
    """The client's lines about #den once it has answered a PING (nothing pending)."""
    client.send("PING :sync")
    await client.expect("PONG")
    return [line for line in client.lines if " PART #den" in line]


@pytest.mark.parametrize("door", ["http", "irc", "telnet"])
async def test_a_leave_is_told_to_the_users_other_connections(
    make_server: ServerFactory, door: str
) -> None:
    app = await make_server(limits={"join_rate": 0})
    async with api(app, "owner") as owner:
        await register(owner, "owner", "x")
        await create_room(owner, "den")
        irc1, irc2, tel, ws = await everywhere(app)
        if door == "http":
            async with api(app, "x") as x:
                r = await x.delete("/api/v1/rooms/den/members/x", params={"reason": "bye"})
                assert r.status_code == 204, r.text
        elif door == "irc":
            irc1.send("PART #den :bye")
        else:
            await command(tel, "/leave den", r"you left #den; /join a room to talk")

        for irc in (irc1, irc2):
            line = await irc.expect(" PART #den")
            reason = line.split(" ")[3:]  # `PART #den bye`: the reason given, if any
            assert line.startswith(":x!") and reason == (["bye"] if door != "telnet" else []), line
        if door != "telnet":
            await tel.expect(rf"^\* {re.escape(TOLD)}$")
        told = await ws.next("notice", TOLD)
        assert (told["kind"], told["user"], told["room"]) == ("part", "x", "den")

        # the channel went from each IRC client: no late PART when it speaks, a 404 (not
        # in it), and one PART each in all
        for irc in (irc1, irc2):
            irc.send("PRIVMSG #den :still here?")
            await irc.expect(" 404 x #den ")
            assert len(await still_quiet(irc)) == 1, irc.lines
        r = await owner.post("/api/v1/rooms/den/messages", json={"text": "after"})
        assert r.status_code == 201, r.text
        for irc in (irc1, irc2):
            assert not [line for line in await still_quiet(irc) if "after" in line]
        assert "after" not in ws.texts()
        if door == "telnet":  # its own answer, not also the line for the others
            await command(tel, "/rooms", r"#den")
            assert not any(TOLD in line for line in tel.seen), tel.seen
    for irc in (irc1, irc2):
        await irc.close()
    await tel.close()
    await ws.close()
