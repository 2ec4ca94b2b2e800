"""The Store contract (torbit.core.ports.Store), run against every store: SQLite, PostgreSQL
and Cassandra."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.contract.conftest import NOW, STORE_BACKENDS, empty, make_store
from torbit.backends.store.sql import SqlStore
from torbit.core.models import Revocation, Room, User
from torbit.core.ports import Store
from torbit.errors import ConfigError, Conflict, NotFound, ServiceUnavailable

BACKENDS_UNDER_TEST = STORE_BACKENDS


def user(name: str, *, admin: bool = False, created_at: datetime = NOW) -> User:
    return User(name=name, password_hash=f"hash-of-{name}", created_at=created_at, is_admin=admin)


def room(name: str, **kw: object) -> Room:
    return Room(name=name, created_at=NOW, **kw)  # type: ignore[arg-type]


async def users(store: Store, *names: str) -> None:
    for name in names:
        await store.create_user(user(name))


# users


async def test_user_round_trip_keeps_display_case_and_utc(store: Store) -> None:
    await store.create_user(user("AliceW", admin=True))
    got = await store.get_user("alicew")
    assert got == user("AliceW", admin=True)
    assert got is not None and got.created_at.tzinfo is not None
    assert got.created_at.utcoffset() == timedelta(0)
    assert await store.get_user("AliceW") is None  # lookups take keys
    assert await store.get_user("bob") is None


async def test_times_in_other_zones_are_stored_as_utc(store: Store) -> None:
    local = NOW.astimezone(timezone(timedelta(hours=-5)))
    await store.create_user(user("bob", created_at=local))
    got = await store.get_user("bob")
    assert got is not None
    assert got.created_at == NOW and got.created_at.tzinfo == UTC


async def test_create_user_unlike_refuses_a_name_that_reads_like_a_taken_one(
    store: Store,
) -> None:
    await store.create_user(user("alice"), unlike=True)
    with pytest.raises(Conflict):
        await store.create_user(user("A1ice"), unlike=True)
    with pytest.raises(Conflict):
        await store.create_user(user("Alice"), unlike=True)
    assert await store.get_user("a1ice") is None
    got = await store.create_user(user("bob", admin=True), unlike=True)
    assert await store.get_user("bob") == got  # every column as a plain insert stores it
    await store.create_user(user("A1ice"))  # a guest's name is not compared so
    assert [u.name for u in await store.list_users()] == ["A1ice", "alice", "bob"]


async def test_create_user_on_a_taken_name_conflicts_whatever_the_case(store: Store) -> None:
    await store.create_user(user("alice"))
    with pytest.raises(Conflict):
        await store.create_user(user("ALICE"))
    assert [u.name for u in await store.list_users()] == ["alice"]


async def test_concurrent_creates_of_one_name_let_exactly_one_win(store: Store) -> None:
    results = await asyncio.gather(
        *(store.create_user(user("Carol" if i % 2 else "carol")) for i in range(12)),
        return_exceptions=True,
    )
    assert sum(isinstance(r, User) for r in results) == 1
    assert all(isinstance(r, Conflict) for r in results if not isinstance(r, User))


async def test_list_users_sorted_by_key(store: Store) -> None:
    await users(store, "zed", "Bob", "alice")
    assert [u.name for u in await store.list_users()] == ["alice", "Bob", "zed"]


async def test_set_password_hash_and_admin(store: Store) -> None:
    await users(store, "alice")
    assert await store.set_password_hash("alice", "new-hash")
    assert await store.set_admin("alice", True)
    got = await store.get_user("alice")
    assert got is not None and got.password_hash == "new-hash" and got.is_admin
    assert await store.set_admin("alice", False)
    got = await store.get_user("alice")
    assert got is not None and not got.is_admin
    assert not await store.set_password_hash("nobody", "x")
    assert not await store.set_admin("nobody", True)


async def test_delete_user_takes_everything_of_theirs(store: Store) -> None:
    await users(store, "alice", "bob", "carol")
    await store.ensure_room(room("lobby"))
    for name in ("alice", "bob"):
        await store.add_member("lobby", name)
    await store.add_ignore("alice", "bob")
    await store.add_ignore("bob", "alice")
    await store.add_ignore("bob", "carol")
    await store.set_cursor("alice", "lobby", 5)
    await store.set_cursor("bob", "lobby", 7)
    await store.create_token("t-alice", "alice", NOW + timedelta(days=1))
    await store.create_token("t-bob", "bob", NOW + timedelta(days=1))

    assert await store.delete_user("alice")

    assert await store.get_user("alice") is None
    assert await store.list_members("lobby") == ["bob"]
    assert await store.rooms_of("alice") == []
    assert await store.list_ignores("alice") == []
    assert await store.list_ignores("bob") == ["carol"]  # ignores of alice went too
    assert await store.get_cursor("alice", "lobby") is None
    assert await store.get_cursor("bob", "lobby") == 7
    assert await store.token_user("t-alice", NOW) is None
    assert await store.token_user("t-bob", NOW) == "bob"
    assert not await store.delete_user("alice")
    # the name is free again
    await store.create_user(user("Alice"))


async def test_credentials_and_lookalike_names(store: Store) -> None:
    await store.create_user(User(name="Alice", password_hash="h1", created_at=NOW, credential="c1"))
    got = await store.get_user("alice")
    assert got is not None and got.credential == "c1"
    assert (
        await store.user_with_skeleton(
            User(name="A1ice", password_hash="", created_at=NOW).skeleton
        )
        == got
    )
    assert await store.user_with_skeleton("nothing-like-it") is None
    assert await store.set_password_hash("alice", "h2")  # a rehash keeps the credential
    got = await store.get_user("alice")
    assert got is not None and (got.password_hash, got.credential) == ("h2", "c1")
    assert await store.set_password_hash("alice", "h3", credential="c2")
    got = await store.get_user("alice")
    assert got is not None and (got.password_hash, got.credential) == ("h3", "c2")
    assert not await store.set_password_hash("ghost", "x", credential="c")
    assert await store.delete_user("alice") is not None
    assert await store.user_with_skeleton(got.skeleton) is None


async def test_revocations_come_in_serial_order_and_are_purged_by_age(store: Store) -> None:
    assert await store.last_revocation() == 0
    assert await store.revocations_after(0) == []
    changed = Revocation("alice", "password changed", credential="c1")
    out = Revocation("bob", "logged out", token="t" * 64)
    gone = Revocation("carol", "account deleted", credential="c3", deleted=True)
    s1 = await store.add_revocation(changed, NOW - timedelta(days=2))
    s2 = await store.add_revocation(out, NOW)
    s3 = await store.add_revocation(gone, NOW)
    assert s1 < s2 < s3 and await store.last_revocation() == s3
    assert await store.revocations_after(0) == [(s1, changed), (s2, out), (s3, gone)]
    assert await store.revocations_after(s1, limit=1) == [(s2, out)]
    assert await store.revocations_after(s3) == []
    assert await store.purge_revocations(NOW - timedelta(days=1)) == 1
    assert await store.revocations_after(0) == [(s2, out), (s3, gone)]
    assert await store.last_revocation() == s3
    # all of them old: the newest stays, where a starting node begins (not 0 with the
    # serials going on past it: the next one would look like one past a gap)
    assert await store.purge_revocations(NOW + timedelta(days=1)) == 1
    assert await store.revocations_after(0) == [(s3, gone)]
    assert await store.last_revocation() == s3
    assert await store.add_revocation(changed, NOW) == s3 + 1


# rooms and memberships


async def test_ensure_room_creates_once_and_returns_the_stored_room(store: Store) -> None:
    first = await store.ensure_room(room("Lobby", owner="alice", topic="hi", private=True))
    assert first == room("Lobby", owner="alice", topic="hi", private=True)
    again = await store.ensure_room(Room(name="LOBBY", created_at=NOW + timedelta(hours=1)))
    assert again == first
    assert await store.get_room("lobby") == first
    assert await store.get_room("Lobby") is None
    assert await store.get_room("nowhere") is None


async def test_concurrent_ensure_room_agree_on_one_room(store: Store) -> None:
    made = await asyncio.gather(
        *(store.ensure_room(room("Hall", owner=f"u{i}")) for i in range(10))
    )
    assert len({(r.name, r.owner) for r in made}) == 1


async def test_list_rooms_with_member_counts_by_name(store: Store) -> None:
    await users(store, "alice", "bob")
    for name in ("zoo", "Bar", "empty"):
        await store.ensure_room(room(name))
    await store.add_member("zoo", "alice")
    await store.add_member("zoo", "bob")
    await store.add_member("bar", "bob")
    listed = [(r.name, n) for r, n in await store.list_rooms()]
    assert listed == [("Bar", 1), ("empty", 0), ("zoo", 2)]


async def test_chosen_rooms_with_member_counts(store: Store) -> None:
    await users(store, "alice", "bob")
    for name in ("zoo", "Bar", "empty", "other"):
        await store.ensure_room(room(name))
    await store.add_member("zoo", "alice")
    await store.add_member("zoo", "bob")
    await store.add_member("other", "bob")
    chosen = await store.rooms_with_counts(["zoo", "empty", "gone", "bar", "zoo"])
    assert [(r.name, n) for r, n in chosen] == [("Bar", 0), ("empty", 0), ("zoo", 2)]
    assert await store.rooms_with_counts([]) == []


async def test_memberships(store: Store) -> None:
    await users(store, "alice", "Bob", "carol")
    await store.ensure_room(room("lobby"))
    await store.ensure_room(room("games"))
    assert await store.add_member("lobby", "carol")
    assert await store.add_member("lobby", "bob")
    assert not await store.add_member("lobby", "bob")
    assert await store.add_member("games", "bob")
    assert await store.list_members("lobby") == ["Bob", "carol"]  # display names
    assert await store.rooms_of("bob") == ["games", "lobby"]
    assert await store.rooms_of("alice") == []
    assert await store.remove_member("lobby", "bob")
    assert not await store.remove_member("lobby", "bob")
    assert await store.list_members("lobby") == ["carol"]
    assert await store.list_members("nowhere") == []


async def test_membership_of_unknown_room_or_user_is_not_found(store: Store) -> None:
    await users(store, "alice")
    await store.ensure_room(room("lobby"))
    with pytest.raises(NotFound):
        await store.add_member("nowhere", "alice")
    with pytest.raises(NotFound):
        await store.add_member("lobby", "ghost")


# ignore lists


async def test_ignores(store: Store) -> None:
    await users(store, "alice", "bob", "carol")
    assert await store.add_ignore("alice", "carol")
    assert await store.add_ignore("alice", "bob")
    assert not await store.add_ignore("alice", "bob")
    assert await store.list_ignores("alice") == ["bob", "carol"]
    assert await store.list_ignores("bob") == []
    assert await store.remove_ignore("alice", "bob")
    assert not await store.remove_ignore("alice", "bob")
    assert await store.list_ignores("alice") == ["carol"]
    with pytest.raises(NotFound):
        await store.add_ignore("alice", "ghost")


async def test_a_user_with_their_ignores_and_names_like_one(store: Store) -> None:
    """What a login and a new name read, each in one round trip where the store can."""
    await users(store, "alice", "bob", "carol")
    await store.add_ignore("alice", "carol")
    await store.add_ignore("alice", "bob")
    got, ignored = await store.user_and_ignores("alice")
    assert got == await store.get_user("alice") and sorted(ignored) == ["bob", "carol"]
    got, ignored = await store.user_and_ignores("bob")
    assert got is not None and got.key == "bob" and ignored == []
    assert await store.user_and_ignores("ghost") == (None, [])

    alice = await store.get_user("alice")
    like_alice = User(name="A1ice", password_hash="", created_at=NOW).skeleton
    assert await store.users_named_like("alice", like_alice) == [alice]  # once, not twice
    assert await store.users_named_like("a1ice", like_alice) == [alice]  # a look-alike
    bob = await store.get_user("bob")
    assert await store.users_named_like("bob", like_alice) == [bob, alice]  # own one first
    assert await store.users_named_like("ghost", "nothing-like-it") == []


# read cursors


async def test_cursors_only_move_forward(store: Store) -> None:
    await users(store, "alice", "bob")
    assert await store.get_cursor("alice", "lobby") is None
    await store.set_cursor("alice", "lobby", 10)
    await store.set_cursor("alice", "lobby", 4)
    assert await store.get_cursor("alice", "lobby") == 10
    await store.set_cursor("alice", "lobby", 11)
    assert await store.get_cursor("alice", "lobby") == 11
    await store.set_cursor("alice", "lobby", 12, at_once=True)  # a woken long poll's move
    await store.set_cursor("alice", "lobby", 5, at_once=True)
    assert await store.get_cursor("alice", "lobby") == 12
    await store.set_cursor("alice", "@alice", 3)
    assert await store.get_cursor("alice", "@alice") == 3
    assert await store.get_cursor("bob", "lobby") is None
    big = 2**40  # ids are 64-bit
    await store.set_cursor("bob", "lobby", big)
    assert await store.get_cursor("bob", "lobby") == big


async def test_a_cursor_advances_only_from_where_it_stands(store: Store) -> None:
    """advance_cursor is a compare-and-set: a `/receive` page is delivered only when its move
    applied, so the one of two receives that read the same cursor whose move failed reads
    on instead of delivering the same page."""
    await users(store, "alice")
    assert not await store.advance_cursor("alice", "lobby", 3, 5)  # there is none yet
    assert await store.get_cursor("alice", "lobby") is None
    assert await store.advance_cursor("alice", "lobby", None, 5)
    assert not await store.advance_cursor("alice", "lobby", None, 6)  # one came first
    assert await store.get_cursor("alice", "lobby") == 5
    assert not await store.advance_cursor("alice", "lobby", 4, 9)  # stale
    assert await store.advance_cursor("alice", "lobby", 5, 9)
    await store.set_cursor("alice", "lobby", 12)  # a woken long poll's move
    assert not await store.advance_cursor("alice", "lobby", 9, 10)
    assert await store.get_cursor("alice", "lobby") == 12
    # many at once from one position: exactly one applies
    moved = await asyncio.gather(
        *(store.advance_cursor("alice", "lobby", 12, 13 + i) for i in range(8))
    )
    assert sum(moved) == 1, moved
    assert await store.get_cursor("alice", "lobby") == 13 + moved.index(True)
    # gone with its user: the next of that name starts with no cursor
    assert await store.delete_user("alice")
    await users(store, "alice")
    assert await store.get_cursor("alice", "lobby") is None
    assert await store.advance_cursor("alice", "lobby", None, 2)


async def test_a_cursor_of_no_user_is_refused_and_leaves_no_transaction(store: Store) -> None:
    """SQLite runs the cursor's statements on its driver (dialects.py): its errors still
    arrive as the store's, and a failed write is rolled back before the next one. (Cassandra
    has no foreign keys: a cursor of no user is not its concern.)"""
    if not isinstance(store, SqlStore):
        pytest.skip("SQL stores only")
    await users(store, "alice")
    with pytest.raises(NotFound):
        await store.set_cursor("ghost", "lobby", 3)
    await store.set_cursor("alice", "lobby", 5)
    assert await store.get_cursor("ghost", "lobby") is None
    assert await store.get_cursor("alice", "lobby") == 5
    await store.add_ignore("alice", "alice")  # a write through SQLAlchemy after it
    assert await store.list_ignores("alice") == ["alice"]


async def test_concurrent_cursor_moves_keep_the_highest(store: Store) -> None:
    await users(store, "alice")
    await asyncio.gather(*(store.set_cursor("alice", "lobby", i) for i in (5, 40, 3, 39, 17)))
    assert await store.get_cursor("alice", "lobby") == 40


# login tokens


async def test_tokens(store: Store) -> None:
    await users(store, "alice", "bob")
    expires = NOW + timedelta(hours=1)
    await store.create_token("h1", "alice", expires)
    await store.create_token("h2", "alice", expires)
    await store.create_token("h3", "bob", expires)
    assert await store.token_user("h1", NOW) == "alice"
    assert await store.token_user("h1", expires - timedelta(microseconds=1)) == "alice"
    assert await store.token_user("h1", expires) is None  # expired at expires_at
    assert await store.token_user("nope", NOW) is None
    assert await store.token_expiry("h1") == expires  # a WebSocket of it closes then
    assert await store.token_expiry("nope") is None
    assert await store.delete_token("h1")
    assert await store.token_expiry("h1") is None
    assert not await store.delete_token("h1")
    assert await store.token_user("h1", NOW) is None
    await store.create_token("h4", "alice", expires)
    assert await store.delete_tokens_of("alice") == 2
    assert await store.delete_tokens_of("alice") == 0
    assert await store.token_user("h3", NOW) == "bob"


async def test_trim_tokens_keeps_the_newest(store: Store) -> None:
    await users(store, "alice", "bob")
    for i in range(5):
        await store.create_token(f"a{i}", "alice", NOW + timedelta(hours=i))
    await store.create_token("b0", "bob", NOW)
    assert await store.trim_tokens("alice", 5) == []
    assert await store.trim_tokens("alice", 3) == ["a0", "a1"]  # the oldest first
    assert [await store.token_user(f"a{i}", NOW) for i in range(5)] == [None] * 2 + ["alice"] * 3
    assert await store.token_user("b0", NOW - timedelta(hours=1)) == "bob"


async def test_token_expiry_compares_across_time_zones(store: Store) -> None:
    await users(store, "alice")
    plus2 = timezone(timedelta(hours=2))
    await store.create_token("h", "alice", (NOW + timedelta(minutes=30)).astimezone(plus2))
    assert await store.token_user("h", NOW.astimezone(timezone(timedelta(hours=-7)))) == "alice"
    assert await store.token_user("h", NOW + timedelta(minutes=31)) is None


# lifecycle and failures


async def test_data_survives_close_and_reopen(store_url: str, store: Store) -> None:
    await users(store, "alice")
    await store.close()
    again = make_store(store_url)
    await again.open()
    try:
        assert await again.get_user("alice") == user("alice")
        await again.ping()
    finally:
        await again.close()


async def test_closed_store_is_unavailable(store: Store) -> None:
    await store.close()
    with pytest.raises(ServiceUnavailable):
        await store.ping()
    with pytest.raises(ServiceUnavailable):
        await store.get_user("alice")


async def test_unreachable_postgresql_is_unavailable() -> None:
    s = SqlStore("postgresql://postgres:pw@127.0.0.1:1/torbit")  # nothing listens on port 1
    with pytest.raises(ServiceUnavailable, match=r"^storage unavailable: ") as e:
        await s.open()
    # which database: "[Errno 111] Connect call failed" alone names no address
    assert e.value.message.endswith("(postgresql://postgres:***@127.0.0.1:1/torbit)")


@pytest.mark.postgres
async def test_missing_postgresql_database_is_unavailable(pg_database: str) -> None:
    s = SqlStore(pg_database.rsplit("/", 1)[0] + "/torbit_no_such_database")
    with pytest.raises(ServiceUnavailable, match="does not exist"):
        await s.open()


async def test_unusable_sqlite_path_is_unavailable(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(ServiceUnavailable, match=r"^storage unavailable: ") as e:
        await SqlStore(f"sqlite:///{tmp_path}/file/torbit.db").open()
    assert e.value.message.endswith(f"(sqlite:///{tmp_path}/file/torbit.db)")


@pytest.mark.parametrize(
    "url",
    [
        "mysql://localhost/torbit",
        "sqlite://",
        "sqlite:///:memory:",
        "postgresql+psycopg2://h/db",
        "not a url",
    ],
)
def test_bad_urls_are_config_errors(url: str) -> None:
    with pytest.raises(ConfigError):
        SqlStore(url)


def test_a_bad_url_is_quoted_as_configured() -> None:
    # on main: "storage url sqlite+aiosqlite://torbit.db: ...", a driver name nobody wrote
    with pytest.raises(ConfigError) as e:
        SqlStore("sqlite://torbit.db")
    assert e.value.message.startswith("storage url sqlite://torbit.db: SQLite needs a file")


async def test_bad_synchronous_is_a_config_error(tmp_path: Path) -> None:
    s = SqlStore(f"sqlite:///{tmp_path}/t.db", synchronous="sometimes")
    with pytest.raises(ConfigError, match="synchronous"):
        await s.open()


async def test_relative_sqlite_path_is_under_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    s = SqlStore("sqlite:///data/dir/torbit.db")
    await s.open()
    await s.close()
    assert (tmp_path / "data" / "dir" / "torbit.db").is_file()


async def test_sqlite_settings(tmp_path: Path) -> None:
    s = SqlStore(f"sqlite:///{tmp_path}/t.db", synchronous="normal")
    await s.open()
    try:
        async with s.engine.connect() as conn:

            async def pragma(name: str) -> object:
                return (await conn.exec_driver_sql(f"PRAGMA {name}")).scalar()

            assert await pragma("journal_mode") == "wal"
            assert await pragma("synchronous") == 1  # NORMAL
            assert await pragma("foreign_keys") == 1
            assert await pragma("auto_vacuum") == 2  # INCREMENTAL
            assert await pragma("busy_timeout") == 5000
    finally:
        await s.close()


@pytest.mark.postgres
async def test_postgresql_connections_killed_under_the_pool_are_replaced(
    pg_database: str,
) -> None:
    store = SqlStore(pg_database)
    await store.open()
    await empty(store)
    await users(store, "alice")
    async with store.engine.connect() as conn:
        await conn.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
    try:
        assert await store.get_user("alice") == user("alice")  # pooled connections re-made
    finally:
        await store.close()


async def test_expired_tokens_are_purged(store: Store) -> None:
    now = datetime.now(UTC)
    await store.create_user(User(name="tok", password_hash="x", created_at=now))
    await store.create_token("a" * 64, "tok", now - timedelta(seconds=1))
    await store.create_token("b" * 64, "tok", now + timedelta(hours=1))
    assert await store.purge_tokens(now) == 1
    assert await store.token_user("b" * 64, now) == "tok"
    assert await store.purge_tokens(now) == 0
