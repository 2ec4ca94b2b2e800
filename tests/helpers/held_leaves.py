"""Waiting for the server to hold leaves for the presence grace (core/leaves.py)."""

from __future__ import annotations

import asyncio

from torbit.app import App


async def leaves_held(app: App, count: int) -> None:
    """Until `count` leaves are held (the server has logged the leavers out); the grace
    must be long enough that none of them is due before the last is held."""
    assert app.core is not None
    async with asyncio.timeout(30):  # generous: the machine may be busy; nothing is timed
        while len(app.core.sessions._gone) < count:
            await asyncio.sleep(0.01)
