"""MONITOR (IRCv3): an IRC client is told when the nicks it watches come online and go
offline, whatever door they use (telnet, WebSocket, IRC); its list is bounded (734 past
MONITOR=<limit>), a full line of targets costs no more than the limit, and a closed
connection leaves nothing watched behind. On main: MONITOR was 421, no MONITOR token."""

from __future__ import annotations

import asyncio
import string
from collections.abc import Awaitable, Callable
from typing import Any

from tests.conftest import ServerFactory
from tests.helpers.irc import RawIrc
from tests.irc.conftest import ws_user
from tests.irc.test_doors import telnet_user
from torbit.app import App
from torbit.frontends.irc.monitor import MONITOR_LIMIT


async def _watcher(app: App, nick: str, cleanup: list[Any]) -> RawIrc:
    raw = await RawIrc.connect(app)
    cleanup.append(raw)
    await raw.register(nick)
    assert f"MONITOR={MONITOR_LIMIT}" in " ".join(raw.lines)  # ISUPPORT says the limit
    return raw


def _params(line: str) -> list[str]:
    """A line's parameters after its command (the numeric's target included)."""
    body = line.split(" ", 2)[2] if line.startswith(":") else line.split(" ", 1)[1]
    middle, colon, trailing = body.partition(" :")
    return middle.split() + ([trailing] if colon else [])


def _listed(line: str) -> list[str]:
    return _params(line)[-1].split(",")


async def _sync(raw: RawIrc) -> list[str]:
    """The lines the server sent before answering a PING sent now."""
    start = len(raw.lines)
    raw.send("PING :sync")
    await raw.expect("PONG")
    return raw.lines[start:-1]


async def test_monitor_follows_users_on_every_door(
    app: App, accounts: Callable[..., Awaitable[None]], cleanup: list[Any]
) -> None:
    await accounts("wes")
    raw = await _watcher(app, "mo", cleanup)
    raw.send("MONITOR + tina,Nobody,wes,bad!mask@*")
    assert _listed(await raw.expect(" 731 ")) == ["tina", "Nobody", "wes"]
    assert " 432 mo bad!mask@* " in raw.lines[-2]  # masks are not nicks

    tel = await telnet_user(app, "tina", "lobby", cleanup)  # telnet: online
    assert _listed(await raw.expect(" 730 ")) == ["tina!tina@torbit"]
    ws = await ws_user(app, "wes")  # the WebSocket too
    assert _listed(await raw.expect(" 730 ")) == ["wes!wes@torbit"]
    rex = await RawIrc.connect(app)  # and IRC
    cleanup.append(rex)
    raw.send("MONITOR + rex")
    assert _listed(await raw.expect(" 731 ")) == ["rex"]
    await rex.register("rex")
    assert _listed(await raw.expect(" 730 ")) == ["rex!~rex@irc.torbit"]

    raw.send("MONITOR S")
    status = await _sync(raw)
    assert [_listed(line) for line in status if " 731 " in line] == [["Nobody"]], status
    assert sum(line.count("!") for line in status if " 730 " in line) == 3, status
    raw.send("MONITOR L")
    await raw.expect(" 733 ")
    listed = {n for line in raw.lines if " 732 " in line for n in _listed(line)}
    assert listed == {"tina", "Nobody", "wes", "rex"}

    await tel.close()  # leaving, on any door, is told once
    assert _listed(await raw.expect(" 731 ")) == ["tina"]
    await ws.close()
    assert _listed(await raw.expect(" 731 ")) == ["wes"]
    raw.send("MONITOR - rex")  # no answer, and nothing more of rex
    assert await _sync(raw) == []
    rex.send("QUIT :bye")
    await rex.expect("ERROR")
    raw.send("MONITOR C")
    tel = await telnet_user(app, "tina", "lobby", cleanup)
    raw.send("MONITOR L")
    await raw.expect(" 733 ")
    assert not [line for line in await _sync(raw) if " 73" in line]
    assert app.core is not None and app.core.subscriptions.monitored_users() == 0


async def test_monitor_list_is_bounded(app: App, cleanup: list[Any]) -> None:
    raw = await _watcher(app, "mo", cleanup)
    # a full line of short targets (160 of 2 letters); the first LIMIT are kept
    many = [a + b for a in "uvwxyz" for b in string.ascii_lowercase][:160]
    line = "MONITOR + " + ",".join(many)
    assert len(line) < 510
    raw.send(line)
    full = await raw.expect(" 734 ")
    _, limit, refused, text = _params(full)
    assert limit == str(MONITOR_LIMIT) and text == "Monitor list is full"
    assert refused.split(",") == many[MONITOR_LIMIT:]
    replies = await _sync(raw)
    offline = [n for line in replies if " 731 " in line for n in _listed(line)]
    assert offline == many[:MONITOR_LIMIT]
    assert all(len(line) <= 510 for line in raw.lines)
    raw.send("MONITOR + another")  # the list is full: refused, told once
    assert _params(await raw.expect(" 734 "))[2] == "another"
    raw.send("MONITOR + ua,ub")  # already watched: their state, no 734
    assert " 734 " not in " ".join(await _sync(raw))
    raw.send("MONITOR + " + "x" * 600)  # over the line limit: dropped whole
    await raw.expect(" 417 ")
    assert app.core is not None
    subs = app.core.subscriptions
    assert subs.monitored_users() == MONITOR_LIMIT

    other = await _watcher(app, "mo2", cleanup)  # another watcher of the same users
    other.send("MONITOR + ua,ub,uc")
    await other.expect(" 731 ")
    assert subs.monitored_users() == MONITOR_LIMIT
    await raw.close()  # its list goes with it; the other's stays
    async with asyncio.timeout(5):
        while subs.monitored_users() != 3:
            await asyncio.sleep(0.01)
    ua = await RawIrc.connect(app)
    cleanup.append(ua)
    await ua.register("ua")
    assert _listed(await other.expect(" 730 ")) == ["ua!~ua@irc.torbit"]


async def test_a_guests_new_nick_is_told_and_its_old_one_freed(
    app: App, cleanup: list[Any]
) -> None:
    """A guest's NICK is the old nick going offline and the new one coming online; a later
    guest of the old nick is shown as itself. On main the door kept the renamed session under
    the old nick, so the later `gus` was shown with the renamed one's mask (`gil!~gil@...`)."""
    raw = await _watcher(app, "mo", cleanup)
    raw.send("MONITOR + gus,gil")
    assert _listed(await raw.expect(" 731 ")) == ["gus", "gil"]
    gus = await RawIrc.connect(app)
    cleanup.append(gus)
    await gus.register("gus")
    assert _listed(await raw.expect(" 730 ")) == ["gus!~gus@irc.torbit"]
    gus.send("NICK gil")
    await gus.expect(" NICK ")
    assert _listed(await raw.expect(" 731 ")) == ["gus"]
    assert _listed(await raw.expect(" 730 "))[0].startswith("gil!")
    again = await RawIrc.connect(app)
    cleanup.append(again)
    await again.register("gus")
    assert _listed(await raw.expect(" 730 ")) == ["gus!~gus@irc.torbit"]


async def _capped(app: App, nick: str, cleanup: list[Any], caps: str) -> RawIrc:
    raw = await RawIrc.connect(app)
    cleanup.append(raw)
    raw.send("CAP LS 302", f"CAP REQ :{caps}")
    await raw.expect(" ACK ")
    await raw.register(nick)
    return raw


async def test_extended_monitor_tells_away_and_setname_of_watched_users(
    app: App, cleanup: list[Any]
) -> None:
    """With extended-monitor (and away-notify, setname) a watcher hears a watched user's AWAY
    and SETNAME without sharing a channel, once when it shares one too; without the cap,
    nothing. On main the cap was NAKed."""
    mo = await _capped(app, "mo", cleanup, "extended-monitor away-notify setname")
    both = await _capped(app, "both", cleanup, "extended-monitor away-notify")
    plain = await _capped(app, "plain", cleanup, "away-notify")  # MONITOR, not extended
    for raw in (mo, both, plain):
        raw.send("MONITOR + tina,sam")
        await raw.expect(" 731 ")
    tel = await telnet_user(app, "tina", "lobby", cleanup)  # in #lobby: so is `both`
    both.send("JOIN #lobby")
    await both.expect(" 366 ")
    tel.send("/away brb")
    await tel.expect(r"you are marked away: brb")
    assert (await mo.expect(" AWAY ")) == ":tina!tina@torbit AWAY brb"
    await both.expect(" AWAY ")
    assert [line for line in await _sync(both) if " AWAY " in line] == []  # once
    assert [line for line in await _sync(plain) if " AWAY " in line] == []

    sam = await RawIrc.connect(app)
    cleanup.append(sam)
    await sam.register("sam")
    await mo.expect(" 730 ")
    sam.send("SETNAME :Sam Smith")
    assert (await mo.expect(" SETNAME ")).endswith(" SETNAME :Sam Smith")
    assert [line for line in await _sync(plain) if " SETNAME " in line] == []


async def test_a_guests_case_only_nick_change_is_its_name_everywhere(
    app: App, cleanup: list[Any]
) -> None:
    """irctest's MonitorTestCase::testNickChange: `NICK QUX` of the guest `qux` tells no
    watcher (no change of online state), but the 731 when it goes says `QUX`, and the other
    doors show `QUX` meanwhile. On main the case change was the IRC door's alone: the 731
    said `qux`, and telnet's /who listed `qux`."""
    raw = await _watcher(app, "mo", cleanup)
    raw.send("MONITOR + qux")
    assert _listed(await raw.expect(" 731 ")) == ["qux"]
    tel = await telnet_user(app, "tina", "lobby", cleanup)
    qux = await RawIrc.connect(app)
    cleanup.append(qux)
    await qux.register("qux")
    assert _listed(await raw.expect(" 730 ")) == ["qux!~qux@irc.torbit"]
    qux.send("JOIN #lobby")
    await qux.expect(" 366 ")

    qux.send("NICK QUX")
    assert (await qux.expect(" NICK ")) == ":qux!~qux@irc.torbit NICK QUX"
    assert [line for line in await _sync(raw) if " 730 " in line or " 731 " in line] == []
    tel.send("/who")
    await tel.expect(r"here in #lobby \(2\): QUX, tina$")
    raw.send("WHOIS qux")
    assert " 311 mo QUX ~qux " in await raw.expect(" 311 ")
    raw.send("MONITOR S")
    assert _listed(await raw.expect(" 730 ")) == ["QUX!~qux@irc.torbit"]

    qux.send("NICK bazbat")
    assert _listed(await raw.expect(" 731 ")) == ["QUX"]  # as irctest wants it


async def test_monitor_says_offline_at_once_as_whois_and_ison_do_while_rooms_wait(
    make_server: ServerFactory, cleanup: list[Any]
) -> None:
    """A user whose last session goes is offline at once for MONITOR (731), as for ISON,
    WHOIS and NAMES, and online again (730) when back; the rooms they were in hear of it only
    after `chat.presence_grace_seconds`, and nothing of a user back by then (a page reload).
    MONITOR is asked whether a nick is on now (to take it once freed, to write to a friend),
    so it does not wait out the grace (docs/irc.md, MONITOR)."""
    app = await make_server(irc={"guests": True}, chat={"presence_grace_seconds": 60})
    mo = await _watcher(app, "mo", cleanup)
    mo.send("JOIN #lobby", "MONITOR + tina")
    assert _listed(await mo.expect(" 731 ")) == ["tina"]
    tel = await telnet_user(app, "tina", "lobby", cleanup)
    seen = await _sync(mo)
    assert [_listed(x) for x in seen if " 730 " in x] == [["tina!tina@torbit"]]
    assert [x for x in seen if x.startswith(":tina!") and " JOIN " in x]

    await tel.close()
    assert _listed(await mo.expect(" 731 ")) == ["tina"]  # at once
    mo.send("ISON tina", "WHOIS tina", "NAMES #lobby")
    assert (await mo.expect(" 303 ")).endswith(" 303 mo :")
    await mo.expect(" 401 mo tina ")
    assert "tina" not in await mo.expect(" 353 ")
    assert [x for x in await _sync(mo) if x.startswith(":tina!")] == []  # no QUIT yet

    await telnet_user(app, "tina", "lobby", cleanup)  # back within the grace
    seen = await _sync(mo)
    assert [_listed(x) for x in seen if " 730 " in x] == [["tina!tina@torbit"]]
    assert [x for x in seen if x.startswith(":tina!")] == []  # the room saw nothing
