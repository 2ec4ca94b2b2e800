"""Reading a channel's messages back from the broker (through the reader pool,
kafka_read.py) and counting them, which a broker can only do by reading."""

from __future__ import annotations

from datetime import datetime

from torbit.backends.message_log.kafka_base import KafkaLogBase
from torbit.core.models import Message
from torbit.errors import ServiceUnavailable


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
