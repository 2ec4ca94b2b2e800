"""Fixtures for the contract suites: every Store / MessageLog test runs once per backend.

    store_url   a database URL per backend: a fresh SQLite file, this session's PostgreSQL
                database (created under a unique name, dropped at the end; marked `postgres`)
                or, in modules that set BACKENDS_UNDER_TEST = STORE_BACKENDS, this session's
                Cassandra keyspace (likewise; marked `cassandra`)
    store       an open store on it (SqlStore or CassandraStore), emptied first
    log         a started SqlLog on that store; `delivered` lists what its listener got

Another message log (Kafka) reuses `store` and adds its own `log`-like fixture.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import asyncpg  # type: ignore[import-untyped]
import pytest
from sqlalchemy import text

from tests.helpers.sqlite_template import migrated_sqlite
from torbit.backends.message_log.sql import SqlLog
from torbit.backends.store import cassandra_schema
from torbit.backends.store.cassandra import CassandraStore
from torbit.backends.store.schema import metadata
from torbit.backends.store.sql import SqlStore
from torbit.backends.urls import scheme
from torbit.core.models import Draft, Message
from torbit.core.ports import MessageListener, Store
from torbit.testing.cassandra_keyspaces import (
    drop_keyspaces,
    empty_keyspace,
    new_keyspace_name,
    shared_contact_point,
    shared_node,
)
from torbit.testing.postgres import PrivatePostgres

_private_pg: list[PrivatePostgres] = []


def pg_admin_url() -> str:
    """A PostgreSQL server to create test databases on: `TORBIT_TEST_POSTGRES` if set, else a
    private server (trust auth, free port) started on first use and stopped at exit."""
    configured = os.environ.get("TORBIT_TEST_POSTGRES")
    if configured:
        return configured
    if not _private_pg:
        _private_pg.append(PrivatePostgres.start())
        atexit.register(_private_pg[0].stop)
    return _private_pg[0].url


NOW = datetime(2025, 3, 4, 5, 6, 7, 123456, tzinfo=UTC)

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
]
# The stores without a message log of their own: Cassandra's deployments log to Kafka.
STORE_BACKENDS = [*BACKENDS, pytest.param("cassandra", id="cassandra", marks=pytest.mark.cassandra)]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """`store_backend` (behind store_url and store) runs over the module's
    BACKENDS_UNDER_TEST: the SQL backends, unless the module asks for every store."""
    if "store_backend" in metafunc.fixturenames:
        metafunc.parametrize(
            "store_backend", getattr(metafunc.module, "BACKENDS_UNDER_TEST", BACKENDS)
        )


T = TypeVar("T")


def run_async(make: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine from a sync (session) fixture, on a private loop in another thread so
    the test's own event loop is left alone."""

    async def main() -> T:
        return await make()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, main()).result()


async def pg_admin(sql: str) -> None:
    conn = await asyncpg.connect(pg_admin_url(), timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def pg_url(database: str) -> str:
    return pg_admin_url().rsplit("/", 1)[0] + "/" + database


async def pg_leftovers() -> list[str]:
    """Test databases of sessions that died before dropping them (their pid is gone)."""
    conn = await asyncpg.connect(pg_admin_url(), timeout=5)
    try:
        rows = await conn.fetch(
            "SELECT datname FROM pg_database WHERE datname LIKE 'torbit\\_test\\_%'"
        )
    finally:
        await conn.close()
    return [row["datname"] for row in rows if not _alive(int(row["datname"].split("_")[2]))]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class PgDatabases:
    """Creates uniquely named databases (torbit_test_<pid>_<random>) and drops them all at the
    end, and those a killed session left behind."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def create(self) -> str:
        name = f"torbit_test_{os.getpid()}_{secrets.token_hex(4)}"
        if not self.names:
            self.names += run_async(pg_leftovers)
        run_async(lambda: pg_admin(f'CREATE DATABASE "{name}"'))
        self.names.append(name)
        return pg_url(name)

    def drop_all(self) -> None:
        if _private_pg:
            return  # this session's own server: deleted whole at exit, its databases with it
        for name in self.names:
            sql = f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
            run_async(lambda: pg_admin(sql))  # noqa: B023 (called at once)


@pytest.fixture(scope="session")
def pg_databases() -> Iterator[PgDatabases]:
    databases = PgDatabases()
    yield databases
    databases.drop_all()


@pytest.fixture(scope="session")
def pg_database(pg_databases: PgDatabases) -> str:
    """This session's PostgreSQL database (tests empty it before use)."""
    return pg_databases.create()


DROP_WAIT_S = 30.0


class CassandraKeyspaces:
    """Keyspaces on the test Cassandra, named after this session (torbit_test_<pid>_<random>)
    and dropped at the end, with those a killed session left behind."""

    def __init__(self) -> None:
        self.contact = shared_contact_point()  # starts the node, or fails
        self.names: list[str] = []

    def create(self) -> str:
        """The URL of a new keyspace (the store creates it when first opened)."""
        name = new_keyspace_name()
        self.names.append(name)
        return f"cassandra://{self.contact}/{name}"

    def drop_all(self) -> None:
        if shared_node() is not None:
            # this session's own node: deleted whole at exit, its keyspaces with it (each
            # DROP KEYSPACE took seconds of the session's last teardown)
            return

        async def drop() -> None:
            store = CassandraStore(f"cassandra://{self.contact}/system")
            await store.cql.connect()
            try:
                await drop_keyspaces(store, self.names)
            finally:
                await store.close()

        # In this thread, not run_async's: the driver serves the event loops of one thread.
        # A drop that a busy node has not finished in time is left to the next session
        # (drop_keyspaces takes those of dead sessions too).
        with contextlib.suppress(TimeoutError):
            asyncio.run(asyncio.wait_for(drop(), DROP_WAIT_S))


@pytest.fixture(scope="session")
def cassandra_keyspace_pool() -> Iterator[CassandraKeyspaces]:
    keyspaces = CassandraKeyspaces()
    yield keyspaces
    keyspaces.drop_all()


@pytest.fixture(scope="session")
def cassandra_keyspace(cassandra_keyspace_pool: CassandraKeyspaces) -> str:
    """This session's Cassandra keyspace URL (tests empty it before use)."""
    return cassandra_keyspace_pool.create()


@pytest.fixture
def fresh_database(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[str], str]:
    """A never-migrated database of the given backend, for migration tests."""

    def make(backend: str) -> str:
        if backend == "sqlite":
            return f"sqlite:///{tmp_path}/fresh-{secrets.token_hex(4)}/torbit.db"
        if backend == "cassandra":
            keyspaces: CassandraKeyspaces = request.getfixturevalue("cassandra_keyspace_pool")
            return keyspaces.create()
        databases: PgDatabases = request.getfixturevalue("pg_databases")
        return databases.create()

    return make


@pytest.fixture
def store_url(store_backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if store_backend == "sqlite":
        migrated_sqlite(tmp_path / "data" / "torbit.db")  # a copy: see tests/helpers
        return f"sqlite:///{tmp_path}/data/torbit.db"
    url: str = request.getfixturevalue(
        "cassandra_keyspace" if store_backend == "cassandra" else "pg_database"
    )
    return url


def make_store(url: str) -> Store:
    """A store of the URL's backend, not yet open."""
    return CassandraStore(url) if scheme(url) == "cassandra" else SqlStore(url)


async def empty(store: Store) -> None:
    """Delete every row (the PostgreSQL database and the Cassandra keyspace are shared by the
    whole session)."""
    if isinstance(store, CassandraStore):
        await empty_keyspace(store)
        return
    assert isinstance(store, SqlStore)
    async with store.engine.begin() as conn:
        for table in reversed(metadata.sorted_tables):
            await conn.execute(text(f"DELETE FROM {table.name}"))


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    s = make_store(store_url)
    await s.open()
    await empty(s)
    yield s
    await s.close()


@pytest.fixture
async def cstore(cassandra_keyspace: str) -> AsyncIterator[CassandraStore]:
    """A Cassandra store on the session's keyspace, emptied: the Cassandra-only tests."""
    store = CassandraStore(cassandra_keyspace)
    await store.open()
    await empty(store)
    yield store
    await store.close()


async def cassandra_at(url: str, version: int, monkeypatch: pytest.MonkeyPatch) -> CassandraStore:
    """A Cassandra store opened on `url` with the schema of `version` (its migrations up to
    there only), as a node of that version left it; opened again, it upgrades to HEAD."""
    store = CassandraStore(url)
    with monkeypatch.context() as m:
        m.setattr(cassandra_schema, "MIGRATIONS", cassandra_schema.MIGRATIONS[:version])
        m.setattr(cassandra_schema, "HEAD", version)
        await store.open()
    return store


@pytest.fixture
async def node_b(cstore: CassandraStore, cassandra_keyspace: str) -> AsyncIterator[CassandraStore]:
    """A second node on `cstore`'s keyspace: the Cassandra races (tests/helpers/cassandra_nodes.py)."""
    other = CassandraStore(cassandra_keyspace)
    await other.open()
    yield other
    await other.close()


@pytest.fixture
async def second_node(store: Store, store_url: str) -> AsyncIterator[Store]:
    """Another store on `store`'s PostgreSQL database or Cassandra keyspace, as a second node
    has (on SQLite, which no two nodes share, the test is skipped)."""
    if scheme(store_url) == "sqlite":
        pytest.skip("two nodes share a PostgreSQL database or a Cassandra keyspace")
    other = make_store(store_url)
    await other.open()
    yield other
    await other.close()


def the_one_made(made: Sequence[object], kind: type[T], refused: type[Exception]) -> T:
    """Of look-alikes made at once (`asyncio.gather(..., return_exceptions=True)`), the one
    made: exactly one is a `kind`, every other was refused with `refused`."""
    created = [m for m in made if isinstance(m, kind)]
    assert len(created) == 1, made
    assert all(isinstance(m, refused) for m in made if not isinstance(m, kind)), made
    return created[0]


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """For the few tests of SQLite specifics."""
    return f"sqlite:///{tmp_path}/sqlite/torbit.db"


@asynccontextmanager
async def running(
    url: str, listener: MessageListener = lambda m: None, *, command_timeout: float = 5.0
) -> AsyncIterator[tuple[SqlStore, SqlLog]]:
    """An open store with a started SqlLog on it, closed at the end."""
    s = SqlStore(url, command_timeout=command_timeout)
    await s.open()
    message_log = SqlLog(s)
    try:
        await message_log.start(listener)
        yield s, message_log
    finally:
        await message_log.close()
        await s.close()


@pytest.fixture
def delivered() -> list[Message]:
    return []


@pytest.fixture
async def log(store: SqlStore, delivered: list[Message]) -> AsyncIterator[SqlLog]:
    assert isinstance(store, SqlStore)
    message_log = SqlLog(store)
    await message_log.start(delivered.append)
    yield message_log
    await message_log.close()


def draft(
    channel: str = "lobby",
    text: str = "hello",
    *,
    sender: str = "Alice",
    sent_at: datetime | None = None,
    **kw: Any,
) -> Draft:
    return Draft(channel=channel, sender=sender, text=text, sent_at=sent_at or NOW, **kw)


def ago(**delta: float) -> datetime:
    return NOW - timedelta(**delta)
