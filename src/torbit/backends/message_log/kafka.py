"""The message log on a Kafka-protocol broker: a single-partition topic per room, one for node
events, and one topic of `inbox_partitions` partitions that every inbox shares (kafka_topics).

Several torbit nodes share the broker. Each node has one producer (acks=all: a message is
acknowledged only once the broker has it), one live consumer for the partitions this node
watches (manual assignment, no consumer group: every node sees every message of the channels
it watches), and a small pool of consumers for history reads. Message ids are offsets + 1: a
room's count 1, 2, 3…; an inbox's increase but skip the other inboxes of its partition.
A node fetches the rooms its users are in, the events topic, and at most `inbox_partitions`
inbox partitions whatever its number of users; it drops the records of inboxes it does not
watch.

Every call that talks to the broker is bounded by `request_timeout` and turns a broker that
cannot be reached into ServiceUnavailable; the live consumer outlives outages by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from datetime import datetime

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, RecordsToDelete
from aiokafka.errors import KafkaError

from torbit.backends.message_log.kafka_clients import KeyedLocks, stop_client
from torbit.backends.message_log.kafka_read import ReaderPool
from torbit.backends.message_log.kafka_topics import TopicNames, TopicRegistry, decode, encode
from torbit.core.health import Health
from torbit.core.models import Draft, Message
from torbit.core.names import EVENTS_CHANNEL
from torbit.core.ports import BatchListener, MessageListener
from torbit.errors import ServiceUnavailable

log = logging.getLogger(__name__)

# A send the producer holds when its wait times out still leaves once the broker answers:
# the sender is told so, and not to send it again blindly (it would then be there twice).
DELETE_PAGE = 100  # records a deletion with `before` reads at a time, newest first
PUBLISH_UNSURE = "; it may still be delivered once the log is back"

# History reads start where there is data, so the broker answers at once whatever the wait.
_READ_FETCH_WAIT_MS = 100
_POLL_MS = 1000  # how long one getmany waits for records before looping
# The live consumer's fetch wait while records flow. aiokafka keeps one fetch in flight per
# broker and leaves out of it every partition whose records were not yet handed out; once they
# are, that partition waits until the fetch in flight returns, which the broker holds for the
# whole wait when nothing arrives in the partitions it names (measured: a busy room behind an
# idle inbox partition stalls up to fetch_wait_ms). A short wait while busy bounds the stall;
# after _POLL_MS without records the configured wait comes back, so an idle node stays idle.
_BUSY_FETCH_WAIT_MS = 5
# A reassignment makes aiokafka drop its fetch in flight, but not the broker: it answers a
# connection's requests one at a time, in order, so it still holds that fetch for its whole
# wait, and the fetch sent for the new assignment queues behind it. Each reassignment while the
# wait is long queued one more: ten new rooms watched 30 ms apart at a 500 ms wait left the
# new rooms' first fetch 5 s behind, past the request timeout (measured). So a reassignment
# counts as activity: the fetches after it use the busy wait, until _POLL_MS passes without
# records or reassignment; only the one fetch in flight at the first change is held long.
_RETRY_S = 0.5  # pause of the live loop after an error, so an outage does not spin
# Watches and unwatches within this long share one reassignment of the live consumer: each
# costs a metadata request naming every watched topic and a refetch of every partition, so
# one per login would make a login storm quadratic in the number of users on the node.
_REASSIGN_DELAY_S = 0.02


class KafkaLog:
    """torbit.core.ports.MessageLog on Apache Kafka. Call `start` before anything else."""

    counts_by_reading = True  # a broker sends the records it is asked for; it cannot count

    def __init__(
        self,
        bootstrap: str,
        *,
        topic_prefix: str = "torbit",
        replication_factor: int = 1,
        retention_ms: int = 86_400_000,
        request_timeout: float = 5.0,
        linger_ms: int = 0,
        fetch_wait_ms: int = 5,
        readers: int = 4,
        inbox_partitions: int = 16,
    ) -> None:
        """`fetch_wait_ms` is how long the broker holds a fetch with nothing new. Apache Kafka
        answers as soon as a record arrives, so a long wait adds no latency to delivery and
        spares an idle node 1000/fetch_wait_ms fetches a second naming every watched partition
        (500 watched: 0.005 cores at 500 ms against 0.14–0.32 at 5). Its price: the fetch the
        broker holds also holds up the next one, so the first record of a channel watched on
        an otherwise idle node comes up to one wait late (`_reassign`). `readers` is how many
        history reads run at once. `inbox_partitions` is fixed for a deployment: inboxes are
        placed by a hash modulo it, so `start` refuses a broker whose inbox topic has another
        count."""
        if not 1 <= fetch_wait_ms <= 1000:
            raise ValueError("fetch_wait_ms must be within 1..1000")
        self._bootstrap = bootstrap
        self.health = Health()
        self._names = TopicNames(topic_prefix, inbox_partitions)
        self._replication_factor = replication_factor
        self._retention_ms = retention_ms
        self._timeout = request_timeout
        self._timeout_ms = int(request_timeout * 1000)
        self._linger_ms = linger_ms
        self._fetch_wait_ms = fetch_wait_ms
        self._reader_count = readers
        self._listener: MessageListener | None = None
        self._producer: AIOKafkaProducer | None = None
        self._admin: AIOKafkaAdminClient | None = None
        self._live: AIOKafkaConsumer | None = None
        self._topics: TopicRegistry | None = None
        self._readers: ReaderPool | None = None
        self._loop_task: asyncio.Task[None] | None = None
        # watched partition → offset of the next record to deliver; channel of each room's
        # (and the events') partition; watched inboxes of each shared partition, each with the
        # offset its delivery starts at
        self._next: dict[TopicPartition, int] = {}
        self._channels: dict[TopicPartition, str] = {}
        self._inboxes: dict[TopicPartition, dict[bytes, int]] = {}
        self._watch_locks = KeyedLocks()
        self._ending: dict[TopicPartition, asyncio.Future[int]] = {}
        self._assigned = asyncio.Event()
        self._reassign_later: asyncio.TimerHandle | None = None
        self._busy_until = 0.0  # loop time before which the live fetches keep the busy wait

    # lifecycle

    async def start(self, listener: MessageListener, batches: BatchListener | None = None) -> None:
        """Connect the producer, admin client and live consumer; raise ServiceUnavailable if
        the broker cannot be reached (nothing is left open then). Records are handed to
        `listener` one at a time (`batches` is not used: the fetch is the batch here)."""
        self._listener = listener
        common = {"bootstrap_servers": self._bootstrap, "request_timeout_ms": self._timeout_ms}
        self._producer = AIOKafkaProducer(
            **common,
            acks="all",
            enable_idempotence=True,  # a send retried after a leader moved is stored once
            linger_ms=self._linger_ms,
        )
        self._admin = AIOKafkaAdminClient(**common)
        self._live = self._new_consumer(self._fetch_wait_ms)
        try:
            async with self._bounded("start"):
                await self._producer.start()
                await self._admin.start()
                await self._live.start()
        except BaseException:
            await self._stop_clients()
            raise
        self._topics = TopicRegistry(
            self._admin,
            self._producer.client,
            self._names,
            replication_factor=self._replication_factor,
            retention_ms=self._retention_ms,
        )
        try:
            async with self._bounded("start"):
                await self._topics.check_partitions(
                    self._names.inbox_topic, self._names.inbox_partitions
                )
        except BaseException:
            await self._topics.close()
            self._topics = None
            await self._stop_clients()
            raise
        self._readers = ReaderPool(
            lambda: self._new_consumer(_READ_FETCH_WAIT_MS), self._reader_count, self._names
        )
        self._loop_task = asyncio.create_task(self._deliver_forever(), name="kafka-log-live")

    def _new_consumer(self, fetch_wait_ms: int) -> AIOKafkaConsumer:
        """A groupless consumer tuned for latency."""
        return AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap,
            request_timeout_ms=self._timeout_ms,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",  # a position lost to retention restarts at the oldest
            fetch_max_wait_ms=fetch_wait_ms,
            retry_backoff_ms=50,
        )

    async def close(self) -> None:
        """Stop delivering, then flush the producer and close every connection."""
        if self._reassign_later is not None:
            self._reassign_later.cancel()
            self._reassign_later = None
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
            self._loop_task = None
        if self._readers is not None:
            await self._readers.close()
            self._readers = None
        if self._topics is not None:
            await self._topics.close()
            self._topics = None
        await self._stop_clients()

    async def _stop_clients(self) -> None:
        for client in (self._live, self._producer, self._admin):
            if client is None:
                continue
            try:
                await asyncio.wait_for(stop_client(client), self._timeout)
            except (KafkaError, OSError, TimeoutError) as e:
                log.warning("closing %s: %r", type(client).__name__, e)
        self._live = self._producer = self._admin = None

    async def ping(self) -> None:
        async with self._bounded("ping"):
            await self._registry().ping()

    async def purge(self, older_than: datetime) -> int:
        """Nothing to do: the broker expires records after the topics' retention.ms."""
        return 0

    async def delete_channel(self, channel: str, before: datetime | None = None) -> int:
        """Move the start of the channel's partition past its last record (DeleteRecords up
        to the high watermark), or with `before` up to its first record sent since then
        (`_first_since`): offsets, hence ids, go on from there. A broker that refuses
        keeps the records until retention.ms expires them; the core hides them from a later
        holder of the name by its creation time. The count is not known: 0.

        An inbox shares its partition with others, so its records stay until retention.ms
        expires them (the core hides them by the account's creation time)."""
        tp = self._names.place(channel)
        if self._names.is_shared(tp):
            return 0
        topic = tp.topic
        admin = self._admin
        if admin is None:
            raise ServiceUnavailable("message log unavailable: not started")
        async with self._bounded("delete"):
            if not await self._registry().exists(topic):
                return 0
        upto = -1 if before is None else await self._first_since(channel, before)
        if upto == 0:
            return 0
        async with self._bounded("delete"):
            try:
                await admin.delete_records({TopicPartition(topic, 0): RecordsToDelete(upto)})
            except KafkaError as e:
                log.warning("cannot delete the records of %s (%r): left to retention", topic, e)
        return 0

    async def _first_since(self, channel: str, before: datetime) -> int:
        """The offset of the channel's first record sent at or after `before` (ids are
        offsets + 1), read from the newest back: a room made again since has few; past the
        last record if none is (a record published later stays)."""
        upto, first = None, 0
        while True:
            page = await self.read(channel, before=upto, limit=DELETE_PAGE, newest=True)
            if upto is None and page:
                first = page[-1].id
            for m in reversed(page):
                if m.sent_at < before:
                    return first
                first = m.id - 1
            if len(page) < DELETE_PAGE:
                return first
            upto = page[0].id

    # writing

    async def publish(self, drafts: Sequence[Draft]) -> list[Message]:
        """Send every draft, then wait until the broker has acknowledged each one (acks=all).
        Drafts of one channel keep their order: the producer has one request in flight per
        partition. After a timeout a message may still reach the log later (at least once)."""
        if not drafts:
            return []
        producer = self._producer
        if producer is None:
            raise ServiceUnavailable("message log unavailable: not started")
        places = [self._names.place(d.channel) for d in drafts]
        try:
            async with self._bounded("publish", unsure=PUBLISH_UNSURE):
                await self._registry().ensure({tp.topic for tp in places})
                pending = []
                for draft, tp in zip(drafts, places, strict=True):
                    key, value = encode(draft)
                    pending.append(
                        await producer.send(tp.topic, value, key=key, partition=tp.partition)
                    )
                acks = await asyncio.gather(*pending)
        except ServiceUnavailable as e:
            self.health.publish_failed(e)
            raise
        return [Message.from_draft(d, md.offset + 1) for d, md in zip(drafts, acks, strict=True)]

    # reading

    async def read(
        self,
        channel: str,
        *,
        after: int | None = None,
        before: int | None = None,
        limit: int = 100,
        newest: bool = False,
    ) -> list[Message]:
        tp = self._names.place(channel)
        if limit <= 0:
            return []
        readers = self._readers
        if readers is None:
            raise ServiceUnavailable("message log unavailable: not started")
        async with self._bounded("read"):
            if not await self._registry().exists(tp.topic):
                return []
            if self._names.is_shared(tp):
                return await readers.read_shared(
                    tp, channel, after=after, before=before, limit=limit, newest=newest
                )
            return await readers.read(tp, after=after, before=before, limit=limit, newest=newest)

    async def count(
        self,
        channel: str,
        *,
        after: int | None,
        limit: int,
        since: datetime,
        excluding: frozenset[str] = frozenset(),
    ) -> int:
        """A broker cannot count what it does not send: the messages are read (one bounded
        range of the partition, as `read`) and counted here. Messaging does not call this
        (`counts_by_reading`): it reads them itself, paid from the reader's budget."""
        batch = await self.read(channel, after=after, limit=limit)
        return sum(1 for m in batch if m.sender_key not in excluding and m.sent_at >= since)

    # live delivery

    async def watch(self, channel: str) -> None:
        """Deliver the channel's messages from its current end on. The start offset is fixed
        here, before returning, so a message published after `watch` returns is never missed
        even though the consumer picks the partition up a moment later."""
        tp = self._names.place(channel)
        key = channel.encode()
        shared = self._names.is_shared(tp)
        if tp in self._next and (not shared or key in self._inboxes.get(tp, ())):
            return  # the common case (a join to a room watched here): no lock, no broker
        # One channel's watch (or unwatch) at a time; different ones' run side by side, so
        # a login storm (an inbox each) is not a queue, nor is an outage one timeout after
        # another. The lock's wait counts towards the timeout.
        async with self._bounded("watch"), self._watch_locks.hold(channel):
            if tp in self._next and (not shared or key in self._inboxes.get(tp, ())):
                return
            live, readers = self._live, self._readers
            if live is None or readers is None:
                raise ServiceUnavailable("message log unavailable: not started")
            # An inbox partition this node fetches already: start at the end its last fetch
            # saw, without a request (a login storm would queue on the readers). Its records
            # since, a moment's worth, are delivered too: published before the watch, never
            # missed.
            # (highwater asserts the partition is assigned: a reassignment may be pending)
            fetching = shared and tp in self._next and tp in live.assignment()
            seen: int | None = live.highwater(tp) if fetching else None
            created = await self._registry().ensure([tp.topic]) if seen is None else set()
            # a topic this node just created is empty: no need to ask (nor to wait until the
            # broker's metadata knows the new topic)
            end = seen if seen is not None else 0 if created else await self._end_of(tp, readers)
            if shared:
                self._inboxes.setdefault(tp, {})[key] = end
            else:
                self._channels[tp] = channel
            if tp not in self._next:
                self._next[tp] = end
                self._reassign_soon()

    async def unwatch(self, channel: str) -> None:
        tp = self._names.place(channel)
        async with self._watch_locks.hold(channel):
            if tp not in self._next or self._live is None:
                return
            inboxes = self._inboxes.get(tp)
            if inboxes is not None:
                inboxes.pop(channel.encode(), None)
                if inboxes:
                    return  # other inboxes of this node share the partition
                del self._inboxes[tp]
            else:
                self._channels.pop(tp, None)
            del self._next[tp]
            self._reassign_soon()

    async def _end_of(self, tp: TopicPartition, readers: ReaderPool) -> int:
        """The partition's end, one request at a time per partition: the logins of a storm
        that land in one inbox partition before it is fetched share one ListOffsets (each
        their own queued on the four readers timed out under load). An end asked a moment
        before a watch only delivers a moment's more: never misses anything."""
        pending = self._ending.get(tp)
        if pending is None:
            pending = self._ending[tp] = asyncio.ensure_future(readers.end_offset(tp))
            pending.add_done_callback(lambda done: _forget(self._ending, tp, done))
        return await asyncio.shield(pending)

    def watched(self) -> list[str]:
        """The channels this node delivers, sorted."""
        inboxes = [k.decode() for keys in self._inboxes.values() for k in keys]
        return sorted([*self._channels.values(), *inboxes])

    def lag(self) -> int:
        """Records of the partitions this node delivers that the broker held, as of the
        consumer's last fetch of each, and that are not delivered (nor skipped) here yet: how
        far behind this node's fan-out is. Computed when asked (a scrape), from what the
        consumer keeps anyway (each fetch's high watermark): no request, nothing on the hot
        path. A consumer that cannot fetch at all (the broker away) keeps its last value:
        torbit_backend_up{backend="message_log"} says that."""
        live = self._live
        if live is None:
            return 0
        behind = 0
        for tp in live.assignment():
            end, next_offset = live.highwater(tp), self._next.get(tp)
            if end is not None and next_offset is not None and end > next_offset:
                behind += end - next_offset
        return behind

    def fetched(self) -> set[TopicPartition]:
        """The partitions the live consumer is assigned: what every fetch of this node names
        (rooms watched + the events topic + at most `inbox_partitions`)."""
        live = self._live
        return set() if live is None else set(live.assignment())

    def _reassign_soon(self) -> None:
        """Reassign shortly, once for every change until then. Nothing is missed meanwhile: a
        new channel's start offset is already in `_next`, and records of a channel no longer
        in `_next` are skipped."""
        if self._reassign_later is None:
            self._reassign_later = asyncio.get_running_loop().call_later(
                _REASSIGN_DELAY_S, self._reassign
            )

    def _reassign(self) -> None:
        """Assign the watched partitions and put each at its next undelivered offset.

        `assign` forgets every position, and records already fetched but not yet handed out
        are dropped, so positions come from `_next`, which moves only when a record has been
        delivered. This method never awaits: no delivery can interleave with it."""
        self._reassign_later = None
        live = self._live
        if live is None:
            return
        # before assign: the fetcher builds the next fetch as soon as it sees the change
        self._busy_until = asyncio.get_running_loop().time() + _POLL_MS / 1000
        self._set_fetch_wait(min(_BUSY_FETCH_WAIT_MS, self._fetch_wait_ms))
        live.assign(list(self._next))
        for tp, offset in self._next.items():
            live.seek(tp, offset)
        if self._next:
            self._assigned.set()
        else:
            self._assigned.clear()

    async def _deliver_forever(self) -> None:
        """Hand each new record of a watched channel to the listener, once, in offset order.
        Errors (the broker away, a timeout) are logged and retried: the consumer reconnects
        by itself and keeps its positions."""
        live = self._live
        assert live is not None and self._listener is not None
        listener = self._listener
        events_topic = self._names.topic(EVENTS_CHANNEL)
        loop = asyncio.get_running_loop()
        failing = False
        while True:
            await self._assigned.wait()
            try:
                batch = await live.getmany(timeout_ms=_POLL_MS)
            except Exception as e:  # the broker away, or anything else: never stop delivering
                if not failing:
                    log.warning("message log consumer: %r; retrying", e)
                failing = True
                await asyncio.sleep(_RETRY_S)
                continue
            if batch:
                self._busy_until = loop.time() + _POLL_MS / 1000
            quiet = loop.time() >= self._busy_until
            self._set_fetch_wait(
                self._fetch_wait_ms if quiet else min(_BUSY_FETCH_WAIT_MS, self._fetch_wait_ms)
            )
            if failing and batch:
                log.warning("message log consumer: receiving again")
                failing = False
            # Node events first: an ignore confirmed before a message was sent applies to it,
            # though the two are in different partitions that one fetch brought together.
            for tp, records in sorted(batch.items(), key=lambda kv: kv[0].topic != events_topic):
                next_offset = self._next.get(tp)
                if next_offset is None:
                    continue  # unwatched while these were in flight
                own = self._channels.get(tp)
                inboxes = self._inboxes.get(tp, {})
                for record in records:
                    if record.offset < next_offset:
                        continue  # fetched before a reassignment rewound the position
                    next_offset = record.offset + 1
                    if own is not None:
                        channel = own
                    else:
                        start = inboxes.get(record.key or b"")
                        if start is None or record.offset < start:
                            continue  # an inbox not watched here (yet)
                        channel = record.key.decode()
                    try:
                        message = decode(channel, record.offset, record.value)
                    except (ValueError, KeyError, TypeError) as e:
                        log.error("skipping record %s@%d: %r", tp.topic, record.offset, e)
                        continue
                    try:
                        listener(message)
                    except Exception:
                        log.exception("message listener failed on %s#%d", channel, message.id)
                self._next[tp] = next_offset

    # helpers

    @property
    def fetch_wait_ms(self) -> int:
        """The live consumer's fetch wait now: short while records flow, else the configured."""
        fetcher = getattr(self._live, "_fetcher", None)
        wait: int = getattr(fetcher, "_fetch_max_wait_ms", self._fetch_wait_ms)
        return wait

    def _set_fetch_wait(self, ms: int) -> None:
        """Change the wait of the live consumer's next fetches. aiokafka reads it from its
        fetcher for every request it builds and has no public setter; without that private
        attribute (another aiokafka) the configured wait simply stays."""
        fetcher = getattr(self._live, "_fetcher", None)
        if fetcher is not None and hasattr(fetcher, "_fetch_max_wait_ms"):
            fetcher._fetch_max_wait_ms = ms

    def _registry(self) -> TopicRegistry:
        if self._topics is None:
            raise ServiceUnavailable("message log unavailable: not started")
        return self._topics

    @contextlib.asynccontextmanager
    async def _bounded(self, what: str, unsure: str = "") -> AsyncIterator[None]:
        """Give up after request_timeout and report any broker failure as ServiceUnavailable;
        `unsure`: what a timeout leaves undecided, told to whoever waited."""
        try:
            async with asyncio.timeout(self._timeout):
                yield
        except TimeoutError as e:
            raise self.health.failed(
                ServiceUnavailable(
                    f"message log unavailable: {what} timed out after {self._timeout:g}s{unsure}"
                )
            ) from e
        except (KafkaError, OSError) as e:
            raise self.health.failed(
                ServiceUnavailable(f"message log unavailable: {what}: {e}")
            ) from e


def _forget(
    pending: dict[TopicPartition, asyncio.Future[int]],
    tp: TopicPartition,
    done: asyncio.Future[int],
) -> None:
    if pending.get(tp) is done:
        del pending[tp]
    if not done.cancelled():
        done.exception()  # seen, even if every waiter gave up
