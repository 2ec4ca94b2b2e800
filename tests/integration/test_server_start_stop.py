"""Starting a node does what it must and nothing more: tests start hundreds of servers in one
process, so work a start repeats for nothing is paid hundreds of times. And a stop leaves
nothing running behind it: no task, no driver thread, no open connection to the store, no
TLS handshake (counted after `App.stop` returns, while the loop still runs)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

import aiosqlite
import pytest
import trustme
from pydantic import TypeAdapter

from tests.conftest import ServerFactory
from tests.helpers.http import basic, error_of, eventually, http_client, register
from tests.helpers.irc import RawIrc
from tests.helpers.telnet_client import TelnetClient
from torbit.backends.store.dialects import CHECKPOINT_EVERY, SqliteDialect
from torbit.backends.store.sql import SqlStore

AIOSQLITE_THREAD = "(_connection_worker_thread)"  # how threading names aiosqlite's threads


def _is_open(conn: object) -> bool:
    if isinstance(conn, aiosqlite.Connection):
        return conn._connection is not None
    assert isinstance(conn, sqlite3.Connection)
    try:
        conn.total_changes  # noqa: B018 (raises once closed)
    except sqlite3.ProgrammingError:
        return False
    return True


def _connections() -> list[object]:
    return [o for o in gc.get_objects() if isinstance(o, aiosqlite.Connection | sqlite3.Connection)]


@dataclass
class Leftovers:
    """What runs or is open now that was not when `before()` was taken."""

    tasks: list[asyncio.Task[object]]
    threads: list[threading.Thread]
    connections: list[object]


class Census:
    def __init__(self) -> None:
        self._threads = set(threading.enumerate())
        self._connections = _connections()  # held, so that no id is reused meanwhile
        self._ids = {id(c) for c in self._connections}

    def leftovers(self) -> Leftovers:
        me = asyncio.current_task()
        return Leftovers(
            tasks=[t for t in asyncio.all_tasks() if t is not me],
            threads=[
                t
                for t in threading.enumerate()
                if t not in self._threads and t.name.endswith(AIOSQLITE_THREAD)
            ],
            connections=[c for c in _connections() if id(c) not in self._ids and _is_open(c)],
        )


NOTHING = Leftovers([], [], [])


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


async def test_a_stop_leaves_no_task_driver_thread_or_connection(
    make_server: ServerFactory,
) -> None:
    # A stop while a statement of the store runs in aiosqlite's thread: the WAL checkpoint
    # the store asks for every CHECKPOINT_EVERY quick writes (the next is the registration's),
    # which waits while a reader holds an older snapshot (this test's, let go once the store
    # has begun to close). On main, with or without uvicorn's 0.1 s pause, App.stop returned
    # with that statement still running: the checkpoint's task pending, its thread alive and
    # its connection open (given back to the pool the stop had disposed), the answer to come
    # after the test's loop had closed.
    census = Census()
    app = await make_server(irc={"guests": True})
    assert app.core is not None and app.telnet_port is not None
    store = app.core.store
    assert isinstance(store, SqlStore) and isinstance(store.dialect, SqliteDialect)
    dialect = store.dialect
    telnet = TelnetClient(*await asyncio.open_connection("127.0.0.1", app.telnet_port))
    await telnet.login("alice")
    irc = await RawIrc.connect(app)
    await irc.register("bob")
    # gone before the stop: their logouts would wait for the checkpoint (SQLite busy, 5 s)
    await telnet.close()
    await irc.close()
    doors = [app.telnet, app.irc]
    await eventually(lambda: not any(door is not None and door.sessions for door in doors))
    async with http_client(app) as client:
        reader = sqlite3.connect(dialect.path, isolation_level=None)
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM users").fetchall()
        for name in ("carol", "dave", "erin", "frank"):  # one may find SQLite busy
            dialect._since_checkpoint = CHECKPOINT_EVERY - 1
            await register(client, name)
            if dialect._checkpoint is not None:
                break
        assert dialect._checkpoint is not None and not dialect._checkpoint.done()
        stop = asyncio.create_task(app.stop())
        await eventually(lambda: dialect._checkpoint is None)  # the store is closing
        reader.rollback()
        reader.close()
        await stop
    assert census.leftovers() == NOTHING


async def test_a_stop_cuts_tls_handshakes_under_way(
    make_server: ServerFactory, tmp_path: Path
) -> None:
    # on main a client that never sent its hello kept its socket and the handshake's task
    # (and its count in the connection limits) until the 10 s handshake timeout, long after
    # the stop had returned: here three tasks left, and `connections.open` 3
    cert = trustme.CA().issue_cert("127.0.0.1", "localhost")
    cert_path, key_path = str(tmp_path / "cert.pem"), str(tmp_path / "key.pem")
    cert.private_key_and_cert_chain_pem.write_to_path(cert_path)
    cert.private_key_pem.write_to_path(key_path)
    tls = {"tls_port": 0, "tls_cert": cert_path, "tls_key": key_path}
    app = await make_server(telnet=tls, irc=tls, http={"tls_cert": cert_path, "tls_key": key_path})
    assert app.telnet is not None and app.telnet_tls_port and app.irc_tls_port and app.http_port
    connections = app.telnet.connections
    silent = [
        await asyncio.open_connection("127.0.0.1", port)
        for port in (app.telnet_tls_port, app.irc_tls_port, app.http_port)
    ]
    await eventually(lambda: connections.open == 3)  # each in its handshake
    await app.stop()
    assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []
    assert connections.open == 0
    for reader, writer in silent:
        async with asyncio.timeout(5):  # a guard: the handshake timeout is 10 s
            with contextlib.suppress(ConnectionError):  # cut (reset): closed all the same
                assert await reader.read(100) == b""
        writer.close()
