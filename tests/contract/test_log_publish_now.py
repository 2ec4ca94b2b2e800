"""A lone small publish to a quiet SQLite log is committed, delivered and acknowledged by its
publisher in its own loop turn (no hand-off to the writer task); publishes later in that turn
share the writer's next commit, and one made while an earlier batch awaits its delivery waits
for it. Counted in loop turns and commits, never in time."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Coroutine
from typing import Any, TypeVar

import pytest

from tests.contract.conftest import draft, running
from tests.helpers.turns import Turns
from torbit.core.models import Message

T = TypeVar("T")


async def turns_to(work: Awaitable[T]) -> tuple[T, int]:
    """`work`'s result and the loop turns it took (0: it never gave the loop a turn)."""
    turns = Turns()
    try:
        return await work, turns.count
    finally:
        turns.stop()


def at_once(coro: Coroutine[Any, Any, T]) -> T:
    """Run `coro` without the event loop: its result if it finishes without suspending."""
    with pytest.raises(StopIteration) as finished:
        coro.send(None)
    result: T = finished.value.value
    return result


async def test_a_lone_publish_is_committed_and_delivered_before_it_returns_in_its_turn(
    sqlite_url: str,
) -> None:
    seen: list[
        tuple[int, int | None]
    ] = []  # each delivery, and its row as another connection sees it
    other: sqlite3.Connection | None = None

    def listener(m: Message) -> None:
        assert other is not None
        row = other.execute(
            "SELECT id FROM messages WHERE channel = ? AND id = ?", (m.channel, m.id)
        ).fetchone()
        seen.append((m.id, row[0] if row else None))

    async with running(sqlite_url, listener) as (store, log):
        assert store.dialect.url.database is not None
        other = sqlite3.connect(store.dialect.url.database)
        try:
            await log.publish([draft("lobby", "first")])  # the writer reads the room's next id
            commits = log.commits
            (m,) = at_once(log.publish([draft("lobby", "second")]))
            assert log.commits == commits + 1
            assert seen == [(1, 1), (2, 2)]  # committed before it was delivered
            assert m.id == 2 and m.text == "second"
        finally:
            other.close()


async def test_publishes_later_in_the_turn_share_the_writers_next_commit(sqlite_url: str) -> None:
    delivered: list[Message] = []
    async with running(sqlite_url, delivered.append) as (_, log):
        await log.publish([draft("lobby", "first")])
        commits = log.commits
        published = await asyncio.gather(
            *(log.publish([draft("lobby", f"m{i}")]) for i in range(10))
        )
        # the first one at once, the nine after it in one commit of the writer's
        assert log.commits == commits + 2
        assert [m.id for (m,) in published] == list(range(2, 12))
        assert [m.id for m in delivered] == list(range(1, 12))


async def test_the_writer_acknowledges_its_small_batch_in_the_turn_it_commits(
    sqlite_url: str,
) -> None:
    async with running(sqlite_url) as (_, log):
        await log.publish([draft("lobby", "first")])
        at_once(log.publish([draft("lobby", "at once")]))
        queued = log.publish([draft("lobby", "queued")])  # the same turn: the writer's
        (m,), turns = await turns_to(queued)
        # one turn for the writer to commit, deliver and acknowledge; one for this task to
        # resume (a delivery on a turn of its own made it three)
        assert turns == 2
        assert m.id == 3


async def test_a_publish_waits_for_an_earlier_batch_committed_but_not_yet_delivered(
    sqlite_url: str,
) -> None:
    delivered: list[str] = []
    async with running(sqlite_url, lambda m: delivered.append(m.text)) as (_, log):
        # a room's first batch goes through the driver's thread (its next id is read there),
        # and is delivered on the turn after its commit
        first = asyncio.ensure_future(log.publish([draft("lobby", "first")]))
        while log.commits == 0:
            await asyncio.sleep(0)
        assert delivered == []  # committed, not delivered yet: the case under test
        (second,) = await log.publish([draft("lobby", "second")])  # in this same turn
        ((earlier,),) = await asyncio.gather(first)
        assert delivered == ["first", "second"]
        assert (earlier.id, second.id) == (1, 2)


async def test_a_small_batch_committed_at_once_is_delivered_after_the_one_before_it(
    sqlite_url: str,
) -> None:
    delivered: list[str] = []
    async with running(sqlite_url, lambda m: delivered.append(m.text)) as (_, log):
        # the writer commits a room's first batch on the driver's thread, and delivers it on
        # the turn after; a small one queued meanwhile it commits at once, right after it
        first = asyncio.ensure_future(log.publish([draft("lobby", "first")]))
        await asyncio.sleep(0)  # the writer has taken it
        assert log.commits == 0
        second = asyncio.ensure_future(log.publish([draft("lobby", "second")]))
        await asyncio.gather(first, second)
        assert log.commits == 2
        assert delivered == ["first", "second"]
