"""Presence across a `postgresql + kafka` cluster: a user online on node B counts on node A —
the room's `online`, telnet's /who, IRC's NAMES — and is announced there; when B is killed
(SIGKILL: no goodbye) A forgets B's users once B's heartbeats have been missing for the
expiry. Deadlines are generous and only bound the wait: nothing here measures speed."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

import pytest

from tests.helpers.http import PASSWORD
from tests.helpers.irc import IrcUser, irc_user
from tests.helpers.telnet_client import TelnetClient
from tests.scale.clients import Clients, HttpUser
from tests.scale.conftest import NodeFactory, ProcessFactory, eventually

pytestmark = [pytest.mark.slow, pytest.mark.kafka, pytest.mark.postgres]

HEARTBEAT, EXPIRY = 0.3, 2.0  # short, so the test is short; the defaults are 5 s and 15 s
DEADLINE = 30.0  # seconds any condition below may take to come true: a bound, not a measure


async def online_count(user: HttpUser, room: str) -> int:
    r = await user.client.get(f"/api/v1/rooms/{room}")
    assert r.status_code == 200, r.text
    count: int = r.json()["online"]
    return count


async def who(client: TelnetClient) -> list[str]:
    client.send("/who")
    m = await client.expect(r"here in #\w+ \(\d+\): (.*)$")
    return [n for n in m.group(1).split(", ") if n]


async def names(irc: IrcUser, channel: str) -> set[str]:
    await irc.rawmsg("NAMES", channel)
    reply = await irc.expect("353")
    await irc.expect("366")
    return {n.lstrip("@~%+").partition("!")[0] for n in reply.params[-1].split()}


async def whois(irc: IrcUser, nick: str) -> list[tuple[str, list[str]]]:
    """The WHOIS reply's numerics and their parameters, up to its end (318)."""
    await irc.rawmsg("WHOIS", nick)
    first = len(irc.seen)
    await irc.expect("318")
    return [
        (str(m.command).zfill(3), list(m.params[1:]))
        for m in irc.seen[first:]
        if str(m.command).zfill(3) in ("311", "319", "318", "401")
    ]


async def ison(irc: IrcUser, *nicks: str) -> list[str]:
    await irc.rawmsg("ISON", *nicks)
    reply = await irc.expect("303")
    return str(reply.params[-1]).split()


async def test_users_of_another_node_are_online_here_until_it_dies(
    make_node: NodeFactory, make_process: ProcessFactory, clients: Clients
) -> None:
    presence = {"presence_heartbeat_seconds": HEARTBEAT, "presence_expiry_seconds": EXPIRY}
    a = await make_node("a", message_log=presence)
    b = make_process(
        "b",
        TORBIT_MESSAGE_LOG__PRESENCE_HEARTBEAT_SECONDS=str(HEARTBEAT),
        TORBIT_MESSAGE_LOG__PRESENCE_EXPIRY_SECONDS=str(EXPIRY),
    )
    await asyncio.to_thread(b.start)
    irc: IrcUser | None = None
    try:
        alice = await clients.telnet(a, "alice")  # lands in #lobby on a
        watcher_a = await clients.http(a, "watcher")  # HTTP alone: never online
        watcher_b = await clients.http(b, "watcher", new=False)
        await clients.http(a, "ivan")  # an account for IRC
        irc = await irc_user(a, "x", sasl_username="ivan", sasl_password=PASSWORD, join=("#lobby",))

        bob = await clients.telnet(b, "bob")
        carol = await clients.ws(b, "carol")
        await carol.subscribe("lobby")

        # a counts b's users: the room's online count, /who, NAMES, and a join notice
        await eventually(
            "a counts bob and carol",
            lambda: _equals(online_count(watcher_a, "lobby"), 4),
            within=DEADLINE,
        )
        assert await who(alice) == ["alice", "bob", "carol", "ivan"]
        assert await names(irc, "#lobby") == {"alice", "bob", "carol", "ivan"}
        assert "* bob joined #lobby" in alice.seen  # told with the same beat that counted him
        # IRC's questions about one user reach b's users too (they were this node's only)
        assert await ison(irc, "bob", "carol", "nobody", "alice") == ["bob", "carol", "alice"]
        bob_whois = await whois(irc, "BOB")
        assert bob_whois[0][0] == "311" and bob_whois[0][1][0] == "bob"
        assert ("319", ["bob", "#lobby"]) in bob_whois
        # and b counts a's
        await eventually(
            "b counts alice and ivan",
            lambda: _equals(online_count(watcher_b, "lobby"), 4),
            within=DEADLINE,
        )
        assert await who(bob) == ["alice", "bob", "carol", "ivan"]

        # b dies without a word: its users leave a's presence once its beats are overdue
        b.kill()
        await eventually(
            "a forgets b's users",
            lambda: _equals(online_count(watcher_a, "lobby"), 2),
            within=DEADLINE,
        )
        assert await who(alice) == ["alice", "ivan"]
        assert await names(irc, "#lobby") == {"alice", "ivan"}
        assert await ison(irc, "bob", "alice") == ["alice"]
        assert [code for code, _ in await whois(irc, "bob")] == ["401", "318"]
        assert "* bob left #lobby" in alice.seen
        parts = [m for m in irc.received("PART") if str(m.source).startswith("bob")]
        assert [m.params[0] for m in parts] == ["#lobby"]
    finally:
        if irc is not None:
            await irc.disconnect(expected=True)
        b.kill()


async def test_a_node_stopping_cleanly_takes_its_users_offline_at_once(
    make_node: NodeFactory, clients: Clients
) -> None:
    """With a goodbye, not the expiry: a's expiry here is far longer than the test."""
    slow = {"presence_heartbeat_seconds": 0.3, "presence_expiry_seconds": 3600.0}
    a = await make_node("a", message_log=slow)
    b = await make_node("b", message_log=slow)
    watcher = await clients.http(a, "watcher")
    await clients.telnet(a, "alice")
    await clients.telnet(b, "bob")
    await eventually(
        "a counts bob", lambda: _equals(online_count(watcher, "lobby"), 2), within=DEADLINE
    )
    await b.stop()
    await eventually(
        "a forgets bob", lambda: _equals(online_count(watcher, "lobby"), 1), within=DEADLINE
    )


async def _equals(value: Awaitable[int], expected: int) -> bool:
    return await value == expected


async def test_a_user_on_two_nodes_leaves_with_the_last_session_anywhere(
    make_node: NodeFactory, clients: Clients
) -> None:
    fast = {"presence_heartbeat_seconds": HEARTBEAT, "presence_expiry_seconds": EXPIRY}
    a = await make_node("a", message_log=fast)
    b = await make_node("b", message_log=fast)
    carol = await clients.telnet(a, "carol")
    bob = await clients.telnet(b, "bob")
    alice_a = await clients.telnet(a, "alice")
    await bob.expect(r"\* alice joined #lobby", timeout=DEADLINE)  # with a's beat
    alice_b = await TelnetClient.connect(b.telnet_port or 0)
    await alice_b.login("alice")  # online on a already: no second join

    alice_b.send("/quit")  # still online on a: nobody is told she left
    await alice_b.close()
    await clients.telnet(b, "dave")  # a later change on b, so a later beat: a sync point
    await bob.expect(r"\* dave joined #lobby")
    await carol.expect(r"\* dave joined #lobby", timeout=DEADLINE)
    assert await who(carol) == ["alice", "bob", "carol", "dave"]
    told = [line for line in carol.seen + bob.seen if line.startswith("* alice")]
    assert told == ["* alice joined #lobby"] * 2  # once each: no second join, no leave

    alice_a.send("/quit")  # the last session anywhere
    await carol.expect(r"\* alice left #lobby")  # at once on her node
    await bob.expect(r"\* alice left #lobby", timeout=DEADLINE)  # with a's next beat on b


async def whois_lines(irc: IrcUser, nick: str) -> dict[str, list[str]]:
    """WHOIS nick: each numeric about `nick` up to the end (318) with its parameters after
    the asker's. Only those about `nick`: pydle sends a WHOIS of its own for someone whose
    JOIN it sees, and a JOIN from the other node may arrive at any time."""

    def about(m: Any) -> bool:
        return len(m.params) > 1 and str(m.params[1]).lower() == nick.lower()

    await irc.settle()
    first = len(irc.seen)
    await irc.rawmsg("WHOIS", nick)
    await irc.expect("318", where=about)
    return {str(m.command).zfill(3): list(m.params[1:]) for m in irc.seen[first:] if about(m)}


async def who_mask(irc: IrcUser, mask: str) -> list[list[str]]:
    """WHO mask: the 352 lines' parameters after the asker's."""
    await irc.settle()
    first = len(irc.seen)
    await irc.rawmsg("WHO", mask)
    await irc.expect("315")
    return [list(m.params[1:]) for m in irc.seen[first:] if str(m.command).zfill(3) == "352"]


async def test_whois_and_who_show_a_user_of_another_node_as_their_own_node_does(
    make_node: NodeFactory, clients: Clients
) -> None:
    """The client details (ident, real name, away; the IRC host) travel with presence: a
    WHOIS asked on a answers about b's IRC user as b does; a WHO mask matches b's users;
    telnet's /away on b shows in a's WHOIS and a's /who, IRC's AWAY on b in a's /who."""
    fast = {"presence_heartbeat_seconds": HEARTBEAT, "presence_expiry_seconds": EXPIRY}
    a = await make_node("a", message_log=fast)
    b = await make_node("b", message_log=fast)
    await clients.http(a, "wendy")  # accounts for IRC
    await clients.http(a, "ivan")
    ivan: IrcUser | None = None
    wendy: IrcUser | None = None
    try:
        ivan = await irc_user(
            b, "x", sasl_username="ivan", sasl_password=PASSWORD, join=("#lobby",)
        )
        await ivan.rawmsg("AWAY", "at lunch")
        await ivan.expect("306")
        tina = await clients.telnet(b, "tina")
        tina.send("/away brb")
        await tina.expect(r"you are marked away: brb")
        wendy = await irc_user(
            a, "y", sasl_username="wendy", sasl_password=PASSWORD, join=("#lobby",)
        )
        alice = await clients.telnet(a, "alice")

        on_b = await whois_lines(ivan, "ivan")  # asked on ivan's own node
        assert on_b["311"][:5] == ["ivan", on_b["311"][1], "irc.torbit", "*", "x via pydle"]
        assert on_b["301"] == ["ivan", "at lunch"]

        async def same_on_a() -> bool:
            on_a = await whois_lines(wendy, "ivan")
            return on_a.get("311") == on_b["311"] and on_a.get("301") == on_b["301"]

        await eventually("a's WHOIS of ivan answers as b's", same_on_a, within=DEADLINE)
        await eventually(
            "a's WHOIS shows tina away", lambda: _has_away(wendy, "tina", "brb"), within=DEADLINE
        )
        masked = await who_mask(wendy, "*i*")  # ivan and tina are on b only
        assert {line[4] for line in masked} >= {"ivan", "tina"}
        (ivan_who,) = [line for line in masked if line[4] == "ivan"]
        assert ivan_who[1:3] == [on_b["311"][1], "irc.torbit"] and ivan_who[5].startswith("G")
        assert ivan_who[6] == "0 x via pydle"

        async def who_shows_both_away() -> bool:
            return {"ivan (away: at lunch)", "tina (away: brb)"} <= set(await who(alice))

        await eventually("a's /who shows ivan and tina away", who_shows_both_away, within=DEADLINE)

        tina.send("/away")  # back: a hears it with b's next beat
        await tina.expect(r"you are back")
        await eventually(
            "a's WHOIS shows tina back", lambda: _has_away(wendy, "tina", None), within=DEADLINE
        )
    finally:
        for irc in (ivan, wendy):
            if irc is not None:
                await irc.disconnect(expected=True)


async def _has_away(irc: IrcUser, nick: str, away: str | None) -> bool:
    lines = await whois_lines(irc, nick)
    return "311" in lines and (lines.get("301") == [nick, away] if away else "301" not in lines)
