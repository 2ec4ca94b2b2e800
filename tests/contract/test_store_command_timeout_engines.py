"""`storage.command_timeout` on SQLite and Cassandra, as on PostgreSQL
(test_store_command_timeout.py): each engine's own bound on a statement was a 5 s constant
(SQLite's busy_timeout, Cassandra's request timeout) whatever the setting said.

SQLite: another connection (the test's own) holds the database's write lock; a store given a
short timeout gives up on its write with the store's usual error while a store given a long
one, which began waiting first, still waits, and writes once the lock is let go.
Cassandra: the test's own node frozen (SIGSTOP); the same two stores, the same outcome."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.conftest import ServerFactory
from tests.contract.conftest import empty
from tests.helpers.statements import Statements
from tests.scale.conftest import done, eventually
from torbit.backends.registry import open_store
from torbit.backends.store.cassandra import CassandraStore
from torbit.backends.store.sql import SqlStore
from torbit.core.models import User
from torbit.errors import ServiceUnavailable
from torbit.testing.cassandra_keyspaces import shared_node

LOCKED = "storage unavailable: database is locked"
HANG_GUARD_S = 120  # not a timing: a store still waiting after this hangs


def user(name: str) -> User:
    return User(name=name, password_hash="h", created_at=datetime(2025, 1, 2, tzinfo=UTC))


def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/data/torbit.db"


async def test_sqlite_a_short_timeout_gives_up_on_a_held_write_lock_a_long_one_waits(
    tmp_path: Path,
) -> None:
    url = sqlite_url(tmp_path)
    quick = SqlStore(url, command_timeout=0.2)
    patient = SqlStore(url, command_timeout=3600)
    await quick.open()
    await patient.open()
    holder = sqlite3.connect(tmp_path / "data" / "torbit.db", isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # SQLite's one write lock, held by the test
        with Statements(patient.engine) as sent:
            waiting = asyncio.create_task(patient.create_user(user("bob")))
            # the patient's insert is with SQLite, waiting for the lock, before the quick asks
            await eventually(
                "the patient store's insert is sent",
                lambda: done(any(s.startswith("INSERT INTO users") for s in sent.seen)),
            )
            with pytest.raises(ServiceUnavailable, match=f"^{LOCKED}$"):
                async with asyncio.timeout(HANG_GUARD_S):
                    await quick.create_user(user("alice"))
            assert not waiting.done(), "the long timeout gave up too"
            holder.execute("ROLLBACK")  # the lock let go: the patient writes
            async with asyncio.timeout(HANG_GUARD_S):
                await waiting
        await quick.create_user(user("alice"))  # and the quick one serves again
        assert {u.name for u in await quick.list_users()} == {"alice", "bob"}
    finally:
        holder.close()
        await quick.close()
        await patient.close()


async def test_sqlite_the_server_and_open_store_hand_the_setting_over(
    tmp_path: Path, make_server: ServerFactory
) -> None:
    url = sqlite_url(tmp_path)
    store = open_store(url, "normal", command_timeout=0.25)
    await store.open()
    try:
        assert isinstance(store, SqlStore)
        async with store.engine.connect() as conn:
            assert (await conn.exec_driver_sql("PRAGMA busy_timeout")).scalar() == 250
    finally:
        await store.close()
    app = await make_server(storage={"url": url, "command_timeout": 0.2})
    assert app.core is not None
    holder = sqlite3.connect(tmp_path / "data" / "torbit.db", isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        with pytest.raises(ServiceUnavailable, match=f"^{LOCKED}$"):
            async with asyncio.timeout(HANG_GUARD_S):
                await app.core.store.create_user(user("alice"))
    finally:
        holder.close()


@pytest.mark.cassandra
async def test_cassandra_a_short_timeout_gives_up_on_a_frozen_node_a_long_one_waits(
    cassandra_keyspace: str,
) -> None:
    node = shared_node()
    if node is None:
        pytest.skip("$TORBIT_TEST_CASSANDRA names a node this test cannot freeze")
    quick = open_store(cassandra_keyspace, command_timeout=0.5)
    patient = open_store(cassandra_keyspace, command_timeout=3600)
    assert isinstance(quick, CassandraStore)
    assert isinstance(patient, CassandraStore)
    await quick.open()
    await patient.open()
    try:
        await empty(quick)
        await quick.create_user(user("alice"))
        assert await patient.get_user("alice") == user("alice")  # its statement prepared
        node.pause()
        try:
            waiting = asyncio.create_task(patient.get_user("alice"))
            await asyncio.sleep(0)  # sent before the quick one asks
            with pytest.raises(ServiceUnavailable, match=r"^storage unavailable: "):
                async with asyncio.timeout(HANG_GUARD_S):
                    await quick.get_user("alice")
            assert not waiting.done(), "the long timeout gave up too"
        finally:
            node.resume()
        async with asyncio.timeout(HANG_GUARD_S):
            assert await waiting == user("alice")  # answered once the node runs again
        assert await quick.get_user("alice") == user("alice")
    finally:
        await quick.close()
        await patient.close()
