"""The Kafka side of a channel: its partition, its record format, and creating its topic.

A room (and the node events channel) has a topic of its own with exactly one partition, so
its offsets (+ 1) are its ids and its order is the partition's order. Inboxes share one topic
of a fixed number of partitions: an inbox is the records of one partition whose key is the
inbox's channel, so its ids (offset + 1) increase but skip the other inboxes' records.
Topics are created explicitly (never by the broker's auto-creation, which would pick its own
partition count), and looked up with metadata requests that forbid auto-creation, so reading
an unknown channel leaves no topic behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.client import AIOKafkaClient
from aiokafka.errors import KafkaError, for_code
from aiokafka.partitioner import murmur2
from aiokafka.protocol.metadata import MetadataRequest

from torbit.core.models import Draft, Message, MessageKind
from torbit.core.names import EVENTS_CHANNEL
from torbit.errors import ServiceUnavailable

_ROOM = re.compile(r"[a-z0-9._-]{1,64}")
_NO_ERROR = 0
_UNKNOWN_TOPIC = 3
_TOPIC_EXISTS = 36
LISTED_WAIT_S = 5.0  # at most, for a new topic to be listed by every broker (_until_listed)


class TopicNames:
    """Channel → partition: room "lobby" is partition 0 of `<prefix>.room.lobby`, the node
    events channel partition 0 of `<prefix>.events`, and inbox "@bob" one of the
    `inbox_partitions` partitions of `<prefix>.inbox`, chosen as Kafka's default partitioner
    would from the key "@bob" (so tools producing with that key agree).

    Kafka holds '.' and '_' to be one character in topic names (its metrics' names cannot
    tell them apart): with room "x.y"'s topic there, it refuses to create "x_y"'s, so a room
    `#x_y` made after `#x.y` was deleted could never be written to (stop 48's probe). A room
    whose name has an '_' therefore lives in `<prefix>.roomU.`, each '_' written 'U' (room
    names are lower case, so 'U' says '_' and nothing else): `#x_y` is `<prefix>.roomU.xUy`,
    which nothing of torbit's collides with. Such a room's topic made before, `<prefix>.room.x_y`,
    stays in use where it exists (`undecided`, `decide`), so an upgrade loses no message."""

    def __init__(self, prefix: str, inbox_partitions: int = 16) -> None:
        if not re.fullmatch(r"[A-Za-z0-9._-]{1,100}", prefix):
            raise ValueError(f"invalid topic prefix {prefix!r}")
        if inbox_partitions < 1:
            raise ValueError("inbox_partitions must be at least 1")
        self._room = f"{prefix}.room."
        self._room_u = f"{prefix}.roomU."
        self._events = f"{prefix}.events"
        self.inbox_topic = f"{prefix}.inbox"
        self.inbox_partitions = inbox_partitions
        # rooms with an '_' this node has looked for a topic of before: those using it
        self._decided: set[str] = set()
        self._legacy: set[str] = set()

    def place(self, channel: str) -> TopicPartition:
        """The partition that holds the channel's records."""
        if channel == EVENTS_CHANNEL:
            return TopicPartition(self._events, 0)
        inbox = channel.startswith("@")
        name = channel[1:] if inbox else channel
        if not _ROOM.fullmatch(name):
            raise ValueError(f"invalid channel {channel!r}: want a lower-case key")
        if inbox:
            hashed = murmur2(channel.encode()) & 0x7FFFFFFF
            return TopicPartition(self.inbox_topic, hashed % self.inbox_partitions)
        if "_" not in name or channel in self._legacy:
            return TopicPartition(self._room + name, 0)
        return TopicPartition(self._room_u + name.replace("_", "U"), 0)

    def topic(self, channel: str) -> str:
        topic: str = self.place(channel).topic
        return topic

    def undecided(self, channel: str) -> str | None:
        """For a room with an '_' not looked up on this node yet: the topic it had before
        stop 49, to use if it exists and the room's own topic does not."""
        if "_" not in channel or channel in self._decided or not _ROOM.fullmatch(channel):
            return None
        return self._room + channel

    def decide(self, channel: str, *, legacy: bool) -> None:
        """Remember which topic the room uses here: torbit deletes no topic, so for good."""
        if legacy:
            self._legacy.add(channel)
        self._decided.add(channel)

    def is_shared(self, tp: TopicPartition) -> bool:
        """Whether the partition holds several channels (the inboxes), told apart by key."""
        shared: bool = tp.topic == self.inbox_topic
        return shared

    def partitions(self, topic: str) -> int:
        return self.inbox_partitions if topic == self.inbox_topic else 1

    def channel(self, topic: str) -> str:
        """The channel of a one-channel topic."""
        if topic == self._events:
            return EVENTS_CHANNEL
        if topic.startswith(self._room_u):
            return topic[len(self._room_u) :].replace("U", "_")
        if topic.startswith(self._room):
            return topic[len(self._room) :]
        raise ValueError(f"topic {topic!r} is not a torbit channel's own topic")


def encode(draft: Draft) -> tuple[bytes, bytes]:
    """Key and value of a draft's record. The key is the channel: an inbox's partition holds
    other inboxes too, and readers tell them apart by key without parsing values. The value
    is compact JSON."""
    sent_at = draft.sent_at
    if sent_at.tzinfo is None:
        sent_at = sent_at.replace(tzinfo=UTC)
    body: dict[str, Any] = {
        "sender": draft.sender,
        "text": draft.text,
        "sent_at": sent_at.astimezone(UTC).isoformat(),
        "kind": draft.kind.value,
    }
    if draft.recipient is not None:
        body["recipient"] = draft.recipient
    value = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    return draft.channel.encode(), value


def decode(channel: str, offset: int, value: bytes) -> Message:
    """The message a record holds; ValueError (or KeyError) if it is not one of ours. Its id is
    the offset + 1, so ids start at 1 as they do in the local log."""
    body = json.loads(value)
    return Message(
        id=offset + 1,
        channel=channel,
        sender=body["sender"],
        text=body["text"],
        sent_at=datetime.fromisoformat(body["sent_at"]),
        kind=MessageKind(body.get("kind", MessageKind.TEXT.value)),
        recipient=body.get("recipient"),
    )


SEGMENT_MS_MAX = 3_600_000


def segment_ms(retention_ms: int) -> int:
    """How often a topic starts a new segment. The broker expires whole segments only, and
    never the one being written while records keep coming; with its default (7 days) a busy
    room kept its messages for a week whatever `chat.retention_hours` said (the soak drill's
    broker grew all along with a retention of 18 s). At most an hour, so a message outlives
    its retention by at most that (plus the broker's check interval, 5 minutes)."""
    return max(1, min(retention_ms, SEGMENT_MS_MAX))


class TopicRegistry:
    """Which channel topics exist, created on demand and remembered once seen.

    Topics are never deleted by torbit, so "exists" is cached forever; "missing" never is,
    since another node may create the topic at any time.

    Creations share requests: while one CreateTopics request is out, the topics asked for
    meanwhile wait and go together in the next. Apache Kafka's controller takes about as long
    for one topic as for hundreds (measured: 300 topics one request each 10 s, in one request
    0.1 s), and a burst of new rooms asks for a topic each (inboxes share one topic)."""

    def __init__(
        self,
        admin: AIOKafkaAdminClient,
        client: AIOKafkaClient,
        names: TopicNames,
        *,
        replication_factor: int,
        retention_ms: int,
    ) -> None:
        self._admin = admin
        self._names = names
        self._client = client
        self._replication_factor = replication_factor
        self._configs = {
            "retention.ms": str(retention_ms),
            "segment.ms": str(segment_ms(retention_ms)),
        }
        self._known: set[str] = set()
        # topic → whether this node's request created it (False: it was there already)
        self._queued: dict[str, asyncio.Future[bool]] = {}
        self._in_flight: dict[str, asyncio.Future[bool]] = {}
        self._creator: asyncio.Task[None] | None = None

    async def ensure(self, topics: Iterable[str]) -> set[str]:
        """Create the topics that do not exist yet (another node winning the race is fine);
        the ones this call's request created, which are known to be empty."""
        missing = sorted({t for t in topics if t not in self._known})
        if not missing:
            return set()
        loop = asyncio.get_running_loop()
        waits = []
        for topic in missing:
            future = self._in_flight.get(topic) or self._queued.get(topic)
            if future is None:
                future = self._queued[topic] = loop.create_future()
                future.add_done_callback(_retrieve)
            waits.append(future)
        if self._creator is None or self._creator.done():
            self._creator = asyncio.create_task(self._create_queued(), name="kafka-topics")
        # shielded: a caller giving up does not cancel the creation others wait for
        created = await asyncio.gather(*(asyncio.shield(w) for w in waits))
        return {t for t, new in zip(missing, created, strict=True) if new}

    async def _create_queued(self) -> None:
        while self._queued:
            self._in_flight, self._queued = self._queued, {}
            try:
                response = await self._admin.create_topics(
                    [
                        NewTopic(
                            t,
                            self._names.partitions(t),
                            self._replication_factor,
                            topic_configs=self._configs,
                        )
                        for t in self._in_flight
                    ]
                )
            except Exception as e:  # the broker away: every waiter is told
                for future in self._in_flight.values():
                    if not future.done():
                        future.set_exception(e)
                self._in_flight = {}
                continue
            except BaseException:
                for future in self._in_flight.values():
                    future.cancel()
                self._in_flight = {}
                raise
            created = [t for t, code, *_ in response.topic_errors if code == _NO_ERROR]
            await self._until_listed(created)
            for topic, code, *rest in response.topic_errors:
                waiting = self._in_flight.get(topic)
                if waiting is None or waiting.done():
                    continue
                if code in (_NO_ERROR, _TOPIC_EXISTS):
                    self._known.add(topic)
                    waiting.set_result(code == _NO_ERROR)
                else:
                    reason = rest[0] if rest and rest[0] else for_code(code).__name__
                    waiting.set_exception(
                        ServiceUnavailable(f"message log unavailable: topic {topic}: {reason}")
                    )
            for topic, future in self._in_flight.items():
                if not future.done():
                    future.set_exception(
                        ServiceUnavailable(f"message log unavailable: topic {topic}: no answer")
                    )
            self._in_flight = {}

    async def _until_listed(self, topics: list[str]) -> None:
        """Wait until every broker's metadata lists the new topics, each partition with a
        leader. CreateTopics answers before: a consumer assigned the topic (or a producer
        sending to it) meanwhile asked again every few ms, and aiokafka logged each answer as
        an error (63 lines of "Topic torbit.events not found in cluster metadata" in 30 ms
        on a first start). Bounded by LISTED_WAIT_S, past which the clients' retries do."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + LISTED_WAIT_S
        request = MetadataRequest(topics, allow_auto_topic_creation=False)
        nodes = {b.nodeId for b in self._client.cluster.brokers()}
        while topics and nodes and loop.time() < deadline:
            for node in sorted(nodes):
                with contextlib.suppress(KafkaError, OSError, TimeoutError):
                    response = await self._client.send(node, request)
                    listed = {e[1] for e in response.topics if _has_leaders(e)}
                    if listed.issuperset(topics):
                        nodes.discard(node)
            if nodes:
                await asyncio.sleep(0.01)

    async def close(self) -> None:
        """Stop creating; whoever still waits gets cancelled."""
        if self._creator is not None:
            self._creator.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._creator
            self._creator = None
        for future in self._queued.values():
            future.cancel()
        self._queued = {}

    async def exists(self, topic: str) -> bool:
        """True if the topic exists, asked without letting the broker auto-create it."""
        if topic in self._known:
            return True
        response = await self._metadata(MetadataRequest([topic], allow_auto_topic_creation=False))
        for entry in response.topics:
            code, name = entry[0], entry[1]
            if name == topic and code == _NO_ERROR:
                self._known.add(topic)
                return True
            if name == topic and code != _UNKNOWN_TOPIC:
                reason = for_code(code).__name__
                raise ServiceUnavailable(f"message log unavailable: topic {topic}: {reason}")
        return False

    async def check_partitions(self, topic: str, wanted: int) -> None:
        """Create the topic, or make sure the one there has `wanted` partitions (the inbox
        topic: with another count, inboxes would be looked for in the wrong partitions)."""
        if await self.ensure([topic]):
            return  # created just now, by this request, with `wanted` partitions
        count = 0
        for _ in range(100):  # another node's creation may not be in the metadata yet
            count = await self.partition_count(topic)
            if count:
                break
            await asyncio.sleep(0.05)
        if count != wanted:
            raise ServiceUnavailable(
                f"message log unavailable: topic {topic} has {count} partitions, "
                f"message_log.inbox_partitions is {wanted}; set it to {count}"
            )

    async def partition_count(self, topic: str) -> int:
        """How many partitions an existing topic has (0 if the broker does not say)."""
        for entry in await self._admin.describe_topics([topic]):
            if entry.get("topic") == topic and not entry.get("error_code"):
                return len(entry.get("partitions", ()))
        return 0

    async def ping(self) -> None:
        """One metadata round trip that asks about no topic at all."""
        await self._metadata(MetadataRequest([]))

    async def _metadata(self, request: MetadataRequest) -> Any:
        """`request`'s answer from any broker the client knows (its metadata refreshed first
        if it knows none)."""
        node = self._client.get_random_node()
        if node is None:
            await self._client.force_metadata_update()
            node = self._client.get_random_node()
        if node is None:
            raise ServiceUnavailable("message log unavailable: no broker known")
        return await self._client.send(node, request)


def _has_leaders(entry: Any) -> bool:
    """A MetadataResponse topic (error, name, internal, partitions) ready to be read."""
    partitions = entry[3]
    return bool(entry[0] == _NO_ERROR and partitions and all(p[2] >= 0 for p in partitions))


def _retrieve(future: asyncio.Future[bool]) -> None:
    """Mark a creation's failure as seen: every waiter may have given up (timed out) already."""
    if not future.cancelled():
        future.exception()
