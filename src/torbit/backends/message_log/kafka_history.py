"""Reading a channel's messages back from the broker (through the reader pool,
kafka_read.py) and counting them, which a broker can only do by reading."""

from __future__ import annotations

from datetime import datetime

from torbit.backends.message_log import kafka_read
from torbit.backends.message_log.kafka_base import KafkaLogBase
from torbit.core.models import Message
from torbit.errors import RateLimited, ServiceUnavailable


class KafkaHistory(KafkaLogBase):
    """History reads of the log: a room's partition, or one inbox of a shared partition."""

    async def read(
        self,
        channel: str,
        *,
        after: int | None = None,
        before: int | None = None,
        limit: int = 100,
        newest: bool = False,
    ) -> list[Message]:
        if limit <= 0:
            return []
        tp = await self._placed(channel)
        readers = self._readers
        if readers is None:
            raise ServiceUnavailable("message log unavailable: not started")
        async with self._bounded("read"):
            if not await self._registry().exists(tp.topic):
                return []
            if self._names.is_shared(tp):
                # one scan of an inbox at a time on a node (another asked meanwhile is refused,
                # not queued: queued ones outlasted the read's bound, each a 503 that marked
                # the log unhealthy), and what its scans look at paid from its bucket
                if channel in self._inbox_scans:
                    raise RateLimited(
                        "slow down: your private messages are being looked through already",
                        retry_after=1.0,
                    )
                scan = kafka_read.INBOX_SCAN
                self._scanned.take_all(channel, scan, "private messages looked through")
                self._inbox_scans.add(channel)
                try:
                    found, looked_at = await readers.read_shared(
                        tp, channel, after=after, before=before, limit=limit, newest=newest
                    )
                finally:
                    self._inbox_scans.discard(channel)
                self._scanned.give_back(channel, scan - looked_at)
                return found
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
