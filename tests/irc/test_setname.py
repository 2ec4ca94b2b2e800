"""SETNAME (IRCv3 setname) is told as an away change is (core/away.py): to the clients with
the cap sharing a channel of at most `chat.presence_notices_max` listeners, and to MONITOR
watchers with extended-monitor, never to one who ignores the user; and changes are charged
to the away changes' rate. On main a SETNAME went to every channel whatever its size, to
those who ignored the user, and had no rate of its own."""

from __future__ import annotations

from typing import Any

from tests.conftest import ServerFactory
from tests.helpers.irc import RawIrc
from torbit.app import App


async def _client(app: App, nick: str, cleanup: list[Any], *caps: str) -> RawIrc:
    raw = await RawIrc.connect(app)
    cleanup.append(raw)
    raw.send("CAP LS 302", f"CAP REQ :{' '.join(('setname', 'away-notify', *caps))}")
    assert " ACK " in await raw.expect(" ACK ")
    raw.send(f"NICK {nick}", f"USER {nick} 0 * :{nick}", "CAP END")
    await raw.expect(" 376 ")
    return raw


async def _join(channel: str, *clients: RawIrc) -> None:
    for raw in clients:
        raw.send(f"JOIN {channel}")
        await raw.expect(" 366 ")


async def _told(raw: RawIrc, command: str) -> list[str]:
    """The `command` lines (from anyone but the server) received up to a PING's answer."""
    start = len(raw.lines)
    raw.send("PING :sync")
    await raw.expect("PONG")
    return [line for line in raw.lines[start:-1] if line.split(" ")[1:2] == [command]]


async def test_setname_is_told_in_small_rooms_only_as_away_is(
    make_server: ServerFactory, cleanup: list[Any]
) -> None:
    """On main: bar, in a room of three listeners (past the bound of two), got the SETNAME
    though not the AWAY."""
    app = await make_server(irc={"guests": True}, chat={"presence_notices_max": 2})
    foo = await _client(app, "foo", cleanup)
    bar = await _client(app, "bar", cleanup)
    baz = await _client(app, "baz", cleanup)
    qux = await _client(app, "qux", cleanup)
    await _join("#big", foo, bar, baz)  # three listeners: past the bound
    await _join("#small", foo, qux)  # two: told

    foo.send("AWAY :out")
    await foo.expect(" 306 ")
    assert (await qux.expect(" AWAY ")) == ":foo!~foo@irc.torbit AWAY out"
    foo.send("SETNAME :Foo Bar")
    assert (await foo.expect(" SETNAME ")) == ":foo!~foo@irc.torbit SETNAME :Foo Bar"
    assert (await qux.expect(" SETNAME ")) == ":foo!~foo@irc.torbit SETNAME :Foo Bar"
    for raw in (bar, baz):
        assert await _told(raw, "AWAY") == []
        assert not [line for line in raw.lines if " SETNAME " in line]
    bar.send("WHOIS foo")  # the name changed all the same
    assert (await bar.expect(" 311 ")).endswith(" :Foo Bar")


async def test_setname_is_not_told_to_those_who_ignore_the_user(
    make_server: ServerFactory, cleanup: list[Any]
) -> None:
    """On main: bar (sharing the room) and wat (watching foo with extended-monitor) were
    told of foo's new name though they ignore foo."""
    app = await make_server(irc={"guests": True})
    foo = await _client(app, "foo", cleanup)
    bar = await _client(app, "bar", cleanup)
    pal = await _client(app, "pal", cleanup)
    wat = await _client(app, "wat", cleanup, "extended-monitor")
    fan = await _client(app, "fan", cleanup, "extended-monitor")
    await _join("#sn", foo, bar, pal)
    for raw in (bar, wat):
        raw.send("SILENCE +foo")
        await raw.expect(" SILENCE +foo")
    for raw in (wat, fan):
        raw.send("MONITOR + foo")
        await raw.expect(" 730 ")

    foo.send("SETNAME :Foo Bar")
    await foo.expect(" SETNAME ")
    assert (await pal.expect(" SETNAME ")) == ":foo!~foo@irc.torbit SETNAME :Foo Bar"
    assert (await fan.expect(" SETNAME ")) == ":foo!~foo@irc.torbit SETNAME :Foo Bar"
    foo.send("AWAY :out")  # an away change reaches the same clients
    await foo.expect(" 306 ")
    await pal.expect(" AWAY ")
    await fan.expect(" AWAY ")
    for raw in (bar, wat):
        assert await _told(raw, "AWAY") == []
        assert not [line for line in raw.lines if " SETNAME " in line]


async def test_setname_changes_are_charged_to_the_away_rate(
    make_server: ServerFactory, cleanup: list[Any]
) -> None:
    """On main: SETNAME had no rate, every change in a loop was told to every room."""
    app = await make_server(irc={"guests": True})
    burst = app.settings.limits.away_burst
    assert app.settings.limits.away_rate > 0
    foo = await _client(app, "foo", cleanup)
    bar = await _client(app, "bar", cleanup)
    await _join("#sn", foo, bar)

    foo.send("AWAY :out")  # one change of the bucket
    await foo.expect(" 306 ")
    for i in range(burst - 1):
        foo.send(f"SETNAME :name {i}")
        assert (await foo.expect(" SETNAME ")).endswith(f" SETNAME :name {i}")
    foo.send("SETNAME :one too many")
    refused = await foo.expect(" FAIL ")
    assert " FAIL SETNAME CANNOT_CHANGE_REALNAME " in refused and "slow down" in refused
    foo.send("AWAY")  # the bucket is shared: no away change either
    assert "AWAY not changed" in await foo.expect(" NOTICE ")
    told = await _told(bar, "SETNAME")
    assert len(told) == burst - 1 and told[-1].endswith(f" :name {burst - 2}")
    bar.send("WHOIS foo")
    assert (await bar.expect(" 311 ")).endswith(f" :name {burst - 2}")
