"""KeyLocks: turns taken per key on one node, for checks and changes that must not
interleave: a user's creates and joins, the joins of a room near its member limit, a
user's reads from a cursor, the Cassandra store's room names and ban lists."""

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
