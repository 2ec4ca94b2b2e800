"""KeyLocks: turns taken per key on one node, for checks and changes that must not
interleave: a user's creates and joins, the joins of a room near its member limit, a
user's reads from a cursor, the Cassandra store's room names and ban lists. SharedTurns:
turns many take together or one alone (the actions on a user's rights, a guest's rename)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Hashable
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
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    users: int = 0  # holding or waiting: the entry goes with the last
    sharing: int = 0
    alone: bool = False


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
            async with turn.changed:
                await turn.changed.wait_for(lambda: not turn.alone)
                turn.sharing += 1
            try:
                yield
            finally:
                async with turn.changed:
                    turn.sharing -= 1
                    turn.changed.notify_all()

    @contextlib.asynccontextmanager
    async def alone(self, key: Hashable) -> AsyncIterator[None]:
        async with self._entry(key) as turn:
            async with turn.changed:
                await turn.changed.wait_for(lambda: not turn.alone and not turn.sharing)
                turn.alone = True
            try:
                yield
            finally:
                async with turn.changed:
                    turn.alone = False
                    turn.changed.notify_all()

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
