"""The engine under SqlStore and its parts (sql.py, sql_users.py, sql_rooms.py, sql_masks.py,
sql_audit.py, sql_sessions.py, sql_guests.py): opened with the schema brought up to date
(Alembic upgrade head), closed, and the connections every statement takes, which turn engine
failures into ServiceUnavailable (and the store's health into failed); `_changed`, the one
write that says whether it touched a row, and `_column`, a read of one column, which every
part uses."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql import Executable

from torbit.backends.store.dialect_urls import dialect_for
from torbit.backends.store.dialects import (
    COMMAND_TIMEOUT_S,
    DEFAULT_SYNCHRONOUS,
    CountedUnavailable,
    Query,
    SqlDialect,
    is_unavailable,
    unavailable,
)
from torbit.backends.store.migrate import upgrade_engine
from torbit.core.health import Health
from torbit.errors import NotFound, ServiceUnavailable


class SqlConnections:
    """See SqlStore (sql.py) for `url` and `synchronous`."""

    def __init__(
        self,
        url: str,
        *,
        synchronous: str = DEFAULT_SYNCHRONOUS,
        command_timeout: float = COMMAND_TIMEOUT_S,
    ) -> None:
        self.dialect: SqlDialect = dialect_for(url)  # ConfigError now, not at open()
        self._synchronous = synchronous
        self._command_timeout = command_timeout
        self._engine: AsyncEngine | None = None
        self.health = Health()

    @property
    def engine(self) -> AsyncEngine:
        """The open engine (for the local message log, which shares the database)."""
        if self._engine is None:
            raise ServiceUnavailable("storage unavailable: the store is not open")
        return self._engine

    async def open(self) -> None:
        """Connect and bring the schema up to date (Alembic upgrade head)."""
        if self._engine is not None:
            return
        engine: AsyncEngine | None = None
        try:
            # the upgrade on an engine of its own: a long migration must not hit the timeout
            # that bounds every statement of the serving engine
            upgrader = self.dialect.create_engine(
                synchronous=self._synchronous, command_timeout=None
            )
            try:
                await upgrade_engine(upgrader, self.dialect)
            finally:
                await upgrader.dispose()
            engine = self.dialect.create_engine(
                synchronous=self._synchronous, command_timeout=self._command_timeout
            )
        except Exception as e:
            if engine is not None:
                await engine.dispose()
            if is_unavailable(e):  # which database, for the one line a failed start prints
                failure = unavailable(e)
                raise ServiceUnavailable(f"{failure.message} ({self.dialect.safe_url})") from e
            raise
        self._engine = engine

    async def close(self) -> None:
        if self._engine is not None:
            engine, self._engine = self._engine, None
            try:
                await self.dialect.close()
                await engine.dispose()
            finally:
                await self.dialect.settle()  # every driver connection closed, its thread ended

    async def ping(self) -> None:
        """The database answers, and has room for writes (`SqlDialect.disk_problem`)."""
        async with self._read() as conn:
            await conn.exec_driver_sql("SELECT 1")
        problem = self.dialect.disk_problem()
        if problem is not None:
            raise self.health.failed(ServiceUnavailable(f"storage unavailable: {problem}"))

    @asynccontextmanager
    async def _guarded(
        self, opening: AbstractAsyncContextManager[AsyncConnection]
    ) -> AsyncIterator[AsyncConnection]:
        """`opening`'s connection; engine failures in the block become ServiceUnavailable,
        counted by the store's health."""
        with CountedUnavailable(self.health):
            async with opening as conn:
                yield conn

    def _read(self) -> AbstractAsyncContextManager[AsyncConnection]:
        """A connection for reads."""
        return self._guarded(self.engine.connect())

    async def fetch(self, query: Query, sql: str, *params: Any) -> Sequence[Sequence[Any]]:
        """The rows of a hot-path query (a login's, the history on a join): on SQLite its SQL
        text (sql_text.py) read at once on this thread (SqliteDialect.read_now), else on the
        driver; the Core query is built only where it runs (PostgreSQL) or once for its
        result processors. Also the message log's (same package)."""
        rows = self.dialect.read_now(self.engine, query, sql, params)
        if rows is not None:
            return rows
        async with self._read() as conn:
            return await self.dialect.fetch(conn, query, sql, params)

    async def _column(self, query: Executable) -> list[Any]:
        """The one column of a read's rows, in their order."""
        async with self._read() as conn:
            return list((await conn.execute(query)).scalars())

    def _write(self) -> AbstractAsyncContextManager[AsyncConnection]:
        """A transaction, committed when the block ends without an error."""
        return self._guarded(self.engine.begin())

    async def _changed(
        self,
        statement: Any,
        missing: str | None = None,
        first: Callable[[AsyncConnection], Awaitable[None]] | None = None,
    ) -> bool:
        """Run one write; True if it touched a row. With `missing`, a foreign key violation
        (unknown room or user) becomes NotFound(missing). `first` runs before it in the same
        transaction (a check that raises: sql_rooms.py's `_in_room`)."""
        try:
            async with self._write() as conn:
                if first is not None:
                    await first(conn)
                result = await conn.execute(statement)
        except sa_exc.IntegrityError:
            if missing is None:
                raise
            raise NotFound(missing) from None
        return bool(result.rowcount > 0)
