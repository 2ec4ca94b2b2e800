"""`enter_room` / `last_entered`: where a returning user lands (core/comeback.py) is the
member room they went into last. It goes with the membership: a room left (or a kick, a
ban, a deletion) is never where anyone is brought back to, even once joined again."""

from __future__ import annotations

from datetime import timedelta

from tests.contract.conftest import NOW, STORE_BACKENDS
from tests.contract.test_store import room, users
from torbit.core.models import Departure
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


async def test_departures_note_rooms_and_move_cursors_forward_only(store: Store) -> None:
    """`note_departures`, a crowd's logouts written together (core/comeback.py): each
    move as `enter_room` and a forward-only `set_cursor` would make it; a stranger's room
    is noted nowhere, a cursor ahead stays, and a user deleted meanwhile is passed over."""
    await users(store, "alice", "bob", "carol", "dave")
    for name in ("den", "hall"):
        await store.create_room(room(name))
    for who in ("alice", "bob", "dave"):
        await store.add_member("den", who)
    await store.set_cursor("bob", "den", 50)
    await store.delete_user("dave")
    await store.note_departures(
        [
            Departure("alice", "den", 10, NOW),
            Departure("bob", "den", 20, NOW + timedelta(seconds=1)),  # behind its cursor
            Departure("carol", "hall", None, NOW),  # not a member: no room noted
            Departure("dave", "den", 30, NOW),  # deleted: passed over
            Departure("alice", "@inbox", 7, None),  # a cursor alone
        ]
    )
    assert await store.last_entered("alice") == "den"
    assert await store.last_entered("bob") == "den"
    assert await store.last_entered("carol") is None
    assert await store.get_cursor("alice", "den") == 10
    assert await store.get_cursor("alice", "@inbox") == 7
    assert await store.get_cursor("bob", "den") == 50
    assert await store.get_cursor("carol", "hall") is None
    # whoever registers the name next starts with no cursor of the deleted account's
    # (attack58: on Cassandra the move made one, which the new dave inherited)
    await users(store, "dave")
    assert await store.get_cursor("dave", "den") is None
    await store.note_departures([Departure("alice", "den", 12, None)])
    assert await store.get_cursor("alice", "den") == 12
    await store.note_departures([])  # nothing to write: no statement fails
