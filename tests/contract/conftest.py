"""Fixtures for the contract suites: every Store / MessageLog test runs once per backend.

    store_url   a database URL per backend: a fresh SQLite file, or this session's PostgreSQL
                database (created under a unique name, dropped at the end; marked `postgres`)
    store       an open SqlStore on it, emptied first
    log         a started SqlLog on that store; `delivered` lists what its listener got

Another message log (Kafka) reuses `store` and adds its own `log`-like fixture.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import asyncpg  # type: ignore[import-untyped]
import pytest
from sqlalchemy import text

from torbit.backends.message_log.sql import SqlLog
from torbit.backends.store.schema import metadata
from torbit.backends.store.sql import SqlStore
from torbit.core.models import Draft, Message
from torbit.core.ports import MessageListener
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


@pytest.fixture
def fresh_database(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[str], str]:
    """A never-migrated database of the given backend, for migration tests."""

    def make(backend: str) -> str:
        if backend == "sqlite":
            return f"sqlite:///{tmp_path}/fresh-{secrets.token_hex(4)}/torbit.db"
        databases: PgDatabases = request.getfixturevalue("pg_databases")
        return databases.create()

    return make


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/data/torbit.db"
    url: str = request.getfixturevalue("pg_database")
    return url


async def empty(store: SqlStore) -> None:
    """Delete every row (the PostgreSQL database is shared by the whole session)."""
    async with store.engine.begin() as conn:
        for table in reversed(metadata.sorted_tables):
            await conn.execute(text(f"DELETE FROM {table.name}"))


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[SqlStore]:
    s = SqlStore(store_url)
    await s.open()
    await empty(s)
    yield s
    await s.close()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """For the few tests of SQLite specifics."""
    return f"sqlite:///{tmp_path}/sqlite/torbit.db"


@asynccontextmanager
async def running(
    url: str, listener: MessageListener = lambda m: None
) -> AsyncIterator[tuple[SqlStore, SqlLog]]:
    """An open store with a started SqlLog on it, closed at the end."""
    s = SqlStore(url)
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
    message_log = SqlLog(store)
    await message_log.start(delivered.append)
    yield message_log
    await message_log.close()


def draft(channel: str = "lobby", text: str = "hello", *, sender: str = "Alice",
          sent_at: datetime | None = None, **kw: Any) -> Draft:
    return Draft(channel=channel, sender=sender, text=text, sent_at=sent_at or NOW, **kw)


def ago(**delta: float) -> datetime:
    return NOW - timedelta(**delta)
