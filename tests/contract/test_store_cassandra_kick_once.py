"""Kicks and bans of one member racing on two nodes sharing Cassandra: each read the member
before the other wrote, and both said they ended the membership (stop 49: both 204, two
audit entries and two notices in 2 of 5 rounds). Node B's is held at its first write while
node A's runs whole; only A's may say it ended the membership, as on SQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.contract.test_store import room, user
from tests.helpers.cassandra_nodes import slow_first_write
from torbit.backends.store.cassandra import CassandraStore
from torbit.core.models import Room

pytestmark = pytest.mark.cassandra


@pytest.mark.parametrize(("first", "second"), [("kick", "kick"), ("ban", "kick"), ("kick", "ban")])
async def test_of_two_racing_expels_one_ended_the_membership(
    cstore: CassandraStore, node_b: CassandraStore, first: str, second: str
) -> None:
    await cstore.create_user(user("olga"))
    await cstore.create_user(user("bob"))
    await cstore.create_room(room("den", owner="olga"))
    await cstore.add_member("den", "bob")
    at = {"kick": None, "ban": datetime.now(UTC)}
    done: list[bool] = []

    async def on_a() -> None:
        done.append(await cstore.expel("den", "bob", banned_at=at[first]))

    slow_first_write(node_b, on_a)
    assert await node_b.expel("den", "bob", banned_at=at[second]) is False
    assert done == [True]
    assert await cstore.list_members("den") == []
    assert (await cstore.standing("den", "bob")).banned == ("ban" in (first, second))


async def bob_in_olgas_den(cstore: CassandraStore) -> datetime:
    """bob a member of olga's #den, whose generation (its creation) a mute of olga's
    records; when it was made."""
    await cstore.create_user(user("olga"))
    await cstore.create_user(user("bob"))
    made = datetime.now(UTC)
    await cstore.create_room(Room(name="den", created_at=made, owner="olga"))
    await cstore.add_member("den", "bob")
    await cstore.set_mute("den", "olga", made, room_created=made)  # the room's generation
    return made


@pytest.mark.parametrize("ban", [False, True], ids=["kick", "ban"])
async def test_a_rejoin_between_a_kicks_two_writes_is_not_ended_unsaid(
    cstore: CassandraStore, node_b: CassandraStore, ban: bool
) -> None:
    """A kick (or ban) given the room's creation whose `IF member = true` finds bob gone
    (he left on node B) writes the rest (a ban) by a second transaction; bob joining again
    between the two was put out by it while the kick said it ended nothing (cass61: no
    notice, no audit entry, his sessions left listening). Now either the kick ended it
    (True, as SQL's kick landing after the join) or he stays in."""
    made = await bob_in_olgas_den(cstore)
    lwt, calls = cstore.cql.lwt, []

    async def between(cql: str, *params: object) -> tuple[bool, dict[str, object]]:
        calls.append(cql)
        if len(calls) == 1:
            assert await node_b.remove_member("den", "bob")  # he leaves ...
        elif len(calls) == 2:
            assert await node_b.add_member("den", "bob")  # ... and comes back
        return await lwt(cql, *params)

    cstore.cql.lwt = between  # type: ignore[method-assign]
    ended = await cstore.expel("den", "bob", banned_at=made if ban else None, room_created=made)
    assert len(calls) >= 2
    assert ended != await cstore.is_member("den", "bob")  # before cass61: False, False
    assert (await cstore.standing("den", "bob")).banned == ban


@pytest.mark.parametrize("ban", [False, True], ids=["kick", "ban"])
async def test_a_membership_flipped_at_each_of_a_kicks_tries_is_ended_said(
    cstore: CassandraStore, node_b: CassandraStore, ban: bool
) -> None:
    """Bob leaves or joins again on node B before each of the kick's three tries (`IF
    member = true`, `= null`, `= true`), so each fails; the kick then writes the rest with
    the room's generation alone, and he had joined again before it. Before cass62 it ended
    that membership saying False: the kick answered "not a member", no notice, no audit
    entry, his sessions listening on. Now it says it ended it."""
    made = await bob_in_olgas_den(cstore)
    lwt, calls = cstore.cql.lwt, []

    async def flipped(cql: str, *params: object) -> tuple[bool, dict[str, object]]:
        calls.append(cql)
        if await node_b.is_member("den", "bob"):
            assert await node_b.remove_member("den", "bob")
        else:
            assert await node_b.add_member("den", "bob")
        return await lwt(cql, *params)

    cstore.cql.lwt = flipped  # type: ignore[method-assign]
    ended = await cstore.expel("den", "bob", banned_at=made if ban else None, room_created=made)
    assert len(calls) == 4  # three tries, then the rest whatever the membership
    assert not await cstore.is_member("den", "bob")
    assert ended  # before cass62: False
    assert (await cstore.standing("den", "bob")).banned == ban
