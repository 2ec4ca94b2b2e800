"""What is particular to the Cassandra store's rooms: the upgrade that builds room_index and
room_roles from existing rows, and the fence between deleting a room and joining it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

import pytest

from tests.contract.conftest import NOW, cassandra_at
from tests.contract.test_store import room, users
from torbit.backends.store.cassandra import CassandraStore
from torbit.backends.store.cassandra_cql import to_us
from torbit.core.models import Invitation, RoomSettings, User
from torbit.errors import Conflict, LooksAlike, NotFound

pytestmark = pytest.mark.cassandra


async def test_upgrade_from_version_1_indexes_existing_rooms_admins_and_bans(
    fresh_database: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # a keyspace as the first release left it
    store = await cassandra_at(fresh_database("cassandra"), 1, monkeypatch)
    k = store.ks
    try:
        await users(store, "alice", "Bob")
        for name in ("hall", "den"):  # rows as version 1 wrote them: no index, no roles
            await store.cql.run(
                f"INSERT INTO {k}.rooms (key, name, created_at, owner, topic, private) "
                f"VALUES (?, ?, ?, 'alice', '', false)",
                name,
                name,
                to_us(NOW),
            )
        for column, value in (("admin", True), ("banned_at", to_us(NOW))):
            await store.cql.run(
                f"UPDATE {k}.room_users SET {column} = ? WHERE room_key = 'den' AND user_key = ?",
                value,
                "alice" if column == "admin" else "bob",
            )
        await store.close()
        await store.open()  # to HEAD
        assert [r.key for r, _ in await store.list_rooms()] == ["den", "hall"]
        # rows from before migration 3 have no settings: they read as the defaults
        assert {r.settings for r, _ in await store.list_rooms()} == {RoomSettings()}
        assert await store.list_room_admins("den") == ["alice"]
        assert await store.list_bans("den") == ["Bob"]
        assert await store.empty_rooms(NOW + timedelta(seconds=1)) == ["den", "hall"]
    finally:
        await store.close()


async def test_deleting_an_empty_room_and_joining_it_never_leave_a_member_of_nothing(
    cstore: CassandraStore,
) -> None:
    await users(cstore, "alice")
    for _ in range(15):
        await cstore.ensure_room(room("den"))
        deleted, joined = await asyncio.gather(
            cstore.delete_room_if_empty("den"),
            cstore.add_member("den", "alice"),
            return_exceptions=True,
        )
        exists = await cstore.get_room("den") is not None
        member = await cstore.rooms_of("alice") == ["den"]
        if deleted is True:
            assert isinstance(joined, NotFound) and not exists and not member
        else:
            assert deleted is False and joined is True and exists and member
        assert await cstore.list_members("den") == (["alice"] if member else [])
        await cstore.remove_member("den", "alice")
        await cstore.delete_room("den")
    assert not await cstore.query(f"SELECT * FROM {cstore.ks}.room_users")


async def test_a_join_waits_while_the_room_is_closing_and_is_taken_back_if_it_goes(
    cstore: CassandraStore,
) -> None:
    await users(cstore, "alice", "bob")
    await cstore.ensure_room(room("den"))
    await cstore.ensure_room(room("hall"))
    for key in ("den", "hall"):  # a deleter between its two steps
        await cstore.cql.lwt(
            f"UPDATE {cstore.ks}.rooms SET closing = true WHERE key = ? IF EXISTS", key
        )
    kept = asyncio.create_task(cstore.add_member("hall", "bob"))
    gone = asyncio.create_task(cstore.add_member("den", "alice"))
    await asyncio.sleep(0.3)
    assert not kept.done() and not gone.done()
    # the deleter of hall saw bob: it gives up; den's deleter finds it empty
    await cstore.cql.lwt(
        f"UPDATE {cstore.ks}.rooms SET closing = null WHERE key = 'hall' IF EXISTS"
    )
    await cstore.cql.lwt(f"DELETE FROM {cstore.ks}.rooms WHERE key = 'den' IF EXISTS")
    assert await kept is True
    with pytest.raises(NotFound):
        await gone
    assert await cstore.rooms_of("bob") == ["hall"]
    assert await cstore.rooms_of("alice") == []
    assert await cstore.list_members("den") == []


async def test_upgrade_to_version_8_keeps_look_alike_rooms_and_refuses_new_ones(
    fresh_database: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rooms that read alike, stored before rooms_by_skeleton, are indexed by the upgrade and
    both keep being found (a join's `ensure_room` returns each); a new look-alike is refused."""
    # a keyspace as version 7 left it
    store = await cassandra_at(fresh_database("cassandra"), 7, monkeypatch)
    k = store.ks
    try:
        for name in ("lobby", "Iobby", "den"):
            await store.cql.run(
                f"INSERT INTO {k}.room_index (bucket, key) VALUES (0, ?)", name.lower()
            )
            await store.cql.lwt(
                f"INSERT INTO {k}.rooms (key, name, created_at, owner, topic, private) "
                f"VALUES (?, ?, ?, null, '', ?) IF NOT EXISTS",
                name.lower(),
                name,
                to_us(NOW),
                name == "Iobby",
            )
        await store.close()
        await store.open()  # to HEAD
        for name in ("lobby", "Iobby", "den"):
            assert (await store.ensure_room(room(name))).name == name
        for name in ("1obby", "l0bby"):
            with pytest.raises(LooksAlike):
                await store.ensure_room(room(name))
            with pytest.raises(LooksAlike):
                await store.create_room(room(name))
        assert [r.name for r, _ in await store.list_rooms()] == ["den", "Iobby", "lobby"]
    finally:
        await store.close()


async def test_upgrade_to_version_9_recomputes_every_skeleton(
    fresh_database: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A user `Will` and a room `den` stored with version 8's skeletons (`will`, `den`) are
    indexed under `vvill` and `clen` after the upgrade, their old index rows gone: `VVill`
    and `clen` are refused as look-alikes, `Will` and `den` keep working."""
    # a keyspace as version 8 left it
    store = await cassandra_at(fresh_database("cassandra"), 8, monkeypatch)
    k = store.ks
    try:
        await store.cql.lwt(
            f"INSERT INTO {k}.users (key, name, password_hash, credential, skeleton, "
            "created_at, is_admin) VALUES ('will', 'Will', 'h', 'c', 'will', ?, false) "
            "IF NOT EXISTS",
            to_us(NOW),
        )
        await store.cql.run(
            f"INSERT INTO {k}.users_by_skeleton (skeleton, key) VALUES ('will', 'will')"
        )
        await store.cql.run(f"INSERT INTO {k}.room_index (bucket, key) VALUES (0, 'den')")
        await store.cql.lwt(
            f"INSERT INTO {k}.rooms (key, name, created_at, owner, topic, private) "
            "VALUES ('den', 'den', ?, null, '', false) IF NOT EXISTS",
            to_us(NOW),
        )
        await store.cql.run(
            f"INSERT INTO {k}.rooms_by_skeleton (skeleton, key) VALUES ('den', 'den')"
        )
        await store.close()
        await store.open()  # to HEAD
        by_user = await store.cql.rows(f"SELECT skeleton, key FROM {k}.users_by_skeleton")
        by_room = await store.cql.rows(f"SELECT skeleton, key FROM {k}.rooms_by_skeleton")
        assert [(r["skeleton"], r["key"]) for r in by_user] == [("vvill", "will")]
        assert [(r["skeleton"], r["key"]) for r in by_room] == [("clen", "den")]
        with pytest.raises(Conflict, match="reads like a taken one"):
            await store.create_user(
                User(name="VVill", password_hash="h", created_at=NOW), unlike=True
            )
        with pytest.raises(LooksAlike):
            await store.create_room(room("clen"))
        assert (await store.ensure_room(room("den"))).name == "den"
        assert await store.get_user("will") is not None
        row = await store.cql.one(f"SELECT skeleton FROM {k}.users WHERE key = 'will'")
        assert row is not None and row["skeleton"] == "vvill"  # what deleting the user reads
    finally:
        await store.close()


async def test_upgrade_to_13_keeps_invitations_without_naming_an_inviter(
    fresh_database: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An invitation written before version 13 (no invited_by) reads with its time and no
    inviter; one after names its inviter (SQL's 0012)."""
    store = await cassandra_at(fresh_database("cassandra"), 12, monkeypatch)
    k = store.ks
    try:
        await users(store, "alice", "bob")
        for name in ("den", "attic"):
            await store.create_room(room(name, private=True))
        for table, first, second in (("room_users", "den", "bob"), ("user_rooms", "bob", "den")):
            keys = ("room_key", "user_key") if table == "room_users" else ("user_key", "room_key")
            await store.cql.run(
                f"UPDATE {k}.{table} SET invited_at = ? WHERE {keys[0]} = ? AND {keys[1]} = ?",
                to_us(NOW),
                first,
                second,
            )
        await store.close()
        await store.open()  # to HEAD
        assert await store.invitations("bob") == [Invitation("den", NOW, "")]
        assert await store.add_invite("attic", "bob", NOW + timedelta(seconds=1), "alice")
        assert [(i.room_key, i.by) for i in await store.invitations("bob")] == [
            ("attic", "alice"),
            ("den", ""),
        ]
    finally:
        await store.close()


async def test_upgrade_to_16_adds_the_feed_marks_beside_the_leases(
    fresh_database: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A node's lease written at version 15 reads, once upgraded, as a node that never says
    how far it applied the feed; a mark written after is read (SQL's 0015)."""
    store = await cassandra_at(fresh_database("cassandra"), 15, monkeypatch)
    try:
        await store.touch_node("old-node", NOW)
        await store.close()
        await store.open()  # to HEAD
        assert await store.nodes_applied(NOW) == {"old-node": None}
        await store.mark_applied("new-node", 4, NOW)
        assert await store.nodes_applied(NOW) == {"old-node": None, "new-node": 4}
        assert await store.nodes_seen_since(NOW) == ["old-node"]
    finally:
        await store.close()


async def test_upgrade_to_18_carries_by_right_onto_room_users(
    fresh_database: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A membership by the right alone written at version 17 (the flag in user_rooms only)
    is one by right once upgraded: the removal by right, now a transaction on room_users'
    flag, ends it; an ordinary one, and a stale mirror of one left, stay as they are."""
    store = await cassandra_at(fresh_database("cassandra"), 17, monkeypatch)
    try:
        await users(store, "alice")
        await store.create_room(room("den"))
        k = store.ks
        for room_key, by_right, member in (("den", True, True), ("hall", None, True)):
            await store.query(
                f"UPDATE {k}.room_users SET member = ?, name = 'alice' "
                "WHERE room_key = ? AND user_key = 'alice'",
                member,
                room_key,
            )
            await store.query(
                f"UPDATE {k}.user_rooms SET member = true, by_right = ? "
                "WHERE user_key = 'alice' AND room_key = ?",
                by_right,
                room_key,
            )
        await store.query(  # a mirror left of a membership gone
            f"UPDATE {k}.user_rooms SET member = true, by_right = true "
            "WHERE user_key = 'alice' AND room_key = 'yard'"
        )
        await store.close()
        await store.open()  # to HEAD
        assert not await store.remove_member_by_right("hall", "alice")
        assert not await store.remove_member_by_right("yard", "alice")
        assert await store.remove_member_by_right("den", "alice")
        assert not (await store.standing("den", "alice")).member
        assert (await store.standing("hall", "alice")).member
        rows = await store.query(f"SELECT room_key FROM {k}.room_users WHERE room_key = 'yard'")
        assert rows == []
    finally:
        await store.close()
