"""A node that dies between a lift's lightweight transaction and its mirrors' batch on
Cassandra (cassright60, docs/security.md). room_users, the standing itself, is lifted; the
mirrors (user_rooms, room_roles, mutes) still show it. Every reader of a mirror said the
standing was there: a left room in the user's rooms (the door's "are you a member" check is
`rooms_of`: a demoted server admin went on reading and posting in the private room), a
withdrawn invitation, a lifted ban, a lifted mute loaded by every node starting. Now those
readers consult room_users for what the mirror shows, and heal the mirror row once it is
older than any act in flight could be.

Here the node "dies" by its mirrors' batch failing once after the transaction applied."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.contract.test_store_cassandra_lift_races import LIFTS, Lift, give
from tests.helpers.cassandra_nodes import people
from torbit.backends.store.cassandra import CassandraStore
from torbit.backends.store.cassandra_cql import Params, Row
from torbit.core.models import Room

pytestmark = pytest.mark.cassandra

ACTS: dict[str, Lift] = {**LIFTS, "demote": lambda s, key: s.remove_member_by_right(key, "bob")}


class Died(Exception):
    pass


def dies_after_transaction(store: CassandraStore) -> None:
    """The store's next batch after a lightweight transaction that applied fails once."""
    batch, lwt = store.cql.batch, store.cql.lwt
    applied: list[bool] = []

    async def dying_lwt(cql: str, *params: Any) -> tuple[bool, Row]:
        done, row = await lwt(cql, *params)
        applied.append(done)
        return done, row

    async def dying_batch(statements: Sequence[tuple[str, Params]], *, logged: bool = True) -> None:
        if applied and applied[-1]:
            applied.clear()
            store.cql.__dict__.pop("batch", None)
            store.cql.__dict__.pop("lwt", None)
            raise Died("the node died before its mirrors")
        await batch(statements, logged=logged)

    store.cql.batch = dying_batch  # type: ignore[method-assign]
    store.cql.lwt = dying_lwt  # type: ignore[method-assign]


async def stands(store: CassandraStore, act: str, room: Room) -> None:
    await give(store, act if act != "demote" else "leave", room)
    if act == "demote":
        await store.remove_member(room.key, "bob")
        assert await store.add_member(room.key, "bob", by_right=True)
    if act in ("leave", "demote"):  # an op and a voice go with the membership
        assert await store.set_room_admin(room.key, "bob", True, room_created=room.created_at)
        assert await store.set_voice(room.key, "bob", True, room_created=room.created_at)
        assert await store.enter_room(room.key, "bob", datetime.now(UTC))


async def shown(store: CassandraStore, act: str, key: str) -> list[str]:
    """The readers that still show bob's standing that `act` lifted."""
    now = datetime.now(UTC)
    readers: dict[str, bool] = {}
    if act in ("leave", "demote"):
        readers["rooms_of"] = key in await store.rooms_of("bob")
        readers["rooms_joined_by_right"] = key in await store.rooms_joined_by_right("bob")
        readers["last_entered"] = await store.last_entered("bob") == key
        readers["list_room_admins"] = "bob" in await store.list_room_admins(key)
        readers["list_voiced"] = "bob" in await store.list_voiced(key)
    elif act == "unban":
        readers["banned_rooms"] = key in await store.banned_rooms("bob")
        readers["list_bans"] = "bob" in await store.list_bans(key)
    elif act == "uninvite":
        readers["invited_rooms"] = key in await store.invited_rooms("bob")
        readers["invitations"] = any(i.room_key == key for i in await store.invitations("bob"))
    else:
        readers["active_mutes"] = any(m.room_key == key for m in await store.active_mutes(now))
        readers["active_mutes(of)"] = bool(await store.active_mutes(now, of=(key, "bob")))
    return [name for name, there in readers.items() if there]


async def mirrored(store: CassandraStore, key: str) -> list[str]:
    """What the mirror rows of (den, bob) hold, read raw."""
    k, held = store.ks, []
    for row in await store.query(
        f"SELECT * FROM {k}.user_rooms WHERE user_key = 'bob' AND room_key = ?", key
    ):
        for column in ("member", "by_right", "banned_at", "invited_at", "mute_until"):
            if row.get(column):
                held.append(f"user_rooms.{column}")
    for row in await store.query(
        f"SELECT role, user_key FROM {k}.room_roles WHERE room_key = ?", key
    ):
        held += [f"room_roles.{row['role']}"] if row["user_key"] == "bob" else []
    for row in await store.query(f"SELECT room_key, user_key FROM {k}.mutes WHERE bucket = 0"):
        held += ["mutes"] if (row["room_key"], row["user_key"]) == (key, "bob") else []
    return held


@pytest.mark.parametrize("act", list(ACTS))
async def test_a_lift_whose_node_died_before_its_mirrors_shows_lifted_and_heals(
    cstore: CassandraStore,
    node_b: CassandraStore,
    act: str,
) -> None:
    await people(cstore)
    den = Room(name="den", created_at=datetime.now(UTC), owner="alice", private=True)
    await cstore.create_room(den)
    await stands(cstore, act, den)
    assert await shown(cstore, act, den.key) != []
    dies_after_transaction(node_b)
    with pytest.raises(Died):
        await ACTS[act](node_b, den.key)
    assert await mirrored(cstore, den.key) != []  # the mirrors as the node left them
    stale = await shown(cstore, act, den.key)
    print(f"{act}: the readers showing the lifted standing: {stale}")
    assert stale == []
    # young, it may be an act's in flight (whose mirror comes first): passed over, kept
    assert await mirrored(cstore, den.key) != []
    cstore.heal_after = timedelta(0)  # past any act in flight (the default's wait, skipped)
    await shown(cstore, act, den.key)  # these readers heal what they pass over
    assert await mirrored(cstore, den.key) == []
    assert await shown(node_b, act, den.key) == []
