"""Long polling for the classic `GET /receive`: wait until the room has something new.

A waiting request asks the core's subscriptions to wake it on the room's next message, so it
is woken by the same fan-out that feeds telnet and WebSocket clients, on whatever backend
carries the messages. Waiting requests are bounded: past the bound a request is told to retry
(429) rather than piling up.
"""

from __future__ import annotations

import asyncio
import contextlib

from torbit.core.messaging import Messaging
from torbit.core.models import Message
from torbit.core.names import name_key
from torbit.core.subscriptions import Subscriptions
from torbit.errors import RateLimited
from torbit.metrics import Metrics

MAX_WAITERS = 1000
MAX_WAITERS_PER_USER = 8  # so that one user cannot take every slot
MAX_WAIT_SECONDS = 30.0
DOOR = "http-poll"


class Receiver:
    """`Messaging.receive`, optionally waiting up to `wait` seconds for the first new message."""

    def __init__(
        self,
        messaging: Messaging,
        subscriptions: Subscriptions,
        metrics: Metrics,
        max_waiters: int | None = None,
    ) -> None:
        self._messaging = messaging
        self._subs = subscriptions
        self._gauge = metrics.connected.labels(door=DOOR)
        self.max_waiters = MAX_WAITERS if max_waiters is None else max_waiters
        self.waiting = 0
        self.closing = False
        self._by_user: dict[str, int] = {}
        self._wakeups: set[asyncio.Event] = set()

    def close(self) -> None:
        """Shutting down: waiting requests answer now with what they have."""
        self.closing = True
        for event in self._wakeups:
            event.set()

    async def receive(self, user: str, room_key: str, limit: int, wait: float) -> list[Message]:
        messages = await self._messaging.receive(user, room_key, limit)
        if messages or wait <= 0 or self.closing:
            return messages
        key = name_key(user)
        mine = self._by_user.get(key, 0)
        if self.waiting >= self.max_waiters or mine >= MAX_WAITERS_PER_USER:
            raise RateLimited("too many waiting requests: try again shortly", retry_after=1)
        self.waiting += 1
        self._by_user[key] = mine + 1
        self._gauge.inc()
        try:
            async with self._subs.wake_on(room_key) as wakeup:
                self._wakeups.add(wakeup)
                try:
                    return await self._wait(
                        wakeup, user, room_key, limit, min(wait, MAX_WAIT_SECONDS)
                    )
                finally:
                    self._wakeups.discard(wakeup)
        finally:
            self.waiting -= 1
            left = self._by_user.pop(key) - 1
            if left:
                self._by_user[key] = left
            self._gauge.dec()

    async def _wait(
        self, wakeup: asyncio.Event, user: str, room_key: str, limit: int, wait: float
    ) -> list[Message]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while True:
            # Clear before reading: a message committed after the read sets it again.
            wakeup.clear()
            messages = await self._messaging.receive(user, room_key, limit)
            left = deadline - loop.time()
            if messages or left <= 0 or self.closing:
                return messages
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(left):
                    await wakeup.wait()
