"""A right taken away on one node (a kick, a ban, a mute, an ignore, a revocation, a room
deleted) is applied on the others when its node event reaches them. The one who asked was
answered as soon as the broker had the event, before any other node could apply it: on two
nodes sharing Cassandra and Kafka, a kicked user's lines written 0-32 ms after the owner's
answer were stored on the other node, and an ignored user's messages reached a long poll
there (stop 49's probe). Such events are `settled` now: the publisher returns once every
other node alive has said it applied the event, or after SETTLE_WAIT_S."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from tests.kafka.kafka_support import Node
from torbit.backends.message_log.kafka import KafkaLog
from torbit.core import events as node_events
from torbit.core.events import Applied, IgnoreChanged, NodeEvents, PresenceWanted, encode
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
    made = [EventsNode(KafkaLog(broker.bootstrap, topic_prefix=prefix)) for _ in range(3)]
    for node in made:
        await node.log.start(node.hear)
        await node.events.start()
    for node in made:  # each knows the others alive, as the presence table tells it
        others = [n.events.origin for n in made if n is not node]
        node.events.peers = others.copy
    yield made
    for node in made:
        await node.log.close()


async def test_a_settled_event_is_answered_once_every_other_node_applied_it(
    nodes: list[EventsNode], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(node_events, "SETTLE_WAIT_S", 60.0)  # not the loaded machine's test
    a, b, c = nodes
    for n in range(ROUNDS):
        await a.events.publish(IgnoreChanged("alice", f"t{n}", True), settled=True)
        assert b.applied[-1:] == c.applied[-1:] == [f"t{n}"], n  # both, before the answer
    # one not settled waits for no one, not even a node that never answers (it would warn)
    b.events.peers = lambda: ["never"]
    await b.events.publish(IgnoreChanged("bob", "unsettled", True))
    assert not [r for r in caplog.records if r.levelno == logging.WARNING]


async def test_a_node_that_never_says_so_holds_the_answer_a_bounded_time(
    nodes: list[EventsNode], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A node stalled or gone (still listed until its presence expires): the answer waits
    SETTLE_WAIT_S, and the log says which node did not answer."""
    monkeypatch.setattr(node_events, "SETTLE_WAIT_S", 0.5)
    a, b, _ = nodes
    a.events.peers = lambda: [b.events.origin, "gone"]
    await a.events.publish(IgnoreChanged("alice", "late", True), settled=True)
    assert b.applied == ["late"]
    told = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert told == [
        "node event ignore not applied by node(s) gone in 0.5 s: not waited for again until"
        " they answer"
    ], told


async def test_an_acknowledgment_heard_before_its_publisher_waits_counts(
    nodes: list[EventsNode], caplog: pytest.LogCaptureFixture
) -> None:
    """A node's `Applied` may be handed over before the publisher's own coroutine resumes
    (its loop busy): it is kept, and the publisher does not wait the second out."""
    a = nodes[0]
    a.events.peers = lambda: ["quick"]
    await a.events.publish(PresenceWanted("x"))  # no node says it applied this one
    await a.wait_for(1, EVENTS_CHANNEL)
    next_id = a.of(EVENTS_CHANNEL)[-1].id + 1
    early = Applied(a.events.origin, next_id, "quick")  # for the event published next
    said = encode(early, "quick")
    a.events.receive(Message(next_id + 99, EVENTS_CHANNEL, "torbit", said, datetime.now(UTC)))
    await a.events.publish(IgnoreChanged("alice", "t", True), settled=True)
    assert not [r for r in caplog.records if "not applied" in r.getMessage()]


async def test_a_node_that_let_a_wait_run_out_is_waited_for_again_once_it_answers(
    nodes: list[EventsNode], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A node killed without its goodbye stays listed until its presence expires (15 s), and a
    node of the version before never says `Applied`: each kick, ban or ignore waited the whole
    SETTLE_WAIT_S for it. It is waited for once, then not until it says it applied an event
    again (to any node): counted by the warnings, one per wait that ran out."""
    monkeypatch.setattr(node_events, "SETTLE_WAIT_S", 2.0)
    a, b, _ = nodes
    a.events.peers = lambda: [b.events.origin, "mute"]
    for n in range(3):
        await a.events.publish(IgnoreChanged("alice", f"quiet{n}", True), settled=True)
    assert b.applied == ["quiet0", "quiet1", "quiet2"]  # b still waited for, and applied each
    said = encode(Applied(b.events.origin, 1, "mute"), "mute")  # "mute" answers b's event
    a.events.receive(Message(10**6, EVENTS_CHANNEL, "torbit", said, datetime.now(UTC)))
    await a.events.publish(IgnoreChanged("alice", "again", True), settled=True)
    told = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    late = "node event ignore not applied by node(s) mute in 2 s: not waited for again"
    assert told == [f"{late} until they answer"] * 2, told
