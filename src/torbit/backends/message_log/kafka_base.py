"""What every part of KafkaLog shares (kafka.py puts the parts together): the settings, the
clients, the live consumer's positions, and the bound on every call that talks to the
broker, which turns a broker that cannot be reached into ServiceUnavailable."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from torbit.backends.message_log import kafka_read
from torbit.backends.message_log.kafka_clients import KeyedLocks
from torbit.backends.message_log.kafka_read import ReaderPool
from torbit.backends.message_log.kafka_topics import TopicNames, TopicRegistry
from torbit.core.health import Health
from torbit.core.limits import RateLimiter
from torbit.core.ports import MessageListener
from torbit.errors import ServiceUnavailable

SCAN_SECONDS = 20.0  # an inbox's whole scan (INBOX_SCAN records) may be made once this often


class KafkaLogBase:
    """The state and helpers the parts of `KafkaLog` share; never used alone."""

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
        # An inbox's history is found by looking through its shared partition, other inboxes'
        # records too (~3 µs each here): a read of a quiet inbox looked at INBOX_SCAN records,
        # 0.65 s of the node's CPU, uncharged, as often as one account asked (stop 48's probe).
        # Each inbox may have that many looked at per SCAN_SECONDS on a node, two whole scans
        # at once (a page loaded twice); one scan of an inbox at a time (`KafkaHistory.read`).
        self._inbox_scans: set[str] = set()  # the inboxes this node is looking through now
        self._scanned = RateLimiter(kafka_read.INBOX_SCAN / SCAN_SECONDS, 2 * kafka_read.INBOX_SCAN)
        self._ending: dict[TopicPartition, asyncio.Future[int]] = {}
        self._assigned = asyncio.Event()
        self._reassign_later: asyncio.TimerHandle | None = None
        self._busy_until = 0.0  # loop time before which the live fetches keep the busy wait

    def _registry(self) -> TopicRegistry:
        if self._topics is None:
            raise ServiceUnavailable("message log unavailable: not started")
        return self._topics

    async def _placed(self, channel: str) -> TopicPartition:
        """The channel's partition, once this node knows which topic a room with an '_'
        uses: its own, or the one it had before stop 49 (`TopicNames`), looked up once."""
        names = self._names
        legacy = names.undecided(channel)
        if legacy is not None:
            async with self._bounded("topic lookup"):
                registry = self._registry()
                own = await registry.exists(names.topic(channel))
                names.decide(channel, legacy=not own and await registry.exists(legacy))
        return names.place(channel)

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
