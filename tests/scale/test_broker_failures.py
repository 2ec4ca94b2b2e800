"""What only a real Kafka cluster can show: two torbit nodes chatting while a broker is killed
(kill -9) and while the only broker is killed and started again on its data, and the topic
settings torbit asks for (retention from `chat.retention_hours`, the replication factor) as
the broker itself reports them.

Senders retry what is refused (a 503, a request timed out) as a person would; a message counts
as acknowledged only when the node answered 201. Afterwards every acknowledged message must be
in the room's history under the id it was acknowledged with, the ids without a hole, and every
client must have received the history live, once, in order."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from tests.scale.clients import Clients, HttpUser, WsUser
from tests.scale.conftest import NodeFactory
from tests.scale.test_outages import check_log
from torbit.testing.kafka import KafkaCluster

pytestmark = [pytest.mark.slow, pytest.mark.kafka, pytest.mark.postgres]


@asynccontextmanager
async def admin(cluster: KafkaCluster) -> AsyncIterator[AIOKafkaAdminClient]:
    client = AIOKafkaAdminClient(bootstrap_servers=cluster.bootstrap, request_timeout_ms=10000)
    await client.start()
    try:
        yield client
    finally:
        await client.close()


async def partition_of(cluster: KafkaCluster, topic: str) -> dict[str, Any]:
    """The single partition of a topic as the brokers describe it: leader, replicas, isr."""
    async with admin(cluster) as client:
        (described,) = await client.describe_topics([topic])
    assert described["error_code"] == 0, described
    (partition,) = described["partitions"]
    return dict(partition)


async def topic_config(cluster: KafkaCluster, topic: str) -> dict[str, str]:
    async with admin(cluster) as client:
        (response,) = await client.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topic)]
        )
    (resource,) = response.resources
    assert resource[0] == 0, resource  # error code
    return {entry[0]: entry[1] for entry in resource[4]}


class Chatter:
    """Sends numbered messages as fast as the node acknowledges them, retrying refusals."""

    def __init__(self, user: HttpUser, room: str) -> None:
        self.user = user
        self.room = room
        self.acknowledged: list[dict[str, Any]] = []
        self.refused = 0
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        n = 0
        while not self._stop.is_set():
            try:
                r = await self.user.post(self.room, f"{self.user.name} {n}")
            except httpx.TransportError:
                r = None
            if r is not None and r.status_code == 201:
                self.acknowledged.append(r.json())
                n += 1
            else:
                assert r is None or r.status_code == 503, r.text  # refused, never broken
                self.refused += 1
                n += 1  # an unacknowledged message may still be in the log: a new text
                await asyncio.sleep(0.1)
            await asyncio.sleep(0.01)

    async def until(self, count: int, within: float = 60) -> None:
        """Until `count` more messages than now are acknowledged."""
        goal = len(self.acknowledged) + count
        deadline = time.monotonic() + within
        while len(self.acknowledged) < goal:
            assert not self._task.done(), self._task.exception()
            assert time.monotonic() < deadline, f"{self.user.name}: stuck at {goal - count}"
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        self._stop.set()
        await self._task


def check_delivery(listener: WsUser, history: list[dict[str, Any]]) -> None:
    """The listener got the history live: every message once, in order, nothing else."""
    assert [m["id"] for m in listener.messages] == [m["id"] for m in history]


async def test_one_broker_of_three_killed_while_two_nodes_chat(
    kafka_cluster: KafkaCluster, make_node: NodeFactory, clients: Clients, prefix: str
) -> None:
    """Replication factor 3, min.insync.replicas 2: the leader of the room's partition is
    killed mid-conversation. Sends stall or are refused until another replica leads (the
    dead broker is fenced after 3 s), then go on; the dead broker comes back and catches up.
    Without the producer's idempotence a retried send was stored twice in one run of two."""
    log = {"url": f"kafka://{kafka_cluster.bootstrap}", "replication_factor": 3}
    a = await make_node("a", message_log=log)
    b = await make_node("b", message_log=log)
    alice, bob = await clients.http(a, "alice"), await clients.http(b, "bob")
    for user in (alice, bob):
        await user.join("talk")
    watchers = [await clients.ws(a, "wa"), await clients.ws(b, "wb")]
    for ws in watchers:
        await ws.subscribe("talk")

    topic = f"{prefix}.room.talk"
    partition = await partition_of(kafka_cluster, topic)
    assert sorted(partition["replicas"]) == [1, 2, 3]
    leader = partition["leader"]

    chatters = [Chatter(alice, "talk"), Chatter(bob, "talk")]
    for chatter in chatters:
        await chatter.until(10)
    kafka_cluster.kill(leader - 1)
    for chatter in chatters:
        await chatter.until(20)  # acknowledged after the leader moved
    assert (await partition_of(kafka_cluster, topic))["leader"] != leader

    await asyncio.to_thread(kafka_cluster.restart, leader - 1)
    for chatter in chatters:
        await chatter.until(10)
    for chatter in chatters:
        await chatter.stop()

    acknowledged = [m for chatter in chatters for m in chatter.acknowledged]
    history = await alice.history("talk", limit=1000)
    # a send the producer retried after the leader moved is stored once (idempotence)
    texts = [m["text"] for m in history]
    assert len(texts) == len(set(texts)), "a message was stored twice"
    check_log(history, acknowledged)
    assert await bob.history("talk", limit=1000) == history
    for ws in watchers:
        await ws.wait_messages(len(history))
        check_delivery(ws, history)
    # the restarted broker is a full replica again, in sync
    deadline = time.monotonic() + 60
    while sorted((partition := await partition_of(kafka_cluster, topic))["isr"]) != [1, 2, 3]:
        assert time.monotonic() < deadline, partition
        await asyncio.sleep(0.5)


async def test_the_only_broker_killed_and_restarted_keeps_the_history(
    own_broker: KafkaCluster, make_node: NodeFactory, clients: Clients
) -> None:
    """One broker, kill -9 and started again on its data: the nodes are not restarted, sends
    are refused while it is away, and afterwards history, cursors and live delivery go on."""
    log = {"url": f"kafka://{own_broker.bootstrap}"}
    a = await make_node("a", message_log=log)
    b = await make_node("b", message_log=log)
    alice, bob = await clients.http(a, "alice"), await clients.http(b, "bob")
    for user in (alice, bob):
        await user.join("talk")
    listener = await clients.ws(b, "listener")
    await listener.subscribe("talk")
    acknowledged = [await alice.send("talk", f"before {n}") for n in range(10)]
    acknowledged += [await bob.send("talk", f"bob {n}") for n in range(5)]
    assert [m["text"] for m in await bob.receive("talk", limit=12)][-1] == "bob 1"

    own_broker.kill(0)
    r = await alice.post("talk", "while it is away")
    assert r.status_code == 503, r.text
    await asyncio.to_thread(own_broker.restart, 0)

    chatter = Chatter(alice, "talk")
    await chatter.until(10)
    await chatter.stop()
    acknowledged += chatter.acknowledged
    acknowledged.append(await bob.send("talk", "bob is still here"))

    history = await bob.history("talk")
    check_log(history, acknowledged)
    assert [m["text"] for m in history[:15]] == [m["text"] for m in acknowledged[:15]]
    rest = await bob.receive("talk", limit=1000)  # the cursor is in PostgreSQL: right after 12
    assert [m["id"] for m in rest] == list(range(13, len(history) + 1))
    await listener.wait_messages(len(history))
    check_delivery(listener, history)


async def test_topics_get_the_retention_of_chat_retention_hours(
    make_node: NodeFactory, clients: Clients, broker: KafkaCluster, prefix: str
) -> None:
    a = await make_node("a", chat={"retention_hours": 1.5})
    alice = await clients.http(a, "alice")
    await alice.join("den")
    await alice.send("den", "hello")
    config = await topic_config(broker, f"{prefix}.room.den")
    assert config["retention.ms"] == str(int(1.5 * 3600 * 1000))
    # the broker expires whole segments, never the one still written to: without a roll
    # interval a busy room kept a week of messages (the default segment.ms)
    assert config["segment.ms"] == str(3600 * 1000)


async def test_a_busy_room_rolls_segments_within_its_retention(
    make_node: NodeFactory, clients: Clients, broker: KafkaCluster, prefix: str
) -> None:
    a = await make_node("a", chat={"retention_hours": 0.0005})  # 1.8 s
    alice = await clients.http(a, "alice")
    await alice.join("busy")
    await alice.send("busy", "hello")
    config = await topic_config(broker, f"{prefix}.room.busy")
    assert config["segment.ms"] == config["retention.ms"] == "1800"
