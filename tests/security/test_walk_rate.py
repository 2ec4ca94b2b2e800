"""Whole-server walks are charged per user (`limits.walk_rate`): IRC's LIST and WHO by mask,
telnet's /list. On main none was: a six-byte `LIST` walked up to 50,000 rooms (1.3-2.1 s of
the event loop over 20,000), and `WHO *` every user online in one stretch, as often as a
client sent them; and WHO by mask had no cap on its replies."""

from __future__ import annotations

import pytest

from tests.conftest import ServerFactory
from tests.helpers.http import PASSWORD, http_client, register
from tests.helpers.irc import RawIrc
from tests.helpers.telnet_client import TelnetClient
from torbit.app import App
from torbit.frontends.irc import queries

BURST = 3
SLOW = {"walk_rate": 0.001, "walk_burst": BURST}  # no refill in a test


async def _irc(app: App, name: str) -> RawIrc:
    irc = await RawIrc.connect(app)
    irc.send(f"PASS {name}:{PASSWORD}")
    await irc.register(name)
    return irc


async def _answers(irc: RawIrc, *lines: str) -> list[str]:
    """Send the lines and a PING; every line received up to its PONG."""
    first = len(irc.lines)
    irc.send(*lines, "PING :walked")
    await irc.expect("PONG")
    return irc.lines[first:]


def _numeric(lines: list[str], code: str) -> list[str]:
    return [line for line in lines if line.split(" ")[1:2] == [code]]


async def test_a_burst_of_lists_is_refused_past_the_allowance(make_server: ServerFactory) -> None:
    app = await make_server(limits=SLOW)
    async with http_client(app) as http:
        await register(http, "alice", "bob")
    alice, bob = await _irc(app, "alice"), await _irc(app, "bob")
    try:
        await _answers(alice, "JOIN #one,#two")
        got = await _answers(alice, *["LIST"] * (BURST + 2))
        assert len(_numeric(got, "323")) == BURST  # walked: each ends with RPL_LISTEND
        refused = _numeric(got, "263")
        assert len(refused) == 2 and refused[0].endswith("LIST :Please wait a while and try again.")
        assert len(_numeric(got, "322")) == 2 * BURST  # the two rooms, once a walk
        # another user has a bucket of their own, and is served
        got = await _answers(bob, "LIST")
        assert len(_numeric(got, "322")) == 2 and len(_numeric(got, "323")) == 1
        # WHO by mask spends the same bucket; WHO of one nick or a channel does not walk
        got = await _answers(alice, "WHO b*", "WHO bob", "WHO #one")
        assert _numeric(got, "263")[0].endswith("WHO :Please wait a while and try again.")
        assert len(_numeric(got, "352")) == 2 and len(_numeric(got, "315")) == 3
    finally:
        await alice.close()
        await bob.close()


async def test_telnet_list_spends_the_same_bucket(make_server: ServerFactory) -> None:
    app = await make_server(limits=SLOW)
    assert app.telnet_port is not None
    async with http_client(app) as http:
        await register(http, "alice")
    alice = await _irc(app, "alice")
    telnet = await TelnetClient.connect(app.telnet_port)
    try:
        await _answers(alice, *["LIST"] * (BURST - 1))
        await telnet.login("alice")
        telnet.send("/list")
        await telnet.expect("public room")
        telnet.send("/list")
        await telnet.expect("slow down: too many room lists or user searches")
    finally:
        await alice.close()
        await telnet.close()


async def test_who_by_mask_stops_at_its_cap(
    make_server: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past WHO_MAX_REPLIES (500; 2 here, not to open 500 clients) a mask's walk ends with
    416 ERR_TOOMANYMATCHES, then 315."""
    monkeypatch.setattr(queries, "WHO_MAX_REPLIES", 2)
    app = await make_server()
    names = ("alice", "ann", "amy", "abe")
    async with http_client(app) as http:
        await register(http, *names)
    clients = [await _irc(app, name) for name in names]
    try:
        got = await _answers(clients[0], "WHO a*")
        assert len(_numeric(got, "352")) == 2
        assert _numeric(got, "416")[0].endswith("WHO :Output too long (narrow the mask)")
        assert len(_numeric(got, "315")) == 1
        got = await _answers(clients[0], "WHO al*")  # under the cap: all of them
        assert len(_numeric(got, "352")) == 1 and not _numeric(got, "416")
    finally:
        for c in clients:
            await c.close()
