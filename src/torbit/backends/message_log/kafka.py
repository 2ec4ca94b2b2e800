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

This module connects and closes the clients; the log's parts live beside it, over what they
share (kafka_base.py): kafka_writes.py (publish, delete), kafka_history.py (read, count) and
kafka_live.py (watches and the live consumer's delivery).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from torbit.backends.message_log.kafka_clients import stop_client
from torbit.backends.message_log.kafka_live import KafkaLive
from torbit.backends.message_log.kafka_read import ReaderPool
from torbit.backends.message_log.kafka_topics import TopicRegistry
from torbit.backends.message_log.kafka_writes import KafkaWrites
from torbit.core.ports import BatchListener, MessageListener

log = logging.getLogger(__name__)

# History reads start where there is data, so the broker answers at once whatever the wait.
_READ_FETCH_WAIT_MS = 100


class KafkaLog(KafkaWrites, KafkaLive):
    """torbit.core.ports.MessageLog on Apache Kafka. Call `start` before anything else."""

    counts_by_reading = True  # a broker sends the records it is asked for; it cannot count

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
