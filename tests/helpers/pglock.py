"""A real PostgreSQL lock: one table locked (ACCESS EXCLUSIVE) by a connection of the test's
own, so that a node's store work that needs the table waits on it until the test lets go.
The tests ask PostgreSQL whether anyone waits on a lock (`waiting`, `idle`), never a clock."""

from __future__ import annotations

from typing import Any

import asyncpg  # type: ignore[import-untyped]


class TableLock:
    """`lock = await TableLock.take(url, "memberships")`; then `lock.release()` (a rollback)
    lets the waiters go, and `lock.close()` (in a `finally`) ends the connection."""

    def __init__(self, conn: asyncpg.Connection, tx: Any) -> None:
        self.conn = conn
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
        return cls(conn, tx)

    async def waiting(self, at_least: int = 1) -> bool:
        """At least `at_least` other backends wait on a lock."""
        n = await self.conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND pid <> $1",
            self.conn.get_server_pid(),
        )
        return bool(n >= at_least)

    async def idle(self) -> bool:
        """Nobody waits on a lock."""
        return not await self.waiting()

    async def release(self) -> None:
        await self._tx.rollback()

    async def close(self) -> None:
        await self.conn.close()
