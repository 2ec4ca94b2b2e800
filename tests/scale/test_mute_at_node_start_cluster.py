"""A mute set on node a while node b starts (attack57). Node b keeps the mutes in memory: it
loads the store's at its start and follows the mute events of the other nodes from then on,
through the log. The two must meet: a mute written between b's load and the moment its
watch of the log's node events begins (a Kafka watch starts at the partition's end) was in
neither, and bob, muted by alice on a, sent on b for the mute's 10 minutes."""

from __future__ import annotations

import asyncio

import pytest

from tests.helpers.http import register
from tests.helpers.moderation import api, create_room
from tests.scale.conftest import NodeFactory
from torbit.app import App
from torbit.core.events import NodeEvents

pytestmark = [pytest.mark.slow, pytest.mark.kafka, pytest.mark.postgres]


async def test_a_mute_set_while_a_node_starts_holds_there(
    make_node: NodeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = await make_node("a")
    async with api(a, "alice") as alice:
        await register(alice, "alice", "bob")
        await create_room(alice, "hall")
    async with api(a, "bob") as bob:
        assert (await bob.put("/api/v1/rooms/hall/members/bob")).status_code == 200

    # b's start held where it begins to watch the node events, until a has muted bob
    real = NodeEvents.start
    reached, go = asyncio.Event(), asyncio.Event()

    async def held(self: NodeEvents) -> None:
        reached.set()
        await go.wait()
        await real(self)

    monkeypatch.setattr(NodeEvents, "start", held)
    starting: asyncio.Future[App] = asyncio.ensure_future(make_node("b"))
    async with asyncio.timeout(60):
        await reached.wait()
    async with api(a, "alice") as alice:
        r = await alice.put("/api/v1/rooms/hall/mutes/bob", json={"minutes": 10})
        assert r.status_code == 200, r.text
    go.set()
    b = await starting

    async with api(b, "bob") as bob:
        r = await bob.post("/api/v1/rooms/hall/messages", json={"text": "not muted here?"})
    assert r.status_code == 403 and "you are muted in #hall" in r.text, (r.status_code, r.text)
