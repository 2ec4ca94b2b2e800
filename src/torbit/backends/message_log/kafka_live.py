"""Live delivery: the one consumer of a node that fetches every partition it watches
(manual assignment, no consumer group: every node sees every message of the channels it
watches) and hands each new record to the listener once, in order; the watches that
reassign it, shared by a login storm; and the fetch wait, short while records flow."""

from __future__ import annotations

import asyncio
import logging

from aiokafka import TopicPartition

from torbit.backends.message_log.kafka_base import KafkaLogBase
from torbit.backends.message_log.kafka_read import ReaderPool
from torbit.backends.message_log.kafka_topics import decode
from torbit.core.names import EVENTS_CHANNEL
from torbit.errors import ServiceUnavailable

log = logging.getLogger(__name__)

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


class KafkaLive(KafkaLogBase):
    """Watching channels and delivering their new records; what the node fetches and its lag."""

    async def watch(self, channel: str) -> None:
        """Deliver the channel's messages from its current end on. The start offset is fixed
        here, before returning, so a message published after `watch` returns is never missed
        even though the consumer picks the partition up a moment later."""
        tp = await self._placed(channel)
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
        tp = await self._placed(channel)
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


def _forget(
    pending: dict[TopicPartition, asyncio.Future[int]],
    tp: TopicPartition,
    done: asyncio.Future[int],
) -> None:
    if pending.get(tp) is done:
        del pending[tp]
    if not done.cancelled():
        done.exception()  # seen, even if every waiter gave up
