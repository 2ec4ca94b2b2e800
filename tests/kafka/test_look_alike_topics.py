"""Kafka holds '.' and '_' to be one character in topic names: with room `x.y`'s topic there,
it refused to create `x_y`'s, so a room `#x_y` made after `#x.y` was deleted answered 503 to
every message on every node, for good (stop 48's probe). Rooms with an '_' have topics of
their own now (`TopicNames`), and such a room's topic of before is still used."""

from __future__ import annotations

import pytest

from tests.kafka.kafka_support import Node, NodeFactory, draft

pytestmark = pytest.mark.kafka


async def test_a_look_alike_of_a_deleted_room_can_be_written_to(node: Node) -> None:
    await node.log.publish([draft("x.y", "before")])
    await node.log.delete_channel("x.y")
    await node.log.watch("x_y")
    [sent] = await node.log.publish([draft("x_y", "after")])
    assert [m.text for m in await node.log.read("x_y")] == ["after"]
    await node.wait_for(1, "x_y")
    assert node.of("x_y") == [sent]
    assert await node.log.read("x.y") == []  # deleted, and not mixed with x_y


async def test_both_look_alikes_keep_their_own_messages(make_node: NodeFactory) -> None:
    """The store lets only one of them exist at a time; the log never mixes them either."""
    a, b = await make_node(), await make_node()
    await a.log.publish([draft("a_b.c", "1")])
    await b.log.publish([draft("a.b_c", "2"), draft("a.b.c", "3"), draft("a_b_c", "4")])
    for reader in (a, b):
        for room, text in (("a_b.c", "1"), ("a.b_c", "2"), ("a.b.c", "3"), ("a_b_c", "4")):
            assert [m.text for m in await reader.log.read(room)] == [text]


async def test_a_room_topic_of_before_keeps_its_messages(make_node: NodeFactory) -> None:
    """A node of before wrote `dev_ops` to `<prefix>.room.dev_ops`: a node of now reads what
    is there, and writes there too, so nodes of both kinds hear each other."""
    old = await make_node()
    old.log._names.decide("dev_ops", legacy=True)  # what every node did before stop 49
    await old.log.watch("dev_ops")
    [kept] = await old.log.publish([draft("dev_ops", "kept")])

    new = await make_node()
    assert await new.log.read("dev_ops") == [kept]
    assert new.log._names.topic("dev_ops") == old.log._names.topic("dev_ops")
    await new.log.watch("dev_ops")
    [sent] = await new.log.publish([draft("dev_ops", "new")])
    await old.wait_for(2, "dev_ops")
    await new.wait_for(1, "dev_ops")
    assert old.of("dev_ops") == [kept, sent] and new.of("dev_ops") == [sent]
    assert sent.id == kept.id + 1

    fresh = await make_node()  # a room no node of before wrote to gets its own topic
    await fresh.log.publish([draft("ops_team", "hi")])
    assert fresh.log._names.topic("ops_team").split(".")[-2:] == ["roomU", "opsUteam"]
