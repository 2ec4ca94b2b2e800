"""A guest's NICK in other letters' case (`NICK Gus`) is told to the IRC clients in its rooms
directly (connect.py), not as a notice the subscriptions filter: it reached the clients
ignoring the guest too, the one line of theirs an ignorer still got. Checked with what
follows it through the shared renderings: a pipelined run and private messages from the
renamed guest, and a telnet ignorer beside. (A rename to another name is a new guest, whom
no one ignores yet: `Guests.rename`, as a reconnect under another nick.)"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from tests.helpers.http import PASSWORD
from tests.helpers.irc import RawIrc, joined
from tests.helpers.moderation import command, telnet
from torbit.app import App


async def synced(raw: RawIrc, token: str) -> list[str]:
    """Every line sent to the client before its PING's answer."""
    raw.send(f"PING :{token}")
    await raw.expect(f"PONG torbit {token}")
    return raw.lines


async def test_an_ignored_guest_stays_ignored_after_nick(
    app: App, accounts: Callable[..., Awaitable[None]], cleanup: list[Any]
) -> None:
    await accounts("ivy", "tom")
    ivy = await joined(app, "ivy", "gen", caps="server-time message-tags", password=PASSWORD)
    gus = await joined(app, "gus", "gen")
    pat = await joined(app, "pat", "gen", caps="server-time message-tags")
    tom = await telnet(app, "tom")
    cleanup.append(tom)
    await command(tom, "/join gen", r"^\* you are (already )?in #gen")
    ivy.send("SILENCE +gus")
    await ivy.expect(" SILENCE +gus")
    await command(tom, "/ignore gus", "you now ignore gus")
    start = len(ivy.lines)

    gus.send("NICK Gus")  # a case change
    assert (await pat.expect(" NICK ")).endswith(":gus!~gus@irc.torbit NICK Gus")
    gus.send(
        *[f"PRIVMSG #gen :run {i}" for i in range(10)], "PRIVMSG ivy :psst", "PRIVMSG tom :psst"
    )
    for i in range(10):
        assert (await pat.expect(" PRIVMSG #gen ")).endswith(
            f":Gus!~gus@irc.torbit PRIVMSG #gen :run {i}"
        )
    await synced(gus, "sent")
    pat.send("PRIVMSG #gen :the marker")
    await tom.expect("<pat> the marker")
    await ivy.expect(":pat!~pat@irc.torbit PRIVMSG #gen :the marker")
    heard = [line for line in (await synced(ivy, "end"))[start:] if "gus" in line.lower()]
    assert heard == [], heard
    assert not [line for line in tom.seen if "Gus" in line], tom.seen
