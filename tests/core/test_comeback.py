"""core/comeback.py without sockets: the queued writes of sessions that stopped reading a
room (the room noted, its read cursor moved) let the event loop run between them, and
coalesce per (user, room); the cursor moves to the newest message handed out, not to the
newest one stamped before the session stopped."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from tests.core.conftest import Core
from torbit.core import comeback as comeback_module
from torbit.core.comeback import Comeback
from torbit.core.models import Departure, Message

USERS = 40


async def crowd_in_den(core: Core) -> Comeback:
    await core.user("talker")
    await core.membership.become_member("talker", "den")
    for i in range(USERS):
        await core.user(f"u{i}")
        await core.membership.become_member(f"u{i}", "den")
    watcher = await core.login("talker", room="den")  # the room's messages are handed out here
    for text in ("one", "two", "three"):
        await core.messaging.send("talker", "den", text)
    while len(watcher.texts()) < 3:
        await asyncio.sleep(0.01)
    return Comeback(core.store, core.membership, core.messaging, core.subscriptions.newest)


async def test_queued_moves_are_written_in_batches_letting_the_loop_run_between_them(
    core: Core, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On SQLite the writes are made on the loop's thread without suspending: a worker that
    never yielded held the loop for every logout of a mass leave, and one commit a logout
    held it ~0.1 ms each (10,000 of them): they go in batches, the loop polled between two."""
    comeback = await crowd_in_den(core)
    monkeypatch.setattr(comeback_module, "WRITTEN_AT_ONCE", 8)
    batches: list[list[str]] = []
    note_departures = core.store.note_departures

    async def counted(moves: Sequence[Departure]) -> None:
        batches.append([m.user_key for m in moves])
        await note_departures(moves)

    monkeypatch.setattr(core.store, "note_departures", counted)
    for i in range(USERS):
        comeback.left(f"u{i}", "den", read=True, last=True)
    when_the_loop_ran: list[int] = []
    asyncio.get_running_loop().call_soon(lambda: when_the_loop_ran.append(len(batches)))
    while not comeback.idle:
        await asyncio.sleep(0)
    assert batches == [[f"u{i}" for i in range(b, b + 8)] for b in range(0, USERS, 8)]
    assert when_the_loop_ran[0] < USERS // 8, when_the_loop_ran
    newest = (await core.log.read("den", limit=1, newest=True))[0].id
    for i in range(USERS):
        assert await core.store.get_cursor(f"u{i}", "den") == newest
        assert await core.store.last_entered(f"u{i}") == "den"


async def test_a_batch_holding_a_deleted_user_writes_the_others(core: Core) -> None:
    """One user of a batch deleted before it is written (their cursor's row would break a
    foreign key, failing the batch's transaction): the others' moves are still written."""
    comeback = await crowd_in_den(core)
    await core.store.delete_user("u2")  # (its session not told yet)
    for i in range(4):
        comeback.left(f"u{i}", "den", read=True, last=True)
    while not comeback.idle:
        await asyncio.sleep(0)
    newest = (await core.log.read("den", limit=1, newest=True))[0].id
    for i in (0, 1, 3):
        assert await core.store.get_cursor(f"u{i}", "den") == newest
        assert await core.store.last_entered(f"u{i}") == "den"
    assert await core.store.get_cursor("u2", "den") is None


async def test_a_room_switched_away_from_again_and_again_is_one_write(
    core: Core, monkeypatch: pytest.MonkeyPatch
) -> None:
    comeback = await crowd_in_den(core)
    written: list[str] = []
    note_departures = core.store.note_departures

    async def counted(moves: Sequence[Departure]) -> None:
        written.extend(m.user_key for m in moves)
        await note_departures(moves)

    monkeypatch.setattr(core.store, "note_departures", counted)
    for _ in range(100):
        comeback.left("u0", "den", read=True)
    comeback.left("u0", "den", read=True, last=True)
    comeback.left("u0", "den", read=True)  # another session's switch: the logout's room is kept
    while not comeback.idle:
        await asyncio.sleep(0)
    assert written == ["u0"]
    assert await core.store.last_entered("u0") == "den"


async def test_a_message_on_its_way_when_the_session_stops_stays_unread(core: Core) -> None:
    """A message stamped before a session stopped reading, but handed to this node after (a
    broker's lag: the log's hand-over is held here), was never shown: the cursor stops at the
    newest message the session was handed. By the clock it was marked read, and lost to
    `/receive`."""
    await core.user("talker")
    await core.user("reader")
    await core.membership.become_member("talker", "den")
    reader = await core.login("reader", room="den")
    await core.messaging.send("talker", "den", "one")
    while reader.texts() != ["<talker> one"]:
        await asyncio.sleep(0.01)
    held: list[Sequence[Message]] = []
    await core.log.start(core.subscriptions.route, held.append)
    await core.messaging.send("talker", "den", "two")  # committed and acknowledged
    comeback = Comeback(core.store, core.membership, core.messaging, core.subscriptions.newest)
    comeback.left("reader", "den", read=True, last=True)
    await core.membership.stop_listening(reader, "den")
    await core.log.start(core.subscriptions.route, core.subscriptions.route_all)
    for batch in held:
        core.subscriptions.route_all(batch)
    while not comeback.idle:
        await asyncio.sleep(0)
    one, two = await core.log.read("den", limit=2, newest=True)
    assert reader.texts() == ["<talker> one"]
    assert await core.store.get_cursor("reader", "den") == one.id
    assert two.text == "two"
