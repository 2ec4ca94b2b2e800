"""Starting a node does what it must and nothing more: tests start hundreds of servers in one
process, so work a start repeats for nothing is paid hundreds of times. (A stop keeps
uvicorn's own 0.1 s pause: without it, driver-thread operations of the tasks a stop cancels
outlived the test's event loop in CI: "Event loop is closed" in aiosqlite's thread.)"""

from __future__ import annotations

import asyncio
import sqlite3
import threading

import pytest
from pydantic import TypeAdapter

from tests.conftest import ServerFactory
from tests.helpers.http import basic, error_of, eventually, http_client, register
from torbit.backends.store.dialects import CHECKPOINT_EVERY, SqliteDialect
from torbit.backends.store.sql import SqlStore


async def test_a_second_server_builds_no_pydantic_adapter_again(
    make_server: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # on main each start's HTTP app built ~270 adapters, the same ones every time
    await make_server()
    built: list[object] = []
    real = TypeAdapter.__init__

    def counting(self: TypeAdapter[object], *args: object, **kwargs: object) -> None:
        built.append(args[0] if args else kwargs.get("type"))
        real(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(TypeAdapter, "__init__", counting)
    second = await make_server()
    monkeypatch.undo()
    assert built == []
    # and the shared adapters validate on the second server as on the first
    async with http_client(second) as client:
        await register(client, "alice")
        r = await client.get("/receive/lobby/alice?limit=0", auth=basic("alice"))
        error_of(r, 422)
        r = await client.get("/receive/lobby/alice?limit=2", auth=basic("alice"))
        assert r.status_code == 200, r.text


# A stop leaves nothing running behind it: no task of the node and no aiosqlite thread, so no
# answer of a driver thread can come after the test's event loop has closed (CI saw "Event loop
# is closed" raised in aiosqlite's thread at a later test's setup). Counted after `App.stop`
# returns, while the loop still runs; threads are told apart by the name threading gives them.

AIOSQLITE_THREAD = "(_connection_worker_thread)"


def driver_threads(before: set[threading.Thread]) -> list[threading.Thread]:
    """aiosqlite's threads alive now that were not in `before`."""
    return [t for t in threading.enumerate() if t not in before and AIOSQLITE_THREAD in t.name]


def other_tasks() -> list[asyncio.Task[object]]:
    me = asyncio.current_task()
    return [t for t in asyncio.all_tasks() if t is not me]


async def test_a_stop_waits_for_the_checkpoint_it_cancels(make_server: ServerFactory) -> None:
    # The WAL checkpoint the store asks for every CHECKPOINT_EVERY quick writes runs in
    # aiosqlite's thread; here it waits (SQLite's busy timeout) on a reader holding an older
    # snapshot. On main the stop cancelled its task without waiting and disposed the engine
    # meanwhile: the stop returned with the statement still running, its thread alive and its
    # connection given back to the disposed pool (closed by nobody), the answer to come after
    # the test's loop had closed.
    before = set(threading.enumerate())
    app = await make_server(telnet={"enabled": False}, irc={"enabled": False})
    assert app.core is not None
    store = app.core.store
    assert isinstance(store, SqlStore) and isinstance(store.dialect, SqliteDialect)
    dialect = store.dialect
    reader = sqlite3.connect(dialect.path, isolation_level=None)
    try:
        async with http_client(app) as client:
            await register(client, "alice")
            reader.execute("BEGIN")
            reader.execute("SELECT count(*) FROM users").fetchall()
            names = iter(f"user{i}" for i in range(50))
            while dialect._checkpoint is None:  # one registration's quick write asks for it
                dialect._since_checkpoint = CHECKPOINT_EVERY - 1
                await register(client, next(names))
        stop = asyncio.create_task(app.stop())
        await eventually(lambda: dialect._checkpoint is None)  # the store is closing
    finally:
        reader.rollback()
        reader.close()
    await stop
    assert other_tasks() == []
    assert driver_threads(before) == []
