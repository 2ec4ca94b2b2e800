"""The ban list's bound under parallel adds (attack4), against every store: `add_ban_mask`
counted the room's masks and inserted in one transaction, but on PostgreSQL (read
committed) parallel transactions each counted the list before the others' inserts, and on
Cassandra the count was a read before the insert: a burst of adds passed `limit` by as many
as ran at once (the moderation bucket's 30 a node). At most `limit` masks, whatever races."""

from __future__ import annotations

import asyncio

import pytest

from tests.contract.conftest import NOW, STORE_BACKENDS, empty
from tests.contract.test_store import room, users
from torbit.backends.store.cassandra import CassandraStore
from torbit.core.models import BanMask
from torbit.core.ports import Store
from torbit.errors import ListFull

BACKENDS_UNDER_TEST = STORE_BACKENDS
LIMIT = 3
RACERS = 12


async def test_parallel_adds_never_pass_the_limit(store: Store) -> None:
    await users(store, "alice")
    await store.create_room(room("den", owner="alice"))
    results = await asyncio.gather(
        *(
            store.add_ban_mask("den", BanMask(f"*!*@10.0.0.{i}", "alice", NOW), LIMIT)
            for i in range(RACERS)
        ),
        return_exceptions=True,
    )
    added = [r for r in results if r is True]
    assert all(r is True or isinstance(r, ListFull) for r in results), results
    held = await store.list_ban_masks("den")
    assert len(held) == len(added) == LIMIT, (len(held), results)


@pytest.mark.cassandra
async def test_two_cassandra_nodes_adding_at_once_never_pass_the_limit(
    cassandra_keyspace: str,
) -> None:
    """Two nodes (two stores on one keyspace) do not share the per-node lock: an add that
    finds the list past the limit after its insert takes its mask out again."""
    a, b = CassandraStore(cassandra_keyspace), CassandraStore(cassandra_keyspace)
    await a.open()
    await b.open()
    try:
        await empty(a)
        await users(a, "alice")
        await a.create_room(room("den", owner="alice"))
        results = await asyncio.gather(
            *(
                (a if i % 2 else b).add_ban_mask(
                    "den", BanMask(f"*!*@10.0.0.{i}", "alice", NOW), LIMIT
                )
                for i in range(RACERS)
            ),
            return_exceptions=True,
        )
        assert all(r is True or isinstance(r, ListFull) for r in results), results
        held = await a.list_ban_masks("den")
        assert len(held) == sum(r is True for r in results)
        assert 1 <= len(held) <= LIMIT, (len(held), results)
    finally:
        await a.close()
        await b.close()


async def test_banned_rooms_lists_the_rooms_a_user_is_banned_from(store: Store) -> None:
    """What a guest's rename carries to its new name (core/guests.py)."""
    await users(store, "alice", "bob")
    for name in ("den", "hall", "yard"):
        await store.create_room(room(name, owner="alice"))
    await store.add_member("den", "bob")
    assert await store.banned_rooms("bob") == []
    await store.expel("den", "bob", banned_at=NOW)
    await store.expel("yard", "bob", banned_at=NOW)  # never a member: banned all the same
    assert sorted(await store.banned_rooms("bob")) == ["den", "yard"]
    assert await store.unban("den", "bob")
    assert await store.banned_rooms("bob") == ["yard"]
    assert await store.banned_rooms("alice") == []
