"""A kick ends a membership's `by_right` with it (cass61), as SQL's kick deletes the
memberships row that holds it. On Cassandra the flag stayed on room_users (cassright60
added it there; a kick wrote `member = null` alone): no answer came out wrong, since every
join writes the flag again, but each demotion's `rooms_joined_by_right` read the pair
again for nothing, and the room_users row said what SQL's has no row to say.

And a node dying between a kick's mirrors and its transaction on Cassandra (the kick did
not happen: room_users keeps the membership, user_rooms says none) left a server admin in
by the right alone out of the demotion's reach: it went through `rooms_of`, which the
mirror answers. Now it takes the rooms `rooms_joined_by_right` shows as well, and that
reader, which reads the pair for the row's by_right, writes the member flag the mirror
lacks back into it once old (cassandra_mirrors.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from tests.contract.conftest import NOW, STORE_BACKENDS
from tests.contract.test_store import room, user, users
from torbit.backends.store.cassandra import CassandraStore
from torbit.backends.store.cassandra_cql import Row
from torbit.backends.store.schema import memberships
from torbit.backends.store.sql import SqlStore
from torbit.core.demotion import leave_rooms_of_the_right
from torbit.core.events import NodeEvent
from torbit.core.ports import Store

BACKENDS_UNDER_TEST = STORE_BACKENDS


async def by_right_kept(store: Store, room_key: str, user_key: str) -> bool:
    """Whether the store still holds the pair's `by_right` (SQL: on its memberships row)."""
    if isinstance(store, CassandraStore):
        rows = await store.query(
            f"SELECT by_right FROM {store.ks}.room_users WHERE room_key = ? AND user_key = ?",
            room_key,
            user_key,
        )
        return any(r["by_right"] for r in rows)
    assert isinstance(store, SqlStore)
    async with store.engine.connect() as conn:
        query = select(memberships.c.by_right).where(
            memberships.c.room_key == room_key, memberships.c.user_key == user_key
        )
        return any(r[0] for r in await conn.execute(query))


@pytest.mark.parametrize("by_mask", [False, True], ids=["kick", "mask kick"])
async def test_a_kick_ends_by_right_with_the_membership(store: Store, by_mask: bool) -> None:
    await users(store, "alice", "dave")
    await store.create_room(room("den", owner="alice", private=True))
    assert await store.add_member("den", "dave", by_right=True)
    assert await store.expel("den", "dave", room_created=None if by_mask else NOW)
    assert not await by_right_kept(store, "den", "dave")  # Cassandra: kept, before cass61
    assert await store.rooms_joined_by_right("dave") == []


async def test_kicked_then_let_in_by_the_staff_the_demotion_spares_him(store: Store) -> None:
    """The membership the staff gave him after the kick is his own: it outlasts the right."""
    await users(store, "alice", "dave")
    await store.create_room(room("den", owner="alice", private=True))
    assert await store.add_member("den", "dave", by_right=True)
    assert await store.expel("den", "dave", room_created=NOW)
    assert await store.add_invite("den", "dave", NOW, "alice", room_created=NOW)
    assert await store.add_member("den", "dave")  # the invitation's join: not by right
    assert await store.remove_invite("den", "dave")
    assert await store.rooms_joined_by_right("dave") == []
    assert not await store.remove_member_by_right("den", "dave")
    assert await store.is_member("den", "dave")


class Died(Exception):
    pass


async def kick_dies(cstore: CassandraStore) -> None:
    """dave, a server admin in #den by right, kicked by a node that dies after the kick's
    mirrors, before its transaction: he is still a member, user_rooms says not."""
    await cstore.create_user(user("alice"))
    await cstore.create_user(user("dave", admin=True))
    await cstore.create_room(room("den", owner="alice", private=True))
    assert await cstore.add_member("den", "dave", by_right=True)
    lwt = cstore.cql.lwt

    async def dying(cql: str, *params: Any) -> tuple[bool, Row]:
        cstore.cql.__dict__.pop("lwt")
        raise Died("the node died before the kick's transaction")

    cstore.cql.lwt = dying  # type: ignore[method-assign]
    with pytest.raises(Died):
        await cstore.expel("den", "dave", room_created=NOW)
    assert cstore.cql.lwt == lwt
    assert "den" not in await cstore.rooms_of("dave")  # the mirror says he is out
    assert await cstore.is_member("den", "dave")  # room_users: he is not


async def test_a_kick_whose_node_died_after_its_mirrors_leaves_him_to_the_demotion(
    cstore: CassandraStore,
) -> None:
    """Demoted, he leaves the room he is still in by right."""
    await kick_dies(cstore)
    told: list[NodeEvent] = []

    async def tell(event: NodeEvent) -> None:
        told.append(event)

    assert await cstore.set_admin("dave", False)
    demoted = await cstore.get_user("dave")
    assert demoted is not None
    left = await leave_rooms_of_the_right(cstore, demoted, lambda: datetime.now(UTC), tell)
    assert left == ["den"] and len(told) == 1  # before cass61: [], and still a member
    assert not await cstore.is_member("den", "dave")


async def test_the_member_flag_the_mirror_lacks_is_seen_and_written_back(
    cstore: CassandraStore,
) -> None:
    """`rooms_joined_by_right` reads the pair for the row's by_right and finds the
    membership the mirror lacks: once old, it is written back, and `rooms_of` lists the
    room again (before cass61 it stayed out of it until the next act on the pair)."""
    await kick_dies(cstore)
    assert await cstore.rooms_joined_by_right("dave") == ["den"]  # young: left as it is
    assert "den" not in await cstore.rooms_of("dave")
    cstore.heal_after = timedelta(0)  # past any act in flight (the default's wait, skipped)
    assert await cstore.rooms_joined_by_right("dave") == ["den"]
    assert await cstore.rooms_of("dave") == ["den"]
