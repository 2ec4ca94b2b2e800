"""Starting a node does what it must and nothing more: tests start hundreds of servers in one
process, so work a start repeats for nothing is paid hundreds of times. And a stop leaves
nothing running behind it, without uvicorn's fixed 0.1 s pause (frontends/http/server.py):
no task of the node, no aiosqlite thread."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from pathlib import Path

import pytest
from pydantic import TypeAdapter

from tests.conftest import ServerFactory
from tests.helpers.http import basic, error_of, eventually, http_client, register
from tests.helpers.irc import RawIrc
from tests.helpers.telnet_client import TelnetClient
from torbit.app import App
from torbit.backends.store.sql import SqlStore
from torbit.backends.store.sqlite_dialect import CHECKPOINT_EVERY, SqliteDialect


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


async def stop_mid_everything(app: App) -> None:
    """Stop the node with clients at every stage: logged in and sending (telnet), joining and
    talking as they quit (IRC), in the password dialogue, and gone a moment before; with
    HTTP, long polls waiting and registrations under way."""
    assert app.telnet_port is not None
    chatting = [await TelnetClient.connect(app.telnet_port) for _ in range(8)]
    irc = [await RawIrc.connect(app) for _ in range(3)]
    http = contextlib.AsyncExitStack()
    requests: list[asyncio.Task[object]] = []
    try:
        if app.http_port is not None:
            client = await http.enter_async_context(http_client(app))
            await register(client, "poller")
            for _ in range(2):
                poll = client.get(
                    "/receive/lobby/poller", params={"wait": 30}, auth=basic("poller")
                )
                requests.append(asyncio.ensure_future(poll))
        for i, c in enumerate(chatting):
            await c.login(f"user{i}")
        for i, r in enumerate(irc):
            await r.register(f"nick{i}")
        logging_in = [await TelnetClient.connect(app.telnet_port) for _ in range(4)]
        chatting += logging_in
        for i, c in enumerate(logging_in):
            await c.read_until("Name: ")
            c.send(f"new{i}")
        for c in logging_in[:2]:
            await c.read_until("password: ")
            c.send("secret-pw")
        for c in chatting[:8]:
            c.send("hello all")
            c.send("/join elsewhere")
        for i, r in enumerate(irc):
            r.send("JOIN #lobby", f"PRIVMSG #lobby :hi from {i}", "QUIT :bye")
        if app.http_port is not None:
            for i in range(2):
                body = {"name": f"late{i}", "password": "secret-pw"}
                requests.append(asyncio.ensure_future(client.post("/api/v1/users", json=body)))
        for c in chatting[:3]:  # gone just before the stop
            c.writer.transport.abort()
        await app.stop()
        if requests:  # answered or cut by the stop: done either way
            await asyncio.wait(requests)
    finally:
        for request in requests:
            request.cancel()
        await http.aclose()
        for c in chatting:
            await c.close()
        for r in irc:
            await r.close()


@pytest.mark.parametrize("http", [False, True], ids=["no-http", "http"])
async def test_a_stop_mid_login_and_mid_send_leaves_no_task_or_driver_thread(
    make_server: ServerFactory, caplog: pytest.LogCaptureFixture, http: bool, tmp_path: Path
) -> None:
    # On main the doors' shutdown waited for the tasks it had when it closed the sessions: the
    # logouts (started a loop turn later, when the connections were lost) and the commands
    # still running went on while the stop closed the message log and the store ("logout of
    # nick1 failed: message log unavailable"), and were left pending after it. Without HTTP,
    # whose server's shutdown pauses 0.1 s (which let them end, mostly), and three times, each
    # a new node: on main at least one of the three left a task most runs. With HTTP, its
    # server's shutdown no longer pauses: the test shows the pause is not what a clean stop
    # needs.
    for i in range(3):
        before = set(threading.enumerate())
        sections = {"irc": {"guests": True}, "http": {"enabled": http}}
        await stop_mid_everything(await make_server(tmp_path / f"node{i}", **sections))
        assert other_tasks() == []
        assert driver_threads(before) == []
    failed = [r.getMessage() for r in caplog.records if "failed" in r.getMessage()]
    assert failed == []
