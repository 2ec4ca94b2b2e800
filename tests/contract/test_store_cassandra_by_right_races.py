"""`remove_member_by_right` on Cassandra raced (cassright60, docs/security.md): the end of a
membership a server admin held by that right alone, at their demotion (core/demotion.py).
It read the flag in user_rooms, then called the leave, which ends any membership there: an
`admit_member` (the room's staff invited them), a leave and an ordinary join again, or the
room deleted and made again and joined, landing between the two was overtaken, and the
ordinary membership ended. On SQL one transaction deletes the row only while it is by right.

Two stores on one keyspace stand for two nodes (`node_b`, as stop 58's tests)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from functools import partial

import pytest

from tests.helpers.cassandra_nodes import across_first_write, people
from torbit.backends.store.cassandra import CassandraStore
from torbit.core.models import Room

pytestmark = pytest.mark.cassandra

ROUNDS = 8  # per case
AT_ONCE = 6


async def den_by_right(store: CassandraStore, key: str) -> Room:
    """alice's room `key`, with a generation (an invitation given its creation, as every
    door's act gives), and bob a member by the right alone."""
    den = Room(name=key, created_at=datetime.now(UTC), owner="alice", private=True)
    await store.create_room(den)
    await store.add_invite(key, "carol", datetime.now(UTC), "alice", room_created=den.created_at)
    assert await store.add_member(key, "bob", by_right=True)
    return den


async def admit(store: CassandraStore, den: Room) -> bool:
    return await store.admit_member(den.key, "bob")


async def rejoin(store: CassandraStore, den: Room) -> bool:
    left = await store.remove_member(den.key, "bob")
    assert await store.add_member(den.key, "bob")  # invited, say: not by right
    return left


async def remake(store: CassandraStore, den: Room) -> bool:
    assert await store.delete_room(den.key, den.created_at)
    again = Room(
        name=den.key, created_at=den.created_at + timedelta(seconds=1), owner="carol", private=True
    )
    await store.create_room(again)
    assert await store.add_member(den.key, "bob")
    return True


BETWEEN: dict[str, Callable[[CassandraStore, Room], Awaitable[bool]]] = {
    "admit": admit,
    "rejoin": rejoin,
    "remake": remake,
}


async def ordinary_member(store: CassandraStore, key: str) -> bool:
    """bob a member of `key`, and not by right, on every side (room_users, user_rooms)."""
    bob = await store.standing(key, "bob")
    listed = key in await store.rooms_of("bob") and "bob" in await store.list_members(key)
    return bob.member and listed and key not in await store.rooms_joined_by_right("bob")


@pytest.mark.parametrize("between", list(BETWEEN))
async def test_a_removal_by_right_never_ends_a_membership_made_ordinary_meanwhile(
    cstore: CassandraStore,
    node_b: CassandraStore,
    between: str,
) -> None:
    """Node B reads bob's membership by right, then its first write is held until (or a
    random 0-40 ms while) node A admits him (or he leaves and joins again, or the room is
    deleted, made again and joined): his ordinary membership stays (unless, raced, B came
    first and A's admission found nothing)."""
    await people(cstore, "alice", "bob", "carol")
    rng = random.Random(60)
    ended = {"held": 0, "raced": 0}
    for i in range(ROUNDS):
        how = "held" if i % 2 == 0 else "raced"
        den = await den_by_right(cstore, f"den{i}")
        said, landed = await across_first_write(
            node_b,
            how,
            rng,
            partial(node_b.remove_member_by_right, den.key, "bob"),
            partial(BETWEEN[between], cstore, den),
        )
        # raced, the removal may come first: then the admission finds nothing (False), and
        # the rejoin's leave too (its join is ordinary all the same)
        assert landed or (how == "raced" and said), f"round {i}: {between} found nothing"
        if (landed or between == "rejoin") and not await ordinary_member(cstore, den.key):
            ended[how] += 1
            assert said, f"round {i}: ended, and said it did not"
    print(f"{between}: {ROUNDS} rounds, the ordinary membership ended: {ended}")
    assert ended == {"held": 0, "raced": 0}


async def test_of_removals_by_right_at_once_on_two_nodes_one_says_it_removed(
    cstore: CassandraStore,
    node_b: CassandraStore,
) -> None:
    await people(cstore, "alice", "bob", "carol")
    twice = 0
    for i in range(ROUNDS):
        den = await den_by_right(cstore, f"den{i}")
        said = await asyncio.gather(
            *(
                (node_b if n % 2 else cstore).remove_member_by_right(den.key, "bob")
                for n in range(AT_ONCE)
            )
        )
        twice += sum(said) > 1
        assert sum(said) >= 1, said
        bob = await cstore.standing(den.key, "bob")
        assert not bob.member and den.key not in await cstore.rooms_of("bob")
    print(f"{ROUNDS} rounds of {AT_ONCE} at once, more than one 'removed': {twice}")
    assert twice == 0


async def test_an_admission_and_a_removal_by_right_at_once_agree(
    cstore: CassandraStore,
    node_b: CassandraStore,
) -> None:
    """As on SQL: the admission lands first (bob stays, the removal says False) or after
    (it finds nothing to admit): never both True, and the answer is what the store holds."""
    await people(cstore, "alice", "bob", "carol")
    rng = random.Random(61)
    both = 0
    for i in range(ROUNDS * 2):
        den = await den_by_right(cstore, f"den{i}")

        async def admitted(key: str = den.key) -> bool:
            await asyncio.sleep(rng.uniform(0, 0.01))
            return await cstore.admit_member(key, "bob")

        admitted_, removed = await asyncio.gather(
            admitted(), node_b.remove_member_by_right(den.key, "bob")
        )
        both += admitted_ and removed
        assert admitted_ or removed, f"round {i}: neither"
        if not (admitted_ and removed):
            assert (await cstore.standing(den.key, "bob")).member == admitted_
    print(f"{ROUNDS * 2} rounds, admitted and removed both: {both}")
    assert both == 0
