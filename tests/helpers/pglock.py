"""A real PostgreSQL lock: one table locked (ACCESS EXCLUSIVE) by a connection of the test's
own, so that a node's store work that needs the table waits on it until the test lets go.
The tests ask PostgreSQL whether anyone waits on that table (`waiting`, `idle`), never a
clock. Only that table's waiters count, in its own database: the server is the test
process's, shared by every module's database and by the locks a test holds at once (stop 55:
a count of every backend waiting on any lock told "the rename waits" of any waiter)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import asyncpg  # type: ignore[import-untyped]


class TableLock:
    """`lock = await TableLock.take(url, "memberships")`; then `lock.release()` (a rollback)
    lets the waiters go, and `lock.close()` (in a `finally`) ends the connection; `held`
    does both at the end of a block."""

    def __init__(self, conn: asyncpg.Connection, tx: Any, table: str) -> None:
        self.conn = conn
        self.table = table
        self._tx = tx

    @classmethod
    async def take(cls, url: str, table: str, mode: str = "ACCESS EXCLUSIVE") -> TableLock:
        """`mode` "EXCLUSIVE": the table's writes wait, its reads do not."""
        conn = await asyncpg.connect(url, timeout=5)
        try:
            tx = conn.transaction()
            await tx.start()
            await conn.execute(f"LOCK TABLE {table} IN {mode} MODE")
        except BaseException:
            await conn.close()
            raise
        return cls(conn, tx, table)

    @classmethod
    @contextlib.asynccontextmanager
    async def held(
        cls, url: str, table: str, mode: str = "ACCESS EXCLUSIVE"
    ) -> AsyncIterator[TableLock]:
        """`async with TableLock.held(url, "ignores") as lock:` the lock for the block, let go
        and its connection ended at its end, whatever happened in it."""
        lock = await cls.take(url, table, mode)
        try:
            yield lock
        finally:
            await lock.release()
            await lock.close()

    async def waiting(self, at_least: int = 1) -> bool:
        """At least `at_least` other backends wait for a lock on this table."""
        n = await self.conn.fetchval(
            "SELECT count(DISTINCT pid) FROM pg_locks WHERE locktype = 'relation'"
            " AND NOT granted AND relation = $1::regclass"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            self.table,
        )
        return bool(n >= at_least)

    async def idle(self) -> bool:
        """Nobody waits for a lock on this table."""
        return not await self.waiting()

    async def release(self) -> None:
        await self._tx.rollback()

    async def close(self) -> None:
        await self.conn.close()
