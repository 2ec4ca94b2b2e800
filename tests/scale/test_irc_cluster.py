"""The IRC door across a `postgresql + kafka` cluster: what a client does on node a is told
to the IRC clients on node b that share a channel with it, as on a single node. A SETNAME
and a change of the letters' case of a guest's nick (`alice` -> `Alice`) are node events
(core/away.py, `DetailsChanged`); on main they were told on a only, and b learnt the new
real name with a's next heartbeat, the new case never.

Each change is followed by an AWAY of the same client: both are node events, in one log
in order, so when b's client has the AWAY it must have had the change before it (no wait
for something that should not come)."""

from __future__ import annotations

import pytest

from tests.helpers.irc import RawIrc, joined
from tests.helpers.moderation import command, telnet
from tests.scale.clients import in_channel
from tests.scale.conftest import NodeFactory
from torbit.app import App

pytestmark = [pytest.mark.slow, pytest.mark.kafka, pytest.mark.postgres]

GUESTS = {"guests": True}


CAPS = "setname away-notify extended-monitor"


async def _client(app: App, nick: str) -> RawIrc:
    """A guest with the caps these tests watch, its real name "<nick> first"."""
    return await joined(app, nick, caps=CAPS, real=f"{nick} first")


async def _after_away(raw: RawIrc, nick: str) -> list[str]:
    """The lines `raw` got up to `nick`'s AWAY (a node event that followed the change)."""
    start = len(raw.lines)
    line = await raw.expect(" AWAY ", timeout=30)
    assert line.startswith(f":{nick}!"), line
    return raw.lines[start:-1]


async def test_a_setname_is_told_on_every_node(make_node: NodeFactory) -> None:
    """On main bar, on b, got no SETNAME (the AWAY that followed came), and b's WHOIS gave
    the old real name until a's next heartbeat."""
    a = await make_node("a", irc=GUESTS)
    b = await make_node("b", irc=GUESTS)
    bar = await _client(b, "bar")
    foo = await _client(a, "foo")
    await in_channel("#sn", bar, foo, "foo")

    foo.send("SETNAME :Foo Bar", "AWAY :out")
    await foo.expect(" 306 ")
    told = [line for line in await _after_away(bar, "foo") if " SETNAME " in line]
    assert len(told) == 1 and told[0].startswith(":foo!"), told
    assert told[0].endswith(" SETNAME :Foo Bar")
    bar.send("WHOIS foo")
    assert (await bar.expect(" 311 ")).endswith(" :Foo Bar")
    start = len(bar.lines)
    bar.send("WHO #sn")
    await bar.expect(" 315 ")
    who = [line for line in bar.lines[start:] if " 352 bar #sn " in line and " foo " in line]
    assert len(who) == 1 and who[0].endswith(" Foo Bar"), who


async def test_a_case_change_of_a_nick_is_told_on_every_node(make_node: NodeFactory) -> None:
    """On main bob, on b, got no NICK, and b went on calling her `alice` (NAMES, WHOIS)."""
    a = await make_node("a", irc=GUESTS)
    b = await make_node("b", irc=GUESTS)
    bob = await _client(b, "bob")
    alice = await _client(a, "alice")
    await in_channel("#nc", bob, alice, "alice")

    alice.send("NICK Alice", "AWAY :out")
    assert (await alice.expect(" NICK ")).endswith(" NICK Alice")
    await alice.expect(" 306 ")
    told = [line for line in await _after_away(bob, "Alice") if " NICK " in line]
    assert len(told) == 1 and told[0].startswith(":alice!"), told
    assert told[0].endswith(" NICK Alice")
    bob.send("NAMES #nc")
    names = await bob.expect(" 353 ")
    assert "Alice" in names.rsplit(":", 1)[1].split(), names
    bob.send("WHOIS alice")
    assert (await bob.expect(" 311 ")).split(" ")[3] == "Alice"
    # and what b sends of her next, a message, names her so
    alice.send("PRIVMSG #nc :hi")
    line = await bob.expect(" PRIVMSG #nc ", timeout=30)
    assert line.startswith(":Alice!"), line


async def test_a_message_to_a_guest_online_nowhere_gets_401(make_node: NodeFactory) -> None:
    """A guest on b gets foo's message from a; once it has quit (a has heard so: a PART),
    or for a guest account b holds with no session anywhere (being deleted, or left by a
    node that stopped without a goodbye), foo gets 401. On main the message to the latter
    was taken and lost: a looked for the guest's sessions on a only."""
    quick = {"presence_grace_seconds": 0}  # the leave told at once
    a = await make_node("a", irc=GUESTS, chat=quick)
    b = await make_node("b", irc=GUESTS, chat=quick)
    bar = await _client(b, "bar")
    foo = await _client(a, "foo")
    await in_channel("#pm", foo, bar, "bar")

    foo.send("PRIVMSG bar :hello")
    assert (await bar.expect(" PRIVMSG bar ", timeout=30)).endswith(" bar hello")
    bar.send("QUIT :bye")
    await foo.expect(":bar!", timeout=30)  # its PART (a leave on another node)
    foo.send("PRIVMSG bar :still there?", "PING :one")
    await foo.expect("PONG")
    assert [line for line in foo.lines if " 401 foo bar " in line]

    assert b.core is not None
    await b.core.guests.admit("ghost")
    foo.send("PRIVMSG ghost :are you there?", "PING :two")
    await foo.expect("PONG")
    assert [line for line in foo.lines if " 401 foo ghost " in line], foo.lines[-3:]


async def test_a_guests_new_nick_is_a_nick_on_every_node(make_node: NodeFactory) -> None:
    """On main bob, on b, got no NICK: alice's AWAY came as carol's, whom he had not seen
    join, and a's next beat told a PART of alice and a JOIN of carol. Now the NICK, and the
    beat says nothing more: carol's PART, a later beat, is the next line about her."""
    quick = {"presence_grace_seconds": 0}
    a = await make_node("a", irc=GUESTS, chat=quick)
    b = await make_node("b", irc=GUESTS, chat=quick)
    bob = await _client(b, "bob")
    alice = await _client(a, "alice")
    await in_channel("#nn", bob, alice, "alice")

    alice.send("NICK carol", "AWAY :out")
    await alice.expect(" 306 ")
    told = [line for line in await _after_away(bob, "carol") if " NICK " in line]
    assert len(told) == 1 and told[0].startswith(":alice!"), told
    assert told[0].endswith(" NICK carol")
    bob.send("NAMES #nn")
    names = (await bob.expect(" 353 ")).rsplit(":", 1)[1].split()
    assert "carol" in names and "alice" not in names, names
    start = len(bob.lines)
    alice.send("PART #nn")
    await bob.expect(":carol!", timeout=30)
    about = [line for line in bob.lines[start:] if line.startswith((":alice!", ":carol!"))]
    assert about == [about[-1]] and " PART #nn" in about[-1], about


async def test_one_host_per_door_on_every_node(make_node: NodeFactory) -> None:
    """An IRC client is `nick!ident@irc.torbit` to IRC clients on its own node and on the
    others, in every line (PRIVMSG, MONITOR) as in WHOIS; a telnet user is `name!name@torbit`
    everywhere. On main an IRC client on another node was `foo!foo@torbit` in the lines that
    carried it (WHOIS said `~foo` at `irc.torbit`): two masks for one client."""
    a = await make_node("a", irc=GUESTS)
    b = await make_node("b", irc=GUESTS)
    bar = await _client(b, "bar")
    foo = await _client(a, "foo")
    near = await _client(a, "near")
    await in_channel("#hosts", bar, foo, "foo")
    near.send("JOIN #hosts")
    await near.expect(" 366 ")
    tel = await telnet(a, "tina")
    try:
        await command(tel, "/join hosts", r"you are in #hosts")
        foo.send("PRIVMSG #hosts :from irc")
        assert (await bar.expect(" :from irc", timeout=30)).startswith(
            ":foo!~foo@irc.torbit PRIVMSG "
        )
        assert (await near.expect(" :from irc")).startswith(":foo!~foo@irc.torbit PRIVMSG ")
        tel.send("from telnet")
        assert (await bar.expect(" :from telnet", timeout=30)).startswith(
            ":tina!tina@torbit PRIVMSG "
        )
        assert (await near.expect(" :from telnet")).startswith(":tina!tina@torbit PRIVMSG ")
        bar.send("MONITOR + foo,tina")
        shown: set[str] = set()
        while len(shown) < 2:  # tina may be told online a little later (a's heartbeat)
            line = await bar.expect(" 730 ", timeout=30)
            shown.update(line.split(" ", 3)[3].lstrip(":").split(","))
        assert sorted(shown) == ["foo!~foo@irc.torbit", "tina!tina@torbit"]
        bar.send("WHOIS foo")
        assert " foo ~foo irc.torbit * " in await bar.expect(" 311 ")
    finally:
        await tel.close()
