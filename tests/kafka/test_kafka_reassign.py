"""New rooms watched one after another on a node with a long fetch wait: each watch reassigns
the live consumer, which drops its fetch in flight while the broker still holds it for its
whole wait and answers the connection's next requests only after it. Those reassignments
must not queue long fetches one behind the other, past the request timeout (once 5 s of no
delivery for the new rooms of a node)."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from tests.kafka.kafka_support import Node, NodeFactory, draft, eventually

pytestmark = pytest.mark.kafka

ROOMS = 20  # 20 fetches held 500 ms each, one behind the other: twice the 5 s request timeout


def timed_out_fetches(caplog: pytest.LogCaptureFixture) -> list[str]:
    """aiokafka's error line for a fetch it gave up waiting for (then it reconnects)."""
    return [
        r.getMessage()
        for r in caplog.records
        if r.name.startswith("aiokafka") and "RequestTimedOutError" in r.getMessage()
    ]


async def idle_with_one_room(a: Node, b: Node) -> None:
    """b watches the lobby, has delivered a message of it, and is back at its long wait."""
    await b.log.watch("lobby")
    await a.log.publish([draft("lobby", "warm")])
    await b.wait_for(1, "lobby")
    await eventually(lambda: b.log.fetch_wait_ms == 500)


def fetches(node: Node, count: int) -> Callable[[], bool]:
    return lambda: len(node.log.fetched()) == count


async def watch_one_by_one(node: Node, rooms: list[str]) -> None:
    """Each watch reassigns on its own: the next starts once the consumer has the last."""
    before = len(node.log.fetched())
    for n, room in enumerate(rooms, 1):
        await node.log.watch(room)
        await eventually(fetches(node, before + n))


async def test_rooms_created_one_after_another_are_delivered_without_a_timed_out_fetch(
    make_node: NodeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="aiokafka")
    a, b = await make_node(), await make_node()  # fetch_wait_ms=500
    await idle_with_one_room(a, b)
    rooms = [f"new{n}" for n in range(ROOMS)]
    await watch_one_by_one(b, rooms)  # b creates each room's topic

    await a.log.publish([draft(rooms[-1], "first of the last room")])
    await b.wait_for(1, rooms[-1])
    await a.log.publish([draft("lobby", "still live")])
    await b.wait_for(2, "lobby")
    assert timed_out_fetches(caplog) == []
    assert [m.text for m in b.of(rooms[-1])] == ["first of the last room"]


async def test_rooms_another_node_created_are_delivered_without_a_timed_out_fetch(
    make_node: NodeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """The rooms exist already (made on node a, as when a class joins rooms their teacher
    opened there): b's watches ask their ends instead of creating them."""
    caplog.set_level(logging.ERROR, logger="aiokafka")
    a, b = await make_node(), await make_node()
    rooms = [f"class{n}" for n in range(ROOMS)]
    for room in rooms:
        await a.log.watch(room)
    await idle_with_one_room(a, b)
    await watch_one_by_one(b, rooms)

    await a.log.publish([draft(rooms[-1], "to the class")])
    await b.wait_for(1, rooms[-1])
    assert timed_out_fetches(caplog) == []
    await a.wait_for(1, rooms[-1])  # the node that made the room gets it as well
