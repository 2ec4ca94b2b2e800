"""What only SqlLog does, on every SQL backend: delivery before the acknowledgement, group
commit, batching, flushing on close, a failed commit, purge. The contract it shares with the
other message logs is test_log.py."""

from __future__ import annotations

import asyncio
import sqlite3
from collections import defaultdict

import pytest

import torbit.backends.message_log.sql as local
from tests.contract.conftest import NOW, ago, draft, running
from torbit.backends.message_log import sql_purge
from torbit.backends.message_log.sql import SqlLog
from torbit.backends.store.schema import messages
from torbit.backends.store.sql import SqlStore
from torbit.core.models import Message
from torbit.errors import ServiceUnavailable


async def fill(log: SqlLog, channel: str, n: int) -> list[Message]:
    return await log.publish([draft(channel, f"m{i}") for i in range(n)])


# publishing


async def test_listener_gets_each_message_once_in_order_before_the_ack(
    log: SqlLog, delivered: list[Message]
) -> None:
    first = await log.publish([draft("lobby", "a"), draft("lobby", "b")])
    assert delivered == first  # delivered by the time publish returned
    second = await log.publish([draft("games", "c")])
    assert delivered == first + second


async def test_listener_only_sees_committed_messages(sqlite_url: str) -> None:
    other: sqlite3.Connection | None = None
    seen: list[int | None] = []

    def listener(m: Message) -> None:  # looks from a second, synchronous connection
        assert other is not None
        row = other.execute(
            "SELECT id FROM messages WHERE channel = ? AND id = ?", (m.channel, m.id)
        ).fetchone()
        seen.append(row[0] if row else None)

    async with running(sqlite_url, listener) as (store, log):
        assert store.dialect.url.database is not None
        other = sqlite3.connect(store.dialect.url.database)
        try:
            await asyncio.gather(*(log.publish([draft("lobby", str(i))]) for i in range(20)))
        finally:
            other.close()
    assert seen == list(range(1, 21))


async def test_group_commit_with_50_concurrent_publishers(
    log: SqlLog, delivered: list[Message]
) -> None:
    channels = ["lobby", "games", "@alice", "@bob", "music"]
    per_publisher = 40

    async def publisher(i: int) -> list[Message]:
        acked = []
        for n in range(per_publisher):
            (m,) = await log.publish([draft(channels[(i + n) % 5], f"{i}:{n}", sender=f"u{i}")])
            acked.append(m)
        return acked

    results = await asyncio.gather(*(publisher(i) for i in range(50)))
    total = 50 * per_publisher
    assert log.commits < total / 5  # fsyncs were shared

    by_channel: dict[str, list[Message]] = defaultdict(list)
    for acked in results:
        for m in acked:
            by_channel[m.channel].append(m)
    for channel, acked in by_channel.items():
        stored = await log.read(channel, limit=total)
        assert sorted(acked, key=lambda m: m.id) == stored  # every ack is durable, nothing else
        assert [m.id for m in stored] == list(range(1, len(stored) + 1))  # no gaps
    for acked in results:  # one sender's messages keep their order within a channel
        for channel in channels:
            ids = [m.id for m in acked if m.channel == channel]
            assert ids == sorted(ids)
    assert len(delivered) == total
    for channel in channels:  # delivered in id order per channel
        ids = [m.id for m in delivered if m.channel == channel]
        assert ids == list(range(1, len(ids) + 1))


async def test_a_batch_of_senders_and_send_times_is_stored_as_published(
    log: SqlLog, delivered: list[Message]
) -> None:
    # the writer converts a send time once per run of drafts sharing it, and a sender's
    # key once per batch: neither may leak onto the next draft
    times = [NOW, NOW, ago(seconds=1), ago(seconds=1), NOW]
    senders = ["Alice", "Alice", "BOB", "carol", "Alice"]
    published = await log.publish(
        [
            draft("lobby", f"m{i}", sender=s, sent_at=t)
            for i, (s, t) in enumerate(zip(senders, times, strict=True))
        ]
    )
    assert [m.sent_at for m in published] == times
    assert [m.sender_key for m in published] == ["alice", "alice", "bob", "carol", "alice"]
    stored = await log.read("lobby")
    assert stored == published == delivered
    assert [m.sent_at for m in stored] == times
    assert [m.sender_key for m in stored] == [m.sender_key for m in published]


async def test_big_publishes_are_split_into_batches_but_stay_whole(
    log: SqlLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(local, "MAX_BATCH", 10)
    results = await asyncio.gather(*(fill(log, "lobby", 7) for _ in range(6)))
    for published in results:  # each publish got consecutive ids
        ids = [m.id for m in published]
        assert ids == list(range(ids[0], ids[0] + 7))
    assert sorted(m.id for r in results for m in r) == list(range(1, 43))
    assert log.commits >= 6


async def test_close_flushes_what_is_pending(store: SqlStore) -> None:
    log = SqlLog(store)
    await log.start(lambda m: None)
    pending = [asyncio.create_task(log.publish([draft("lobby", str(i))])) for i in range(30)]
    await asyncio.sleep(0)  # the publishes are queued
    await log.close()
    assert sorted(m.id for t in pending for m in t.result()) == list(range(1, 31))
    with pytest.raises(ServiceUnavailable):
        await log.publish([draft()])


async def test_a_failed_commit_is_unavailable_and_leaves_no_gap(
    log: SqlLog, store: SqlStore
) -> None:
    await fill(log, "lobby", 2)
    async with store.engine.begin() as conn:  # someone else takes id 3 behind the log's back
        await conn.execute(
            messages.insert().values(
                channel="lobby", id=3, sender="Mallory", text="x", sent_at=NOW, kind="text"
            )
        )
    with pytest.raises(ServiceUnavailable):
        await log.publish([draft("lobby", "a"), draft("games")])
    # the id cache was reset: numbering resumes after what is really stored
    assert [m.id for m in await fill(log, "lobby", 1)] == [4]
    assert [m.id for m in await fill(log, "games", 1)] == [1]
    assert [m.text for m in await log.read("lobby")] == ["m0", "m1", "x", "m0"]


# purge


async def test_purge_deletes_only_older_messages(log: SqlLog) -> None:
    await log.publish(
        [
            draft("lobby", "old", sent_at=ago(hours=30)),
            draft("@bob", "old", sent_at=ago(hours=25)),
            draft("lobby", "new", sent_at=ago(hours=1)),
            draft("lobby", "edge", sent_at=ago(hours=24)),
        ]
    )
    assert await log.purge(ago(hours=24)) == 2
    assert [m.text for m in await log.read("lobby")] == ["new", "edge"]
    assert await log.read("@bob") == []
    assert await log.purge(ago(hours=24)) == 0


async def test_purge_works_in_batches(log: SqlLog, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sql_purge, "PURGE_BATCH", 7)
    await log.publish([draft("lobby", str(i), sent_at=ago(days=2)) for i in range(30)])
    await fill(log, "lobby", 2)
    assert await log.purge(ago(days=1)) == 30
    assert [m.id for m in await log.read("lobby")] == [31, 32]


async def test_ids_never_restart_after_a_purge_empties_a_channel(store: SqlStore) -> None:
    log = SqlLog(store)
    await log.start(lambda m: None)
    await log.publish([draft("lobby", sent_at=ago(days=2)) for _ in range(5)])
    assert await log.purge(ago(days=1)) == 5
    await log.close()
    log = SqlLog(store)  # a restart: the id cache is rebuilt from the database
    await log.start(lambda m: None)
    try:
        assert [m.id for m in await fill(log, "lobby", 1)] == [6]
    finally:
        await log.close()


async def test_sqlite_purge_gives_space_back(sqlite_url: str) -> None:
    async with running(sqlite_url) as (store, log):
        await log.publish([draft("lobby", "x" * 2000, sent_at=ago(days=2)) for _ in range(300)])
        assert await log.purge(ago(days=1)) == 300
        async with store.engine.connect() as conn:
            assert (await conn.exec_driver_sql("PRAGMA freelist_count")).scalar() == 0
