"""A tansu broker for the whole session, and KafkaLogs ("nodes") that are closed after each test.

Each test gets its own topic prefix, so tests sharing the broker never see each other's
channels. The broker is frozen and thawed by outage tests, never restarted (its data is in
memory), so it must be running again when such a test ends.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from tests.helpers.broker import tansu_broker
from tests.kafka.kafka_support import Node, NodeFactory
from torbit.backends.message_log.kafka import KafkaLog
from torbit.testing.tansu import TansuBroker

_prefixes = itertools.count()


@pytest.fixture(scope="session")
def tansu() -> Iterator[TansuBroker]:
    yield from tansu_broker()


@pytest.fixture
def broker(tansu: TansuBroker) -> Iterator[TansuBroker]:
    """The session broker, made sure to be running again after the test."""
    yield tansu
    tansu.resume()


@pytest.fixture
def prefix() -> str:
    return f"t{next(_prefixes)}"


@pytest.fixture
async def make_node(broker: TansuBroker, prefix: str) -> AsyncIterator[NodeFactory]:
    """`await make_node()` starts another node on the test's topic prefix."""
    nodes: list[Node] = []

    async def factory(**options: Any) -> Node:
        log = KafkaLog(broker.bootstrap, topic_prefix=prefix, **options)
        node = Node(log)
        await log.start(node.received.append)
        nodes.append(node)
        return node

    yield factory
    broker.resume()
    for node in nodes:
        await node.log.close()


@pytest.fixture
async def node(make_node: NodeFactory) -> Node:
    return await make_node()
