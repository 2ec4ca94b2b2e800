"""Fixtures for the scale-out suite: torbit nodes (`App`s in this process) sharing the
session's Apache Kafka broker (tests/helpers/broker.py) and a store of their own per test
module: a PostgreSQL database or, for tests parametrised with `STORES` (the seed's deployment,
`cassandra + kafka`, besides `postgresql + kafka`), a Cassandra keyspace on the test node.

Each test gets its own topic prefix and an emptied store, so tests of one module never see
each other's rooms, users or messages. Outage tests freeze the shared broker (SIGSTOP); the
`broker` fixture thaws it again whatever the test did. Tests that kill or restart brokers use
brokers of their own (`kafka_cluster`, `own_broker`), passed to a node as
`message_log={"url": ...}`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest

from tests.conftest import ServerFactory
from tests.contract.conftest import CassandraKeyspaces, PgDatabases
from tests.helpers.broker import topic_prefix
from tests.scale.clients import Clients
from tests.scale.processes import NodeProcess
from torbit.app import App
from torbit.backends.store.cassandra import CassandraStore
from torbit.backends.store.schema import metadata
from torbit.core import events as node_events
from torbit.testing.cassandra_keyspaces import empty_keyspace
from torbit.testing.kafka import KafkaCluster

NodeFactory = Callable[..., Awaitable[App]]
ProcessFactory = Callable[..., NodeProcess]


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    """A database of its own for this module, dropped at its end."""
    databases = PgDatabases()
    try:
        yield databases.create()
    finally:
        databases.drop_all()


# `@pytest.mark.parametrize("scale_store", STORES)` runs a test on both deployments. The first
# Cassandra test starts the node and migrates the keyspace: 20-30 s here, minutes on a machine
# busy with other work, hence its longer timeout.
STORES = [
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    pytest.param(
        "cassandra", id="cassandra", marks=[pytest.mark.cassandra, pytest.mark.timeout(400)]
    ),
]


@pytest.fixture
def scale_store() -> str:
    """The store the nodes share: PostgreSQL unless the test is parametrised with STORES."""
    return "postgresql"


@pytest.fixture(scope="session")
def cassandra_url() -> Iterator[str]:
    """A keyspace for the suite (on this process's test node), emptied before each test and
    dropped at the end of the session: creating one and its tables costs seconds on a busy
    machine, and so does dropping it."""
    keyspaces = CassandraKeyspaces()
    try:
        yield keyspaces.create()
    finally:
        keyspaces.drop_all()


@pytest.fixture
async def empty_db(scale_store: str, request: pytest.FixtureRequest) -> str:
    """The URL of the module's store, emptied (the schema stays, if any)."""
    if scale_store == "cassandra":
        url: str = request.getfixturevalue("cassandra_url")
        store = CassandraStore(url)
        await store.open()
        try:
            await empty_keyspace(store)
        finally:
            await store.close()
        return url
    pg_url: str = request.getfixturevalue("pg_url")
    conn = await asyncpg.connect(pg_url, timeout=5)
    try:
        present = {
            r[0]
            for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        }
        tables = [t.name for t in metadata.sorted_tables if t.name in present]
        if tables:
            # serials start again at 1, as in a new database: a node's start reads the newest
            # revocation (none: 0), and the next must not look like one past a gap
            await conn.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
    finally:
        await conn.close()
    return pg_url


@pytest.fixture
def prefix() -> str:
    return topic_prefix("s")


def node_sections(store_url: str, bootstrap: str, prefix: str) -> dict[str, dict[str, Any]]:
    """The settings every node of one cluster shares."""
    return {
        "storage": {"url": store_url},
        "message_log": {"url": f"kafka://{bootstrap}", "topic_prefix": prefix},
    }


def process_env(store_url: str, bootstrap: str, prefix: str) -> dict[str, str]:
    """`node_sections` as the environment of a node in a process of its own."""
    return {
        "TORBIT_STORAGE__URL": store_url,
        "TORBIT_MESSAGE_LOG__URL": f"kafka://{bootstrap}",
        "TORBIT_MESSAGE_LOG__TOPIC_PREFIX": prefix,
    }


def race_bursts(rounds: int) -> dict[str, int]:
    """The `limits` section of a test racing users' acts on two nodes for `rounds` rounds:
    each user's bursts hold every act of every round (up to eight moderation acts and
    joins a round, four invitations and creations), so no refusal is the rate limit's."""
    return {
        "moderation_burst": 8 * rounds,
        "join_burst": 8 * rounds,
        "invite_burst": 4 * rounds,
        "create_burst": 4 * rounds,
    }


async def eventually(
    what: str, check: Callable[[], Awaitable[bool]], within: float = 60.0, every: float = 0.1
) -> None:
    """Wait until `check()` holds, asking every `every` s; fail naming `what` after `within` s
    (a bound for a loaded machine, not a measure)."""
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within}s: {what}")
        await asyncio.sleep(every)


async def done(value: bool) -> bool:
    """`eventually`'s check of a plain condition: `lambda: done(bool(seen))`."""
    return value


@pytest.fixture
async def make_node(
    make_server: ServerFactory, broker: KafkaCluster, empty_db: str, prefix: str, tmp_path: Path
) -> AsyncIterator[NodeFactory]:
    """`await make_node("a")` starts one more node of this test's cluster, in this process;
    extra sections (`chat={...}`) are merged into its settings."""

    async def factory(name: str, **sections: dict[str, Any]) -> App:
        merged = node_sections(empty_db, broker.bootstrap, prefix)
        for section, values in sections.items():
            merged.setdefault(section, {}).update(values)
        return await make_server(data_dir=tmp_path / name, **merged)

    yield factory
    broker.resume()  # nodes stop cleanly only with a broker that answers


@pytest.fixture
def make_process(
    broker: KafkaCluster, empty_db: str, prefix: str, tmp_path: Path
) -> ProcessFactory:
    """`make_process("b")` makes one more node of this test's cluster as a process of its
    own (tests/scale/processes.py: not started), `make_node`'s store and log settings as its
    environment; extra variables (`TORBIT_CHAT__RETENTION_HOURS="24"`) are added."""

    def factory(name: str, **env: str) -> NodeProcess:
        return NodeProcess(
            tmp_path / name, **process_env(empty_db, broker.bootstrap, prefix), **env
        )

    return factory


@pytest.fixture
def patient_settling(monkeypatch: pytest.MonkeyPatch) -> None:
    """A `settled` node event's answer waits up to 60 s, not 1 (core/events.py SETTLE_WAIT_S),
    for every other node's word: a test of what that answer waits for is not the loaded
    machine's test of how long it takes."""
    monkeypatch.setattr(node_events, "SETTLE_WAIT_S", 60.0)


@pytest.fixture
async def clients() -> AsyncIterator[Clients]:
    """Open clients with `await clients.http(node, "alice")` (or `.ws`, `.telnet`)."""
    opened = Clients()
    yield opened
    await opened.close()
