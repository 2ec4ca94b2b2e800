"""A ban racing a join or an invitation of the user it bans, on two nodes sharing Cassandra
(cass62): attack61 found it broken on PostgreSQL (tests/contract/test_store_ban_join_race.py:
a join, or an invitation, committed inside the ban's transaction stood beside the ban) and
left Cassandra's unraced. A join adds the membership, then reads the standing and takes
itself back if banned (`_still_admitted`); an invitation likewise (`InvitationActions.invite`).

On Cassandra the ban is one write of the room_users row (`IF member = true`, or `IF member
= null` when it read no member: cass61), which ends the membership, ends the invitation and
records the ban together; a join's or an invitation's write of that row either comes
before it (the ban's condition fails on the member, and its next try ends it; the ban's
unset invitation wins) or after it (their read of the standing, after their write, sees
the ban). Each step is held in turn: one side's first write waits until the other has run
whole ("held"), or a random 0-40 ms ("raced"). Held on main; this keeps it so."""

from __future__ import annotations

import random
from collections.abc import Awaitable
from datetime import UTC, datetime

import pytest

from tests.helpers.cassandra_nodes import across_first_write, people
from torbit.backends.store.cassandra import CassandraStore
from torbit.core.models import Room

pytestmark = pytest.mark.cassandra

ROUNDS = 8  # a pairing's raced rounds


async def join(store: CassandraStore, key: str) -> bool:
    """`Membership.become_member`'s add and `_still_admitted`'s read, bob's."""
    if not await store.add_member(key, "bob"):
        return False
    if (await store.standing(key, "bob")).banned:
        await store.remove_member(key, "bob")
        return False
    return True


async def invite(store: CassandraStore, key: str, made: datetime) -> bool:
    """`InvitationActions.invite`'s add and its read of the standing, alice's of bob."""
    if not await store.add_invite(key, "bob", datetime.now(UTC), "alice", room_created=made):
        return False
    if (await store.standing(key, "bob")).banned:
        await store.remove_invite(key, "bob")
        return False
    return True


async def one_round(
    a: CassandraStore, b: CassandraStore, pairing: str, held: str, how: str, rng: random.Random
) -> tuple[bool, bool]:
    """#den (private) made by alice; carol's ban of bob on node A and bob's join (or alice's
    invitation) on node B, the `held` one's first write waiting for the other. The ban's
    answer and the other's."""
    key = f"den{rng.randrange(10**9)}"
    made = datetime.now(UTC)
    await a.create_room(Room(name=key, created_at=made, owner="alice", private=pairing == "invite"))

    def ban() -> Awaitable[bool]:
        return a.expel(key, "bob", banned_at=datetime.now(UTC), room_created=made)

    def other() -> Awaitable[bool]:
        return join(b, key) if pairing == "join" else invite(b, key, made)

    if held == "ban":
        banned, answer = await across_first_write(a, how, rng, ban, other)
    else:
        answer, banned = await across_first_write(b, how, rng, other, ban)
    standing = await a.standing(key, "bob")
    print(f"{pairing}, {held} {how}: ban said {banned}, {pairing} said {answer}; {standing}")
    assert standing.banned
    assert not standing.member and not standing.invited
    # the readers of the mirrors show it so too
    assert key not in await a.rooms_of("bob") and key not in await b.invited_rooms("bob")
    assert key in await a.banned_rooms("bob") and "bob" in await b.list_bans(key)
    return banned, answer


@pytest.mark.parametrize("pairing", ["join", "invite"])
@pytest.mark.parametrize("held", ["ban", "other"])
async def test_a_ban_and_a_join_or_an_invitation_racing_never_both_stand(
    cstore: CassandraStore, node_b: CassandraStore, pairing: str, held: str
) -> None:
    await people(cstore)
    rng = random.Random(62)
    banned, answer = await one_round(cstore, node_b, pairing, held, "held", rng)
    if held == "ban":  # the join (invitation) ran whole inside the ban's read and write
        assert answer
        assert banned == (pairing == "join")  # it ended the membership the join added
    else:  # the ban ran whole inside the join's (invitation's) read and write
        assert not banned and not answer  # which took itself back
    for _ in range(ROUNDS):
        await one_round(cstore, node_b, pairing, held, "raced", rng)
