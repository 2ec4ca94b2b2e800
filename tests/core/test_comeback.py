"""core/comeback.py without sockets: the queued writes of sessions that stopped reading a
room (the room noted, its read cursor moved) let the event loop run between them, and
coalesce per (user, room)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.core.conftest import Core
from torbit.core.comeback import Comeback

USERS = 40


async def crowd_in_den(core: Core) -> Comeback:
    await core.user("talker")
    await core.membership.become_member("talker", "den")
    for i in range(USERS):
        await core.user(f"u{i}")
        await core.membership.become_member(f"u{i}", "den")
    for text in ("one", "two", "three"):
        await core.messaging.send("talker", "den", text)
    return Comeback(core.store, core.log, core.membership, core.messaging)


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
