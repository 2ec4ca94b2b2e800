"""A write given the room's creation (`room_created`: Store.update_room, add_invite, expel,
set_mute, remove_mute, set_room_admin, set_voice)
lands in that room only, on every store: once the room is deleted and made again under the
name, it changes nothing there (None from update_room, NotFound from the others). Without
it a topic, privacy, settings, invitation, kick or ban checked against the old room landed
in the new one by its key (roomdel56; a mute: mute56; tests/contract/test_room_deletion_held_acts.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.contract.conftest import NOW, STORE_BACKENDS
from tests.contract.test_store import room, users
from torbit.core.models import Room, RoomSettings
from torbit.core.ports import Store
from torbit.errors import NotFound

BACKENDS_UNDER_TEST = STORE_BACKENDS


async def made_again(store: Store) -> Room:
    """#den of alice, deleted; #den of carol, private, with dave in it; alice's room."""
    await users(store, "alice", "carol", "dave")
    old = room("den", owner="alice")
    await store.create_room(old)
    assert await store.delete_room("den", old.created_at)
    again = Room(name="den", created_at=NOW + timedelta(seconds=1), owner="carol", private=True)
    await store.create_room(again)
    await store.add_member("den", "carol")
    await store.add_member("den", "dave")
    return old


async def test_a_write_for_the_old_room_leaves_the_one_made_again(store: Store) -> None:
    old = await made_again(store)
    gone = old.created_at
    settings = RoomSettings(join_key="alices", moderated=True)
    assert await store.update_room("den", topic="t", private=False, room_created=gone) is None
    assert await store.update_room("den", settings=settings, room_created=gone) is None
    with pytest.raises(NotFound):
        await store.add_invite("den", "alice", NOW, "alice", room_created=gone)
    with pytest.raises(NotFound):
        await store.expel("den", "dave", room_created=gone)
    with pytest.raises(NotFound):
        await store.expel("den", "dave", banned_at=NOW, room_created=gone)
    with pytest.raises(NotFound):
        await store.set_mute("den", "dave", NOW + timedelta(hours=1), room_created=gone)
    with pytest.raises(NotFound):  # stop 58: an op, a voice, and their ends
        await store.set_room_admin("den", "dave", True, room_created=gone)
    with pytest.raises(NotFound):
        await store.set_voice("den", "dave", True, room_created=gone)
    await store.set_room_admin("den", "dave", True)
    with pytest.raises(NotFound):
        await store.set_room_admin("den", "dave", False, room_created=gone)
    assert await store.list_room_admins("den") == ["dave"]
    await store.set_room_admin("den", "dave", False)
    now = await store.get_room("den")
    assert now is not None and now.owner == "carol" and now.private and now.topic == ""
    assert now.settings == RoomSettings()
    assert await store.list_members("den") == ["carol", "dave"]
    assert await store.list_bans("den") == [] and await store.invited_rooms("alice") == []
    assert await store.active_mutes(NOW) == []


async def test_a_write_for_the_room_that_is_there_lands(store: Store) -> None:
    await made_again(store)
    here = await store.get_room("den")
    assert here is not None
    changed = await store.update_room("den", topic="t", room_created=here.created_at)
    assert changed is not None and changed.topic == "t"
    assert await store.add_invite("den", "alice", NOW, "carol", room_created=here.created_at)
    until = NOW + timedelta(hours=1)
    await store.set_mute("den", "dave", until, room_created=here.created_at)
    assert [(m.room_key, m.user_key) for m in await store.active_mutes(NOW)] == [("den", "dave")]
    assert await store.set_room_admin("den", "dave", True, room_created=here.created_at)
    assert await store.set_voice("den", "dave", True, room_created=here.created_at)
    assert await store.list_room_admins("den") == ["dave"] == await store.list_voiced("den")
    assert await store.expel("den", "dave", banned_at=NOW, room_created=here.created_at)
    assert await store.list_bans("den") == ["dave"]


async def test_an_unmute_for_the_old_room_leaves_the_mute_in_the_one_made_again(
    store: Store,
) -> None:
    """tidy59: an unmute checked against alice's #den lifted carol's mute of dave in hers."""
    old = await made_again(store)
    until = NOW + timedelta(hours=1)
    await store.set_mute("den", "dave", until)
    with pytest.raises(NotFound):
        await store.remove_mute("den", "dave", NOW, room_created=old.created_at)
    assert [(m.user_key, m.until) for m in await store.active_mutes(NOW)] == [("dave", until)]
    here = await store.get_room("den")
    assert here is not None
    assert await store.remove_mute("den", "dave", NOW, room_created=here.created_at)
    assert not await store.remove_mute("den", "dave", NOW, room_created=here.created_at)
    assert await store.active_mutes(NOW) == []
    assert await store.delete_room("den", here.created_at)
    with pytest.raises(NotFound):  # no room at all
        await store.remove_mute("den", "dave", NOW, room_created=here.created_at)
