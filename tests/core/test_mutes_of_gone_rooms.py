"""A mute is the room's it was set in. Rooms also leave by routes that tell no node (the
empty-room sweep; a server-owned room its last member leaves; a room deleted with its owner's
account): a room made again under the name, by someone else, must not find the old room's
mutes in the node's memory. The store has none, so nobody could lift them (attack pass of
stop 51: a 30-day mute set in the old room silenced its target in the new one)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.core.conftest import Core
from torbit.core.retention import Retention


async def _muted_bob_in_hall(core: Core) -> None:
    for name in ("alice", "bob", "carol"):
        await core.user(name)
    await core.moderation.create("alice", "hall")
    await core.membership.become_member("bob", "hall")
    await core.moderation.mute("alice", "hall", "bob", 43_200)


async def _carol_makes_hall_again_and_bob_speaks(core: Core) -> None:
    assert await core.store.get_room("hall") is None
    await core.moderation.create("carol", "hall")
    await core.membership.become_member("bob", "hall")
    await core.messaging.send("bob", "hall", "a new room, no old mute")
    assert not await core.store.active_mutes(datetime.now(UTC))


async def test_a_room_swept_empty_takes_its_mutes_along(core: Core) -> None:
    await _muted_bob_in_hall(core)
    for name in ("bob", "alice"):
        await core.membership.leave(name, "hall")
    later = datetime.now(UTC) + timedelta(hours=2)
    sweep = Retention(
        core.store,
        core.log,
        timedelta(days=1),
        empty_room_grace=timedelta(hours=1),
        now=lambda: later,
    )
    assert (await sweep.purge_expired()).rooms == 1
    await _carol_makes_hall_again_and_bob_speaks(core)


async def test_a_server_owned_room_left_by_its_last_member_takes_its_mutes_along(
    core: Core,
) -> None:
    await _muted_bob_in_hall(core)
    deletion = await core.store.delete_user("alice")  # the room is bob's too: kept, server-owned
    assert deletion is not None and deletion.rooms_kept == ("hall",)
    await core.membership.leave("bob", "hall")  # its last member: the room goes
    await _carol_makes_hall_again_and_bob_speaks(core)


async def test_the_mute_still_holds_in_its_own_room(core: Core) -> None:
    """The identity check lets the mute of the room it was set in stand, on every path."""
    await _muted_bob_in_hall(core)
    room = await core.membership.room("hall")
    assert core.mutes.until("hall", "bob", datetime.now(UTC), room.created_at) is not None
    core.mutes.load(await core.store.active_mutes(datetime.now(UTC)), datetime.now(UTC))
    assert core.mutes.until("hall", "bob", datetime.now(UTC), room.created_at) is not None
