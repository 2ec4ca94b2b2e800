"""What is particular to the Cassandra store: its URL and consistency setting, schema
migrations (versions, concurrent first starts), and a node that freezes or crashes."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import acsylla
import pytest

from tests.contract.conftest import cassandra_at, empty
from torbit.backends.registry import open_log, open_store
from torbit.backends.store.cassandra import CassandraStore
from torbit.backends.store.cassandra_cql import RECONNECT_DELAY_MS
from torbit.backends.store.cassandra_schema import HEAD, MIGRATIONS, current_version
from torbit.config import load_settings
from torbit.core.models import User
from torbit.errors import ConfigError, ServiceUnavailable
from torbit.testing.cassandra_jars import CassandraMissing, resolve_jars
from torbit.testing.cassandra_keyspaces import shared_node

pytestmark = pytest.mark.cassandra

# A hang guard, not a timing: a call to a frozen node ends with its error after the driver's
# request timeout (5 s); one still waiting after this hangs.
HANG_GUARD_S = 60


def user(name: str) -> User:
    return User(name=name, password_hash="h", created_at=datetime(2025, 1, 2, tzinfo=UTC))


@pytest.mark.parametrize(
    "url",
    [
        "cassandra://",
        "cassandra://db:9042",
        "cassandra://db:9042/",
        "cassandra:///torbit",
        "cassandra://db:x/torbit",
        "cassandra://db:9042/bad-name",
        "cassandra://a:1,b:2/torbit",
        "cassandra:db/torbit",
    ],
)
def test_bad_urls_are_config_errors(url: str) -> None:
    with pytest.raises(ConfigError, match="storage url"):
        CassandraStore(url)


def test_urls_name_hosts_port_and_keyspace() -> None:
    store = CassandraStore("cassandra://db1:9142,db2:9142/chat")
    assert (store.url.hosts, store.url.port, store.ks) == (("db1", "db2"), 9142, "chat")
    assert CassandraStore("cassandra://db/chat").url.port == 9042


def test_consistency_is_checked_and_serial_follows_it() -> None:
    with pytest.raises(ConfigError, match="consistency"):
        CassandraStore("cassandra://db/chat", consistency="ANY")
    assert CassandraStore("cassandra://db/chat").cql.serial == "LOCAL_SERIAL"  # LOCAL_QUORUM
    assert CassandraStore("cassandra://db/chat", consistency="quorum").cql.serial == "SERIAL"
    with pytest.raises(ConfigError, match=r"storage\.consistency"):
        load_settings(environ={}, storage={"consistency": "SOMETIMES"})


def test_registry_opens_it_with_the_consistency_and_refuses_the_local_log() -> None:
    store = open_store("cassandra://db:9042/chat", "full", consistency="ONE")
    assert isinstance(store, CassandraStore) and store.cql.consistency == "ONE"
    with pytest.raises(ConfigError, match="kafka"):
        open_log("local", store, topic_prefix="t", replication_factor=1, retention_hours=1)


async def test_unreachable_cassandra_is_unavailable() -> None:
    with pytest.raises(ServiceUnavailable, match=r"^storage unavailable: "):
        await CassandraStore("cassandra://127.0.0.1:1/torbit").open()


async def test_a_level_the_cluster_cannot_meet_is_unavailable(cassandra_keyspace: str) -> None:
    store = CassandraStore(cassandra_keyspace, consistency="THREE")  # one node
    with pytest.raises(ServiceUnavailable, match=r"^storage unavailable: "):
        await store.open()


async def test_upgrade_records_each_version_once(
    fresh_database: Callable[[str], str],
) -> None:
    store = CassandraStore(fresh_database("cassandra"))
    await store.cql.connect()
    try:
        assert await current_version(store.cql, store.ks) is None  # no keyspace yet
    finally:
        await store.close()
    await store.open()
    try:
        assert await current_version(store.cql, store.ks) == HEAD
        rows = await store.query(f"SELECT version, description FROM {store.ks}.schema_version")
        assert sorted((r["version"], r["description"]) for r in rows) == [
            (m.version, m.description) for m in MIGRATIONS
        ]
        await store.close()
        await store.open()  # again: nothing to do
        assert len(await store.query(f"SELECT version FROM {store.ks}.schema_version")) == len(
            MIGRATIONS
        )
    finally:
        await store.close()


async def test_concurrent_first_starts_migrate_once(
    fresh_database: Callable[[str], str],
) -> None:
    url = fresh_database("cassandra")
    stores = [CassandraStore(url) for _ in range(4)]
    try:
        await asyncio.gather(*(s.open() for s in stores))
        for s in stores:
            assert await s.list_users() == []
        ks = stores[0].ks
        assert len(await stores[0].query(f"SELECT version FROM {ks}.schema_version")) == len(
            MIGRATIONS
        )
        assert await stores[0].query(f"SELECT owner FROM {ks}.schema_lock") == []
    finally:
        for s in stores:
            await s.close()


async def test_a_frozen_node_is_unavailable_until_it_thaws(cassandra_keyspace: str) -> None:
    node = shared_node()
    if node is None:
        pytest.skip("$TORBIT_TEST_CASSANDRA names a node this test cannot freeze")
    store = CassandraStore(cassandra_keyspace)
    await store.open()
    try:
        await empty(store)
        await store.create_user(user("alice"))
        node.pause()
        try:
            # bounded by the request timeout (5 s), not hung: the guard is far above it
            with pytest.raises(ServiceUnavailable, match=r"^storage unavailable: "):
                async with asyncio.timeout(HANG_GUARD_S):
                    await store.get_user("alice")
        finally:
            node.resume()
        assert await store.get_user("alice") == user("alice")
    finally:
        await store.close()


@pytest.mark.slow
@pytest.mark.timeout(300)  # a restart takes 10 s here, several times that on a busy machine
async def test_acknowledged_writes_survive_kill_9_and_the_store_reconnects(
    cassandra_keyspace: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """And the driver tries the node again on the store's constant schedule: acsylla applies
    its exponential defaults after the constant delay unless they are unset, and with them
    the store waited 2, 4, 8... s between tries, past this test's 30 s in a CI run where the
    restart took longer."""
    node = shared_node()
    if node is None:
        pytest.skip("$TORBIT_TEST_CASSANDRA names a node this test cannot kill")
    create_cluster = acsylla.create_cluster

    def telling(*args: Any, **kw: Any) -> Any:  # the same cluster, its reconnects logged
        return create_cluster(*args, **{**kw, "log_level": "info"})

    monkeypatch.setattr(acsylla, "create_cluster", telling)
    caplog.set_level(logging.INFO, logger="acsylla")
    store = CassandraStore(cassandra_keyspace)
    await store.open()
    try:
        await empty(store)
        names = [f"user{i}" for i in range(50)]
        await asyncio.gather(*(store.create_user(user(n)) for n in names))
        await store.set_cursor("user1", "lobby", 42)
        node.kill()
        with pytest.raises(ServiceUnavailable):
            await store.get_user("user1")
        node.run()  # same data directory and ports (blocking: nodes start from the main thread)
        deadline = time.monotonic() + 30
        while True:  # the driver reconnects on its own
            try:
                await store.ping()
                break
            except ServiceUnavailable:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)
        assert sorted(u.name for u in await store.list_users()) == sorted(names)
        assert await store.get_cursor("user1", "lobby") == 42
    finally:
        await store.close()
    schedules = [r.getMessage() for r in caplog.records if "reconnect for host" in r.getMessage()]
    assert schedules, "the driver logged no reconnect"
    delay = f"constant reconnect for host {node.address} in {RECONNECT_DELAY_MS}ms"
    assert all(delay in m for m in schedules), schedules


def test_jar_folder_without_cassandra_fails_in_words(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TORBIT_CASSANDRA_LIB", str(tmp_path))
    with pytest.raises(CassandraMissing, match="no Cassandra jar"):
        resolve_jars()


def test_missing_maven_fails_in_words(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TORBIT_CASSANDRA_LIB", raising=False)
    monkeypatch.setenv("TORBIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PATH", str(tmp_path))  # no mvn on it
    with pytest.raises(CassandraMissing, match="Maven"):
        resolve_jars()


async def test_upgrade_to_version_4_keeps_each_read_cursor_at_its_highest(
    fresh_database: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Migration 4 fills read_cursors (one row, moved by compare-and-set) from the old
    row-per-position cursors, whose highest row was the cursor."""
    # a keyspace as version 3 left it
    store = await cassandra_at(fresh_database("cassandra"), 3, monkeypatch)
    try:
        for user_key, channel, last_id in (
            ("alice", "hall", 5),
            ("alice", "hall", 9),
            ("alice", "@alice", 2),
            ("bob", "hall", 7),
        ):
            await store.cql.run(
                f"INSERT INTO {store.ks}.cursors (user_key, channel, last_id) VALUES (?, ?, ?)",
                user_key,
                channel,
                last_id,
            )
        await store.close()
        await store.open()  # to HEAD
        assert await store.get_cursor("alice", "hall") == 9
        assert await store.get_cursor("alice", "@alice") == 2
        assert await store.get_cursor("bob", "hall") == 7
        assert not await store.advance_cursor("alice", "hall", 5, 10)
        assert await store.advance_cursor("alice", "hall", 9, 10)
    finally:
        await store.close()
