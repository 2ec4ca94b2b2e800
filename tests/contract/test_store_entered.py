"""`enter_room` / `last_entered`: where a returning user lands (core/comeback.py) is the
member room they went into last. It goes with the membership: a room left (or a kick, a
ban, a deletion) is never where anyone is brought back to, even once joined again."""

from __future__ import annotations

from datetime import timedelta

from tests.contract.conftest import NOW, STORE_BACKENDS
from tests.contract.test_store import room, users
from torbit.core.ports import Store

BACKENDS_UNDER_TEST = STORE_BACKENDS


async def test_the_room_entered_last_is_where_a_user_lands(store: Store) -> None:
    await users(store, "alice", "bob")
    for name in ("den", "hall", "yard"):
        await store.create_room(room(name))
        await store.add_member(name, "alice")
    assert await store.last_entered("alice") is None  # members, never entered: no room
    assert await store.enter_room("hall", "alice", NOW)
    assert await store.enter_room("den", "alice", NOW + timedelta(seconds=1))
    assert await store.enter_room("yard", "alice", NOW - timedelta(seconds=1))
    assert await store.last_entered("alice") == "den"
    assert await store.enter_room("hall", "alice", NOW + timedelta(seconds=2))
    assert await store.last_entered("alice") == "hall"
    assert await store.last_entered("bob") is None  # one user's rooms are not another's


async def test_no_room_is_entered_without_a_membership_and_leaving_forgets_it(
    store: Store,
) -> None:
    await users(store, "alice")
    for name in ("den", "hall"):
        await store.create_room(room(name))
    assert not await store.enter_room("den", "alice", NOW)  # not a member: nothing noted
    assert await store.last_entered("alice") is None
    await store.add_member("den", "alice")
    await store.add_member("hall", "alice")
    assert await store.enter_room("hall", "alice", NOW)
    assert await store.enter_room("den", "alice", NOW + timedelta(seconds=1))
    assert await store.remove_member("den", "alice")
    assert await store.last_entered("alice") == "hall"  # the one before it, still a member
    await store.add_member("den", "alice")  # joined again (another door): not entered yet
    assert await store.last_entered("alice") == "hall"
    assert await store.remove_member("hall", "alice")
    assert await store.last_entered("alice") is None
