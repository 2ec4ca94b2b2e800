"""A telnet or IRC send held on a real PostgreSQL lock while mallory's right to send is taken
away on another node: her password changed (her sessions on a are closed as a applies it) or
a ban (a ends her listening). The send of a line door reads the store before its draft only
in a moderated room (her standing: is she voiced?), so the room is moderated and she voiced;
the lock is on a table that read needs and the revocation's own writes do not. Once let go,
the send must store nothing: on main it was drafted after the revocation and stored. Last, an
HTTP send held on its login's recheck, after its standing was read, while her voice is taken."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

import httpx
import pytest

from tests.helpers.http import PASSWORD, bearer, change_password, login
from tests.helpers.irc import RawIrc, joined
from tests.helpers.pglock import TableLock
from tests.helpers.telnet_client import TelnetClient
from tests.scale.clients import Clients, HttpUser, url
from tests.scale.conftest import NodeFactory, done, eventually
from tests.scale.mallory import applied, notice
from torbit.app import App
from torbit.core.delivery import NoticeKind
from torbit.core.events import Expelled, RoomNotice, SessionsRevoked

pytestmark = [pytest.mark.slow, pytest.mark.kafka]


async def moderated_hall(
    make_node: NodeFactory, clients: Clients
) -> tuple[App, App, HttpUser, HttpUser]:
    """Nodes a and b; alice's #hall on b, moderated, mallory a voiced member."""
    a, b = await make_node("a"), await make_node("b")
    alice = await clients.http(b, "alice")
    assert (await alice.client.post("/api/v1/rooms", json={"name": "hall"})).status_code == 201
    mallory_b = await clients.http(b, "mallory")
    await mallory_b.join("hall")
    r = await alice.client.patch("/api/v1/rooms/hall/settings", json={"moderated": True})
    assert r.status_code == 200, r.text
    assert (await alice.client.put("/api/v1/rooms/hall/voices/mallory")).status_code == 204
    return a, b, alice, mallory_b


Door = tuple[Callable[[str], None], TelnetClient | RawIrc]


async def telnet_send(a: App) -> Door:
    assert a.telnet_port is not None
    client = await TelnetClient.connect(a.telnet_port)
    await client.login("mallory")
    client.send("/join hall")
    await client.expect(r"^\* you are (already )?in #hall")
    client.send("voiced, before")
    await client.expect(r"<mallory> voiced, before$")
    return client.send, client


async def irc_send(a: App) -> Door:
    raw: RawIrc = await joined(a, "mallory", "hall", caps="echo-message", password=PASSWORD)
    raw.send("PRIVMSG #hall :voiced, before")
    await raw.expect("PRIVMSG #hall :voiced, before")
    return (lambda text: raw.send(f"PRIVMSG #hall :{text}")), raw


DOORS = {"telnet": telnet_send, "irc": irc_send}


@pytest.mark.parametrize("door", sorted(DOORS))
async def test_a_line_door_send_held_while_the_password_changes_stores_nothing(
    make_node: NodeFactory, clients: Clients, empty_db: str, door: str
) -> None:
    """The lock is on memberships (her standing's read needs it; a password change does
    not). On main the send, let go, was drafted after a closed her session, and stored."""
    a, _b, alice, mallory_b = await moderated_hall(make_node, clients)
    send, client = await DOORS[door](a)
    at = applied(a, SessionsRevoked)
    lock = await TableLock.take(empty_db, "memberships")
    try:
        send("held on the lock")
        await eventually("a's send waits on the lock", lock.waiting)
        r = await change_password(mallory_b.client, "a-new-secret")
        assert r.status_code == 204, r.text
        await eventually("node a applied it", lambda: done(bool(at)))
        await lock.release()
        await eventually("a's send let go", lock.idle)
        # the send publishes as soon as its read is answered: before this, on the same
        # channel's partition
        await alice.send("hall", "sentinel")
        texts = [m["text"] for m in await alice.history("hall")]
    finally:
        await lock.close()
        await client.close()
    assert texts == ["voiced, before", "sentinel"], texts


@pytest.mark.parametrize("door", sorted(DOORS))
async def test_a_line_door_send_held_while_a_ban_is_made_is_stored_before_it_or_not(
    make_node: NodeFactory, clients: Clients, empty_db: str, door: str
) -> None:
    """A ban writes every table her standing reads, so the lock (on users) holds the ban's
    own reads too: both are let go together. Either her read comes first (drafted before
    the ban is committed, so before a applies it) or it sees the ban (refused); never a
    message of hers stored with a time after node a applied the ban, and none after it."""
    a, _b, alice, _mallory_b = await moderated_hall(make_node, clients)
    send, client = await DOORS[door](a)
    at = applied(a, Expelled)
    lock = await TableLock.take(empty_db, "users")
    try:
        send("held on the lock")
        await eventually("a's send waits on the lock", lock.waiting)
        ban = asyncio.create_task(alice.client.put("/api/v1/rooms/hall/bans/mallory"))
        await eventually("the ban waits too", lambda: lock.waiting(2))
        await lock.release()
        assert (await ban).status_code == 204
        await eventually("node a applied it", lambda: done(bool(at)))
        send("after the ban")
        await alice.send("hall", "sentinel")
        history = await alice.history("hall")
    finally:
        await lock.close()
        await client.close()
    hers = [m for m in history if m["sender"] == "mallory"]
    late = [m["text"] for m in hers if datetime.fromisoformat(m["sent_at"]) > at[0]]
    print(f"\n{door}: stored {[m['text'] for m in hers]}, after a applied the ban {late}")
    assert late == []
    assert "after the ban" not in [m["text"] for m in hers]


async def test_an_http_send_held_on_its_login_recheck_while_her_voice_is_taken_stores_nothing(
    make_node: NodeFactory, clients: Clients, empty_db: str
) -> None:
    """An HTTP send reads her standing (voiced: yes), then rechecks her login because a
    revocation (bob's logout) was applied on a meanwhile; alice takes her voice while that
    recheck waits on a lock on tokens. Let go, the send must look at her right again and be
    refused: before the speaking right was read again (`RoomSending._may_speak`) it was
    stored after a had applied the devoice. Her standing read is held first, on a lock on
    room_invites (read by her standing, written by neither the logout nor the devoice), so
    that the logout lands between her checks."""
    a, b, alice, _mallory_b = await moderated_hall(make_node, clients)
    await clients.http(b, "bob")
    async with httpx.AsyncClient(base_url=url(a), timeout=40) as c:
        token = await login(c, "mallory")
        bob_token = await login(c, "bob")
    mallory = httpx.AsyncClient(base_url=url(a), headers=bearer(token), timeout=60)
    logged_out = applied(a, SessionsRevoked)
    devoiced = applied(a, RoomNotice, notice(NoticeKind.DEVOICE))
    r = await mallory.post("/send/hall/mallory", content="voiced, before")
    assert r.status_code == 201, r.text
    standing = await TableLock.take(empty_db, "room_invites")
    tokens: TableLock | None = None
    try:
        send = asyncio.create_task(mallory.post("/send/hall/mallory", content="held"))
        await eventually("her standing read waits", standing.waiting)
        async with httpx.AsyncClient(base_url=url(b), headers=bearer(bob_token)) as bob_b:
            r = await bob_b.delete("/api/v1/sessions/current")
        assert r.status_code == 204, r.text
        await eventually("a applied bob's logout", lambda: done(bool(logged_out)))
        tokens = await TableLock.take(empty_db, "tokens")
        await standing.release()
        await eventually("her login's recheck waits", tokens.waiting)
        r = await alice.client.delete("/api/v1/rooms/hall/voices/mallory")
        assert r.status_code == 204, r.text
        await eventually("a applied the devoice", lambda: done(bool(devoiced)))
        await tokens.release()
        answer = await send
        await alice.send("hall", "sentinel")
        texts = [m["text"] for m in await alice.history("hall")]
    finally:
        await standing.close()
        if tokens is not None:
            await tokens.close()
        await mallory.aclose()
    assert answer.status_code == 403, answer.text
    assert texts == ["voiced, before", "sentinel"], texts
