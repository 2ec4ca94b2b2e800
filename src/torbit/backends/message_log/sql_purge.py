"""Deleting a SQL message log's messages (a channel's, or the expired ones) a batch per
transaction, each channel's highest id first kept as its purge mark so that ids go on from
there (SqlLog.delete_channel and SqlLog.purge)."""

from __future__ import annotations

import asyncio
from datetime import datetime

from sqlalchemy import ColumnElement, Delete, and_, delete, func, select, tuple_

from torbit.backends.store.dialects import CountedUnavailable
from torbit.backends.store.schema import messages, purge_marks
from torbit.backends.store.sql import SqlStore
from torbit.core.health import Health

PURGE_BATCH = 5000  # rows per DELETE, so a purge never holds the write lock for long


async def delete_channel(
    store: SqlStore, health: Health, channel: str, before: datetime | None = None
) -> int:
    """Every message of the channel (with `before`, those sent before it)."""
    of_channel = messages.c.channel == channel
    if before is not None:
        of_channel = and_(of_channel, messages.c.sent_at < before)
    doomed = select(messages.c.id).where(of_channel).limit(PURGE_BATCH)
    batch = delete(messages).where(of_channel, messages.c.id.in_(doomed))
    return await _delete_marked(store, health, of_channel, batch)


async def purge(store: SqlStore, health: Health, older_than: datetime) -> int:
    """Messages sent before older_than, PURGE_BATCH rows per transaction."""
    old = messages.c.sent_at < older_than
    doomed = select(messages.c.channel, messages.c.id).where(old).limit(PURGE_BATCH)
    batch = delete(messages).where(tuple_(messages.c.channel, messages.c.id).in_(doomed))
    return await _delete_marked(store, health, old, batch, after_purge=True)


async def _delete_marked(
    store: SqlStore,
    health: Health,
    which: ColumnElement[bool],
    batch: Delete,
    *,
    after_purge: bool = False,
) -> int:
    """Delete the messages `which` picks, `batch` (at most PURGE_BATCH of them) per
    transaction, once each channel's highest id among them is its purge mark, so that
    ids go on from there; then, with `after_purge`, the dialect's tidying up."""
    insert = store.dialect.insert(purge_marks)
    marks = insert.from_select(
        ["channel", "last_id"],
        select(messages.c.channel, func.max(messages.c.id))
        .where(which)
        .group_by(messages.c.channel),
    )
    marks = marks.on_conflict_do_update(
        index_elements=[purge_marks.c.channel],
        set_={"last_id": marks.excluded.last_id},
        where=purge_marks.c.last_id < marks.excluded.last_id,
    )
    deleted = 0
    with CountedUnavailable(health):
        async with store.engine.connect() as conn:
            await conn.execute(marks)
            await conn.commit()
            while True:
                n = (await conn.execute(batch)).rowcount
                await conn.commit()
                deleted += n
                if n < PURGE_BATCH:
                    break
                await asyncio.sleep(0)  # let the log's writer have the lock between batches
            if deleted and after_purge:
                await store.dialect.after_purge(conn)
    return deleted
