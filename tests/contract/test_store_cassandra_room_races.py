"""Acts for one room (`room_created`: an invitation, a kick, a ban, a mute) racing, on
another node sharing Cassandra, the room's deletion and its making again under the name by
someone else (stop 58, "Cassandra races" in docs/security.md). Cassandra checked the room by
a read before the write of the user's standing, so a deletion and a new room between the
two took the act: the new owner's private room had the old room's invitation (a stranger
let in), ban or mute, and lost the kicked member.

Each round, node B's act and node A's deletion and creation run at once (asyncio.gather).
B's first write is held, as a slow node or a pause would hold it: in "held" rounds until A
has made the room again (B's read saw the old room, its write comes after), in "raced"
rounds for a random 0-40 ms. Whatever the order, nothing of the act may be in the new
room."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest

from tests.helpers.cassandra_nodes import people, slow_first_write, unslowed
from torbit.backends.store.cassandra import CassandraStore
from torbit.core.models import Room
from torbit.errors import NotFound

pytestmark = pytest.mark.cassandra

ROUNDS = 16  # per act: half held, half raced
SOON = datetime.now(UTC) + timedelta(days=1)


ACTS: dict[str, Callable[[CassandraStore, str, datetime], Awaitable[object]]] = {
    "invite": lambda s, key, made: s.add_invite(key, "dave", SOON, "alice", room_created=made),
    "kick": lambda s, key, made: s.expel(key, "bob", room_created=made),
    "ban": lambda s, key, made: s.expel(key, "bob", banned_at=SOON, room_created=made),
    "mute": lambda s, key, made: s.set_mute(key, "bob", SOON, room_created=made),
    "op": lambda s, key, made: s.set_room_admin(key, "bob", True, room_created=made),
    "voice": lambda s, key, made: s.set_voice(key, "bob", True, room_created=made),
}


async def landed(store: CassandraStore, act: str, key: str) -> bool:
    """Whether the act shows in carol's room `key` (bob a member there, dave a stranger)."""
    dave, bob = await store.standing(key, "dave"), await store.standing(key, "bob")
    if act == "invite":
        return dave.invited or key in await store.invited_rooms("dave")
    if act == "kick":
        return not bob.member or "bob" not in await store.list_members(key)
    if act == "ban":
        return bob.banned or not bob.member or await store.list_bans(key) != []
    if act == "op":
        return bob.admin or await store.list_room_admins(key) != []
    if act == "voice":
        return bob.voiced or await store.list_voiced(key) != []
    mutes = await store.active_mutes(datetime.now(UTC))
    muted = await store.query(
        f"SELECT mute_until FROM {store.ks}.room_users WHERE room_key = ? AND user_key = ?",
        key,
        "bob",
    )
    return any(m.room_key == key for m in mutes) or muted[0]["mute_until"] is not None


@pytest.mark.parametrize("act", list(ACTS))
async def test_an_act_for_the_deleted_room_never_lands_in_the_room_made_again(
    cstore: CassandraStore, node_b: CassandraStore, act: str
) -> None:
    await people(cstore)
    rng = random.Random(58)
    hits = {"held": 0, "raced": 0}
    for i in range(ROUNDS):
        how = "held" if i % 2 == 0 else "raced"
        key = f"den{i}"
        now = datetime.now(UTC)
        old = Room(name=key, created_at=now, owner="alice")
        await cstore.create_room(old)
        for who in ("alice", "bob"):
            await cstore.add_member(key, who)
        again = Room(name=key, created_at=now + timedelta(seconds=1), owner="carol", private=True)
        made = asyncio.Event()

        async def remake(
            key: str = key, old: Room = old, again: Room = again, made: asyncio.Event = made
        ) -> None:
            assert await cstore.delete_room(key, old.created_at)
            await cstore.create_room(again)
            for who in ("carol", "bob"):
                await cstore.add_member(key, who)
            made.set()

        if how == "held":
            slow_first_write(node_b, made.wait)
        else:
            slow_first_write(node_b, lambda: asyncio.sleep(rng.uniform(0, 0.04)))
        result, _ = await asyncio.gather(
            ACTS[act](node_b, key, old.created_at), remake(), return_exceptions=True
        )
        unslowed(node_b)
        assert result is None or isinstance(result, (bool, NotFound)), result
        if await landed(cstore, act, key):
            hits[how] += 1
    print(f"{act}: {ROUNDS} rounds, landed in the room made again: {hits}")
    assert hits == {"held": 0, "raced": 0}


@pytest.mark.parametrize("act", list(ACTS))
async def test_an_act_for_the_room_that_is_there_still_lands(
    cstore: CassandraStore, node_b: CassandraStore, act: str
) -> None:
    """The race's other side: the act lands in its own room, made again or not."""
    await people(cstore)
    now = datetime.now(UTC)
    old = Room(name="den", created_at=now, owner="alice")
    await cstore.create_room(old)
    assert await cstore.delete_room("den", old.created_at)
    again = Room(name="den", created_at=now + timedelta(seconds=1), owner="carol", private=True)
    await cstore.create_room(again)
    for who in ("carol", "bob"):
        await cstore.add_member("den", who)
    await ACTS[act](node_b, "den", again.created_at)
    assert await landed(cstore, act, "den")


async def test_a_room_without_a_generation_takes_acts_for_itself_only(
    cstore: CassandraStore, node_b: CassandraStore
) -> None:
    """A room made before migration 17, or by a node of an older version, has no generation:
    the first act for it sets it, if the room there is of the act's creation."""
    await people(cstore)
    now = datetime.now(UTC)

    async def older_node_made(room: Room) -> None:
        await cstore.create_room(room)
        await cstore.query(
            f"UPDATE {cstore.ks}.room_users SET room_created = null WHERE room_key = ? "
            "IF room_created = ?",
            room.name,
            int((room.created_at - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(microseconds=1)),
        )

    old = Room(name="den", created_at=now, owner="alice")
    await older_node_made(old)
    assert await node_b.add_invite("den", "dave", SOON, "alice", room_created=old.created_at)
    assert await cstore.delete_room("den", old.created_at)
    again = Room(name="den", created_at=now + timedelta(seconds=1), owner="carol", private=True)
    await older_node_made(again)
    await cstore.add_member("den", "bob")
    for act in ACTS.values():
        with pytest.raises(NotFound):
            await act(node_b, "den", old.created_at)
    assert not await landed(cstore, "invite", "den")
    assert not await landed(cstore, "ban", "den")
    await ACTS["ban"](node_b, "den", again.created_at)
    assert await landed(cstore, "ban", "den")


async def test_of_invitations_at_once_on_two_nodes_one_is_new(
    cstore: CassandraStore, node_b: CassandraStore
) -> None:
    """As on SQL: of invitations of one user to one room racing, one says it is new (each
    read "not invited" before the others wrote: on main all 6 of every round did)."""
    await people(cstore, "alice", "dave")
    now = datetime.now(UTC)
    for i in range(8):
        den = Room(name=f"den{i}", created_at=now, owner="alice", private=True)
        await cstore.create_room(den)
        new = await asyncio.gather(
            *(
                (cstore if n % 2 else node_b).add_invite(
                    den.key, "dave", now + timedelta(seconds=n), f"by{n}", room_created=now
                )
                for n in range(6)
            )
        )
        assert sum(new) == 1, new
        [invitation] = [i for i in await cstore.invitations("dave") if i.room_key == den.key]
        assert invitation.by == f"by{new.index(True)}"  # both sides name the one that won
