"""SQLite's message log commits a small batch on the event loop's thread (`commit_now`), with
no hand-off to aiosqlite's thread and back, and still acknowledges a message only once it is
committed; when another connection holds SQLite's write lock it commits the usual way."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from datetime import UTC, datetime

import aiosqlite
import pytest
from sqlalchemy import text

from tests.contract.conftest import draft, running
from torbit.backends.store.dialects import is_unavailable
from torbit.backends.store.sql import SqlStore
from torbit.core.models import Message


async def _pooled(store: SqlStore) -> sqlite3.Connection:
    """The sqlite3 connection under the store's one pooled connection (aiosqlite's)."""
    async with store.engine.connect() as conn:
        driver = (await conn.get_raw_connection()).driver_connection
        assert isinstance(driver, aiosqlite.Connection)
        raw = driver._connection
        assert isinstance(raw, sqlite3.Connection)
        return raw


async def test_a_lone_message_is_committed_on_the_loops_thread_before_its_ack(
    sqlite_url: str,
) -> None:
    inserts: list[int] = []  # the thread each INSERT INTO messages ran on

    def traced(sql: str) -> None:
        if sql.startswith("INSERT INTO messages"):
            inserts.append(threading.get_ident())

    seen: list[int] = []
    other: sqlite3.Connection | None = None

    def listener(m: Message) -> None:  # a second connection sees it before the ack
        assert other is not None
        row = other.execute(
            "SELECT id FROM messages WHERE channel = ? AND id = ?", (m.channel, m.id)
        ).fetchone()
        seen.append(row[0])

    async with running(sqlite_url, listener) as (store, log):
        assert store.dialect.url.database is not None
        other = sqlite3.connect(store.dialect.url.database)
        try:
            await log.publish([draft("lobby", "first")])  # the room's next id is read first
            await log.publish([draft("lobby", "second")])
            (await _pooled(store)).set_trace_callback(traced)
            writer = getattr(store.dialect, "_writer", None)
            if writer is not None:
                writer.set_trace_callback(traced)
            for i in range(5):
                await log.publish([draft("lobby", f"m{i}")])
        finally:
            other.close()
        assert log.commits == 7
    assert seen == list(range(1, 8))
    assert inserts == [threading.get_ident()] * 5  # none handed to aiosqlite's thread


async def test_a_message_waits_for_another_writers_lock_and_is_acked_after_its_commit(
    sqlite_url: str,
) -> None:
    async with running(sqlite_url) as (store, log):
        await log.publish([draft("lobby", "first")])
        await log.publish([draft("lobby", "second")])
        assert store.dialect.url.database is not None
        holder = sqlite3.connect(store.dialect.url.database, isolation_level=None)
        try:
            holder.execute("BEGIN IMMEDIATE")  # SQLite's write lock, held elsewhere
            publish = asyncio.create_task(log.publish([draft("lobby", "waits")]))
            await asyncio.sleep(0.3)
            assert not publish.done()  # not acknowledged: it is not committed
            holder.execute("COMMIT")
            (m,) = await publish
        finally:
            holder.close()
        check = sqlite3.connect(store.dialect.url.database)
        try:
            row = check.execute("SELECT text FROM messages WHERE id = ?", (m.id,)).fetchone()
        finally:
            check.close()
        assert row == ("waits",)
        assert log.commits == 3


async def test_an_insert_held_past_the_busy_timeout_is_the_store_unavailable(
    sqlite_url: str,
) -> None:
    """A room's first batch (its next id read in the same transaction) was inserted through
    the driver, whose "database is locked" was not taken for the store being busy: the
    sender got 503 all the same, but every such batch logged an ERROR with its traceback
    (stop 47's probe, the admin CLI holding the file). It is SQLAlchemy's error now, as the
    other paths raise, which callers know for unavailable."""
    async with running(sqlite_url, command_timeout=0.2) as (store, _):
        assert store.dialect.url.database is not None
        holder = sqlite3.connect(store.dialect.url.database, isolation_level=None)
        try:
            async with store.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))  # begun, as when a room's next id is read
                holder.execute("BEGIN IMMEDIATE")
                row = ("fresh", 1, "alice", "waits too long", datetime.now(UTC), "message", None)
                with pytest.raises(Exception, match="locked") as caught:
                    await store.dialect.commit_messages(conn, [row])
                assert is_unavailable(caught.value), repr(caught.value)
        finally:
            holder.close()
