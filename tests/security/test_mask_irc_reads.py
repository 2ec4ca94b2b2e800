"""Ban masks against the IRC door's reads of a room the client never JOINs (attack4): a
member who was offline when a mask matching their address was set comes back over IRC from
that address and, without joining, asks for the room's history (CHATHISTORY), its members
(NAMES, WHO #room), where an online member is (WHOIS), its join key or its lists of masks
(MODE #room, +b, +e, +I: leftovers). Over HTTP each of these reads is refused and puts the
member out (core/maskgate.py); on IRC only a JOIN was matched, so the banned client read
them as before. Each read here must answer as for a room banned from (a +s channel:
nothing, or FAIL for the history), and put the member out, as a kick naming the mask,
once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from tests.conftest import ServerFactory
from tests.helpers.http import PASSWORD, register
from tests.helpers.irc import RawIrc
from tests.helpers.moderation import api, audit, create_room, in_hall
from tests.helpers.telnet_client import TelnetClient
from torbit.app import App

BANNED_ADDRESS = "127.0.0.3"  # bob's IRC client; everyone else comes from 127.0.0.1
MASK = f"*!*@{BANNED_ADDRESS}"


@pytest.fixture
async def hall(make_server: ServerFactory) -> AsyncIterator[tuple[App, TelnetClient]]:
    """alice owns #hall and is in it on telnet; bob joined over HTTP and said something, is
    offline now, and a mask matching his IRC client's address is set."""
    app = await make_server()
    async with api(app, "alice") as a:
        await register(a, "alice", "bob")
        await create_room(a, "hall")
    async with api(app, "bob") as b:
        assert (await b.put("/api/v1/rooms/hall/members/bob")).status_code == 200
        r = await b.post("/api/v1/rooms/hall/messages", json={"text": "the secret plan"})
        assert r.status_code == 201, r.text
    alice = await in_hall(app, "alice")
    async with api(app, "alice") as a:
        r = await a.put("/api/v1/rooms/hall/banmasks", params={"mask": MASK})
        assert r.status_code == 204, r.text
    yield app, alice
    await alice.close()


async def bob_on_irc(app: App) -> RawIrc:
    assert app.irc_port is not None
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", app.irc_port, local_addr=(BANNED_ADDRESS, 0)
    )
    irc = RawIrc(reader, writer)
    irc.send("CAP LS 302", "CAP REQ :batch server-time message-tags draft/chathistory")
    irc.send(f"PASS bob:{PASSWORD}")
    await irc.register("bob")
    return irc


async def answer_to(irc: RawIrc, line: str) -> list[str]:
    """The lines the server sends for `line`, up to the PONG of a PING sent after it."""
    irc.lines.clear()
    irc.send(line, "PING :done")
    await irc.expect("PONG")
    return irc.lines[:-1]


async def kicks(app: App) -> list[tuple[str, str | None, str]]:
    return [(e.actor, e.target, e.detail) for e in await audit(app, "hall") if e.action == "kick"]


async def members(app: App) -> list[str]:
    async with api(app, "alice") as a:
        r = await a.get("/api/v1/rooms/hall/members")
        assert r.status_code == 200, r.text
        names: list[str] = r.json()["members"]
        return names


@pytest.mark.parametrize(
    ("query", "leak"),
    [
        ("CHATHISTORY LATEST #hall * 10", "the secret plan"),
        ("NAMES #hall", " 353 "),
        ("WHO #hall", " 352 "),
        ("WHOIS alice", " 319 "),
        ("MODE #hall +b", " 367 "),  # the lists of masks (leftovers): the way round them
        ("MODE #hall +e", " 348 "),
        ("MODE #hall +I", " 346 "),
    ],
)
async def test_an_irc_read_from_a_banned_address_shows_nothing_and_puts_the_member_out(
    hall: tuple[App, TelnetClient], query: str, leak: str
) -> None:
    app, _ = hall
    bob = await bob_on_irc(app)
    answer = await answer_to(bob, query)
    assert not [line for line in answer if leak in line], answer
    if query.startswith("CHATHISTORY"):
        assert any("FAIL CHATHISTORY INVALID_TARGET" in line for line in answer), answer
    assert "bob" not in await members(app)
    assert await kicks(app) == [("alice", "bob", f"banned: {MASK}")]
    # asked again, once out: still nothing, and no second kick
    again = await answer_to(bob, query)
    assert not [line for line in again if leak in line], again
    assert len(await kicks(app)) == 1
    await bob.close()


async def set_key(app: App, key: str) -> None:
    async with api(app, "alice") as a:
        r = await a.patch("/api/v1/rooms/hall/settings", json={"join_key": key})
        assert r.status_code == 200, r.text


async def test_mode_from_a_banned_address_shows_no_join_key_and_puts_the_member_out(
    hall: tuple[App, TelnetClient],
) -> None:
    """`MODE #hall` (leftovers): a member sees the join key (+k) in the 324; one asking from
    an address a mask bars got it too, matched against nothing. Now the 324 holds no key,
    as for a non-member, and the member is put out, as by the reads above."""
    app, _ = hall
    await set_key(app, "s3cret")
    bob = await bob_on_irc(app)
    answer = await answer_to(bob, "MODE #hall")
    assert [line for line in answer if " 324 bob #hall " in line], answer
    assert not [line for line in answer if "s3cret" in line], answer
    assert "bob" not in await members(app)
    assert await kicks(app) == [("alice", "bob", f"banned: {MASK}")]
    await bob.close()


async def test_the_same_reads_from_another_address_go_on(make_server: ServerFactory) -> None:
    """The check is on the address, not the account: bob from an address no mask matches
    reads the room as before (the test above can fail only on the mask)."""
    app = await make_server()
    async with api(app, "alice") as a:
        await register(a, "alice", "bob")
        await create_room(a, "hall")
        r = await a.put("/api/v1/rooms/hall/banmasks", params={"mask": "*!*@127.0.0.9"})
        assert r.status_code == 204, r.text
    async with api(app, "bob") as b:
        assert (await b.put("/api/v1/rooms/hall/members/bob")).status_code == 200
        r = await b.post("/api/v1/rooms/hall/messages", json={"text": "the secret plan"})
        assert r.status_code == 201, r.text
    alice = await in_hall(app, "alice")
    bob = await bob_on_irc(app)
    assert any("the secret plan" in x for x in await answer_to(bob, "CHATHISTORY LATEST #hall * 9"))
    assert any(" 353 " in x and "alice" in x for x in await answer_to(bob, "NAMES #hall"))
    assert any(" 352 " in x for x in await answer_to(bob, "WHO #hall"))
    assert any(" 319 " in x and "#hall" in x for x in await answer_to(bob, "WHOIS alice"))
    await set_key(app, "s3cret")
    assert any(" 324 " in x and "s3cret" in x for x in await answer_to(bob, "MODE #hall"))
    assert any(" 367 " in x and "127.0.0.9" in x for x in await answer_to(bob, "MODE #hall +b"))
    assert "bob" in await members(app)
    await bob.close()
    await alice.close()
