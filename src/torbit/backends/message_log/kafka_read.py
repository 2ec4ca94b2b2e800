"""History reads and end offsets: a few reusable consumers, pointed at one partition at a time.

A consumer costs a connection and a bootstrap, too much to pay on every room join, so idle
ones are kept (unassigned, so they do not keep fetching). A consumer that failed mid-read is
closed rather than reused: its state is not worth trusting.

The end of a partition is its high watermark: what ListOffsets(latest) answers for a watch,
and what the fetch responses of a read carry (the read takes the range it wants from there).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord

from torbit.backends.message_log.kafka_topics import TopicNames, decode
from torbit.core.models import Message
from torbit.errors import RateLimited

log = logging.getLogger(__name__)

_WAIT_MS = 20  # one getmany's wait; callers bound the whole read with their own deadline
# An inbox read fetches its shared partition this many offsets at a time, and looks at no more
# than INBOX_SCAN records of it: history of an inbox reaches back that far (see the docs).
_INBOX_CHUNK = 4000
INBOX_SCAN = 200_000


def read_range(
    end: int, *, after: int | None, before: int | None, limit: int, newest: bool
) -> tuple[int, int]:
    """The offsets [start, stop) a read wants, given the partition's end offset. Message ids
    are offsets + 1, so that ids start at 1 on every backend."""
    start = 0 if after is None else max(0, after)
    stop = end if before is None else min(end, max(0, before - 1))
    if newest:
        start = max(start, stop - limit)
    else:
        stop = min(stop, start + limit)
    return start, stop


class ReaderPool:
    """At most `size` consumers, created when first needed and reused afterwards."""

    def __init__(
        self, factory: Callable[[], AIOKafkaConsumer], size: int, names: TopicNames
    ) -> None:
        self._factory = factory
        self._names = names
        self._idle: list[AIOKafkaConsumer] = []
        self._all: set[AIOKafkaConsumer] = set()
        self._slots = asyncio.Semaphore(max(1, size))
        # inbox scans take at most half the readers: a room's join (its end offset) and its
        # history always find one (stop 48's probe: eight scans of one inbox held all four,
        # and a login on that node took 5 s, a join 15 s)
        self._scan_slots = asyncio.Semaphore(max(1, size // 2))
        self._closed = False

    async def end_offset(self, tp: TopicPartition) -> int:
        """The offset the partition's next record will get."""
        async with self._lease(tp) as consumer:
            end: int = (await consumer.end_offsets([tp]))[tp]
            return end

    async def read(
        self,
        tp: TopicPartition,
        *,
        after: int | None,
        before: int | None,
        limit: int,
        newest: bool,
    ) -> list[Message]:
        """Messages of an existing partition in the wanted range, oldest first.

        One fetch usually does: it starts where the wanted range starts, never later than the
        last record, so the broker has data to answer with at once, along with the end."""
        async with self._lease(tp) as consumer:
            lower = (await consumer.end_offsets([tp]))[tp]
            if lower == 0:
                return []
            # offsets wanted: [first, cap), from ids after < id < before (id = offset + 1)
            first = 0 if after is None else after
            cap = None if before is None else before - 1
            if newest:
                first = max(first, (lower if cap is None else min(cap, lower)) - limit)
            else:
                cap = first + limit if cap is None else min(cap, first + limit)
            if cap is not None and first >= cap:
                return []
            records, end = await _fetch(consumer, tp, min(first, lower - 1), cap=cap)
            start, stop = read_range(end, after=after, before=before, limit=limit, newest=newest)
            channel = self._names.channel(tp.topic)
            return _decode(channel, tp, [r for r in records if start <= r.offset < stop])

    async def read_shared(
        self,
        tp: TopicPartition,
        channel: str,
        *,
        after: int | None,
        before: int | None,
        limit: int,
        newest: bool,
    ) -> tuple[list[Message], int]:
        """An inbox's messages in the wanted range: the records of its shared partition keyed
        by the channel, scanned chunk by chunk from the end backwards (newest) or from `after`
        forwards until `limit` are found, the range is exhausted, or INBOX_SCAN records were
        looked at; and how many records were looked at (other inboxes' too)."""
        key = channel.encode()
        if self._scan_slots.locked():  # refused, not queued past the read's bound (a 503)
            raise RateLimited("slow down: the server is busy reading private messages: try again")
        async with self._scan_slots, self._lease(tp) as consumer:
            end = (await consumer.end_offsets([tp]))[tp]
            begin = (await consumer.beginning_offsets([tp]))[tp]
            # offsets wanted: [lo, hi), from ids after < id < before (id = offset + 1)
            lo = max(begin, 0 if after is None else after)
            hi = end if before is None else min(end, max(0, before - 1))
            found: list[ConsumerRecord] = []
            budget = INBOX_SCAN
            while lo < hi and len(found) < limit and budget > 0:
                span = min(_INBOX_CHUNK, budget)
                start, stop = (max(lo, hi - span), hi) if newest else (lo, min(hi, lo + span))
                records, _ = await _fetch(consumer, tp, start, cap=stop)
                mine = [r for r in records if r.key == key and start <= r.offset < stop]
                found = mine + found if newest else found + mine
                budget -= stop - start
                hi, lo = (start, lo) if newest else (hi, stop)
            found = found[-limit:] if newest else found[:limit]
            return _decode(channel, tp, found), INBOX_SCAN - budget

    @contextlib.asynccontextmanager
    async def _lease(self, tp: TopicPartition) -> AsyncIterator[AIOKafkaConsumer]:
        async with self._slots:
            if self._closed:
                raise RuntimeError("reader pool closed")
            if self._idle:
                consumer = self._idle.pop()
            else:
                consumer = self._factory()
                self._all.add(consumer)
                try:
                    await consumer.start()
                except BaseException:
                    await self._discard(consumer)
                    raise
            try:
                # Placed and paused at once: no fetch (nor offset reset) before the caller seeks.
                consumer.assign([tp])
                consumer.seek(tp, 0)
                consumer.pause(tp)
                yield consumer
            except BaseException:
                await self._discard(consumer)
                raise
            consumer.unsubscribe()
            if self._closed:
                await self._discard(consumer)
            else:
                self._idle.append(consumer)

    async def _discard(self, consumer: AIOKafkaConsumer) -> None:
        self._all.discard(consumer)
        try:
            await asyncio.shield(consumer.stop())
        except Exception as e:
            log.warning("closing a reader: %r", e)

    async def close(self) -> None:
        self._closed = True
        self._idle.clear()
        for consumer in list(self._all):
            await self._discard(consumer)


def _decode(channel: str, tp: TopicPartition, records: list[ConsumerRecord]) -> list[Message]:
    out: list[Message] = []
    for record in records:
        try:
            out.append(decode(channel, record.offset, record.value))
        except (ValueError, KeyError, TypeError) as e:
            log.error("skipping record %s@%d: %r", tp.topic, record.offset, e)
    return out


async def _fetch(
    consumer: AIOKafkaConsumer, tp: TopicPartition, position: int, *, cap: int | None
) -> tuple[list[ConsumerRecord], int]:
    """Records from `position` up to the end (or `cap`), and the end: the high watermark of
    the fetch responses. The caller bounds the time this may take."""
    consumer.seek(tp, position)
    consumer.resume(tp)
    out: list[ConsumerRecord] = []
    while True:
        batch = await consumer.getmany(tp, timeout_ms=_WAIT_MS)
        out.extend(batch.get(tp, ()))
        end: int | None = consumer.highwater(tp)
        if end is not None:
            stop = end if cap is None else min(end, cap)
            if await consumer.position(tp) >= stop:  # (no suspension: the position is valid)
                # Paused before the fetcher runs again: no long poll is left in flight to
                # hold up this consumer's next read.
                consumer.pause(tp)
                return out, end
