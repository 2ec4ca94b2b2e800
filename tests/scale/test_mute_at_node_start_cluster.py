"""A mute set on node a while node b starts (attack57). Node b keeps the mutes in memory: it
loads the store's at its start and follows the mute events of the other nodes from then on,
through the log. The two must meet: a mute written between b's load and the moment its
watch of the log's node events begins (a Kafka watch starts at the partition's end) was in
neither, and bob, muted by alice on a, sent on b for the mute's 10 minutes."""

from __future__ import annotations

import asyncio

import pytest

from tests.helpers.held_calls import HeldCall
from tests.helpers.moderation import api, mute, open_hall
from tests.scale.conftest import NodeFactory
from torbit.app import App
from torbit.core.events import NodeEvents

pytestmark = [pytest.mark.slow, pytest.mark.kafka, pytest.mark.postgres]


async def test_a_mute_set_while_a_node_starts_holds_there(
    make_node: NodeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = await make_node("a")
    await open_hall(a)

    # b's start held where it begins to watch the node events, until a has muted bob
    start = HeldCall(monkeypatch, NodeEvents, "start")
    starting: asyncio.Future[App] = asyncio.ensure_future(make_node("b"))
    await start.until_reached(60)
    await mute(a, "bob", 10)
    start.let_go()
    b = await starting

    async with api(b, "bob") as bob:
        r = await bob.post("/api/v1/rooms/hall/messages", json={"text": "not muted here?"})
    assert r.status_code == 403 and "you are muted in #hall" in r.text, (r.status_code, r.text)
