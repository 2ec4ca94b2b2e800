"""Schema upgrades with Alembic, run programmatically: by SqlStore.open() at every start, and by
`torbit db upgrade` / `torbit db status`. The Alembic environment ships inside the package
(migrations/), so no alembic.ini is needed anywhere.

An upgrade runs in one transaction that first takes the engine's upgrade lock (PostgreSQL: an
advisory lock; SQLite: the write lock), so two processes starting at once on a fresh database
do not both try to create the tables.
"""

from __future__ import annotations

import asyncio
import functools
import weakref

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from torbit.backends.store.dialect_urls import dialect_for
from torbit.backends.store.dialects import (
    DEFAULT_SYNCHRONOUS,
    SqlDialect,
    is_unavailable,
    unavailable,
)
from torbit.backends.store.sqlite_dialect import SqliteDialect

SCRIPT_LOCATION = "torbit.backends.store:migrations"


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str | None:
    """The newest revision this version of torbit knows."""
    return ScriptDirectory.from_config(_config()).get_current_head()


def is_known(revision: str) -> bool:
    """Whether this version of torbit has the revision (a newer torbit's is unknown)."""
    try:
        return ScriptDirectory.from_config(_config()).get_revision(revision) is not None
    except Exception:  # Alembic's ResolutionError / CommandError for a revision it lacks
        return False


def _upgrade_sync(connection: Connection) -> None:
    # at head (every start but the first): Alembic's env.py and scripts need not be loaded
    if _current_sync(connection) == _head():
        return
    command.upgrade(_config(connection), "head")


@functools.cache
def _head() -> str | None:
    return head_revision()


def _current_sync(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


# Alembic keeps the running migration in a module-level proxy (`alembic.context`), so two
# upgrades in one event loop, even of different databases, must not interleave; the engine's
# lock only serialises upgrades of the same database.
_local_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary()
)


def _local_lock() -> asyncio.Lock:
    loop = asyncio.get_running_loop()
    lock = _local_locks.get(loop)
    if lock is None:
        lock = _local_locks[loop] = asyncio.Lock()
    return lock


async def upgrade_connection(conn: AsyncConnection, dialect: SqlDialect) -> None:
    """Bring the schema to head inside the dialect's upgrade lock, and commit."""
    async with _local_lock():
        await dialect.lock_for_migration(conn)
        await conn.run_sync(_upgrade_sync)
        await conn.commit()


async def upgrade_engine(engine: AsyncEngine, dialect: SqlDialect) -> None:
    async with engine.connect() as conn:
        await upgrade_connection(conn, dialect)


async def upgrade(url: str, *, synchronous: str = DEFAULT_SYNCHRONOUS) -> str | None:
    """`torbit db upgrade`: bring the database at `url` to head; the revision it is now at.
    Raises ConfigError for a bad URL and ServiceUnavailable when the engine cannot be reached."""
    dialect = dialect_for(url)
    try:
        engine = dialect.create_engine(synchronous=synchronous, command_timeout=None)
    except OSError as e:
        raise unavailable(e) from e
    return await _revision(engine, upgrading=dialect)


async def current_revision(url: str) -> str | None:
    """`torbit db status`: the revision the database is at; None if it was never migrated."""
    dialect = dialect_for(url)
    if isinstance(dialect, SqliteDialect) and not dialect.path.exists():
        return None  # do not create an empty database just to look at it
    try:
        engine = dialect.create_engine()
    except OSError as e:
        raise unavailable(e) from e
    return await _revision(engine)


async def _revision(engine: AsyncEngine, upgrading: SqlDialect | None = None) -> str | None:
    """The revision `engine`'s database is at, once `upgrading` (the engine's dialect, if
    given) has brought it to head; the engine disposed of. An engine out of reach raises
    ServiceUnavailable."""
    try:
        if upgrading is not None:
            await upgrade_engine(engine, upgrading)
        async with engine.connect() as conn:
            return await conn.run_sync(_current_sync)
    except Exception as e:
        if is_unavailable(e):
            raise unavailable(e) from e
        raise
    finally:
        await engine.dispose()
