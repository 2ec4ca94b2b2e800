"""The end of a service's background tasks (a set of them it keeps): cancelled, then awaited.
At a stop each service ends its own so before the store closes: a task let run on would
keep a store connection checked out past the engine's close, which closes only those in
its pool; returned later, that connection stays open until collected (a ResourceWarning
for its socket), or the task fails on a closed store."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any


async def cancel_and_wait(tasks: Iterable[asyncio.Future[Any]]) -> None:
    """Cancel every task not done yet and wait until all have ended (their errors dropped:
    each task logs its own)."""
    ending = list(tasks)
    for task in ending:
        task.cancel()
    if ending:
        await asyncio.gather(*ending, return_exceptions=True)
