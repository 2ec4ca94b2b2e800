"""A SQLite store's close ends every aiosqlite thread it opened, and returns, even when
SQLAlchemy has already stopped a connection (its terminate, for a checkout whose task was
cancelled) while its thread was still running a statement. aiosqlite 0.22 refuses a close
after a stop and then waits forever for a second stop the ended thread never answers: CI
saw a server's stop hang so for two minutes after twenty clients were cut off mid-request."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import aiosqlite

from torbit.backends.store.drivers import thread_of
from torbit.backends.store.sql import SqlStore


async def test_a_connection_stopped_mid_statement_does_not_hold_up_the_close(
    tmp_path: Path,
) -> None:
    store = SqlStore(f"sqlite:///{tmp_path}/torbit.db")
    await store.open()
    raw = await store.engine.raw_connection()
    driver = raw.driver_connection
    raw.detach()  # the pool's no more: as a connection a cancelled task left behind
    assert isinstance(driver, aiosqlite.Connection)
    gate, reached = threading.Event(), threading.Event()

    def held() -> bool:
        reached.set()
        return gate.wait(30)

    await driver.create_function("held", 0, held)
    running = asyncio.ensure_future(driver.execute_fetchall("SELECT held()"))
    await asyncio.to_thread(reached.wait, 10)  # the statement has reached the thread
    assert reached.is_set()
    driver.stop()  # what SQLAlchemy's terminate does (aiosqlite >= 0.22.1)
    timer = threading.Timer(0.5, gate.set)  # the statement ends while the store closes
    timer.start()
    try:
        closing = asyncio.ensure_future(store.close())
        done, _ = await asyncio.wait([closing], timeout=30)
        assert closing in done, "the store's close waited for a stopped connection"
        thread = thread_of(driver)
        assert thread is not None and not thread.is_alive()
    finally:
        gate.set()
        timer.cancel()
        await asyncio.wait([running], timeout=5)
