"""KafkaLogs ("nodes") on the session's Apache Kafka broker (tests/helpers/broker.py), closed
after each test. Each test gets its own topic prefix, so tests sharing the broker never see
each other's channels. Outage tests freeze the broker; the `broker` fixture thaws it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.helpers.broker import topic_prefix
from tests.kafka.kafka_support import Node, NodeFactory
from torbit.backends.message_log.kafka import KafkaLog
from torbit.testing.kafka import KafkaCluster


@pytest.fixture
def prefix() -> str:
    return topic_prefix("t")


@pytest.fixture
async def make_node(broker: KafkaCluster, prefix: str) -> AsyncIterator[NodeFactory]:
    """`await make_node()` starts another node on the test's topic prefix."""
    nodes: list[Node] = []

    async def factory(bootstrap: str | None = None, **options: Any) -> Node:
        options.setdefault("fetch_wait_ms", 500)
        log = KafkaLog(bootstrap or broker.bootstrap, topic_prefix=prefix, **options)
        node = Node(log)
        await log.start(node.hear)
        nodes.append(node)
        return node

    yield factory
    broker.resume()
    for node in nodes:
        await node.log.close()


@pytest.fixture
async def node(make_node: NodeFactory) -> Node:
    return await make_node()
