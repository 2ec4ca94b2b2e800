"""Counting the event loop's turns, for tests that say in how many turns something happened
(a slice of logouts a turn, a batch of closes a turn): counted, never timed."""

from __future__ import annotations

import asyncio


class Turns:
    """Counts the event loop's turns: a callback that schedules itself again each turn."""

    def __init__(self) -> None:
        self.count = 0
        self._loop = asyncio.get_running_loop()
        self._handle = self._loop.call_soon(self._tick)

    def _tick(self) -> None:
        self.count += 1
        self._handle = self._loop.call_soon(self._tick)

    def stop(self) -> None:
        self._handle.cancel()
