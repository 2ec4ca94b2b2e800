"""Fixtures for the scale-out suite: torbit nodes (`App`s in this process) sharing the
session's Apache Kafka broker (tests/helpers/broker.py) and a fresh PostgreSQL database per
test module.

Each test gets its own topic prefix and an emptied database, so tests of one module never see
each other's rooms, users or messages. Outage tests freeze the shared broker (SIGSTOP); the
`broker` fixture thaws it again whatever the test did. Tests that kill or restart brokers use
brokers of their own (`kafka_cluster`, `own_broker`), passed to a node as
`message_log={"url": ...}`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest

from tests.conftest import ServerFactory
from tests.contract.conftest import PgDatabases
from tests.helpers.broker import topic_prefix
from tests.scale.clients import Clients
from torbit.app import App
from torbit.backends.store.schema import metadata
from torbit.testing.kafka import KafkaCluster

NodeFactory = Callable[..., Awaitable[App]]


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    """A database of its own for this module, dropped at its end."""
    databases = PgDatabases()
    try:
        yield databases.create()
    finally:
        databases.drop_all()


@pytest.fixture
async def empty_db(pg_url: str) -> str:
    """The module's database with every torbit table emptied (the schema stays, if any)."""
    conn = await asyncpg.connect(pg_url, timeout=5)
    try:
        present = {r[0] for r in await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
        tables = [t.name for t in metadata.sorted_tables if t.name in present]
        if tables:
            await conn.execute(f"TRUNCATE {', '.join(tables)} CASCADE")
    finally:
        await conn.close()
    return pg_url


@pytest.fixture
def prefix() -> str:
    return topic_prefix("s")


def node_sections(pg_url: str, bootstrap: str, prefix: str) -> dict[str, dict[str, Any]]:
    """The settings every node of one cluster shares."""
    return {
        "storage": {"url": pg_url},
        "message_log": {"url": f"kafka://{bootstrap}", "topic_prefix": prefix},
    }


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
async def clients() -> AsyncIterator[Clients]:
    """Open clients with `await clients.http(node, "alice")` (or `.ws`, `.telnet`)."""
    opened = Clients()
    yield opened
    await opened.close()
