"""A room created on node b while its creator's account is deleted on node a (xnode54).
The create was checked before the deletion and inserted after it had read the rooms the
account owned: it was answered 404 (the creator's membership had no user), but the room
stayed, owned by the name, and whoever registered the name next owned it (set its topic).
The create (or the join that makes the room) is held here at the room name's lock (as two
creates of look-alikes are ordered, `lock_name`), taken by the test on a real PostgreSQL."""

from __future__ import annotations

import asyncio

import asyncpg  # type: ignore[import-untyped]
import pytest

from tests.scale.clients import Clients
from tests.scale.conftest import NodeFactory, eventually
from torbit.backends.store.dialects import NAME_LOCK_SPACE
from torbit.core.identity import skeleton

pytestmark = [pytest.mark.slow, pytest.mark.kafka, pytest.mark.postgres]


@pytest.mark.parametrize("how", ["create", "join"])
async def test_a_room_made_while_its_owner_is_deleted_is_not_the_next_holders(
    make_node: NodeFactory, clients: Clients, empty_db: str, how: str
) -> None:
    """`join`: the room made by her join of a free name (`PUT .../members/mallory`)."""
    a = await make_node("a")
    b = await make_node("b")
    mallory = await clients.http(b, "mallory")
    conn = await asyncpg.connect(empty_db, timeout=5)
    try:
        tx = conn.transaction()
        await tx.start()
        lock = "SELECT pg_advisory_xact_lock($1, hashtext($2))"
        await conn.execute(lock, NAME_LOCK_SPACE, "#" + skeleton("den"))

        async def waiting() -> bool:
            n = await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE wait_event_type = 'Lock' AND pid <> $1",
                conn.get_server_pid(),
            )
            return bool(n >= 1)

        if how == "create":
            made = mallory.client.post("/api/v1/rooms", json={"name": "den"})
        else:
            made = mallory.client.put("/api/v1/rooms/den/members/mallory")
        create = asyncio.create_task(made)
        await eventually("the create waits on the name's lock", waiting)
        assert a.core is not None
        await a.core.accounts.delete("mallory")
        await tx.rollback()
    finally:
        await conn.close()
    assert (await create).status_code == 404
    heir = await clients.http(a, "mallory")
    r = await heir.client.patch("/api/v1/rooms/den", json={"topic": "mine now"})
    assert r.status_code == 404, r.text
