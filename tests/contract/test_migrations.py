"""Schema migrations on every backend: `torbit db upgrade`/`status`, the migrated schema
matching schema.py, and concurrent starts on a fresh database."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, text

from tests.contract.conftest import BACKENDS, NOW
from torbit.backends.store import migrate
from torbit.backends.store.dialect_urls import dialect_for
from torbit.backends.store.schema import metadata
from torbit.backends.store.sql import SqlStore
from torbit.core.models import Invitation, Room, User
from torbit.errors import Conflict, LooksAlike

by_backend = pytest.mark.parametrize("backend", BACKENDS)

Rows = tuple[
    str, dict[str, Any]
]  # an INSERT (raw SQL, as an older revision's tables are) and its values


async def at_revision(url: str, revision: str, *rows: Rows) -> None:
    """The fresh database at `url` migrated to `revision` only, with `rows` inserted and
    committed: what an older torbit left for the next migrations to take over."""
    engine = dialect_for(url).create_engine()
    try:
        async with engine.connect() as conn:
            await conn.run_sync(lambda c: command.upgrade(migrate._config(c), revision))
            for sql, values in rows:
                await conn.execute(text(sql), values)
            await conn.commit()
    finally:
        await engine.dispose()


@contextlib.asynccontextmanager
async def upgraded(url: str) -> AsyncIterator[SqlStore]:
    """A store on `url`, opened (which migrates it to head) and closed after."""
    store = SqlStore(url)
    await store.open()
    try:
        yield store
    finally:
        await store.close()


@by_backend
async def test_upgrade_and_status(backend: str, fresh_database: Callable[[str], str]) -> None:
    url = fresh_database(backend)
    head = migrate.head_revision()
    assert head is not None
    assert await migrate.current_revision(url) is None
    assert await migrate.upgrade(url) == head
    assert await migrate.upgrade(url) == head  # idempotent
    assert await migrate.current_revision(url) == head


@by_backend
async def test_migrated_schema_matches_schema_py(
    backend: str, fresh_database: Callable[[str], str]
) -> None:
    store = SqlStore(fresh_database(backend))
    await store.open()

    def diff(conn: Connection) -> list[object]:
        return list(compare_metadata(MigrationContext.configure(conn), metadata))

    try:
        async with store.engine.connect() as conn:
            assert await conn.run_sync(diff) == []
    finally:
        await store.close()


@by_backend
async def test_concurrent_first_starts_migrate_once(
    backend: str, fresh_database: Callable[[str], str]
) -> None:
    url = fresh_database(backend)
    stores = [SqlStore(url) for _ in range(4)]
    try:
        await asyncio.gather(*(s.open() for s in stores))
        for s in stores:
            assert await s.list_users() == []
    finally:
        for s in stores:
            await s.close()
    assert await migrate.current_revision(url) == migrate.head_revision()


async def test_one_process_can_migrate_several_databases_at_once(tmp_path: Path) -> None:
    stores = [SqlStore(f"sqlite:///{tmp_path}/{i}/torbit.db") for i in range(4)]
    try:
        await asyncio.gather(*(s.open() for s in stores))
        for s in stores:
            assert await s.list_users() == []
    finally:
        for s in stores:
            await s.close()


async def test_status_of_a_missing_sqlite_file_creates_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/none/torbit.db"
    assert await migrate.current_revision(url) is None
    assert not (tmp_path / "none").exists()


def test_alembic_files_ship_inside_the_package() -> None:
    root = resources.files("torbit.backends.store") / "migrations"
    for name in (
        "env.py",
        "script.py.mako",
        "versions/0001_initial.py",
        "versions/0002_room_moderation.py",
    ):
        assert (root / name).is_file(), name


@by_backend
async def test_0006_keeps_earlier_topics_without_naming_a_setter(
    backend: str, fresh_database: Callable[[str], str]
) -> None:
    """A topic set before 0006 keeps its text; nobody is named as having set it."""
    url = fresh_database(backend)
    at = NOW if backend == "postgresql" else NOW.strftime("%Y-%m-%d %H:%M:%S")
    await at_revision(
        url,
        "0005",
        (
            "INSERT INTO rooms (key, name, created_at, owner, topic, private) "
            "VALUES ('den', 'den', :at, NULL, 'old rules', false)",
            {"at": at},
        ),
    )
    async with upgraded(url) as store:
        den = await store.get_room("den")
        assert den is not None and den.topic == "old rules"
        assert (den.topic_set_by, den.topic_set_at) == ("", None)


@by_backend
async def test_0008_keeps_look_alike_rooms_and_refuses_new_ones(
    backend: str, fresh_database: Callable[[str], str]
) -> None:
    """Rooms that read alike, stored before 0008, both survive its backfill and keep being
    found (a join's `ensure_room` returns each); a new look-alike of them is refused."""
    url = fresh_database(backend)
    at = NOW if backend == "postgresql" else NOW.strftime("%Y-%m-%d %H:%M:%S")
    await at_revision(
        url,
        "0007",
        *(
            (
                "INSERT INTO rooms (key, name, created_at, owner, topic, private) "
                "VALUES (:key, :name, :at, NULL, '', :private)",
                {"key": name.lower(), "name": name, "at": at, "private": name == "l0bby"},
            )
            for name in ("lobby", "Iobby", "l0bby", "den")
        ),
    )
    async with upgraded(url) as store:
        assert [r.name for r, _ in await store.list_rooms()] == ["den", "Iobby", "l0bby", "lobby"]
        for name in ("lobby", "Iobby", "l0bby"):
            assert (await store.ensure_room(Room(name=name, created_at=NOW))).name == name
        for name in ("1obby", "I0bby"):
            with pytest.raises(LooksAlike):
                await store.ensure_room(Room(name=name, created_at=NOW))
            with pytest.raises(LooksAlike):
                await store.create_room(Room(name=name, created_at=NOW))
        await store.create_room(Room(name="lounge", created_at=NOW))
        async with store.engine.connect() as conn:
            rows = await conn.execute(text('SELECT "key", skeleton FROM rooms ORDER BY "key"'))
            skeletons = {str(k): str(s) for k, s in rows}
        assert skeletons == {
            "den": "clen",  # d as cl since 0009
            "iobby": "lobby",
            "l0bby": "lobby",
            "lobby": "lobby",
            "lounge": "lounge",
        }


@by_backend
async def test_0009_recomputes_skeletons_so_new_look_alikes_are_refused(
    backend: str, fresh_database: Callable[[str], str]
) -> None:
    """A user `will` and a room `den` stored before 0009 (skeletons `will`, `den`) get the
    skeletons `vvill`, `clen`: `vvill` and `clen` are refused after it. On main, without the
    new rule, both were taken."""
    url = fresh_database(backend)
    at = NOW if backend == "postgresql" else NOW.strftime("%Y-%m-%d %H:%M:%S")
    await at_revision(
        url,
        "0008",
        (
            "INSERT INTO users (key, name, password_hash, created_at, is_admin, "
            "credential, skeleton) VALUES ('will', 'Will', 'h', :at, false, 'c', 'will')",
            {"at": at},
        ),
        (
            "INSERT INTO rooms (key, name, created_at, owner, topic, private, skeleton) "
            "VALUES ('den', 'den', :at, NULL, '', false, 'den')",
            {"at": at},
        ),
    )
    async with upgraded(url) as store:
        with pytest.raises(Conflict, match="reads like a taken one"):
            await store.create_user(
                User(name="VVill", password_hash="h", created_at=NOW), unlike=True
            )
        with pytest.raises(LooksAlike):
            await store.create_room(Room(name="clen", created_at=NOW))
        assert (await store.ensure_room(Room(name="den", created_at=NOW))).name == "den"
        user = await store.get_user("will")
        assert user is not None and user.name == "Will"


@by_backend
async def test_0012_keeps_earlier_invitations_without_naming_an_inviter(
    backend: str, fresh_database: Callable[[str], str]
) -> None:
    """An invitation stored before 0012 stays, with its time and no inviter; a new one
    names its inviter."""
    url = fresh_database(backend)
    at = NOW if backend == "postgresql" else NOW.strftime("%Y-%m-%d %H:%M:%S.%f")
    users = (
        (
            "INSERT INTO users (key, name, password_hash, created_at, is_admin, "
            "credential, skeleton) VALUES (:name, :name, 'h', :at, false, 'c', :name)",
            {"at": at, "name": name},
        )
        for name in ("bob", "carol")
    )
    rooms = (
        (
            "INSERT INTO rooms (key, name, created_at, owner, topic, private, "
            "skeleton) VALUES (:name, :name, :at, NULL, '', true, :name)",
            {"at": at, "name": name},
        )
        for name in ("den", "attic")
    )
    invite = (
        "INSERT INTO room_invites (room_key, user_key, invited_at) VALUES ('den', 'bob', :at)",
        {"at": at},
    )
    await at_revision(url, "0011", *users, *rooms, invite)
    async with upgraded(url) as store:
        assert await store.invitations("bob") == [Invitation("den", NOW, "")]
        assert (await store.standing("den", "bob")).invited
        assert await store.add_invite("attic", "bob", NOW + timedelta(seconds=1), "carol")
        assert [(i.room_key, i.by) for i in await store.invitations("bob")] == [
            ("attic", "carol"),
            ("den", ""),
        ]


@by_backend
async def test_0013_keeps_memberships_that_were_never_entered(
    backend: str, fresh_database: Callable[[str], str]
) -> None:
    """A membership stored before 0013 stays, with no room entered (its user lands in the
    default room); entering it then is noted."""
    url = fresh_database(backend)
    at = NOW if backend == "postgresql" else NOW.strftime("%Y-%m-%d %H:%M:%S.%f")
    await at_revision(
        url,
        "0012",
        (
            "INSERT INTO users (key, name, password_hash, created_at, is_admin, "
            "credential, skeleton) VALUES ('bob', 'bob', 'h', :at, false, 'c', 'bob')",
            {"at": at},
        ),
        (
            "INSERT INTO rooms (key, name, created_at, owner, topic, private, "
            "skeleton) VALUES ('den', 'den', :at, NULL, '', false, 'den')",
            {"at": at},
        ),
        ("INSERT INTO memberships (room_key, user_key) VALUES ('den', 'bob')", {}),
    )
    async with upgraded(url) as store:
        assert await store.rooms_of("bob") == ["den"]
        assert await store.last_entered("bob") is None
        assert await store.enter_room("den", "bob", NOW)
        assert await store.last_entered("bob") == "den"


@by_backend
async def test_0014_takes_older_memberships_as_not_joined_by_right(
    backend: str, fresh_database: Callable[[str], str]
) -> None:
    """A membership stored before 0014 is not one joined by the server-admin right alone (the
    store cannot tell): a demotion leaves it. One added after is kept as such."""
    url = fresh_database(backend)
    at = NOW if backend == "postgresql" else NOW.strftime("%Y-%m-%d %H:%M:%S.%f")
    await at_revision(
        url,
        "0013",
        (
            "INSERT INTO users (key, name, password_hash, created_at, is_admin, "
            "credential, skeleton) VALUES ('bob', 'bob', 'h', :at, true, 'c', 'bob')",
            {"at": at},
        ),
        *(
            (
                "INSERT INTO rooms (key, name, created_at, owner, topic, private, "
                f"skeleton) VALUES ('{key}', '{key}', :at, NULL, '', true, '{key}')",
                {"at": at},
            )
            for key in ("den", "attic")
        ),
        ("INSERT INTO memberships (room_key, user_key) VALUES ('den', 'bob')", {}),
    )
    async with upgraded(url) as store:
        assert await store.rooms_of("bob") == ["den"]
        assert await store.rooms_joined_by_right("bob") == []
        assert await store.add_member("attic", "bob", by_right=True)
        assert await store.rooms_joined_by_right("bob") == ["attic"]


@by_backend
async def test_0015_adds_the_feed_marks_and_keeps_the_leases(
    backend: str, fresh_database: Callable[[str], str]
) -> None:
    """0015 adds the nodes' marks of the feed as a table of their own: a lease written
    before it (a node sharing a message log, of the version before) stays a lease, and
    reads as a node that never says how far it applied the feed, and the revocations stay."""
    url = fresh_database(backend)
    at = NOW if backend == "postgresql" else NOW.strftime("%Y-%m-%d %H:%M:%S.%f")
    await at_revision(
        url,
        "0014",
        ("INSERT INTO nodes (node, seen_at) VALUES ('old-node', :at)", {"at": at}),
        (
            "INSERT INTO revocations (at, user_key, reason, credential, token, deleted) "
            "VALUES (:at, 'carol', 'you are no longer a server admin', 'c', '', false)",
            {"at": at},
        ),
    )
    async with upgraded(url) as store:
        assert await store.nodes_seen_since(NOW) == ["old-node"]
        assert await store.nodes_applied(NOW) == {"old-node": None}
        serial = await store.last_revocation()
        assert serial == 1
        await store.mark_applied("new-node", serial, NOW)
        assert await store.nodes_applied(NOW) == {"old-node": None, "new-node": 1}
        assert await store.nodes_seen_since(NOW) == ["old-node"]
