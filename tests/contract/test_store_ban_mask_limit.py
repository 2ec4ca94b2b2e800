"""A room's ban-mask limit (MAXLIST b:100, `limit` here), and its exception lists' (e:100,
I:100), hold under parallel adds, on one store and across nodes: masks added at once never
leave more than `limit`. An add the store answers True is in the list; one it refuses
(ListFull) is not. On PostgreSQL (read committed) parallel transactions each counted the list
before the others' inserts, and on Cassandra the count was a read before the insert: a burst
of adds passed `limit` by as many as ran at once."""

from __future__ import annotations

import asyncio

import pytest

from tests.contract.conftest import NOW, STORE_BACKENDS, empty
from tests.contract.test_store import room, users
from torbit.backends.store.cassandra import CassandraStore
from torbit.core.banmasks import EXCEPT, INVEX
from torbit.core.models import BanMask
from torbit.core.ports import Store
from torbit.errors import ListFull

BACKENDS_UNDER_TEST = STORE_BACKENDS

LIMIT = 3
RACERS = 12


def kept_within_the_limit(
    masks: list[str], made: list[bool | BaseException], held: set[str]
) -> None:
    """Of `masks` added at once, each was added (True, and is `held`) or refused (ListFull,
    and is not), and no more than LIMIT are held."""
    assert len(held) <= LIMIT, (made, held)
    for mask, outcome in zip(masks, made, strict=True):
        assert outcome is True or isinstance(outcome, ListFull), outcome
        assert (mask in held) == (outcome is True), (mask, made, held)


async def test_masks_added_at_once_on_two_nodes_stay_within_the_limit(
    store: Store, second_node: Store
) -> None:
    await users(store, "alice")
    await store.create_room(room("den", owner="alice"))
    for mask in ("x!*@*", "y!*@*"):  # one place left
        assert await store.add_ban_mask("den", BanMask(mask, "alice", NOW), limit=LIMIT)
    for round_ in range(10):
        masks = [f"{c}{round_}!*@*" for c in "abcd"]
        made = await asyncio.gather(
            *(
                (store, second_node)[i % 2].add_ban_mask(
                    "den", BanMask(mask, "alice", NOW), limit=LIMIT
                )
                for i, mask in enumerate(masks)
            ),
            return_exceptions=True,
        )
        held = {m.mask for m in await store.list_ban_masks("den")}
        kept_within_the_limit(masks, made, held)
        for mask in held - {"x!*@*", "y!*@*"}:
            assert await store.remove_ban_mask("den", mask)


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


@pytest.mark.parametrize("kind", [EXCEPT, INVEX])
async def test_parallel_exception_adds_never_pass_the_limit(store: Store, kind: str) -> None:
    """The exception lists (+e, +I) are bounded as the ban list is: on PostgreSQL and on
    Cassandra a burst of adds kept all of them (12 of a limit of 3)."""
    await users(store, "alice")
    await store.create_room(room("den", owner="alice"))
    other = EXCEPT if kind == INVEX else INVEX  # the other list's one mask counts not
    assert await store.add_exception_mask("den", BanMask("z!*@*", "alice", NOW, other), LIMIT)
    results = await asyncio.gather(
        *(
            store.add_exception_mask("den", BanMask(f"*!*@10.0.0.{i}", "alice", NOW, kind), LIMIT)
            for i in range(RACERS)
        ),
        return_exceptions=True,
    )
    assert all(r is True or isinstance(r, ListFull) for r in results), results
    held = [m for m in await store.list_exception_masks("den") if m.kind == kind]
    assert len(held) == sum(r is True for r in results) == LIMIT, (len(held), results)


async def test_exceptions_added_at_once_on_two_nodes_stay_within_the_limit(
    store: Store, second_node: Store
) -> None:
    await users(store, "alice")
    await store.create_room(room("den", owner="alice"))
    for mask in ("x!*@*", "y!*@*"):  # one place left
        assert await store.add_exception_mask("den", BanMask(mask, "alice", NOW, INVEX), LIMIT)
    for round_ in range(5):
        masks = [f"{c}{round_}!*@*" for c in "abcd"]
        made = await asyncio.gather(
            *(
                (store, second_node)[i % 2].add_exception_mask(
                    "den", BanMask(mask, "alice", NOW, INVEX), limit=LIMIT
                )
                for i, mask in enumerate(masks)
            ),
            return_exceptions=True,
        )
        held = {m.mask for m in await store.list_exception_masks("den")}
        kept_within_the_limit(masks, made, held)
        for mask in held - {"x!*@*", "y!*@*"}:
            assert await store.remove_exception_mask("den", INVEX, mask)


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
