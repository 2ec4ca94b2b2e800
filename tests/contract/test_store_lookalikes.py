"""Look-alike names taken at the same instant (`create_user(unlike=True)`): guests taking
`aIice`, `a1ice`, `AIice` on several connections at once, or accounts registered in
parallel. Exactly one of a skeleton's names is created, on SQLite, on PostgreSQL, where two
transactions each seeing no look-alike both inserted theirs, and on Cassandra; on one store,
and on two sharing a database or a keyspace (two nodes). A deleted user frees the name."""

from __future__ import annotations

import asyncio

import pytest

from tests.contract.conftest import NOW, STORE_BACKENDS, the_one_made
from torbit.core.models import User
from torbit.core.ports import Store
from torbit.errors import Conflict

BACKENDS_UNDER_TEST = STORE_BACKENDS

LOOK_ALIKES = ("alice", "aIice", "a1ice")  # three keys, one skeleton


async def _race(stores: list[Store], round_: int) -> list[User | BaseException]:
    """Each look-alike of the round registered at once, on the stores in turn."""
    return await asyncio.gather(
        *(
            stores[i % len(stores)].create_user(
                User(name=f"{n}{round_}", password_hash="!guest", created_at=NOW), unlike=True
            )
            for i, n in enumerate(LOOK_ALIKES)
        ),
        return_exceptions=True,
    )


async def test_look_alikes_created_at_once_leave_one(store: Store) -> None:
    names = LOOK_ALIKES
    assert len({User(name=n, password_hash="", created_at=NOW).skeleton for n in names}) == 1
    for round_ in range(10):
        the_one_made(await _race([store], round_), User, Conflict)


async def test_look_alikes_created_at_once_on_two_nodes_leave_one(
    store: Store, second_node: Store
) -> None:
    for round_ in range(10):
        the_one_made(await _race([store, second_node], round_), User, Conflict)


async def test_a_deleted_user_frees_the_look_alikes_of_the_name(store: Store) -> None:
    for round_ in range(3):
        alice, twin = (
            User(name=f"{n}{round_}", password_hash="!", created_at=NOW) for n in LOOK_ALIKES[:2]
        )
        await store.create_user(alice, unlike=True)
        with pytest.raises(Conflict):
            await store.create_user(twin, unlike=True)
        assert await store.delete_user(alice.key) is not None
        assert (await store.create_user(twin, unlike=True)).name == twin.name
        with pytest.raises(Conflict):
            await store.create_user(alice, unlike=True)
