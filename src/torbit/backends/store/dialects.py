"""The few places where SQLite and PostgreSQL differ, kept in one object per engine so that
the rest of the store is written once: the URL and driver, connection set-up, upserts, the lock
that serialises schema upgrades, space reclamation after a purge, and the fast batched insert
of messages. SQLite's is in sqlite_dialect.py; which one a storage URL names,
dialect_urls.py."""

from __future__ import annotations

import importlib.util
import zlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any

from sqlalchemy import Table, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.sql import Executable

from torbit.backends.store.schema import messages
from torbit.core.health import Health
from torbit.errors import ConfigError, ServiceUnavailable

# SQLite in WAL mode; "normal" keeps acknowledged messages through kill -9 (see config.py).
DEFAULT_SYNCHRONOUS = "normal"
CONNECT_TIMEOUT_S = 5.0
# A server that accepts connections but does not answer (frozen, overloaded, cut off by a
# network partition) must cost a request this long, not hang it: ServiceUnavailable after.
# The default of storage.command_timeout (config.py), which the store is given.
COMMAND_TIMEOUT_S = 5.0
# pg_advisory_xact_lock key shared by every torbit process upgrading the same database
MIGRATION_LOCK_ID = zlib.crc32(b"torbit.backends.store.migrations")
# the first half of the two-key advisory lock taken on a new name's skeleton (the second:
# the skeleton's hashtext); a signed int4
NAME_LOCK_SPACE = zlib.crc32(b"torbit.backends.store.names") - 2**31

Insert = sqlite.Insert | postgresql.Insert
# A hot-path statement in Core, built when called: SQLite runs its SQL text instead and needs
# the Core one at most once (its result processors), so building it every time would be waste.
Query = Callable[[], Executable]
MessageRow = tuple[str, int, str, str, Any, str, str | None]  # in `messages` column order
Batches = Sequence[tuple[str, Sequence[Sequence[Any]]]]  # statements, each over many rows


class SqlDialect(ABC):
    """What differs between engines; one subclass each."""

    name: str  # SQLAlchemy's backend name
    driver: str  # the asyncio DBAPI module, imported by SQLAlchemy

    def __init__(self, url: URL) -> None:
        self.url = url.set(drivername=f"{self.name}+{self.driver}")

    def check_driver(self) -> None:
        """Fail early, in words, when the driver package is not installed."""
        if importlib.util.find_spec(self.driver) is None:
            raise ConfigError(
                f"storage url {self.safe_url} needs the {self.driver!r} package: "
                f"pip install {self.driver}"
            )

    @property
    def safe_url(self) -> str:
        """The URL as configured (no driver name), its password hidden."""
        return self.url.set(drivername=self.name).render_as_string(hide_password=True)

    def disk_problem(self) -> str | None:
        """Why writes fail for want of space on a disk this process sees, if they do."""
        return None

    @abstractmethod
    def create_engine(
        self,
        *,
        synchronous: str = DEFAULT_SYNCHRONOUS,
        command_timeout: float | None = COMMAND_TIMEOUT_S,
    ) -> AsyncEngine:
        """An engine with torbit's connection settings. `command_timeout` bounds the wait for
        each statement's answer (None: no bound, for schema upgrades that may take long)."""

    @abstractmethod
    def insert(self, table: Table) -> Insert:
        """INSERT with this engine's ON CONFLICT support (both speak the same dialect of it)."""

    @abstractmethod
    async def lock_for_migration(self, conn: AsyncConnection) -> None:
        """Begin the upgrade transaction so that concurrent upgrades run one after another."""

    async def lock_name(self, conn: AsyncConnection, skeleton: str) -> None:  # noqa: B027
        """Begin a transaction on `conn` in which no other creates a name of this skeleton
        until it ends: the look-alike check and insert that follow in it cannot both pass
        for two names at once. SQLite: nothing to do, its writes take turns."""

    async def after_purge(self, conn: AsyncConnection) -> None:  # noqa: B027 (optional hook)
        """Give the space of deleted messages back for reuse, if the engine needs telling."""

    async def insert_messages(self, conn: AsyncConnection, rows: Sequence[MessageRow]) -> None:
        """Insert a batch of messages in the transaction open on `conn`."""
        await conn.execute(
            messages.insert(), [dict(zip(MESSAGE_COLUMNS, r, strict=True)) for r in rows]
        )

    async def commit_messages(self, conn: AsyncConnection, rows: Sequence[MessageRow]) -> None:
        """Insert a batch of messages in the transaction on `conn` (begun by whatever ran on it
        before, or now) and commit it. Nothing is committed when it raises."""
        await self.insert_messages(conn, rows)
        await conn.commit()

    # The hot path's statements (a receive's cursor and messages, the cursor's move) are given
    # twice: in Core, as a function that builds it, and as SQLite's SQL text with positional
    # `?` parameters, which SQLite runs straight on its driver (SqliteDialect.fetch) without
    # building the Core statement (building the cursor's upsert cost more CPU than running
    # it). Their rows are plain tuples.

    async def fetch(
        self, conn: AsyncConnection, query: Query, sql: str, params: Sequence[Any]
    ) -> Sequence[Sequence[Any]]:
        """The rows of a hot-path query on `conn` (not in a transaction)."""
        return list(await conn.execute(query()))

    def read_now(
        self, engine: AsyncEngine, query: Query, sql: str, params: Sequence[Any]
    ) -> Sequence[Sequence[Any]] | None:
        """The rows of a hot-path query read at once, on the caller's thread, where the
        engine can do that without waiting (SQLite); None: use `fetch`."""
        return None

    @property
    def commits_now(self) -> bool:
        """Whether `commit_now` may commit at all (else the log does not try)."""
        return False

    def commit_now(self, engine: AsyncEngine, rows: Sequence[MessageRow]) -> bool:
        """`commit_messages` of a small batch at once, on the caller's thread, where the
        engine can do that without waiting (SQLite in WAL, its commits not synced); False:
        nothing was written, use `commit_messages`."""
        return False

    def write_now(self, engine: AsyncEngine, sql: str, params: Sequence[Any]) -> int | None:
        """A small hot-path write (`write`'s SQL text) run and committed at once on the
        caller's thread, where the engine can do that without waiting (SQLite in WAL, its
        commits not synced); the number of rows it changed. None: nothing was written, use
        `write`."""
        return None

    def write_many_now(self, engine: AsyncEngine, batches: Batches) -> bool:
        """`write_now` for statements each run over many rows, in one commit; False:
        nothing was written."""
        return False

    async def close(self) -> None:  # noqa: B027 (optional hook)
        """Let go of what the dialect opened itself (SQLite's reader and writer, and its
        checkpoint's task, ended), when the store closes, before its engine is disposed."""

    async def settle(self) -> None:  # noqa: B027 (optional hook)
        """Once the store's engine is disposed: return when no driver connection the
        dialect's engines opened is open or running (SQLite: aiosqlite's threads)."""

    async def write(
        self, conn: AsyncConnection, statement: Query, sql: str, params: Sequence[Any]
    ) -> int:
        """A hot-path statement in a transaction of its own on `conn`, committed; the number
        of rows it inserted, changed or deleted."""
        result = await conn.execute(statement())
        await conn.commit()
        return int(getattr(result, "rowcount", 0))

    def stored_time(self, conn: AsyncConnection | AsyncEngine, at: datetime) -> Any:
        """A timestamp as a hot-path SQL text's parameter (SQLite's: as Core stores it); only
        the dialect of `conn` (a connection or the engine) is asked."""
        return at


MESSAGE_COLUMNS = tuple(c.name for c in messages.columns)


class PostgresDialect(SqlDialect):
    name = "postgresql"
    driver = "asyncpg"

    def create_engine(
        self,
        *,
        synchronous: str = DEFAULT_SYNCHRONOUS,
        command_timeout: float | None = COMMAND_TIMEOUT_S,
    ) -> AsyncEngine:
        # `synchronous` is SQLite's; PostgreSQL's durability is the server's synchronous_commit.
        return create_async_engine(
            self.url,
            pool_size=10,
            max_overflow=20,
            pool_pre_ping=True,  # a restarted server costs one failed ping, not a failed query
            connect_args={
                "timeout": CONNECT_TIMEOUT_S,
                "command_timeout": command_timeout,
                "server_settings": {"application_name": "torbit"},
            },
        )

    def insert(self, table: Table) -> Insert:
        return postgresql.insert(table)

    async def lock_name(self, conn: AsyncConnection, skeleton: str) -> None:
        # Read committed: the insert's NOT EXISTS, run once the lock is held, sees a
        # look-alike committed by whoever held it before (two transactions each seeing none
        # both inserted theirs). Released at commit or rollback.
        await conn.execute(
            text("SELECT pg_advisory_xact_lock(:space, hashtext(:skeleton))"),
            {"space": NAME_LOCK_SPACE, "skeleton": skeleton},
        )

    async def lock_for_migration(self, conn: AsyncConnection) -> None:
        # Released at commit: a second process starting at the same time waits here, then finds
        # the schema already at head and does nothing.
        await conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": MIGRATION_LOCK_ID})


# errors

_UNAVAILABLE = (
    sa_exc.OperationalError,  # SQLite: locked past busy_timeout, cannot open; PG: connection
    sa_exc.InterfaceError,  # asyncpg: connection closed under us
    sa_exc.DisconnectionError,
    sa_exc.TimeoutError,  # pool exhausted
    OSError,  # refused, unreachable, timed out, no such directory
)


# PostgreSQL SQLSTATE classes meaning "cannot get at the database", not "bad query":
# connection exception, invalid authorization, no such database, insufficient resources
# (too many connections, disk full), operator intervention (shutting down, starting up).
UNAVAILABLE_SQLSTATES = ("08", "28", "3D", "53", "57P")


def is_unavailable(e: BaseException) -> bool:
    """True for errors that mean the engine cannot be reached or used right now, as opposed to
    a bug in a query or a constraint violation."""
    if isinstance(e, sa_exc.DBAPIError):
        sqlstate = getattr(e.orig, "sqlstate", None) or ""
        if e.connection_invalidated or sqlstate.startswith(UNAVAILABLE_SQLSTATES):
            return True
    return isinstance(e, _UNAVAILABLE)


def unavailable(e: BaseException) -> ServiceUnavailable:
    detail = e.orig if isinstance(e, sa_exc.DBAPIError) and e.orig is not None else e
    if isinstance(detail, TimeoutError) and not str(detail):  # asyncpg's command_timeout
        return ServiceUnavailable("storage unavailable: the database did not answer in time")
    first_line = (str(detail).strip().splitlines() or [type(detail).__name__])[0]
    return ServiceUnavailable(f"storage unavailable: {first_line}")


class CountedUnavailable:
    """`with CountedUnavailable(health):` an engine failure in the block (is_unavailable)
    leaves it as ServiceUnavailable, counted by `health`; any other error leaves unchanged.
    The SQL store's connections and the SQL message log's reads and purges share it. A class,
    not @contextmanager: 0.27 against 1.0 µs a use (timeit, best of 5, load 1.8, 2026-12-08),
    on every receive page's read."""

    __slots__ = ("_health",)

    def __init__(self, health: Health) -> None:
        self._health = health

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if isinstance(e, Exception) and is_unavailable(e):
            raise self._health.failed(unavailable(e)) from e
