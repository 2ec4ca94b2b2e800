"""A guest's rename copies its rights in rooms (admin, bans, mutes) to the new name, then
frees the old one. An action on the old name landing between the read and the free was
answered done and lost with the old name: the stop-51 attack pass saw a deop escaped 12
times in 12 over IRC, a ban by name 6 in 9, a mute 2 in 31, and a mask barring the new nick,
added while the rename ran, met nobody. Each round here starts the action a little further
into the rename, so that some land inside it: the action is either answered as done and
holds on the new name, or refused (the old name is gone)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import pytest

from tests.core.conftest import Core
from torbit.core.banmasks import Visitor
from torbit.core.guests import Guests
from torbit.errors import TorbitError

ROUNDS = 40


async def _into_it(turns: int) -> None:
    """Some turns of the loop, then some time (the store's work is on its own thread)."""
    for _ in range(turns % 8):
        await asyncio.sleep(0)
    await asyncio.sleep(turns * 0.0004)


@pytest.fixture
def guests(core: Core) -> Guests:
    return Guests(
        core.store,
        core.subscriptions,
        core.sessions,
        core.membership,
        core.mutes,
        ignores=core.ignores,
    )


async def _race(
    core: Core,
    guests: Guests,
    act: Callable[[str], Awaitable[object]],
    held: Callable[[str], Awaitable[bool]],
    *,
    op: bool = False,
    room: str | None = "hall",
) -> int:
    """Rounds in which the action, answered done, did not hold on the new name."""
    await core.user("alice")
    await core.moderation.create("alice", "hall")
    await core.moderation.create("alice", "den", private=True)
    escaped = 0
    for turns in range(ROUNDS):
        old, new = f"gus{turns}", f"gus{turns}x"
        await guests.admit(old)
        session = await core.login(old, room)
        if op:
            await core.moderation.op("alice", "hall", old)
        renaming = asyncio.ensure_future(guests.rename(session, old, new))
        await _into_it(turns)
        try:
            await act(old)
            done = True
        except TorbitError:  # too late: the old name is gone
            done = False
        assert await renaming == new
        if done and not await held(new):
            escaped += 1
    return escaped


async def test_a_deop_during_a_rename_holds_on_the_new_name(core: Core, guests: Guests) -> None:
    async def deop(name: str) -> object:
        return await core.moderation.deop("alice", "hall", name)

    async def deopped(name: str) -> bool:
        return not (await core.store.standing("hall", name)).admin

    assert await _race(core, guests, deop, deopped, op=True) == 0


async def test_a_ban_during_a_rename_holds_on_the_new_name(core: Core, guests: Guests) -> None:
    async def ban(name: str) -> object:
        return await core.moderation.ban("alice", "hall", name)

    async def banned(name: str) -> bool:
        return (await core.store.standing("hall", name)).banned

    assert await _race(core, guests, ban, banned) == 0


async def test_a_mute_during_a_rename_holds_on_the_new_name(core: Core, guests: Guests) -> None:
    async def mute(name: str) -> object:
        return await core.moderation.mute("alice", "hall", name, 10)

    async def muted(name: str) -> bool:
        return core.mutes.until("hall", name, datetime.now(UTC)) is not None

    assert await _race(core, guests, mute, muted) == 0


async def test_an_invitation_during_a_rename_holds_on_the_new_name(
    core: Core, guests: Guests
) -> None:
    async def invite(name: str) -> object:
        return await core.moderation.invite("alice", "den", name)

    async def invited(name: str) -> bool:
        return (await core.store.standing("den", name)).invited

    assert await _race(core, guests, invite, invited, room=None) == 0


async def test_an_ignore_during_a_rename_holds_on_the_new_name(core: Core, guests: Guests) -> None:
    async def ignore(name: str) -> object:
        return await core.ignores.ignore("alice", name)

    async def ignored(name: str) -> bool:
        return name in await core.ignores.of("alice")

    assert await _race(core, guests, ignore, ignored) == 0


async def test_a_mask_added_during_a_rename_puts_the_new_nick_out(
    core: Core, guests: Guests
) -> None:
    """As the IRC door does: the rename, then its session shows the new nick, then
    `match_masks`. The mask bars the new nick only."""
    await core.user("alice")
    await core.moderation.create("alice", "hall")
    for turns in range(ROUNDS):
        old, new = f"gus{turns}", f"gus{turns}x"
        await guests.admit(old)
        session = await core.login(old, "hall")
        renaming = asyncio.ensure_future(
            guests.rename(session, old, new, Visitor(new, "~gus", "127.0.0.1"))
        )
        await _into_it(turns)
        await core.moderation.ban("alice", "hall", f"{new}!*@*")
        assert await renaming == new
        await guests.match_masks(new, Visitor(new, "~gus", "127.0.0.1"))
        assert not (await core.store.standing("hall", new)).member, turns
