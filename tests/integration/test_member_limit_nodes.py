"""A room's member limit with joins at once on two nodes sharing one PostgreSQL database (and Kafka),
through every door: the limit is counted under a lock on each node, and counted again after
the add (Membership._still_room_for), so joins that raced on two nodes take theirs back and
the room never holds more than its limit. Guests asking for look-alike nicks on both nodes at
once: one gets in (the store's look-alike check holds across nodes)."""

from __future__ import annotations

import asyncio

import pytest

from tests.helpers.http import PASSWORD, basic, http_client
from tests.helpers.irc import RawIrc
from tests.helpers.moderation import Ws, telnet
from tests.scale.conftest import NodeFactory

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]
LIMIT = 3


async def test_joins_at_once_on_two_nodes_never_pass_the_limit(
    make_node: NodeFactory,
) -> None:
    a, b = await make_node("a", irc={"guests": True}), await make_node("b", irc={"guests": True})
    assert a.core is not None and b.core is not None
    names = [f"u{i}" for i in range(8)]
    for name in ("owner", *names):
        await a.core.accounts.register(name, PASSWORD)
    async with http_client(a) as c:
        r = await c.post("/api/v1/rooms", json={"name": "den"}, auth=basic("owner"))
        assert r.status_code == 201, r.text
        r = await c.patch(
            "/api/v1/rooms/den/settings", json={"member_limit": LIMIT}, auth=basic("owner")
        )
        assert r.status_code == 200, r.text

    # every door on both nodes, logged in first, then all asked to join at once
    tel = [await telnet(node, name) for node, name in ((a, "u0"), (b, "u1"))]
    ws = [await Ws.open(node, name) for node, name in ((a, "u2"), (b, "u3"))]
    ircs = []
    for node, name in ((a, "u4"), (b, "u5")):
        raw = await RawIrc.connect(node)
        raw.send(f"PASS {name}:{PASSWORD}")
        await raw.register(name)
        ircs.append(raw)
    for t in tel:
        t.send("/join den")
    for w in ws:
        await w.send(type="subscribe", room="den")
    for raw in ircs:
        raw.send("JOIN #den")
    async with http_client(a) as ca, http_client(b) as cb:
        await asyncio.gather(
            ca.put("/api/v1/rooms/den/members/u6", auth=basic("u6")),
            cb.put("/api/v1/rooms/den/members/u7", auth=basic("u7")),
        )
    for t in tel:
        await t.expect(r"you are in #den|full")
    for raw in ircs:
        await raw.expect(" #den")  # JOIN, or 471 (+l)
    for w in ws:  # a notice, or an error: a ping's pong comes after either
        await w.send(type="ping")
        await w.next("pong")
    members = await a.core.store.list_members("den")
    assert len(members) <= LIMIT, members
    for t in tel:
        await t.close()
    for w in ws:
        await w.close()
    for raw in ircs:
        await raw.close()

    # guests taking look-alike nicks on the two nodes at once: one of them gets it
    guests = [await RawIrc.connect(node) for node in (a, b, a, b)]
    for raw, nick in zip(guests, ("zed1", "zedl", "ZEDI", "Zed1"), strict=True):
        raw.send(f"NICK {nick}", f"USER {nick} 0 * :{nick}")
    outcomes = []
    for raw in guests:
        line = await raw.expect(" ")
        while not any(code in line for code in (" 001 ", " 432 ", " 433 ")):
            line = await raw.expect(" ")
        outcomes.append(line.split()[1])
        await raw.close()
    assert sorted(outcomes) == ["001", "433", "433", "433"], outcomes
