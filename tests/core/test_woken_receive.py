"""A long poll woken by committed messages answers from them (`Messaging.receive_woken`)
when they follow on from where its last read ended, and reads the log otherwise. What it
answers is what a read would have: ignored senders left out, the cursor moved forward only.
Store statements counted on the real SQLite engine."""

from __future__ import annotations

import asyncio

from tests.core.conftest import Core
from tests.helpers.statements import Statements
from torbit.core.models import Message


async def setup(core: Core) -> int | None:
    for name in ("alice", "bob", "carol"):
        await core.user(name)
        await core.membership.become_member(name, "hall")
    await core.messaging.send("bob", "hall", "before")
    got, after = await core.messaging.receive_from("alice", "hall")
    assert [m.text for m in got] == ["before"]
    return after


async def woken_by(core: Core, *texts: tuple[str, str]) -> list[Message]:
    """Messages sent while a Wakeup listens to the room, as the log delivered them."""
    async with core.subscriptions.wake_on("hall") as wakeup:
        for sender, text in texts:
            await core.messaging.send(sender, "hall", text)
        await asyncio.sleep(0)
        taken = wakeup.take()
    assert taken is not None
    return taken


async def test_the_answer_comes_from_the_woken_messages(core: Core) -> None:
    after = await setup(core)
    await core.ignores.ignore("alice", "carol")
    await core.ignores.of("alice")  # kept from now on
    woken = await woken_by(core, ("carol", "ignored"), ("bob", "one"), ("bob", "two"))
    with Statements(core.store.engine) as statements:
        answer = await core.messaging.receive_woken("alice", "hall", after, woken, limit=1)
    assert answer is not None
    messages, last = answer
    assert [m.text for m in messages] == ["one"]
    assert last == woken[1].id  # over the ignored one and "one", not "two"
    assert statements.kinds() == ["INSERT"], statements.seen  # the cursor's move, no read
    assert [m.text for m in await core.messaging.receive("alice", "hall")] == ["two"]


async def test_a_gap_or_an_unknown_start_means_reading(core: Core) -> None:
    after = await setup(core)
    assert after is not None
    woken = await woken_by(core, ("bob", "one"), ("bob", "two"), ("bob", "three"))
    assert await core.messaging.receive_woken("alice", "hall", after, woken[1:]) is None
    assert await core.messaging.receive_woken("alice", "hall", after, woken[::2]) is None
    assert await core.messaging.receive_woken("alice", "hall", None, woken) is None
    assert await core.messaging.receive_woken("alice", "hall", after, []) is None
    # what the read had seen already is left out; the rest follows on
    answer = await core.messaging.receive_woken("alice", "hall", after - 1, woken)
    assert answer is None  # `after` itself was not delivered: a gap before "one"
    answer = await core.messaging.receive_woken("alice", "hall", woken[0].id, woken)
    assert answer is not None and [m.text for m in answer[0]] == ["two", "three"]


async def test_every_parked_poll_answers_and_the_cursor_never_goes_back(core: Core) -> None:
    after = await setup(core)
    woken = await woken_by(core, ("bob", "one"), ("bob", "two"))
    first = await core.messaging.receive_woken("alice", "hall", after, woken)
    second = await core.messaging.receive_woken("alice", "hall", after, woken[:1])
    assert first is not None and second is not None
    assert [m.text for m in first[0]] == ["one", "two"]
    assert [m.text for m in second[0]] == ["one"]  # parked when "one" came: it gets it
    cursor = await core.messaging.read_cursor("alice", "hall")
    assert cursor == woken[1].id  # not moved back by the second
    assert await core.messaging.receive("alice", "hall") == []


async def test_parallel_reads_from_the_cursor_take_turns(core: Core) -> None:
    await setup(core)
    lines = [f"m{i}" for i in range(7)]
    for line in lines:
        await core.messaging.send("bob", "hall", line)
    pages = await asyncio.gather(*(core.messaging.receive("alice", "hall", 3) for _ in range(4)))
    assert [[m.text for m in page] for page in pages] == [lines[:3], lines[3:6], lines[6:], []]
    assert await core.messaging.receive("alice", "hall") == []


async def test_a_parked_poll_reads_on_from_its_own_last_read(core: Core) -> None:
    after = await setup(core)
    await core.messaging.send("bob", "hall", "one")
    assert [m.text for m in await core.messaging.receive("alice", "hall")] == ["one"]
    cursor = await core.messaging.read_cursor("alice", "hall")
    # another poll, parked at `after` when "one" came, still answers with it
    with Statements(core.store.engine) as statements:
        messages, last = await core.messaging.receive_after("alice", "hall", after)
    assert [m.text for m in messages] == ["one"] and last == cursor
    assert statements.kinds() == ["SELECT", "INSERT"], statements.seen  # no cursor read
    assert await core.messaging.read_cursor("alice", "hall") == cursor
    # a read that found the room empty (None) reads from its start
    messages, last = await core.messaging.receive_after("alice", "hall", None)
    assert [m.text for m in messages] == ["before", "one"] and last == cursor
