"""Calls on the aiosqlite driver under SQLAlchemy's connection, for the SQLite dialect's
hot paths (sqlite_dialect.py): a statement and its commit in one hand-off to the driver's
thread, and the driver connection itself."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncConnection

if TYPE_CHECKING:
    import aiosqlite


def run_committed(db: sqlite3.Connection, sql: str, rows: Sequence[Sequence[Any]]) -> None:
    """On aiosqlite's thread: the statement for each row, then the commit; on a failure the
    transaction is rolled back there and then."""
    try:
        db.executemany(sql, rows)
        db.commit()
    except BaseException:
        if db.in_transaction:
            db.rollback()
        raise


async def committed(db: aiosqlite.Connection, sql: str, rows: Sequence[Sequence[Any]]) -> None:
    """`sql` for each row and the commit, as one hand-off to aiosqlite's thread instead of
    two: each hand-off is a wake-up of that thread and one of the event loop's, which on a busy
    machine costs more than the statement. aiosqlite's public calls run one driver call each,
    so this queues the pair through its `_execute`, as its own helpers do (execute_fetchall,
    execute_insert); an aiosqlite without it gets the two public calls."""
    run = getattr(db, "_execute", None)
    raw = getattr(db, "_connection", None)
    if run is None or not isinstance(raw, sqlite3.Connection):
        await db.executemany(sql, rows)
        await db.commit()
        return
    await run(run_committed, raw, sql, rows)


async def driver_of(conn: AsyncConnection) -> aiosqlite.Connection:
    """The aiosqlite connection under a SQLAlchemy one (same transaction, same thread)."""
    import aiosqlite  # only once SQLite is in use (check_driver vouched for it)

    raw = await conn.get_raw_connection()
    driver = raw.driver_connection
    assert isinstance(driver, aiosqlite.Connection)
    return driver
