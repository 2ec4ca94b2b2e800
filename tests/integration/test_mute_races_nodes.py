"""Two moderators act on one mute at once from two nodes (mute58): alice (the owner, on node
a) mutes bob in #hall for 600 minutes while carol (a room admin, on node b) mutes him for 10,
or lifts his mute, both by HTTP at the same moment. Each node applies its own event at once
and the other's through Kafka, so the two nodes hear the acts in opposite orders, and the
store keeps the write that landed last (on Cassandra the newer timestamp). On main a node
kept whichever event it heard last: bob was refused for 600 minutes on one node and free
after 10 on the other, and a node restarted later read the store's. Now a node applying a
mute event reads that mute back from the store: both end with what the store kept."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import httpx
import pytest

from tests.helpers.held_calls import HeldCall
from tests.helpers.http import PASSWORD
from tests.helpers.moderation import api, services
from tests.scale.conftest import STORES, NodeFactory, eventually
from torbit.app import App
from torbit.core.models import AuditEntry

pytestmark = [pytest.mark.kafka, pytest.mark.usefixtures("patient_settling")]
ROUNDS = 20
LIMITS = {"moderation_burst": 4 * ROUNDS}  # alice's two acts a round, within her burst


def held(node: App) -> datetime | None:
    """bob's mute in #hall as the node keeps it."""
    until: datetime | None = services(node).mutes.until("hall", "bob", datetime.now(UTC))
    return until


async def kept(node: App) -> datetime | None:
    """bob's mute in #hall as the store kept it."""
    mutes = await services(node).store.active_mutes(datetime.now(UTC))
    return next((m.until for m in mutes if (m.room_key, m.user_key) == ("hall", "bob")), None)


async def agree(a: App, b: App) -> bool:
    store = await kept(a)
    return held(a) == store and held(b) == store


def mute(client: httpx.AsyncClient, minutes: int) -> asyncio.Future[httpx.Response]:
    """A mute of bob for `minutes`, or with 0 an unmute."""
    path = "/api/v1/rooms/hall/mutes/bob"
    if minutes:
        return asyncio.ensure_future(client.put(path, json={"minutes": minutes}))
    return asyncio.ensure_future(client.delete(path))


async def hall(a: App) -> None:
    """#hall of alice's, where carol is a room admin and bob a member."""
    for name in ("alice", "bob", "carol"):
        await services(a).accounts.register(name, PASSWORD)
    await services(a).moderation.create("alice", "hall")
    for name in ("bob", "carol"):
        await services(a).membership.become_member(name, "hall")
    await services(a).moderation.op("alice", "hall", "carol")


def alices_mute(entry: AuditEntry) -> bool:
    return entry.action == "mute" and entry.actor == "alice"


@pytest.mark.parametrize("scale_store", STORES)
@pytest.mark.parametrize("theirs", [10, 0], ids=["mute", "unmute"])
async def test_a_mute_written_first_and_heard_last_on_two_nodes(
    make_node: NodeFactory,
    monkeypatch: pytest.MonkeyPatch,
    theirs: int,
) -> None:
    """alice's mute (600 minutes, node a) is written, then held before its event while
    carol's mute (10 minutes) or unmute runs whole on node b: the store keeps carol's, and
    on main both nodes kept alice's 600 (heard last everywhere)."""
    a, b = await make_node("a"), await make_node("b")
    await hall(a)
    async with api(a, "alice") as alice, api(b, "carol") as carol:
        gate = HeldCall(monkeypatch, services(a).store, "add_audit", when=alices_mute)
        first = mute(alice, 600)
        await gate.until_reached()
        r = await mute(carol, theirs)  # a 10-minute mute is answered once node a applied it
        assert r.status_code in (200, 204), r.text
        gate.let_go()
        assert (await first).status_code == 200
        await eventually("both keep the store's", lambda: agree(a, b), within=15)
        assert (await kept(a) is None) is (theirs == 0)


@pytest.mark.parametrize("scale_store", STORES)
async def test_mutes_at_once_on_two_nodes_leave_both_with_what_the_store_kept(
    make_node: NodeFactory,
) -> None:
    a, b = await make_node("a", limits=LIMITS), await make_node("b", limits=LIMITS)
    await hall(a)
    disagreed = []
    async with api(a, "alice") as alice, api(b, "carol") as carol:
        for i in range(ROUNDS):
            theirs = 10 + i if i % 3 else 0  # every third round carol lifts it instead
            r = await alice.put("/api/v1/rooms/hall/mutes/bob", json={"minutes": 1})
            assert r.status_code == 200, r.text  # a mute for carol's unmute to lift
            answers = await asyncio.gather(mute(alice, 600 + i), mute(carol, theirs))
            assert all(r.status_code in (200, 204, 404) for r in answers), [r.text for r in answers]
            # a mute is answered once the other node applied it (`settled`), an unmute at once
            try:
                await eventually("both keep the store's", lambda: agree(a, b), within=15)
            except AssertionError:
                disagreed.append((i, theirs, await kept(a), held(a), held(b)))
    assert not disagreed, f"{len(disagreed)} of {ROUNDS} rounds: {disagreed}"
