"""Lifts sent at once to two nodes on Cassandra, by HTTP (stop 59, "Cassandra lifts
(cass59)" in docs/security.md): alice (the owner, node a) and carol (a room admin, node b)
unban bob in #hall at the same moment; bob leaves #hall on both nodes at once; dave declines
his invitation to it on both. The store read the flag, then wrote its removal, so both
requests were answered as done: two 204s, two "unban" audit entries and two notices for one
ban. As on SQL, one is done and the other refused (404, or 409 for a leave)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from functools import partial

import httpx
import pytest

from tests.helpers.http import PASSWORD
from tests.helpers.moderation import Ws, api, audit, services
from tests.scale.conftest import STORES, NodeFactory, eventually, race_bursts
from torbit.app import App

pytestmark = [pytest.mark.kafka, pytest.mark.usefixtures("patient_settling")]
ROUNDS = 8
LIMITS = race_bursts(ROUNDS)


async def hall(a: App) -> None:
    """#hall of alice's, where carol is a room admin."""
    for name in ("alice", "bob", "carol", "dave"):
        await services(a).accounts.register(name, PASSWORD)
    await services(a).moderation.create("alice", "hall")
    await services(a).membership.become_member("carol", "hall")
    await services(a).moderation.op("alice", "hall", "carol")


Race = tuple[
    Callable[[App], Awaitable[object]],  # the standing, given on node a
    Callable[[httpx.AsyncClient], Awaitable[httpx.Response]],  # its lift
    tuple[str, str],  # who lifts it on node a, and on node b
]
RACES: dict[str, Race] = {
    "unban": (
        lambda a: services(a).moderation.ban("alice", "hall", "bob"),
        lambda c: c.delete("/api/v1/rooms/hall/bans/bob"),
        ("alice", "carol"),
    ),
    "leave": (
        lambda a: services(a).membership.become_member("bob", "hall"),
        lambda c: c.delete("/api/v1/rooms/hall/members/bob"),
        ("bob", "bob"),
    ),
    "decline": (
        lambda a: services(a).moderation.invite("alice", "hall", "dave"),
        lambda c: c.delete("/api/v1/me/invites/hall"),
        ("dave", "dave"),
    ),
}


@pytest.mark.parametrize("scale_store", [STORES[1]])  # cassandra
@pytest.mark.parametrize("race", list(RACES))
async def test_a_lift_sent_to_two_nodes_at_once_is_done_once(
    make_node: NodeFactory,
    race: str,
) -> None:
    give, lift, (on_a, on_b) = RACES[race]
    a, b = await make_node("a", limits=LIMITS), await make_node("b", limits=LIMITS)
    await hall(a)
    twice, codes = 0, []
    async with api(a, on_a) as first, api(b, on_b) as second:
        for _ in range(ROUNDS):
            await give(a)
            answers = await asyncio.gather(lift(first), lift(second))
            done = [r.status_code == 204 for r in answers]
            assert all(r.status_code in (204, 404, 409) for r in answers), [r.text for r in answers]
            assert any(done), [r.text for r in answers]
            twice += all(done)
            codes.append(tuple(r.status_code for r in answers))
    entries = [e for e in await audit(a, "hall") if e.action == "unban"]
    print(f"{race}: {ROUNDS} rounds, done on both nodes: {twice} {codes}; unbans: {len(entries)}")
    assert twice == 0
    if race == "unban":
        assert len(entries) == ROUNDS


@pytest.mark.parametrize("scale_store", STORES)
async def test_two_unmutes_sent_to_two_nodes_at_once_lift_the_mute_once(
    make_node: NodeFactory,
) -> None:
    """alice (node a) and carol (node b) unmute bob at the same moment (unmute59): the store
    lets one remove the mute; the other node, its event not there yet, still held the mute,
    and answered done too (attack58's answer for a mute no store row backs): on main both
    204 in 5 of 8 rounds on PostgreSQL, 3 of 8 on Cassandra. Now one 204 and one 404 every
    round, one "unmute" audit entry each, and bob free on both nodes. The 404's node tells
    every node to read the mute back (`MuteGone`, heal59), which no door shows: bob's
    WebSocket on each node is told he may speak once a round."""
    a, b = await make_node("a", limits=LIMITS), await make_node("b", limits=LIMITS)
    await hall(a)
    await services(a).membership.become_member("bob", "hall")
    seen = [await Ws.open(a, "bob"), await Ws.open(b, "bob")]
    for ws in seen:
        await ws.subscribe("hall")
    twice, codes = 0, []
    async with api(a, "alice") as alice, api(b, "carol") as carol:
        for _ in range(ROUNDS):
            await services(a).moderation.mute("alice", "hall", "bob", 600)
            path = "/api/v1/rooms/hall/mutes/bob"
            answers = await asyncio.gather(alice.delete(path), carol.delete(path))
            done = [r.status_code == 204 for r in answers]
            assert all(r.status_code in (204, 404) for r in answers), [r.text for r in answers]
            assert any(done), [r.text for r in answers]
            twice += all(done)
            codes.append(tuple(r.status_code for r in answers))
            await eventually("bob free on both nodes", lambda: free(a, b), within=15)
    entries = [e for e in await audit(a, "hall") if e.action == "unmute"]
    # a mute from each node: each node hears the other's events in the log's order, so once
    # both are shown on both, every notice of the rounds is too
    await services(a).moderation.mute("alice", "hall", "bob", 600)
    await services(b).moderation.mute("carol", "hall", "bob", 300)
    for ws in seen:
        await eventually("both mutes shown", partial(shown, ws, "was muted in #hall", ROUNDS + 2))
    told = [len(notices(ws, "may speak in #hall again")) for ws in seen]
    for ws in seen:
        await ws.close()
    print(f"unmute: {ROUNDS} rounds, done on both nodes: {twice} {codes}; unmutes: {len(entries)}")
    print(f"unmute: bob told he may speak, on node a and b: {told}")
    assert twice == 0
    assert len(entries) == ROUNDS
    assert told == [ROUNDS, ROUNDS]


def notices(ws: Ws, text: str) -> list[str]:
    return [f["text"] for f in ws.frames if f["type"] == "notice" and text in f.get("text", "")]


async def shown(ws: Ws, text: str, count: int) -> bool:
    return len(notices(ws, text)) >= count


async def free(*nodes: App) -> bool:
    now = datetime.now(UTC)
    return all(services(n).mutes.until("hall", "bob", now) is None for n in nodes)


async def test_an_unmute_whose_node_died_before_its_event_is_healed_by_the_next_one(
    make_node: NodeFactory,
) -> None:
    """heal59: bob muted 600 minutes; the node that unmuted him died between the store's
    write and its event, so the store has no mute while both nodes hold one a read of the
    store found. alice's unmute on node a finds none in the store: unmute59 made it answer
    404 and drop node a's copy only, bob refused on node b for the mute's 600 minutes (or
    until its restart). Now node a tells every node to read it back (`MuteGone`) before it
    answers: still 404, no audit entry, and bob speaks on node b."""
    a, b = await make_node("a", limits=LIMITS), await make_node("b", limits=LIMITS)
    await hall(a)
    await services(a).membership.become_member("bob", "hall")
    await services(a).moderation.mute("alice", "hall", "bob", 600)  # settled: b holds it too
    assert services(a).mutes.backed("hall", "bob") and services(b).mutes.backed("hall", "bob")
    room = await services(a).store.get_room("hall")
    now = datetime.now(UTC)  # the unmuting node's write, then its death: no event
    assert await services(a).store.remove_mute("hall", "bob", now, room_created=room.created_at)
    async with api(a, "alice") as alice, api(b, "bob") as bob:
        r = await alice.delete("/api/v1/rooms/hall/mutes/bob")
        assert r.status_code == 404, r.text
        assert "bob is not muted in #hall" in r.text
        assert await free(a, b)  # settled: node b read it back before the answer
        r = await bob.post("/api/v1/rooms/hall/messages", json={"text": "free on b?"})
        assert r.status_code == 201, r.text
    assert not [e for e in await audit(a, "hall") if e.action == "unmute"]


@pytest.mark.parametrize("scale_store", STORES)
async def test_an_unmute_on_a_node_holding_nothing_heals_the_nodes_that_hold_the_mute(
    make_node: NodeFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """heal60: as above, the unmuting node died between the store's write and its event, so
    nodes a and b hold a mute the store has not; node c started since (its load found no
    mute) holds nothing. alice's unmute on node c found none in the store and none held
    there: on main a plain 404 that told nobody, bob refused on a and b for the mute's 600
    minutes. Now node c tells every node to read it back (`MuteGone`) before it answers:
    still 404, no audit entry, no "may speak again" notice, bob speaks on a and b. An unmute
    of nothing costs a node holding nothing no store read."""
    a, b = await make_node("a", limits=LIMITS), await make_node("b", limits=LIMITS)
    await hall(a)
    await services(a).membership.become_member("bob", "hall")
    await services(a).moderation.mute("alice", "hall", "bob", 600)  # settled: b holds it too
    room = await services(a).store.get_room("hall")
    now = datetime.now(UTC)  # the unmuting node's write, then its death: no event
    assert await services(a).store.remove_mute("hall", "bob", now, room_created=room.created_at)
    c = await make_node("c", limits=LIMITS)
    assert await free(c)
    assert not await free(a) and not await free(b)
    seen = [await Ws.open(n, "bob") for n in (a, b)]
    for ws in seen:
        await ws.subscribe("hall")
    async with api(c, "alice") as alice, api(a, "bob") as bob_a, api(b, "bob") as bob_b:
        r = await alice.delete("/api/v1/rooms/hall/mutes/bob")
        assert r.status_code == 404, r.text
        assert "bob is not muted in #hall" in r.text
        assert await free(a, b, c)  # settled: nodes a and b read it back before the answer
        for bob in (bob_a, bob_b):
            r = await bob.post("/api/v1/rooms/hall/messages", json={"text": "free?"})
            assert r.status_code == 201, r.text
        # an unmute of nothing: the nodes holding nothing read nothing from the store
        reads = [0, 0]
        for i, node in enumerate((a, b)):
            store, read = services(node).store, services(node).store.active_mutes

            async def counted(
                *args: object, i: int = i, read: Callable[..., Awaitable[object]] = read
            ) -> object:
                reads[i] += 1
                return await read(*args)

            monkeypatch.setattr(store, "active_mutes", counted)
        for _ in range(4):
            r = await alice.delete("/api/v1/rooms/hall/mutes/bob")
            assert r.status_code == 404, r.text
        assert reads == [0, 0]
    assert not [e for e in await audit(a, "hall") if e.action == "unmute"]
    await services(c).moderation.mute("alice", "hall", "bob", 5)  # after every notice
    for ws in seen:
        await eventually("the mute shown", partial(shown, ws, "was muted in #hall", 1))
        assert notices(ws, "may speak in #hall again") == []
        await ws.close()
