"""A ban whose node died after its mirrors, before its transaction, on Cassandra (cass62).
The ban did not happen: room_users keeps dave's standing. Its mirrors' batch showed a ban
(user_rooms' banned_at, a room_roles ban row), which every reader passes over and heals once
old (cassright60), and unset, in the same batch, what a ban ends: dave's invitation, his
membership and his op in user_rooms, his admin row in room_roles. Nothing wrote those back
(cass61 left it): an invited dave's invitations lacked the room (and a listing its private
room), a member's `rooms_of` lacked it (his own rooms, a listing's private rooms, a guest's
rename) and IRC's NAMES his `@`, until the next act on the pair. A reader healing the ban's
values now writes the pair's mirrors as room_users has them just after that batch, which
brings back what it unset.

Here the node "dies" by the ban's lightweight transaction failing once."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.helpers.cassandra_nodes import people
from torbit.backends.store.cassandra import CassandraStore
from torbit.backends.store.cassandra_cql import Row
from torbit.core.models import Room

pytestmark = pytest.mark.cassandra


class Died(Exception):
    pass


# the readers that find the ban the mirrors show (the admins' /bans; a guest's rename)
HEALERS: dict[str, Callable[[CassandraStore, str], Awaitable[object]]] = {
    "list_bans": lambda s, key: s.list_bans(key),
    "banned_rooms": lambda s, key: s.banned_rooms("dave"),
}


async def lacking(store: CassandraStore, key: str, standing: str) -> list[str]:
    """The readers that leave out dave's standing (`invited`, or `op`: a member and admin)."""
    readers: dict[str, bool] = {}
    if standing == "invited":
        readers["invitations"] = [i.room_key for i in await store.invitations("dave")] != [key]
        readers["invited_rooms"] = await store.invited_rooms("dave") != [key]
    else:
        readers["rooms_of"] = await store.rooms_of("dave") != [key]
        readers["list_room_admins"] = "dave" not in await store.list_room_admins(key)
    return [name for name, left_out in readers.items() if left_out]


@pytest.mark.parametrize("healer", list(HEALERS))
@pytest.mark.parametrize("standing", ["invited", "op"])
async def test_what_a_dead_ban_s_mirrors_unset_comes_back_with_their_heal(
    cstore: CassandraStore, standing: str, healer: str
) -> None:
    await people(cstore)
    made = datetime.now(UTC)
    den = Room(name="den", created_at=made, owner="alice", private=True)
    await cstore.create_room(den)
    if standing == "invited":
        assert await cstore.add_invite(den.key, "dave", made, "alice", room_created=made)
    else:
        assert await cstore.add_member(den.key, "dave")
        assert await cstore.set_room_admin(den.key, "dave", True, room_created=made)
    assert await lacking(cstore, den.key, standing) == []

    async def dying(cql: str, *params: Any) -> tuple[bool, Row]:
        cstore.cql.__dict__.pop("lwt")
        raise Died("the node died before the ban's transaction")

    cstore.cql.lwt = dying  # type: ignore[method-assign]
    with pytest.raises(Died):
        await cstore.expel(den.key, "dave", banned_at=datetime.now(UTC), room_created=made)
    after = await cstore.standing(den.key, "dave")
    assert not after.banned and (after.invited if standing == "invited" else after.admin)
    assert await lacking(cstore, den.key, standing) != []  # the mirrors lack it
    cstore.heal_after = timedelta(0)  # past any act in flight (the default's wait, skipped)
    assert await HEALERS[healer](cstore, den.key) == []  # the ban passed over, and healed
    left_out = await lacking(cstore, den.key, standing)
    print(f"{standing}, healed by {healer}: still left out by {left_out}")
    assert left_out == []  # before cass62: every one of them
    assert await cstore.banned_rooms("dave") == [] and await cstore.list_bans(den.key) == []
