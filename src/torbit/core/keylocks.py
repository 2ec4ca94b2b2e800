"""KeyLocks: turns taken per key on one node, for checks and changes that must not
interleave: a user's creates and joins, the joins of a room near its member limit, a
user's reads from a cursor, the Cassandra store's room names and ban lists. SharedTurns:
turns many take together or one alone (the actions on a user's rights, a guest's rename)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Hashable
from dataclasses import dataclass, field


@dataclass(slots=True)
class KeyLocks:
    """One lock per key (a user's, a room's), kept only while someone holds or waits for it."""

    held: dict[Hashable, tuple[asyncio.Lock, list[int]]] = field(default_factory=dict)

    @contextlib.asynccontextmanager
    async def hold(self, key: Hashable) -> AsyncIterator[None]:
        lock, users = self.held.setdefault(key, (asyncio.Lock(), [0]))
        users[0] += 1
        try:
            async with lock:
                yield
        finally:
            users[0] -= 1
            if not users[0]:
                del self.held[key]


@dataclass(slots=True)
class _Turn:
    users: int = 0  # holding or waiting: the entry goes with the last
    sharing: int = 0
    alone: bool = False
    waiting: list[asyncio.Future[None]] = field(default_factory=list)

    async def until(self, ready: Callable[[], bool]) -> None:
        while not ready():
            woken = asyncio.get_running_loop().create_future()
            self.waiting.append(woken)
            try:
                await woken
            finally:
                if not woken.done():  # cancelled: not woken again
                    self.waiting.remove(woken)

    def changed(self) -> None:
        """Without an await: a turn given back in a `finally` is given back even when the
        task is being cancelled (a Condition's lock, taken again there, could be refused,
        and the name's rename would wait for ever)."""
        waiting, self.waiting = self.waiting, []
        for woken in waiting:
            if not woken.done():
                woken.set_result(None)


@dataclass(slots=True)
class SharedTurns:
    """Per key, turns that many take together (`shared`) or one takes alone (`alone`): the
    actions on a user run side by side, as before, and never while a rename of the user,
    which copies what they change, runs. A shared turn inside another of the same key (a
    test's action landing within another's store call) does not wait."""

    held: dict[Hashable, _Turn] = field(default_factory=dict)

    @contextlib.asynccontextmanager
    async def shared(self, key: Hashable) -> AsyncIterator[None]:
        async with self._entry(key) as turn:
            await turn.until(lambda: not turn.alone)
            turn.sharing += 1
            try:
                yield
            finally:
                turn.sharing -= 1
                turn.changed()

    @contextlib.asynccontextmanager
    async def alone(self, key: Hashable) -> AsyncIterator[None]:
        async with self._entry(key) as turn:
            await turn.until(lambda: not turn.alone and not turn.sharing)
            turn.alone = True
            try:
                yield
            finally:
                turn.alone = False
                turn.changed()

    def sharing(self, key: Hashable) -> bool:
        """Shared turns of the key are held now (and none alone)."""
        turn = self.held.get(key)
        return turn is not None and turn.sharing > 0 and not turn.alone

    @contextlib.asynccontextmanager
    async def _entry(self, key: Hashable) -> AsyncIterator[_Turn]:
        turn = self.held.setdefault(key, _Turn())
        turn.users += 1
        try:
            yield turn
        finally:
            turn.users -= 1
            if not turn.users:
                del self.held[key]
