"""core/comeback.py without sockets: the queued writes of sessions that stopped reading a
room (the room noted, its read cursor moved) let the event loop run between them, and
coalesce per (user, room); the cursor moves to the newest message handed out, not to the
newest one stamped before the session stopped."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from tests.core.conftest import Core
from torbit.core.comeback import Comeback
from torbit.core.models import Message

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


async def test_queued_moves_let_the_loop_run_between_them(
    core: Core, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On SQLite the writes are made on the loop's thread without suspending: a worker that
    never yielded held the loop for every logout of a mass leave."""
    comeback = await crowd_in_den(core)
    written: list[str] = []
    set_cursor = core.store.set_cursor

    async def counted(user_key: str, *args: Any, **kwargs: Any) -> None:
        written.append(user_key)
        await set_cursor(user_key, *args, **kwargs)

    monkeypatch.setattr(core.store, "set_cursor", counted)
    for i in range(USERS):
        comeback.left(f"u{i}", "den", read=True, last=True)
    when_the_loop_ran: list[int] = []
    asyncio.get_running_loop().call_soon(lambda: when_the_loop_ran.append(len(written)))
    while not comeback.idle:
        await asyncio.sleep(0)
    assert len(written) == USERS
    assert when_the_loop_ran[0] < USERS // 2, when_the_loop_ran
    newest = (await core.log.read("den", limit=1, newest=True))[0].id
    for i in (0, USERS - 1):
        assert await core.store.get_cursor(f"u{i}", "den") == newest
        assert await core.store.last_entered(f"u{i}") == "den"


async def test_a_room_switched_away_from_again_and_again_is_one_write(
    core: Core, monkeypatch: pytest.MonkeyPatch
) -> None:
    comeback = await crowd_in_den(core)
    written: list[str] = []
    set_cursor = core.store.set_cursor

    async def counted(user_key: str, *args: Any, **kwargs: Any) -> None:
        written.append(user_key)
        await set_cursor(user_key, *args, **kwargs)

    monkeypatch.setattr(core.store, "set_cursor", counted)
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
