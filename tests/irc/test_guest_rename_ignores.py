"""A guest renamed on IRC (`NICK gus2`) was a new guest no one ignored: whoever had ignored
`gus` heard it again at once, on every door, and the rename was the way out of any ignore (a
guest needs no account, so a new nick is one line away). What a user who ignored `gus`
expects is to go on not hearing that person: the ignores of the old name now carry over to
the new one (`Ignores.carry`), for ignorers online on IRC and telnet and for an HTTP reader
with no session, and the ignorer can lift it under the new name."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from tests.helpers.http import PASSWORD, basic, http_client
from tests.helpers.irc import joined
from tests.helpers.moderation import command, telnet
from tests.irc.test_guest_nick_ignored import synced
from torbit.app import App


async def test_a_guest_renamed_stays_ignored(
    app: App, accounts: Callable[..., Awaitable[None]], cleanup: list[Any]
) -> None:
    await accounts("ivy", "tom", "hal")
    ivy = await joined(app, "ivy", "gen", caps="server-time", password=PASSWORD)
    gus = await joined(app, "gus", "gen")
    pat = await joined(app, "pat", "gen")
    tom = await telnet(app, "tom")
    cleanup.append(tom)
    await command(tom, "/join gen", r"^\* you are (already )?in #gen")
    async with http_client(app) as http:  # hal reads #gen over HTTP, with no session
        r = await http.put("/api/v1/rooms/gen/members/hal", auth=basic("hal"))
        assert r.status_code == 200, r.text
        r = await http.put("/api/v1/me/ignores/gus", auth=basic("hal"))
        assert r.status_code in (200, 204), r.text
    ivy.send("SILENCE +gus")
    await ivy.expect(" SILENCE +gus")
    await command(tom, "/ignore gus", "you now ignore gus")
    start = len(ivy.lines)

    gus.send("NICK gus2")
    assert (await pat.expect(" NICK ")).endswith(":gus!~gus@irc.torbit NICK gus2")
    gus.send("PRIVMSG #gen :still me", "PRIVMSG ivy :psst", "PRIVMSG tom :psst")
    await pat.expect(":gus2!~gus@irc.torbit PRIVMSG #gen :still me")
    await synced(gus, "sent")
    pat.send("PRIVMSG #gen :the marker")
    await tom.expect("<pat> the marker")
    await ivy.expect(":pat!~pat@irc.torbit PRIVMSG #gen :the marker")
    heard = [line for line in (await synced(ivy, "end"))[start:] if "gus" in line.lower()]
    assert heard == [], heard  # on main: the message and the private one from gus2
    assert not [line for line in tom.seen if "still me" in line or "psst" in line], tom.seen
    async with http_client(app) as http:
        r = await http.get("/api/v1/rooms/gen/messages", auth=basic("hal"))
        texts = [m["text"] for m in r.json()["messages"]]
        assert "the marker" in texts and "still me" not in texts, texts
        assert "gus2" in (await http.get("/api/v1/me/ignores", auth=basic("hal"))).text
    await command(tom, "/ignored", "gus2")
    await command(tom, "/unignore gus2", "gus2")  # and lifted under the new name
    gus.send("PRIVMSG #gen :heard again")
    await tom.expect("<gus2> heard again")
