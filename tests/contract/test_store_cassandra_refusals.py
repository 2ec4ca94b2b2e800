"""What a refused or cut-short write leaves in the Cassandra store's index tables (attack6).
A `/create` refused because the room's key is taken had written its rooms_by_owner and
rooms_by_skeleton rows before the rooms row's LWT, and left them: the owner's were read again
at each of that user's joins (owned_rooms checks each against its room). A user's index rows
(users_by_skeleton, a guest's row of the guests partition) were written after the users
row: a node dying between left a user no look-alike check saw, or a guest no sweep found,
holding its nick for good. They now go first, as a room's do, and a refusal takes them back."""

from __future__ import annotations

import contextlib
from datetime import timedelta
from typing import Any

import pytest

from tests.contract.conftest import NOW
from tests.contract.test_store import room, users
from torbit.backends.store.cassandra import CassandraStore
from torbit.core.identity import room_skeleton
from torbit.core.models import GUEST_PASSWORD_HASH, User
from torbit.errors import Conflict

pytestmark = pytest.mark.cassandra


async def index_keys(store: CassandraStore, table: str, column: str, value: str) -> list[str]:
    rows = await store.cql.rows(f"SELECT * FROM {store.ks}.{table} WHERE {column} = ?", value)
    return sorted(str(r.get("room_key") or r.get("key")) for r in rows)


async def test_a_refused_create_leaves_no_owner_or_skeleton_row(cstore: CassandraStore) -> None:
    await users(cstore, "alice", "mallory")
    await cstore.create_room(room("hall", owner="alice"))
    await cstore.create_room(room("iack", owner="alice"))
    for name in ("hall", "HALL", "Iack"):  # the key taken; `Iack` under another skeleton
        with pytest.raises(Conflict):
            await cstore.create_room(room(name, owner="mallory"))
    assert await index_keys(cstore, "rooms_by_owner", "owner_key", "mallory") == []
    assert await index_keys(cstore, "rooms_by_owner", "owner_key", "alice") == ["hall", "iack"]
    assert await index_keys(cstore, "rooms_by_skeleton", "skeleton", room_skeleton("Iack")) == []
    assert await index_keys(cstore, "rooms_by_skeleton", "skeleton", room_skeleton("iack")) == [
        "iack"
    ]
    assert (await cstore.get_room("hall")) is not None
    assert await cstore.owned_rooms("alice") == ["hall", "iack"]


def guest(name: str, seconds: int = 0) -> User:
    return User(name, GUEST_PASSWORD_HASH, NOW + timedelta(seconds=seconds))


async def test_a_guest_whose_node_died_after_its_users_row_is_found_by_the_sweep(
    cstore: CassandraStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The node dies right after the users row's LWT (its next write raises): the guest's
    index rows are there already."""
    lwt = cstore.cql.lwt

    async def then_die(cql: str, *params: Any) -> Any:
        result = await lwt(cql, *params)
        if cql.startswith(f"INSERT INTO {cstore.ks}.users "):
            monkeypatch.setattr(cstore.cql, "run", dying)
        return result

    async def dying(*args: Any) -> Any:
        raise ConnectionError("the node died")

    monkeypatch.setattr(cstore.cql, "lwt", then_die)
    with contextlib.suppress(ConnectionError):
        await cstore.create_user(guest("lurker"), unlike=True, node="gone")
    monkeypatch.undo()
    assert await cstore.get_user("lurker") is not None
    found = await cstore.guests_created_before(NOW + timedelta(hours=1))
    assert [(u.key, node) for u, node in found] == [("lurker", "gone")]
    assert (await cstore.user_with_skeleton(guest("lurker").skeleton)) is not None


async def test_a_refused_guest_leaves_no_index_row(cstore: CassandraStore) -> None:
    await cstore.create_user(guest("bob"), unlike=True, node="n1")
    with pytest.raises(Conflict):
        await cstore.create_user(guest("BOB", seconds=5), node="n2")  # no look-up first
    rows = await cstore.cql.rows(f"SELECT created_at, key, node FROM {cstore.ks}.guests")
    assert [(str(r["key"]), str(r["node"])) for r in rows] == [("bob", "n1")]
    assert await index_keys(cstore, "users_by_skeleton", "skeleton", guest("bob").skeleton) == [
        "bob"
    ]
