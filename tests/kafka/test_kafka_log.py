"""What only KafkaLog does, against Apache Kafka: reads over the producer's batches, a pool of
readers, topics created only when written, several nodes delivering one channel, watch and
unwatch under traffic, login storms, and a broker that stops answering. The contract it shares
with the other message logs is tests/contract/test_log.py; broker failures with whole torbit
nodes are in tests/scale/test_broker_failures.py."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from tests.kafka.kafka_support import Node, NodeFactory, draft, eventually
from torbit.backends.message_log.kafka import KafkaLog
from torbit.core.models import Draft, Message, MessageKind
from torbit.errors import ServiceUnavailable
from torbit.testing.kafka import KafkaCluster
from torbit.testing.ports import free_port

pytestmark = pytest.mark.kafka


def ids(messages: list[Message]) -> list[int]:
    return [m.id for m in messages]


# publishing and reading


async def test_reads_after_single_and_batched_sends_agree(node: Node) -> None:
    """A read finds the end of the partition whatever the producer put in one batch."""
    await node.log.publish([draft("lobby", "one")])
    await node.log.publish([draft("lobby", f"b{i}") for i in range(8)])
    await asyncio.gather(*(node.log.publish([draft("lobby", f"c{i}")]) for i in range(8)))
    assert ids(await node.log.read("lobby", newest=True, limit=3)) == [15, 16, 17]
    assert ids(await node.log.read("lobby", newest=True, limit=100)) == list(range(1, 18))


async def test_paging_over_one_record_per_batch(node: Node) -> None:
    """Sent one by one, every record is a batch of its own, so a fetch returns exactly what
    it asks for: an off-by-one in the offsets asked for would show here (it did)."""
    for i in range(12):
        await node.log.publish([draft("lobby", f"m{i}")])
    read = node.log.read
    assert ids(await read("lobby", after=2, limit=2)) == [3, 4]
    assert ids(await read("lobby", after=4, limit=100)) == list(range(5, 13))
    assert ids(await read("lobby", after=3, before=7)) == [4, 5, 6]
    assert ids(await read("lobby", newest=True, limit=3, before=8)) == [5, 6, 7]
    assert ids(await read("lobby", newest=True, limit=3)) == [10, 11, 12]
    assert ids(await read("lobby", before=2)) == [1]
    assert await read("lobby", before=1) == []


async def test_concurrent_reads_share_a_small_pool(make_node: NodeFactory) -> None:
    node = await make_node(readers=2)
    channels = [f"r{i}" for i in range(12)]
    await node.log.publish([draft(ch, f"{ch}-{j}") for j in range(4) for ch in channels])
    results = await asyncio.gather(
        *(node.log.read(ch, newest=True, limit=3) for ch in channels * 2)
    )
    for ch, got in zip(channels * 2, results, strict=True):
        assert [m.text for m in got] == [f"{ch}-{j}" for j in (1, 2, 3)]


async def test_unknown_channel_reads_empty_and_creates_no_topic(
    node: Node, broker: KafkaCluster, prefix: str
) -> None:
    assert await node.log.read("nobody-here") == []
    assert await node.log.read("@nobody") == []
    admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap)
    await admin.start()
    try:
        topics = [t for t in await admin.list_topics() if t.startswith(prefix + ".")]
    finally:
        await admin.close()
    assert topics == [f"{prefix}.inbox"]  # made at start, shared by every inbox


async def test_rejects_channels_that_are_not_keys(node: Node) -> None:
    for bad in ("Lobby", "", "@", "a b", "#x", "@Bob"):
        with pytest.raises(ValueError):
            await node.log.read(bad)


async def test_purge_leaves_expiry_to_the_broker(node: Node) -> None:
    await node.log.publish([draft("lobby", "old")])
    assert await node.log.purge(datetime.now(UTC)) == 0
    assert [m.text for m in await node.log.read("lobby")] == ["old"]


# A hang guard, not a timing: the calls below fail after their request timeout of 1 s (or at
# once); one left to aiokafka's own 40 s request timeout, or hanging, fails on the guard instead.
HANG_GUARD_S = 30


async def test_start_without_broker_is_unavailable_quickly() -> None:
    log = KafkaLog(f"127.0.0.1:{free_port()}", request_timeout=1.0)
    with pytest.raises(ServiceUnavailable, match="message log unavailable"):
        async with asyncio.timeout(HANG_GUARD_S):
            await log.start(lambda m: None)
    await log.close()


# live delivery


async def test_two_nodes_see_every_message_once_in_the_same_order(
    make_node: NodeFactory,
) -> None:
    a, b = await make_node(), await make_node()
    for n in (a, b):
        await n.log.watch("lobby")
        await n.log.watch("lobby")  # idempotent
    sent = await asyncio.gather(
        *(
            (a if i % 2 else b).log.publish([draft("lobby", f"m{i}", sender=f"u{i % 2}")])
            for i in range(40)
        )
    )
    assert sorted(m.id for batch in sent for m in batch) == list(range(1, 41))
    await a.wait_for(40)
    await b.wait_for(40)
    await asyncio.sleep(0.05)  # nothing more may come
    assert ids(a.received) == ids(b.received) == list(range(1, 41))
    assert a.received == b.received == await a.log.read("lobby")


async def test_watch_delivers_only_messages_published_after_it(node: Node) -> None:
    await node.log.publish([draft("lobby", f"old{i}") for i in range(3)])
    await node.log.watch("lobby")
    await node.log.publish([draft("lobby", "new0"), draft("lobby", "new1")])
    await node.wait_for(2)
    await asyncio.sleep(0.05)
    assert [m.text for m in node.received] == ["new0", "new1"]
    assert ids(node.received) == [4, 5]


async def test_watching_an_empty_channel_then_publishing(make_node: NodeFactory) -> None:
    a, b = await make_node(), await make_node()
    await b.log.watch("@bob")
    (sent,) = await a.log.publish([draft("@bob", "hi bob", kind=MessageKind.PRIVATE)])
    await b.wait_for(1)
    assert b.received == [sent] and a.received == []


async def test_unwatch_stops_one_channel_and_keeps_the_others(node: Node) -> None:
    for channel in ("a", "b", "c"):
        await node.log.watch(channel)
    await node.log.publish([draft(ch, "1") for ch in ("a", "b", "c")])
    await node.wait_for(3)
    await node.log.unwatch("a")
    await node.log.unwatch("a")  # idempotent
    await node.log.unwatch("never-watched")
    await node.log.publish([draft(ch, "2") for ch in ("a", "b", "c")])
    await node.wait_for(2, "c")
    await node.wait_for(2, "b")
    await node.log.watch("a")
    await node.log.publish([draft("a", "3")])
    await node.wait_for(2, "a")
    await asyncio.sleep(0.05)
    assert [m.text for m in node.of("a")] == ["1", "3"]
    assert ids(node.of("a")) == [1, 3]
    assert ids(node.of("b")) == ids(node.of("c")) == [1, 2]
    assert node.log.watched() == ["a", "b", "c"]


async def test_reassigning_under_traffic_loses_and_repeats_nothing(node: Node) -> None:
    await node.log.watch("busy")
    total = 300

    async def publisher() -> None:
        for i in range(0, total, 3):
            await node.log.publish([draft("busy", f"m{j}") for j in range(i, i + 3)])
            await asyncio.sleep(0)

    async def churn() -> None:
        for i in range(30):
            await node.log.watch(f"side{i}")
            if i % 3 == 0:
                await node.log.unwatch(f"side{i // 2}")

    await asyncio.gather(publisher(), churn())
    await node.wait_for(total, "busy")
    await asyncio.sleep(0.05)
    assert ids(node.of("busy")) == list(range(1, total + 1))


async def test_many_channels(make_node: NodeFactory) -> None:
    a, b = await make_node(), await make_node()
    channels = [f"room{i}" for i in range(60)] + [f"@user{i}" for i in range(20)]
    await asyncio.gather(*(b.log.watch(ch) for ch in channels))
    await a.log.publish([draft(ch, f"to {ch}") for ch in channels])
    await a.log.publish([draft(ch, f"again {ch}") for ch in channels])
    await b.wait_for(2 * len(channels))
    for ch in channels:
        assert [m.text for m in b.of(ch)] == [f"to {ch}", f"again {ch}"]
        first, second = ids(b.of(ch))
        assert first < second and (ch[0] == "@" or (first, second) == (1, 2))
        assert b.of(ch) == await b.log.read(ch)  # an inbox's ids increase, with gaps
    # the fetch set: 60 rooms + the inbox partitions those 20 users hash to (at most 16)
    fetched = b.log.fetched()
    assert len([tp for tp in fetched if tp.topic.endswith(".inbox")]) <= 16
    assert len(fetched) <= 60 + 16


async def test_a_login_storm_of_watches_is_not_a_queue(
    make_node: NodeFactory, own_broker: KafkaCluster
) -> None:
    """1,000 new users logging in at once watch 1,000 new inboxes. The watches run side by
    side, share reassignments of the consumer and share CreateTopics requests, so each is done
    within its request timeout; one at a time, each reassigning (a metadata request naming
    every watched topic), they were not, nor with a CreateTopics request each (Apache Kafka:
    ~30 ms a request whatever it holds). On a broker of its own: the broker is busy creating
    the partitions' files for seconds afterwards."""
    # A generous timeout: on a loaded CI machine this must not become a timing test; what it
    # checks is that every watch of the storm completes and every inbox is delivered.
    node = await make_node(own_broker.bootstrap, request_timeout=30.0)
    inboxes = [f"@user{i}" for i in range(1000)]
    await asyncio.gather(*(node.log.watch(ch) for ch in inboxes))
    await node.log.publish([draft(ch, f"to {ch}") for ch in inboxes[::100]])
    await node.wait_for(10)
    assert sorted(m.text for m in node.received) == sorted(f"to {ch}" for ch in inboxes[::100])


# outages


async def test_outage_is_bounded_and_recovered_without_restart(
    make_node: NodeFactory, broker: KafkaCluster
) -> None:
    a = await make_node(request_timeout=1.0)
    b = await make_node(request_timeout=1.0)
    await b.log.watch("lobby")
    before = await a.log.publish([draft("lobby", f"before{i}") for i in range(3)])
    await b.wait_for(3)

    broker.pause()
    with pytest.raises(ServiceUnavailable) as refused:
        async with asyncio.timeout(HANG_GUARD_S):
            await a.log.publish([draft("lobby", "during")])
    # the sender is told it may yet arrive (it did, in an operator's hour with a frozen
    # broker: a 503 for a message then in the history, sent again by a person as a duplicate)
    assert refused.value.message == (
        "message log unavailable: publish timed out after 1s; "
        "it may still be delivered once the log is back"
    )
    for call in (
        lambda: a.log.read("lobby"),
        a.log.ping,
        lambda: a.log.watch("elsewhere"),
    ):
        with pytest.raises(ServiceUnavailable, match="message log unavailable"):
            async with asyncio.timeout(HANG_GUARD_S):
                await call()
    await asyncio.sleep(0.5)  # b's consumer sits through the outage
    broker.resume()

    after = await publish_eventually(a, draft("lobby", "after"))
    await eventually(lambda: any(m.text == "after" for m in b.received))
    stored = await a.log.read("lobby", limit=1000)
    assert stored[:3] == before  # nothing acknowledged was lost
    assert after in stored
    assert ids(stored) == list(range(1, len(stored) + 1))
    # b got everything, once, in order ("during" may or may not have made it: it was never
    # acknowledged, but its request may have reached the broker's socket)
    assert ids(b.received) == ids(stored)
    await a.log.ping()


async def test_watching_node_resumes_after_a_longer_freeze(
    make_node: NodeFactory, broker: KafkaCluster
) -> None:
    a = await make_node(request_timeout=1.0)
    b = await make_node(request_timeout=1.0)
    await b.log.watch("lobby")
    broker.pause()
    await asyncio.sleep(2.5)  # past every request timeout of b's live consumer
    broker.resume()
    for i in range(3):
        await publish_eventually(a, draft("lobby", f"m{i}"))
    await b.wait_for(3)
    assert [m.text for m in b.received] == ["m0", "m1", "m2"]


async def publish_eventually(node: Node, d: Draft, within: float = 30) -> Message:
    """Publish, retrying while the clients reconnect after an outage."""
    deadline = time.monotonic() + within
    while True:
        try:
            (message,) = await node.log.publish([d])
            return message
        except ServiceUnavailable:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


async def test_fetches_wait_briefly_while_records_flow_and_long_once_idle(
    make_node: NodeFactory,
) -> None:
    """A busy partition left out of the fetch in flight (its records not yet handed out)
    waits for that fetch; while records flow it is held only briefly. An idle node goes back
    to the configured wait, so it stays idle."""
    a, b = await make_node(fetch_wait_ms=500), await make_node(fetch_wait_ms=500)
    await b.log.watch("lobby")
    await b.log.watch("@bob")  # an idle inbox partition in the same fetch
    # a reassignment counts as activity: the wait comes back once nothing changed for a while
    await eventually(lambda: b.log.fetch_wait_ms == 500, within=10)
    for n in range(20):
        await a.log.publish([draft("lobby", f"m{n}")])
    await b.wait_for(20, "lobby")
    assert b.waits == [5] * 20  # read as each was handed over: no window to miss under load
    await eventually(lambda: b.log.fetch_wait_ms == 500, within=10)
    assert [m.text for m in b.of("lobby")] == [f"m{n}" for n in range(20)]


async def test_inboxes_sharing_a_partition_are_watched_at_once_and_apart(
    make_node: NodeFactory,
) -> None:
    """The second inbox of a partition is watched while the first one's reassignment is still
    pending (no fetch yet), then more once it is fetched; each gets its own messages only,
    from its watch on."""
    a = await make_node(inbox_partitions=1)
    b = await make_node(inbox_partitions=1)
    await a.log.publish([draft("@carol", "before her watch")])
    await b.log.watch("@alice")
    await b.log.watch("@bob")  # same partition, not assigned yet
    await a.log.publish(
        [draft("@alice", "to alice"), draft("@bob", "to bob"), draft("@zed", "to no one here")]
    )
    await b.wait_for(2)
    await b.log.watch("@carol")  # the partition is fetched now: no request
    await a.log.publish([draft("@carol", "to carol")])
    await b.wait_for(1, "@carol")
    assert [(m.channel, m.text) for m in b.received] == [
        ("@alice", "to alice"),
        ("@bob", "to bob"),
        ("@carol", "to carol"),
    ]
    assert b.log.watched() == ["@alice", "@bob", "@carol"]
    assert {tp.partition for tp in b.log.fetched() if tp.topic.endswith(".inbox")} == {0}
    assert [m.text for m in await b.log.read("@carol")] == ["before her watch", "to carol"]
