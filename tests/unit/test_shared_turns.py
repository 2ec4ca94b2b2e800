"""keylocks.SharedTurns: the actions on a name share its turn, a rename takes it alone
(core/guests.py); a task cancelled while it holds or waits gives the turn back, so a
name's rename never waits for ever behind one."""

from __future__ import annotations

import asyncio

from torbit.core.keylocks import SharedTurns


async def test_alone_waits_for_the_shared_and_the_shared_for_alone() -> None:
    turns = SharedTurns()
    order: list[str] = []
    first_in = asyncio.Event()

    async def share(tag: str, hold: float) -> None:
        async with turns.shared("gus"):
            order.append(f"{tag} in")
            first_in.set()
            await asyncio.sleep(hold)
            order.append(f"{tag} out")

    async def rename() -> None:
        await first_in.wait()
        async with turns.alone("gus"):
            order.append("rename in")
            await asyncio.sleep(0.01)
            order.append("rename out")

    a = asyncio.create_task(share("a", 0.02))
    r = asyncio.create_task(rename())
    await asyncio.sleep(0.005)
    b = asyncio.create_task(share("b", 0))  # side by side with a, not behind the rename
    await asyncio.gather(a, r, b)
    assert order.index("b in") < order.index("a out") < order.index("rename in")
    assert not turns.held


async def test_a_cancelled_holder_or_waiter_gives_the_turn_back() -> None:
    turns = SharedTurns()
    entered = asyncio.Event()

    async def hold() -> None:
        async with turns.shared("gus"):
            entered.set()
            await asyncio.sleep(3600)

    holder = asyncio.create_task(hold())
    await entered.wait()
    waiter = asyncio.create_task(turns.alone("gus").__aenter__())
    await asyncio.sleep(0)
    waiter.cancel()  # a rename given up while it waited
    holder.cancel()  # an action cancelled while it held the turn
    await asyncio.gather(holder, waiter, return_exceptions=True)
    async with asyncio.timeout(1):
        async with turns.alone("gus"):
            pass
    assert not turns.held
