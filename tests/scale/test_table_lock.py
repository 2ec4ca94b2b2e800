"""The scale tests' PostgreSQL lock (tests/helpers/pglock.py) counts the waiters on its own
table only. It counted every backend of the server waiting on any lock: a test holding two
tables took a waiter on one for a waiter on the other, and "the rename waits on the lock"
(tests/scale/test_guest_rename_cluster.py) could be any other wait of the test process's
server, so the lock was let go before the rename reached it."""

from __future__ import annotations

import asyncio

import asyncpg  # type: ignore[import-untyped]
import pytest

from tests.helpers.pglock import TableLock
from tests.scale.conftest import eventually

pytestmark = [pytest.mark.postgres]


async def test_a_lock_counts_the_waiters_on_its_own_table_only(pg_url: str) -> None:
    setup = await asyncpg.connect(pg_url, timeout=5)
    try:
        await setup.execute("CREATE TABLE IF NOT EXISTS held_here (x int)")
        await setup.execute("CREATE TABLE IF NOT EXISTS held_elsewhere (x int)")
    finally:
        await setup.close()
    mine = await TableLock.take(pg_url, "held_here", mode="EXCLUSIVE")
    other = await TableLock.take(pg_url, "held_elsewhere", mode="EXCLUSIVE")
    writers = [await asyncpg.connect(pg_url, timeout=5) for _ in range(2)]
    writes: list[asyncio.Task[str]] = []
    try:
        writes.append(
            asyncio.create_task(writers[0].execute("INSERT INTO held_elsewhere VALUES (1)"))
        )
        await eventually("a write waits on the other table", other.waiting)
        assert not await mine.waiting(), "a waiter on another table counted"
        assert await mine.idle()

        writes.append(asyncio.create_task(writers[1].execute("INSERT INTO held_here VALUES (1)")))
        await eventually("a write waits on this table", mine.waiting)
        assert not await mine.waiting(2), "two waiters counted where one waits"
        assert not await other.waiting(2)
    finally:
        for lock in (mine, other):
            await lock.release()
            await lock.close()
        await asyncio.gather(*writes)
        for writer in writers:
            await writer.close()
