"""An act under way on node b while alice, the owner, deletes its room on node a and carol
makes it again there, private (roomdel56): held at its store write on b until carol has let
bob in and said a secret, then let go. It must change nothing in carol's room. On main the
store wrote it by the room's name: dave's join on b stayed in carol's private room, alice's
invitation let dave in, her topic and privacy change made carol's room public, her ban put
bob out of it (tests/integration/test_room_deletion_held_acts.py: the same on one node)."""

from __future__ import annotations

import asyncio

import pytest

from tests.helpers.held_calls import HeldCall
from tests.helpers.http import register
from tests.helpers.moderation import api, create_room, services
from tests.integration.test_room_deletion_held_acts import ACTS, SECRET
from tests.scale.conftest import NodeFactory

pytestmark = [pytest.mark.slow, pytest.mark.kafka, pytest.mark.postgres]


@pytest.mark.parametrize("act", ["join", "invite", "topic", "ban"])
async def test_an_act_held_on_b_stays_out_of_the_room_made_again_on_a(
    make_node: NodeFactory, monkeypatch: pytest.MonkeyPatch, act: str
) -> None:
    limits = {"limits": {"create_rate": 0, "join_rate": 0}}
    a, b = await make_node("a", **limits), await make_node("b", **limits)
    async with api(a, "alice") as c:
        await register(c, "alice", "bob", "carol", "dave")
        await create_room(c, "hall")
    store_b = services(b).store
    method, actor, send = ACTS[act]
    async with api(b, actor) as acting_client, api(a, "alice") as alice, api(a, "carol") as carol:
        if act == "ban":
            async with api(b, "bob") as bob:
                assert (await bob.put("/api/v1/rooms/hall/members/bob")).status_code == 200
        held = HeldCall(monkeypatch, store_b, method, once=True)  # the act's write
        acting = asyncio.create_task(send(acting_client))
        await held.until_reached()
        assert (await alice.delete("/api/v1/rooms/hall")).status_code == 204
        await create_room(carol, "hall", private=True)
        assert (await carol.post("/api/v1/rooms/hall/invites", json={"user": "bob"})).is_success
        async with api(a, "bob") as bob:
            assert (await bob.put("/api/v1/rooms/hall/members/bob")).status_code == 200
        r = await carol.post("/api/v1/rooms/hall/messages", json={"text": SECRET})
        assert r.status_code == 201, r.text
        held.let_go()
        answer = await acting
        assert answer.status_code == 404, (act, answer.status_code, answer.text)

    store = services(a).store
    room = await store.get_room("hall")
    assert room is not None and room.owner == "carol" and room.private and room.topic == ""
    assert await store.list_members("hall") == ["bob", "carol"]
    assert await store.list_bans("hall") == [] and await store.invited_rooms("dave") == []
    async with api(b, "dave") as dave:
        r = await dave.get("/api/v1/rooms/hall/messages")
        assert r.status_code == 404 and SECRET not in r.text, r.text
