"""The MessageLog contract (torbit.core.ports.MessageLog) for SqlLog, on every SQL backend:
ids, ordering, group commit, paging, purge and failure handling."""

from __future__ import annotations

import asyncio
import sqlite3
from collections import defaultdict
from datetime import UTC, timedelta, timezone

import pytest

import torbit.backends.message_log.sql as local
from tests.contract.conftest import NOW, ago, draft, running
from torbit.backends.message_log.sql import SqlLog
from torbit.backends.store.schema import messages
from torbit.backends.store.sql import SqlStore
from torbit.core.models import Message, MessageKind
from torbit.errors import ServiceUnavailable


async def fill(log: SqlLog, channel: str, n: int) -> list[Message]:
    return await log.publish([draft(channel, f"m{i}") for i in range(n)])


# publishing


async def test_ids_count_from_one_per_channel(log: SqlLog) -> None:
    (a1,) = await log.publish([draft("lobby")])
    (b1,) = await log.publish([draft("@bob")])
    (a2,) = await log.publish([draft("lobby")])
    assert (a1.id, a2.id, b1.id) == (1, 2, 1)


async def test_a_publish_is_numbered_in_order_and_round_trips(log: SqlLog) -> None:
    drafts = [
        draft("lobby", "one"),
        draft("lobby", "waves", kind=MessageKind.ACTION),
        draft("@bob", "psst", kind=MessageKind.PRIVATE, recipient="Bob"),
        draft("lobby", "three", sent_at=NOW.astimezone(timezone(timedelta(hours=3)))),
    ]
    published = await log.publish(drafts)
    assert [(m.channel, m.id) for m in published] == [("lobby", 1), ("lobby", 2), ("@bob", 1),
                                                      ("lobby", 3)]
    assert published == [Message.from_draft(d, m.id) for d, m in zip(drafts, published,
                                                                         strict=True)]
    stored = await log.read("lobby") + await log.read("@bob")
    assert sorted(stored, key=lambda m: (m.channel, m.id)) == sorted(
        published, key=lambda m: (m.channel, m.id)
    )
    for m in stored:
        assert m.sent_at == NOW and m.sent_at.tzinfo == UTC
        assert m.sender_key == "alice"


async def test_empty_publish_is_a_no_op(log: SqlLog) -> None:
    assert await log.publish([]) == []


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
        row = other.execute("SELECT id FROM messages WHERE channel = ? AND id = ?",
                            (m.channel, m.id)).fetchone()
        seen.append(row[0] if row else None)

    async with running(sqlite_url, listener) as (store, log):
        assert store.dialect.url.database is not None
        other = sqlite3.connect(store.dialect.url.database)
        try:
            await asyncio.gather(*(log.publish([draft("lobby", str(i))]) for i in range(20)))
        finally:
            other.close()
    assert seen == list(range(1, 21))


async def test_a_failing_listener_does_not_lose_messages(store: SqlStore) -> None:
    def listener(m: Message) -> None:
        raise RuntimeError("boom")

    log = SqlLog(store)
    await log.start(listener)
    try:
        assert [m.id for m in await fill(log, "lobby", 2)] == [1, 2]
        assert [m.id for m in await log.read("lobby")] == [1, 2]
    finally:
        await log.close()


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


async def test_ids_carry_on_after_a_restart(store: SqlStore) -> None:
    log = SqlLog(store)
    await log.start(lambda m: None)
    await fill(log, "lobby", 3)
    await log.close()
    log = SqlLog(store)
    await log.start(lambda m: None)
    try:
        assert [m.id for m in await fill(log, "lobby", 2)] == [4, 5]
    finally:
        await log.close()


async def test_close_flushes_what_is_pending(store: SqlStore) -> None:
    log = SqlLog(store)
    await log.start(lambda m: None)
    pending = [asyncio.create_task(log.publish([draft("lobby", str(i))])) for i in range(30)]
    await asyncio.sleep(0)  # the publishes are queued
    await log.close()
    assert sorted(m.id for t in pending for m in t.result()) == list(range(1, 31))
    with pytest.raises(ServiceUnavailable):
        await log.publish([draft()])


async def test_publish_before_start_is_unavailable(store: SqlStore) -> None:
    with pytest.raises(ServiceUnavailable):
        await SqlLog(store).publish([draft()])


async def test_a_failed_commit_is_unavailable_and_leaves_no_gap(
    log: SqlLog, store: SqlStore
) -> None:
    await fill(log, "lobby", 2)
    async with store.engine.begin() as conn:  # someone else takes id 3 behind the log's back
        await conn.execute(
            messages.insert().values(channel="lobby", id=3, sender="Mallory", text="x",
                                     sent_at=NOW, kind="text")
        )
    with pytest.raises(ServiceUnavailable):
        await log.publish([draft("lobby", "a"), draft("games")])
    # the id cache was reset: numbering resumes after what is really stored
    assert [m.id for m in await fill(log, "lobby", 1)] == [4]
    assert [m.id for m in await fill(log, "games", 1)] == [1]
    assert [m.text for m in await log.read("lobby")] == ["m0", "m1", "x", "m0"]


async def test_watch_and_ping(log: SqlLog) -> None:
    await log.watch("lobby")
    await log.watch("lobby")
    await log.unwatch("lobby")
    await log.unwatch("never-watched")
    await log.ping()


# reading


@pytest.mark.parametrize(
    ("after", "before", "limit", "newest", "expected"),
    [
        (None, None, 100, False, range(1, 11)),
        (None, None, 3, False, range(1, 4)),
        (None, None, 3, True, range(8, 11)),
        (4, None, 3, False, range(5, 8)),
        (4, None, 3, True, range(8, 11)),
        (None, 6, 3, False, range(1, 4)),
        (None, 6, 3, True, range(3, 6)),
        (2, 9, 100, False, range(3, 9)),
        (2, 9, 2, True, range(7, 9)),
        (10, None, 5, False, range(0)),
        (None, 1, 5, True, range(0)),
        (5, 6, 5, False, range(0)),
        (None, None, 0, False, range(0)),
    ],
)
async def test_read_ranges(
    log: SqlLog, after: int | None, before: int | None, limit: int, newest: bool,
    expected: range,
) -> None:
    await fill(log, "lobby", 10)
    await fill(log, "other", 3)
    got = await log.read("lobby", after=after, before=before, limit=limit, newest=newest)
    assert [m.id for m in got] == list(expected)
    assert all(m.channel == "lobby" for m in got)


async def test_read_of_an_unknown_channel_is_empty(log: SqlLog) -> None:
    assert await log.read("nowhere", newest=True) == []


async def test_paging_forward_and_backward_visits_everything_once(log: SqlLog) -> None:
    everything = await fill(log, "lobby", 23)
    forward: list[Message] = []
    after = None
    while page := await log.read("lobby", after=after, limit=5):
        forward += page
        after = page[-1].id
    backward: list[Message] = []
    before = None
    while page := await log.read("lobby", before=before, limit=5, newest=True):
        backward = page + backward
        before = page[0].id
    assert forward == backward == everything


# purge


async def test_purge_deletes_only_older_messages(log: SqlLog) -> None:
    await log.publish([draft("lobby", "old", sent_at=ago(hours=30)),
                       draft("@bob", "old", sent_at=ago(hours=25)),
                       draft("lobby", "new", sent_at=ago(hours=1)),
                       draft("lobby", "edge", sent_at=ago(hours=24))])
    assert await log.purge(ago(hours=24)) == 2
    assert [m.text for m in await log.read("lobby")] == ["new", "edge"]
    assert await log.read("@bob") == []
    assert await log.purge(ago(hours=24)) == 0


async def test_purge_works_in_batches(log: SqlLog, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(local, "PURGE_BATCH", 7)
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
