"""A first start on an empty broker is quiet. CreateTopics answers before the brokers'
metadata lists the new topic, and a consumer assigned it (or a producer sending to it)
meanwhile asked again every few ms, each answer logged by aiokafka as an error: stop 32's
newcomer saw ~50 "Topic torbit.events not found in cluster metadata" lines in 0.2 s, and
every room's first join added more. The registry now waits until the topic is listed."""

from __future__ import annotations

import asyncio
import logging

import pytest

from tests.kafka.kafka_support import NodeFactory, draft, eventually
from torbit.core.names import EVENTS_CHANNEL

ROOMS = 10


async def test_new_topics_are_listed_before_they_are_fetched(
    make_node: NodeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="aiokafka")
    node = await make_node()
    await node.log.watch(EVENTS_CHANNEL)  # what a node's core watches first
    rooms = [f"first{i}" for i in range(ROOMS)]
    for room in rooms:  # one at a time, as people join new rooms: each its own creation
        await node.log.watch(room)
    await asyncio.gather(*(node.log.publish([draft(room, "hello")]) for room in rooms))
    await eventually(lambda: all(node.of(room) for room in rooms))
    # (not every warning: a fetch of these new partitions may time out once, on main too)
    noisy = [r.getMessage() for r in caplog.records if "not found" in r.getMessage()]
    assert not noisy, f"{len(noisy)} lines: {noisy[:3]}"
