"""Writing to the log: publishing (acknowledged only once the broker has each message,
acks=all) and deleting a channel's records, all of them or those sent before a time."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import UTC, datetime

from aiokafka import TopicPartition
from aiokafka.admin import RecordsToDelete
from aiokafka.errors import KafkaError

from torbit.backends.message_log.kafka_history import KafkaHistory
from torbit.backends.message_log.kafka_topics import encode
from torbit.core.models import Draft, Message
from torbit.errors import ServiceUnavailable

log = logging.getLogger(__name__)

DELETE_PAGE = 100  # records a deletion with `before` reads at a time, newest first
# A send the producer holds when its wait times out still leaves once the broker answers:
# the sender is told so, and not to send it again blindly (it would then be there twice).
PUBLISH_UNSURE = "; it may still be delivered once the log is back"


class KafkaWrites(KafkaHistory):
    """Publishing, and moving a channel's start past its deleted records."""

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
            if any(self._names.undecided(d.channel) for d in drafts):
                places = [await self._placed(d.channel) for d in drafts]
            async with self._bounded("publish", unsure=PUBLISH_UNSURE):
                await self._registry().ensure({tp.topic for tp in places})
                pending = []
                for draft, tp in zip(drafts, places, strict=True):
                    key, value = encode(draft)
                    # the record's timestamp, which the broker's retention.ms expires it
                    # by, is the message's own: the store's time (rowclock60), not this
                    # node's wall clock (the producer's default)
                    sent = draft.sent_at
                    sent = sent if sent.tzinfo else sent.replace(tzinfo=UTC)
                    at = round(sent.timestamp() * 1000)
                    pending.append(
                        await producer.send(
                            tp.topic, value, key=key, partition=tp.partition, timestamp_ms=at
                        )
                    )
                acks = await asyncio.gather(*pending)
        except ServiceUnavailable as e:
            self.health.publish_failed(e)
            raise
        return [Message.from_draft(d, md.offset + 1) for d, md in zip(drafts, acks, strict=True)]

    async def delete_channel(self, channel: str, before: datetime | None = None) -> int:
        """Move the start of the channel's partition past its last record (DeleteRecords up
        to the high watermark), or with `before` up to its first record sent since then
        (`_first_since`): offsets, hence ids, go on from there. A broker that refuses
        keeps the records until retention.ms expires them; the core hides them from a later
        holder of the name by its creation time. The count is not known: 0.

        An inbox shares its partition with others, so its records stay until retention.ms
        expires them (the core hides them by the account's creation time)."""
        tp = await self._placed(channel)
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
