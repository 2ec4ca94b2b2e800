"""A right taken away on one node (a kick, a ban, a mute, an ignore, a revocation) is applied
on the others when its node event reaches them. The one who asked was answered as soon as
the broker had the event, a fetch before any other node could apply it: on two nodes sharing
Cassandra and Kafka, a kicked user's lines written 0-12 ms after the answer were stored on
the other node (stop 49's probe). Such events are `settled` now: the publisher returns once
the log has handed the event back to its own node, as it hands it to every other."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.kafka.kafka_support import Node
from torbit.backends.message_log.kafka import KafkaLog
from torbit.core.events import IgnoreChanged, NodeEvents
from torbit.core.models import Message
from torbit.core.names import EVENTS_CHANNEL
from torbit.testing.kafka import KafkaCluster

pytestmark = pytest.mark.kafka

ROUNDS = 10


class EventsNode(Node):
    """A node whose events channel feeds its NodeEvents, as services.py wires them; and the
    ignore events it applied, in order."""

    def __init__(self, log: KafkaLog) -> None:
        super().__init__(log)
        self.events = NodeEvents(log)
        self.applied: list[str] = []
        self.events.on(IgnoreChanged, lambda e: self.applied.append(e.target))

    def hear(self, message: Message) -> None:
        super().hear(message)
        if message.channel == EVENTS_CHANNEL:
            self.events.receive(message)


@pytest.fixture
async def nodes(broker: KafkaCluster, prefix: str) -> AsyncIterator[list[EventsNode]]:
    made = [EventsNode(KafkaLog(broker.bootstrap, topic_prefix=prefix)) for _ in range(2)]
    for node in made:
        await node.log.start(node.hear)
        await node.events.start()
    yield made
    for node in made:
        await node.log.close()


async def test_a_settled_event_is_answered_once_its_node_has_it_back(
    nodes: list[EventsNode],
) -> None:
    a, b = nodes
    for n in range(ROUNDS):
        await a.events.publish(IgnoreChanged("alice", f"t{n}", True), settled=True)
        back = [m for m in a.of(EVENTS_CHANNEL) if f'"t{n}"' in m.text]
        assert len(back) == 1, n  # handed back to its own node before the answer
    # and to every other node (their lag is theirs: waited for here, not at the answer)
    await b.wait_for(ROUNDS, EVENTS_CHANNEL)
    assert b.applied == [f"t{n}" for n in range(ROUNDS)]
