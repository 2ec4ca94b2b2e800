"""`add_member(..., by_right=True)` / `rooms_joined_by_right`: a private room a server admin
joined by that right alone, kept on the membership (core/demotion.py ends it with the
right). It goes with the membership: left and joined again otherwise, it is not by right."""

from __future__ import annotations

from tests.contract.conftest import STORE_BACKENDS
from tests.contract.test_store import room, users
from torbit.core.ports import Store

BACKENDS_UNDER_TEST = STORE_BACKENDS


async def test_a_membership_joined_by_right_is_kept_as_such(store: Store) -> None:
    await users(store, "alice", "bob")
    for name in ("den", "hall", "yard"):
        await store.create_room(room(name))
    assert await store.add_member("den", "alice", by_right=True)
    assert await store.add_member("hall", "alice")
    assert await store.add_member("yard", "alice", by_right=True)
    assert await store.add_member("den", "bob")
    assert await store.rooms_joined_by_right("alice") == ["den", "yard"]
    assert await store.rooms_joined_by_right("bob") == []
    # a member already: the membership is left as it is, flag and all
    assert not await store.add_member("hall", "alice", by_right=True)
    assert not await store.add_member("den", "alice")
    assert await store.rooms_joined_by_right("alice") == ["den", "yard"]


async def test_leaving_ends_it_and_a_join_after_is_its_own(store: Store) -> None:
    await users(store, "alice", "carol")
    for name in ("den", "yard"):
        await store.create_room(room(name))
    assert await store.add_member("den", "alice", by_right=True)
    assert await store.add_member("yard", "alice", by_right=True)
    assert await store.remove_member("den", "alice")
    assert await store.rooms_joined_by_right("alice") == ["yard"]
    assert await store.add_member("den", "alice")  # invited, say: not by right
    assert await store.rooms_joined_by_right("alice") == ["yard"]
    await store.expel("yard", "alice")  # a kick
    assert await store.rooms_joined_by_right("alice") == []
    assert await store.add_member("yard", "alice")
    assert await store.rooms_joined_by_right("alice") == []


async def test_admitting_a_member_in_by_right_makes_the_membership_ordinary(store: Store) -> None:
    """`admit_member`: the room's staff invited a server admin who is in by the right alone
    (core/invitations.py); an ordinary membership, or none, is not one to admit."""
    await users(store, "alice", "bob", "carol")
    for name in ("den", "yard"):
        await store.create_room(room(name))
    assert await store.add_member("den", "alice", by_right=True)
    assert await store.add_member("yard", "alice", by_right=True)
    assert await store.add_member("den", "bob")
    assert await store.admit_member("den", "alice")
    assert await store.rooms_joined_by_right("alice") == ["yard"]
    assert sorted(await store.rooms_of("alice")) == ["den", "yard"]
    assert not await store.admit_member("den", "alice")  # done: ordinary now
    assert not await store.admit_member("den", "bob")  # ordinary all along
    assert not await store.admit_member("den", "carol")  # no member
    assert not await store.admit_member("attic", "alice")  # no room
    assert await store.rooms_joined_by_right("alice") == ["yard"]
    assert await store.rooms_joined_by_right("bob") == []
    assert "den" not in await store.rooms_of("carol")  # nothing written for a stranger


async def test_removing_by_right_spares_an_admitted_or_ordinary_membership(store: Store) -> None:
    """`remove_member_by_right` (core/demotion.py): only a membership still by the right
    alone ends, with its room admin right; one admitted meanwhile stays."""
    await users(store, "alice", "bob")
    for name in ("den", "yard"):
        await store.create_room(room(name))
    assert await store.add_member("den", "alice", by_right=True)
    assert await store.add_member("yard", "alice", by_right=True)
    assert await store.add_member("den", "bob")
    assert await store.admit_member("den", "alice")
    assert not await store.remove_member_by_right("den", "alice")  # admitted
    assert not await store.remove_member_by_right("den", "bob")  # ordinary
    assert not await store.remove_member_by_right("hall", "alice")  # no room, no member
    assert await store.remove_member_by_right("yard", "alice")
    assert not await store.remove_member_by_right("yard", "alice")  # gone already
    assert await store.rooms_of("alice") == ["den"]
    assert await store.rooms_of("bob") == ["den"]
    assert await store.rooms_joined_by_right("alice") == []
