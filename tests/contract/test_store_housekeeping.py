"""The Store contract for bounded listings and housekeeping: rooms a page at a time, the rooms
a user owns, empty rooms and their removal, the audit log's retention; run against every
store (SQLite, PostgreSQL, Cassandra)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from tests.contract.conftest import NOW, STORE_BACKENDS
from tests.contract.test_store import room, users
from torbit.core.models import AuditEntry, Room, Standing
from torbit.core.ports import Store

BACKENDS_UNDER_TEST = STORE_BACKENDS


async def test_rooms_come_a_page_at_a_time_in_key_order(store: Store) -> None:
    await users(store, "alice")
    for name in ("delta", "Alpha", "charlie", "bravo", "echo"):
        await store.ensure_room(room(name))
    await store.add_member("charlie", "alice")
    first = await store.list_rooms(limit=2)
    assert [(r.name, n) for r, n in first] == [("Alpha", 0), ("bravo", 0)]
    second = await store.list_rooms(after=first[-1][0].key, limit=2)
    assert [(r.name, n) for r, n in second] == [("charlie", 1), ("delta", 0)]
    assert [r.name for r, _ in await store.list_rooms(after="delta", limit=2)] == ["echo"]
    assert await store.list_rooms(after="echo", limit=2) == []
    assert [r.key for r, _ in await store.list_rooms(after="b")] == [
        "bravo",
        "charlie",
        "delta",
        "echo",
    ]
    assert len(await store.list_rooms()) == 5


async def test_owned_rooms_compare_the_owner_case_insensitively(store: Store) -> None:
    await store.create_room(room("den", owner="Alice"))
    await store.create_room(room("attic", owner="alice"))
    await store.create_room(room("hall", owner="bob"))
    await store.ensure_room(room("lobby"))
    assert await store.owned_rooms("alice") == ["attic", "den"]
    assert await store.owned_rooms("carol") == []


async def test_rooms_held_are_those_a_user_belongs_to_or_owns_each_once(store: Store) -> None:
    await users(store, "alice", "bob")
    await store.create_room(room("den", owner="Alice"))
    await store.create_room(room("attic", owner="alice"))
    await store.create_room(room("hall", owner="bob"))
    await store.ensure_room(room("lobby"))
    assert await store.rooms_held("alice") == ["attic", "den"]
    await store.add_member("den", "alice")
    await store.add_member("lobby", "alice")
    await store.add_member("hall", "alice")
    assert await store.rooms_held("alice") == ["attic", "den", "hall", "lobby"]
    assert await store.rooms_held("bob") == ["hall"]
    assert await store.rooms_held("carol") == []


async def test_empty_rooms_are_those_without_members_past_a_time(store: Store) -> None:
    await users(store, "alice")
    old, new = NOW - timedelta(hours=2), NOW
    for name, at in (("a-old", old), ("b-old", old), ("c-new", new), ("d-old", old)):
        await store.create_room(Room(name=name, created_at=at, owner="alice"))
    await store.add_member("b-old", "alice")
    cutoff = NOW - timedelta(hours=1)
    assert await store.empty_rooms(cutoff) == ["a-old", "d-old"]
    assert await store.empty_rooms(cutoff, limit=1) == ["a-old"]
    assert await store.empty_rooms(cutoff, after="a-old", limit=1) == ["d-old"]
    assert await store.empty_rooms(cutoff, after="d-old") == []


async def test_an_empty_room_is_deleted_with_what_hangs_off_it(store: Store) -> None:
    await users(store, "alice", "bob")
    await store.create_room(room("den", owner="alice", private=True))
    await store.add_invite("den", "bob", NOW)
    await store.expel("den", "alice", banned_at=NOW)
    await store.set_mute("den", "bob", NOW + timedelta(hours=1))
    await store.set_cursor("bob", "den", 7)
    assert await store.delete_room_if_empty("den")
    assert await store.get_room("den") is None
    assert await store.standing("den", "bob") == Standing()
    assert await store.standing("den", "alice") == Standing()
    assert await store.active_mutes(NOW) == []
    assert await store.get_cursor("bob", "den") is None
    assert not await store.delete_room_if_empty("den")
    # the name can be used again, from scratch
    await store.create_room(room("den", owner="bob"))
    assert await store.invited_rooms("bob") == []


async def test_a_room_with_a_member_is_never_deleted(store: Store) -> None:
    await users(store, "alice")
    await store.create_room(room("den", owner="alice"))
    await store.add_member("den", "alice")
    assert not await store.delete_room_if_empty("den")
    assert await store.get_room("den") is not None
    # a join racing the removal: either the room goes and the join fails, or both stay
    await store.remove_member("den", "alice")
    results = await asyncio.gather(
        store.delete_room_if_empty("den"),
        store.add_member("den", "alice"),
        return_exceptions=True,
    )
    if results[0] is True:
        assert await store.rooms_of("alice") == []
    else:
        assert await store.rooms_of("alice") == ["den"]


async def test_audit_entries_past_their_retention_are_purged(store: Store) -> None:
    for i in range(5):
        await store.add_audit(
            AuditEntry(at=NOW + timedelta(days=i), actor="alice", action="topic", room="den")
        )
    assert await store.purge_audit(NOW + timedelta(days=3)) == 3
    assert [e.at for e in await store.list_audit()] == [
        NOW + timedelta(days=4),
        NOW + timedelta(days=3),
    ]
    assert await store.purge_audit(NOW) == 0
