"""`Store.is_member`: the doors' "are you a member" check (core/room_lookup.py) for one
room, by one read of the pair's row, where it asked for every room the user is in
(`rooms_of`, on Cassandra one read more per room: cassright60). Its answer is the one
`room_key in rooms_of(user)` gave, in every standing a user may have there (cass61)."""

from __future__ import annotations

from datetime import timedelta

from tests.contract.conftest import NOW, STORE_BACKENDS
from tests.contract.test_store import room, users
from torbit.core.models import Room
from torbit.core.ports import Store

BACKENDS_UNDER_TEST = STORE_BACKENDS


async def answers(store: Store, room_key: str, user_key: str) -> bool:
    """is_member's answer, checked against rooms_of's."""
    member = await store.is_member(room_key, user_key)
    assert member == (room_key in await store.rooms_of(user_key)), (room_key, user_key)
    return member


async def test_is_member_answers_as_rooms_of_did_in_every_standing(store: Store) -> None:
    await users(store, "alice", "bob", "carol", "dave", "erin", "fred", "gus")
    await store.create_room(room("den", owner="alice", private=True))
    await store.create_room(room("hall"))
    for user_key in ("alice", "bob", "dave", "erin", "fred"):
        assert await store.add_member("den", user_key)
    assert await store.add_member("hall", "gus", by_right=True)
    await store.add_invite("den", "carol", NOW, "alice", room_created=NOW)  # invited only
    await store.expel("den", "dave", banned_at=NOW, room_created=NOW)  # banned
    await store.expel("den", "fred", room_created=NOW)  # kicked
    assert await store.remove_member("den", "erin")  # left
    await store.set_mute("den", "bob", NOW + timedelta(hours=1), room_created=NOW)
    await store.set_room_admin("den", "bob", True, room_created=NOW)

    assert await answers(store, "den", "alice")  # owner and member
    assert await answers(store, "den", "bob")  # a muted admin is a member
    assert await answers(store, "hall", "gus")  # by right
    for user_key in ("carol", "dave", "erin", "fred", "gus"):
        assert not await answers(store, "den", user_key)
    assert not await answers(store, "attic", "alice")  # no such room
    assert not await answers(store, "den", "nobody")  # no such user

    # the room deleted and made again under its name: nobody is a member of the new one
    assert await store.delete_room("den", NOW)
    later = NOW + timedelta(seconds=1)
    await store.create_room(Room(name="den", created_at=later, owner="carol"))
    for user_key in ("alice", "bob", "carol", "dave", "erin", "fred"):
        assert not await answers(store, "den", user_key)
    assert await store.add_member("den", "erin")  # joined again: the new room's member
    assert await answers(store, "den", "erin")
    assert not await answers(store, "den", "alice")
