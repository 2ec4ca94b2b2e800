"""Away changes across a `postgresql + kafka` cluster: a telnet /away on node b reaches an
IRC client with away-notify and a WebSocket on node a that share a room with the user, and
an IRC AWAY on a reaches a telnet user on b, as they happen (a node event through the log,
not a presence heartbeat later). A user away on b who logs in on a too is away there, and is
told there when b's session comes back; a user online on a only can set it over HTTP on b."""

from __future__ import annotations

import asyncio

import pytest

from tests.helpers.http import PASSWORD
from tests.helpers.irc import IrcUser, irc_user
from tests.scale.clients import Clients, HttpUser
from tests.scale.conftest import NodeFactory

pytestmark = [pytest.mark.slow, pytest.mark.kafka, pytest.mark.postgres]

AWAY = {"message": "on the phone"}


async def _listed_away(user: HttpUser, name: str, away: str) -> None:
    """Until the members of #lobby, as `user`'s node knows them, have `name` away."""
    async with asyncio.timeout(30):
        while True:
            r = await user.client.get("/api/v1/rooms/lobby/members")
            if r.json()["away"].get(name) == away:
                return
            await asyncio.sleep(0.1)


async def test_an_away_on_one_node_is_told_on_the_other(
    make_node: NodeFactory, clients: Clients
) -> None:
    """On main a telnet /away, and any away on another node, sent IRC clients nothing."""
    a = await make_node("a")
    b = await make_node("b")
    walt = await clients.ws(a, "walt")
    await walt.subscribe("lobby")
    wendy_http = await clients.http(a, "wendy")  # an account for IRC
    wendy: IrcUser | None = None
    try:
        wendy = await irc_user(
            a, "y", sasl_username="wendy", sasl_password=PASSWORD, join=("#lobby",)
        )
        tina = await clients.telnet(b, "tina")  # in #lobby on b
        tina.send("/away brb")
        await tina.expect(r"you are marked away: brb")
        said = await wendy.expect("AWAY", timeout=30)
        assert said.source.startswith("tina!") and said.params == ["brb"]
        frame = await walt.frame("away", "tina is away", timeout=30)
        assert (frame["user"], frame["away"]) == ("tina", "brb")

        # a second session of tina's, on a, once a has b's details of her: away as she is
        # (on main a new login on a was not away there: WHOIS on a had no 301)
        await _listed_away(wendy_http, "tina", "brb")
        tina_a = await clients.telnet(a, "tina")
        await tina_a.expect(r"^\* you are marked away: brb$")  # told at login
        await wendy.rawmsg("WHOIS", "tina")
        said = await wendy.expect("301", where=lambda m: m.params[1] == "tina")
        assert said.params[-1] == "brb"

        await wendy.rawmsg("AWAY", "at lunch")
        await wendy.expect("306")
        await tina.expect(r"^\* wendy is away: at lunch$", timeout=30)

        tina.send("/away")
        await tina.expect(r"you are back")
        said = await wendy.expect("AWAY", timeout=30)
        assert said.source.startswith("tina!") and said.params == []
        await tina_a.expect(r"^\* you are back$", timeout=30)  # her own session on a

        # set over HTTP on b for walt, whose only session (the WebSocket) is on a
        walt_b = await clients.http(b, "walt", new=False)
        async with asyncio.timeout(30):  # until b has a's presence of walt
            while (r := await walt_b.client.put("/api/v1/me/away", json=AWAY)).status_code == 409:
                await asyncio.sleep(0.1)
        assert r.json() == {"away": "on the phone"}, r.text
        await walt.frame("away", "you are marked away: on the phone", timeout=30)
        await tina.expect(r"^\* walt is away: on the phone$", timeout=30)
    finally:
        if wendy is not None:
            await wendy.disconnect(expected=True)


async def test_a_new_node_knows_presence_at_once_users_in_no_room_too(
    make_node: NodeFactory, clients: Clients
) -> None:
    """With an hour between heartbeats, so that only what travels soon can pass: a node
    that starts hears who is online (and away) at once, a login there takes the away state
    of the user's other node, a user in no room (a WebSocket subscribed to none) is online
    and away there (MONITOR, ISON, WHOIS, HTTP), and joins and leaves on one node reach a
    WebSocket on the other soon, which is what the web page's online dots follow. On main
    all of it waited for a's next beat, an hour here: tina was not away on b, walt was
    offline there (PUT /me/away on b: 409), no join reached b."""
    slow = {"presence_heartbeat_seconds": 3600.0, "presence_expiry_seconds": 7200.0}
    a = await make_node("a", message_log=slow)
    tina = await clients.telnet(a, "tina")
    tina.send("/away brb")
    await tina.expect(r"you are marked away: brb")
    walt = await clients.ws(a, "walt")  # in no room
    await walt.send({"type": "away", "text": "gone"})
    await walt.frame("away", "you are marked away: gone")
    await clients.http(a, "ivan")  # an account for IRC
    b = await make_node("b", message_log=slow)
    ivan: IrcUser | None = None
    try:
        tina_b = await clients.telnet(b, "tina")  # told at login, or when a's details come
        await tina_b.expect(r"^\* you are marked away: brb$", timeout=30)
        ivan = await irc_user(b, "x", sasl_username="ivan", sasl_password=PASSWORD)
        await ivan.rawmsg("MONITOR", "+", "walt")
        said = await ivan.expect("730", timeout=30)
        assert said.params[-1].startswith("walt!")
        await ivan.rawmsg("ISON", "walt", "nobody")
        assert (await ivan.expect("303")).params[-1].split() == ["walt"]
        await ivan.rawmsg("WHOIS", "walt")
        assert (await ivan.expect("301")).params[1:] == ["walt", "gone"]
        walt_b = await clients.http(b, "walt", new=False)
        assert (await walt_b.client.get("/api/v1/me/away")).json() == {"away": "gone"}
        r = await walt_b.client.put("/api/v1/me/away", json=AWAY)
        assert r.json() == {"away": "on the phone"}, r.text
        await walt.frame("away", "you are marked away: on the phone", timeout=30)

        wendy = await clients.ws(b, "wendy")
        await wendy.subscribe("lobby")
        dave = await clients.telnet(a, "dave")  # lands in #lobby on a
        await wendy.frame("notice", "dave joined #lobby", timeout=30)
        dave.send("/quit")
        await wendy.frame("notice", "dave left #lobby", timeout=30)
        await walt.close()  # offline everywhere: b's MONITOR says so soon
        said = await ivan.expect("731", timeout=30)
        assert said.params[-1] == "walt"
    finally:
        if ivan is not None:
            await ivan.disconnect(expected=True)
