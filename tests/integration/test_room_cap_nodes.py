"""`limits.rooms_per_user` with creates and joins at once on two nodes sharing one PostgreSQL
database (and Kafka). A node takes a user's checks one at a time, but two nodes each counted
the rooms the user held, each found room for one more, and both added theirs: with a limit
of 3, four creates and four joins on each node at once left the user in 6 to 8 rooms. Now the
count is taken again once the room is added, and the one that passed the limit is taken back
(a room just created is deleted): the limit is never passed."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from tests.helpers.http import PASSWORD, basic, http_client
from tests.scale.conftest import NodeFactory
from torbit.core.models import Room

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]
LIMIT = 2
ROUNDS = 15


async def test_creates_and_joins_at_once_on_two_nodes_never_pass_rooms_per_user(
    make_node: NodeFactory,
) -> None:
    limits = {"rooms_per_user": LIMIT, "create_burst": 1000, "join_burst": 1000}
    a, b = await make_node("a", limits=limits), await make_node("b", limits=limits)
    assert a.core is not None and b.core is not None
    store = a.core.store
    await a.core.accounts.register("ann", PASSWORD)
    for i in range(2 * ROUNDS):  # server-owned rooms, as `torbit room` makes them
        await store.create_room(Room(f"old{i}", datetime.now(UTC)))
    async with http_client(a) as ca, http_client(b) as cb:
        for r in range(ROUNDS):  # on each node a create and a join, the nodes at once
            answers = await asyncio.gather(
                *(
                    op
                    for n, c in enumerate((ca, cb))
                    for op in (
                        c.post("/api/v1/rooms", json={"name": f"new{r}n{n}"}, auth=basic("ann")),
                        c.put(f"/api/v1/rooms/old{2 * r + n}/members/ann", auth=basic("ann")),
                    )
                )
            )
            assert {a.status_code for a in answers} <= {200, 201, 403}, [a.text for a in answers]
            held = await store.rooms_held("ann")
            assert len(held) <= LIMIT, (r, held)
            for room in held:  # a clean slate for the next round
                if room.startswith("new"):
                    await store.delete_room(room)
                else:
                    await store.remove_member(room, "ann")
