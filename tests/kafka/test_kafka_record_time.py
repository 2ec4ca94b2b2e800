"""A record's timestamp is its message's time (rowclock60): the broker expires records by it
(`retention.ms`, CreateTime), and a message is dated by the store's time, not by the wall
clock of the node that produces it. The producer stamped its own wall clock: a node running
a day ahead wrote records the broker kept a day longer than their messages' retention."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import AIOKafkaConsumer

from tests.kafka.kafka_support import Node
from torbit.core.models import Draft
from torbit.testing.kafka import KafkaCluster

pytestmark = pytest.mark.kafka


async def test_a_record_is_stamped_with_its_message_s_time(
    node: Node, broker: KafkaCluster
) -> None:
    """A message dated two hours before this machine's clock (the store's time, on a node
    whose wall clock runs two hours ahead) is stored under that time, to the millisecond."""
    sent_at = datetime.now(UTC) - timedelta(hours=2)
    [message] = await node.log.publish([Draft("lobby", "carol", "dated", sent_at)])
    tp = await node.log._placed("lobby")
    consumer = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign([tp])
        consumer.seek(tp, message.id - 1)  # ids are offsets + 1
        record = await consumer.getone()
    finally:
        await consumer.stop()
    assert record.timestamp == round(sent_at.timestamp() * 1000), (
        datetime.fromtimestamp(record.timestamp / 1000, UTC) - sent_at
    )
