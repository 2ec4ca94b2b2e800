"""SqlLog: the message log of a single-node deployment, kept in the store's `messages` table.

Group commit: `publish` only queues its drafts and waits. One writer task takes everything
queued (up to MAX_BATCH drafts), gives each message the next id of its channel, inserts the
whole batch in one transaction and commits; only then does it hand the messages to the listener
(in order) and wake the publishers. Nothing is shown or acknowledged before it is durable, and
fifty concurrent senders share one fsync instead of paying for fifty.

A lone small publish to a quiet log (nothing queued or under way, none committed so far in
this loop turn) is committed by its publisher at once where the dialect can (`commit_now`:
SQLite in WAL, not synced), delivered and returned in the same turn: no hand-off to the
writer task and back, which cost a steady stream two loop turns a message
(bench/JOURNAL.md, `permsg`). Publishes later in that turn queue for the writer as before,
so concurrent senders still share a commit.

The log is the node's alone: app.py gives it the node's claim on the database as its `fence`
(backends/store/claim.py). A batch is committed only while the claim is held; one that finds
it lost waits for it to be taken again (then reads its next ids afresh: another node may have
written meanwhile) or fails with 503, unacknowledged.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Select, func, select, union_all
from sqlalchemy.ext.asyncio import AsyncConnection

from torbit.backends.message_log import sql_purge
from torbit.backends.store.dialects import (
    CountedUnavailable,
    MessageRow,
    is_unavailable,
    unavailable,
)
from torbit.backends.store.schema import messages, purge_marks
from torbit.backends.store.sql import SqlStore
from torbit.core.health import Health
from torbit.core.models import Draft, Message, MessageKind, stored_message
from torbit.core.names import name_key
from torbit.core.ports import BatchListener, MessageListener
from torbit.errors import ServiceUnavailable

log = logging.getLogger(__name__)

MAX_BATCH = 1000  # drafts per transaction
# messages in a batch committed at once on the loop's thread where the dialect can
# (`commit_now`): a steady stream's one message; a busy log's big batches go to the driver
COMMIT_NOW_ROWS = 8
# Pages of a receive up to this size are read on the event loop's thread (SQLite: ~0.2 ms for
# 100 rows, against ~0.5 ms more in the pooled connection's lease and the thread hand-off);
# larger ones go to the driver's thread, where SQLite's stepping does not hold the loop.
READ_NOW_LIMIT = 100

# a receive's page as SQLite runs it directly (SqlDialect.fetch), columns as `read` selects
_COLUMNS = "id, sender, text, sent_at, kind, recipient"
_READ_FIRST = f"SELECT {_COLUMNS} FROM messages WHERE channel = ? ORDER BY id LIMIT ?"
_READ_AFTER = f"SELECT {_COLUMNS} FROM messages WHERE channel = ? AND id > ? ORDER BY id LIMIT ?"
# an unread count from a read cursor, no sender left out (SqlLog.count)
_COUNT_AFTER = (
    "SELECT count(*) FROM (SELECT sender, sent_at FROM messages WHERE channel = ? AND id > ? "
    "ORDER BY id LIMIT ?) WHERE sent_at >= ? AND lower(sender) <> ?"
)
# the history shown on joining a room (newest first, reversed below)
_READ_NEWEST = f"SELECT {_COLUMNS} FROM messages WHERE channel = ? ORDER BY id DESC LIMIT ?"

# a stored kind to its member: a dict lookup where MessageKind(value) is an enum call (a
# tenth of the samples of a profiled receive of 100-message pages)
_KINDS = {kind.value: kind for kind in MessageKind}

_Pending = tuple[Sequence[Draft], "asyncio.Future[list[Message]]"]


class Fence(Protocol):
    """What the log commits under: the node's claim on its database (claim.DatabaseClaim)."""

    @property
    def held(self) -> bool: ...

    @property
    def generation(self) -> int:
        """Times the claim was taken again after a loss."""
        ...

    async def wait_held(self) -> None:
        """Return once held; raise ServiceUnavailable if it is not (soon enough)."""


class SqlLog:
    """torbit.core.ports.MessageLog on the SQL store, for one node: everything published here
    is delivered to this node's listener, so watch/unwatch have nothing to do."""

    counts_by_reading = False  # one counting statement: no message leaves the database

    def __init__(self, store: SqlStore) -> None:
        self._store = store
        self._listener: MessageListener | None = None
        self._batches: BatchListener | None = None
        self._pending: deque[_Pending] = deque()
        self._wakeup = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._closing = False
        self._next_id: dict[str, int] = {}  # channel → next id, loaded on first use
        self.commits = 0  # transactions written, for metrics and tests
        self.health = Health()
        self.fence: Fence | None = None  # set by app.py: the node's claim on the database
        self._generation = 0  # the fence's, when the next ids were read
        self._unfinished = 0  # batches taken by the writer, not yet delivered or failed
        self._loop: asyncio.AbstractEventLoop | None = None  # the writer's, from `start`
        self._committed_now = False  # a publish was committed at once in this loop turn

    async def start(self, listener: MessageListener, batches: BatchListener | None = None) -> None:
        self._listener = listener
        self._batches = batches
        self._closing = False
        if self._writer is None:
            self._loop = asyncio.get_running_loop()
            self._writer = self._loop.create_task(self._run(), name="torbit-local-log-writer")

    async def close(self) -> None:
        """Write everything already published, then stop the writer."""
        self._closing = True
        writer, self._writer = self._writer, None
        if writer is not None:
            self._wakeup.set()
            await asyncio.wait([writer])
            await asyncio.sleep(0)  # let the last batch's delivery (call_soon) run

    async def ping(self) -> None:
        await self._store.ping()

    async def publish(self, drafts: Sequence[Draft]) -> list[Message]:
        if not drafts:
            return []
        if self._writer is None or self._writer.done() or self._closing:
            raise ServiceUnavailable("message log unavailable: it is not running")
        if not self._pending and not self._unfinished and not self._committed_now:
            try:
                done = self._publish_now(drafts)
            except ServiceUnavailable as e:
                self.health.publish_failed(e)
                raise
            if done is not None:
                return done
        assert self._loop is not None
        future: asyncio.Future[list[Message]] = self._loop.create_future()
        self._pending.append((drafts, future))
        self._wakeup.set()
        try:
            return await future
        except ServiceUnavailable as e:
            self.health.publish_failed(e)
            raise

    async def watch(self, channel: str) -> None:
        pass

    async def unwatch(self, channel: str) -> None:
        pass

    def _publish_now(self, drafts: Sequence[Draft]) -> list[Message] | None:
        """Commit, deliver and return a publish to a quiet log in this turn, where the
        dialect commits it at once; None when it cannot (then it queues, nothing taken).
        Only one a turn: the next ones queue, and the writer commits them together."""
        if len(drafts) > COMMIT_NOW_ROWS or not self._store.dialect.commits_now:
            return None
        fence = self.fence
        if fence is not None and (not fence.held or fence.generation != self._generation):
            return None
        next_id = self._next_id
        before = {}
        for d in drafts:
            channel = d.channel
            if channel not in before:
                if channel not in next_id:
                    return None  # its next id is read by the writer first
                before[channel] = next_id[channel]
        results, rows = self._number([drafts])
        try:
            committed = self._store.dialect.commit_now(self._store.engine, rows)
        except Exception as e:
            for channel in before:  # ids handed out here were never written
                next_id.pop(channel, None)
            raise self._write_failed(e, "a publish", len(drafts)) from e
        if not committed:  # busy: the ids go back, and the writer takes it
            next_id.update(before)
            return None
        self.commits += 1
        self._committed_now = True
        assert self._loop is not None
        self._loop.call_soon(self._turn_over)
        self._hand_over(results)
        return results[0]

    def _turn_over(self) -> None:
        self._committed_now = False

    # the writer

    async def _run(self) -> None:
        batch: list[_Pending] = []
        try:
            while True:
                await self._wakeup.wait()
                self._wakeup.clear()
                while self._pending:
                    batch = self._take()
                    await self._write(batch)
                    batch = []
                if self._closing:
                    return
        finally:  # left with work only if cancelled: nobody may wait forever
            stopped = ServiceUnavailable("message log unavailable: it was stopped")
            for _, future in [*batch, *self._pending]:
                if not future.done():
                    future.set_exception(stopped)
            self._pending.clear()

    def _take(self) -> list[_Pending]:
        batch: list[_Pending] = []
        size = 0
        while self._pending and (not batch or size + len(self._pending[0][0]) <= MAX_BATCH):
            entry = self._pending.popleft()
            batch.append(entry)
            size += len(entry[0])
        self._unfinished += 1
        return batch

    async def _write(self, batch: list[_Pending]) -> None:
        """Commit one batch, then deliver it, then acknowledge it."""
        channels = {d.channel for drafts, _ in batch for d in drafts}
        fence = self.fence
        if fence is not None and (not fence.held or fence.generation != self._generation):
            try:
                await fence.wait_held()
            except ServiceUnavailable as e:
                self._fail(batch, self.health.failed(e))
                return
            if fence.generation != self._generation:  # taken again: read the ids afresh
                self._generation = fence.generation
                self._next_id.clear()
        try:
            numbered = None
            small = sum(len(drafts) for drafts, _ in batch) <= COMMIT_NOW_ROWS
            if small and all(c in self._next_id for c in channels):
                # a small batch committed at once where the dialect can (SQLite in WAL, not
                # synced): no hand-off to the driver's thread and back (commit_now)
                numbered = self._number([drafts for drafts, _ in batch])
                if self._store.dialect.commit_now(self._store.engine, numbered[1]):
                    if self._unfinished > 1:  # an earlier batch's delivery is queued: after it
                        self._committed(batch, *numbered)
                        return
                    # committed on this thread: nothing to overlap with, delivered now
                    self.commits += 1
                    self._deliver(batch, numbered[0])
                    return
            # A connection per batch, from the store's pool: on SQLite that pool is one
            # connection, so the writer and the store take turns instead of contending for
            # SQLite's lock (see SqliteDialect.create_engine).
            # The batch's insert and commit are one step of the dialect's (on SQLite one
            # hand-off to the driver's thread); reading a channel's next id first, on its first
            # batch, is in the same transaction.
            async with self._store.engine.connect() as conn:
                if numbered is None:
                    missing = [c for c in channels if c not in self._next_id]
                    if missing:
                        await self._load_next_ids(conn, missing)
                    numbered = self._number([drafts for drafts, _ in batch])
                await self._store.dialect.commit_messages(conn, numbered[1])
        except Exception as e:
            for channel in channels:  # ids handed out in this batch were never written
                self._next_id.pop(channel, None)
            self._fail(batch, self._write_failed(e, "a batch", len(batch)))
            return
        self._committed(batch, *numbered)

    def _committed(
        self, batch: list[_Pending], results: list[list[Message]], rows: list[MessageRow]
    ) -> None:
        self.commits += 1
        # Deliver on the next loop turn: the writer goes on to commit the next batch (its fsync
        # runs in the driver's thread) while this one fans out, instead of one after the other.
        assert self._loop is not None
        self._loop.call_soon(self._deliver, batch, results)

    def _write_failed(self, e: Exception, what: str, size: int) -> ServiceUnavailable:
        """A commit's error (being handled) as the 503 its publishers get, counted; logged
        with its traceback unless the engine could not be reached (then it is a bug)."""
        if not is_unavailable(e):
            log.exception("message log: writing %s of %d failed", what, size)
        return self.health.failed(unavailable(e))

    def _fail(self, batch: list[_Pending], error: ServiceUnavailable) -> None:
        self._unfinished -= 1
        for _, future in batch:
            if not future.done():
                future.set_exception(error)

    def _deliver(self, batch: list[_Pending], results: list[list[Message]]) -> None:
        """Hand a committed batch to the listener in order, then acknowledge it."""
        self._unfinished -= 1
        self._hand_over(results)
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)

    def _hand_over(self, results: list[list[Message]]) -> None:
        """Committed messages to the listener, in order."""
        listener = self._listener
        if self._batches is not None:
            committed = [m for result in results for m in result]
            try:
                self._batches(committed)
            except Exception:
                log.exception("message listener failed on a batch of %d", len(committed))
        elif listener is not None:
            for result in results:
                for message in result:
                    try:
                        listener(message)
                    except Exception:
                        log.exception(
                            "message listener failed on %s#%d", message.channel, message.id
                        )

    def _number(
        self, publishes: Sequence[Sequence[Draft]]
    ) -> tuple[list[list[Message]], list[MessageRow]]:
        next_id = self._next_id
        results: list[list[Message]] = []
        rows: list[MessageRow] = []
        keys: dict[str, str] = {}  # sender → name_key: a publish's drafts share their sender
        for drafts in publishes:
            result = []
            for d in drafts:
                channel, sender = d.channel, d.sender
                id = next_id[channel]
                next_id[channel] = id + 1
                key = keys.get(sender)
                if key is None:
                    key = keys[sender] = name_key(sender)
                # positionally, the key given: a Message per row is the batch's main cost
                result.append(
                    stored_message(id, channel, sender, d.text, d.sent_at, d.kind, d.recipient, key)
                )
                rows.append((channel, id, sender, d.text, d.sent_at, d.kind.value, d.recipient))
            results.append(result)
        return results, rows

    async def _load_next_ids(self, conn: AsyncConnection, channels: list[str]) -> None:
        for channel in channels:
            # Two single-channel lookups the engines answer from an index each: the newest
            # message, and the highest id a purge removed (ids never go back after a purge).
            newest = select(func.max(messages.c.id).label("id")).where(
                messages.c.channel == channel
            )
            purged = select(purge_marks.c.last_id.label("id")).where(
                purge_marks.c.channel == channel
            )
            both = union_all(newest, purged).subquery()
            last = (await conn.execute(select(func.max(both.c.id)))).scalar()
            self._next_id[channel] = (last or 0) + 1

    # reading and housekeeping

    async def read(
        self,
        channel: str,
        *,
        after: int | None = None,
        before: int | None = None,
        limit: int = 100,
        newest: bool = False,
    ) -> list[Message]:
        """Messages with after < id < before, oldest first; the last `limit` of that range with
        newest=True, else the first. One range scan of the (channel, id) primary key."""
        if limit <= 0:
            return []

        def query() -> Select[Any]:  # built only where it runs (dialects.py, Query)
            q = select(
                messages.c.id,
                messages.c.sender,
                messages.c.text,
                messages.c.sent_at,
                messages.c.kind,
                messages.c.recipient,
            ).where(messages.c.channel == channel)
            if after is not None:
                q = q.where(messages.c.id > after)
            if before is not None:
                q = q.where(messages.c.id < before)
            return q.order_by(messages.c.id.desc() if newest else messages.c.id).limit(limit)

        with CountedUnavailable(self.health):
            if before is None and after is None and newest:  # the history on a join
                rows = list(await self._store.fetch(query, _READ_NEWEST, channel, limit))
            elif before is None and not newest and limit <= READ_NOW_LIMIT:
                # a receive's page, the hot path: on SQLite read at once on this thread
                # (SqlStore.fetch), no lease of the pooled connection, no hand-off
                if after is None:
                    rows = list(await self._store.fetch(query, _READ_FIRST, channel, limit))
                else:
                    rows = list(await self._store.fetch(query, _READ_AFTER, channel, after, limit))
            else:
                async with self._store.engine.connect() as conn:
                    if before is None and not newest:  # a large page: SQLite's work off the loop
                        params: tuple[str | int, ...]
                        if after is None:
                            sql, params = _READ_FIRST, (channel, limit)
                        else:
                            sql, params = _READ_AFTER, (channel, after, limit)
                        rows = list(await self._store.dialect.fetch(conn, query, sql, params))
                    else:
                        rows = list(await conn.execute(query()))
        if newest:
            rows.reverse()
        # positionally, each sender's key worked out once a read (`_number`): keywords and
        # a name_key per row took about half of a receive page's Message building
        keys: dict[str, str] = {}
        out = []
        for id, sender, text, sent_at, kind, recipient in rows:
            key = keys.get(sender)
            if key is None:
                key = keys[sender] = name_key(sender)
            out.append(
                stored_message(id, channel, sender, text, sent_at, _KINDS[kind], recipient, key)
            )
        return out

    async def count(
        self,
        channel: str,
        *,
        after: int | None,
        limit: int,
        since: datetime,
        excluding: frozenset[str] = frozenset(),
    ) -> int:
        """One statement, one row back: the first `limit` ids after `after` (a range scan
        of the primary key), counted where sent at or after `since` and not sent by a key in
        `excluding` (names are ASCII: SQL's lower() is name_key's)."""
        if limit <= 0:
            return 0
        if after is not None and len(excluding) <= 1:  # a returning login's: SQLite, now
            store = self._store
            since_at = store.dialect.stored_time(store.engine, since)
            but = next(iter(excluding), "")  # the user's own messages; no name is ""

            def counting() -> Select[Any]:
                first = (
                    select(messages.c.sender, messages.c.sent_at)
                    .where(messages.c.channel == channel, messages.c.id > after)
                    .order_by(messages.c.id)
                    .limit(limit)
                    .subquery()
                )
                return (
                    select(func.count())
                    .select_from(first)
                    .where(first.c.sent_at >= since, func.lower(first.c.sender) != but)
                )

            with CountedUnavailable(self.health):
                rows = await store.fetch(
                    counting, _COUNT_AFTER, channel, after, limit, since_at, but
                )
            return int(rows[0][0] or 0) if rows else 0
        window = select(messages.c.sender, messages.c.sent_at).where(messages.c.channel == channel)
        if after is not None:
            window = window.where(messages.c.id > after)
        first = window.order_by(messages.c.id).limit(limit).subquery()
        query = select(func.count()).select_from(first).where(first.c.sent_at >= since)
        if excluding:
            query = query.where(func.lower(first.c.sender).not_in(sorted(excluding)))
        with CountedUnavailable(self.health):
            async with self._store.engine.connect() as conn:
                counted = (await conn.execute(query)).scalar()
        return int(counted or 0)

    async def delete_channel(self, channel: str, before: datetime | None = None) -> int:
        """Delete every message of the channel (with `before`, those sent before it),
        remembering its highest id as a purge mark so that ids go on from there. Works
        without `start` (the CLI deletes accounts so)."""
        return await sql_purge.delete_channel(self._store, self.health, channel, before)

    async def purge(self, older_than: datetime) -> int:
        """Delete messages sent before older_than, a batch per transaction (sql_purge.py)."""
        return await sql_purge.purge(self._store, self.health, older_than)
