"""Long polling for the classic `GET /receive`: wait until the room has something new.

A waiting request registers a tiny Session on the hub for the room (and watches the room on
the message log), so it is woken by the same fan-out that feeds telnet and WebSocket clients,
on whatever backend carries the messages. Waiting requests are bounded: past the bound a
request is told to retry (429) rather than piling up.
"""

from __future__ import annotations

import asyncio
import contextlib

from torbit.core.chat import Chat
from torbit.core.hub import Delivery, Hub
from torbit.core.models import Message
from torbit.core.ports import MessageLog
from torbit.errors import RateLimited
from torbit.metrics import Metrics

MAX_WAITERS = 1000
MAX_WAITERS_PER_USER = 8  # so that one user cannot take every slot
MAX_WAIT_SECONDS = 30.0
DOOR = "http-poll"


class _Waiter:
    """A Session that only wakes its request. It ignores no one: a wake-up for a message from
    an ignored sender just finds nothing to return and waits again. It belongs to no user, so
    it never counts as someone online nor hides their joins and leaves."""

    __slots__ = ("event", "ignores", "user_key")

    def __init__(self) -> None:
        self.user_key = ""
        self.ignores: set[str] = set()
        self.event = asyncio.Event()

    def deliver(self, delivery: Delivery) -> None:
        self.event.set()

    def notify(self, text: str, channel: str | None = None) -> None:
        pass

    def close(self, reason: str) -> None:
        self.event.set()


class Receiver:
    """`Chat.receive`, optionally waiting up to `wait` seconds for the first new message."""

    def __init__(
        self,
        chat: Chat,
        hub: Hub,
        log: MessageLog,
        metrics: Metrics,
        max_waiters: int | None = None,
    ) -> None:
        self._chat = chat
        self._hub = hub
        self._log = log
        self._gauge = metrics.connected.labels(door=DOOR)
        self.max_waiters = MAX_WAITERS if max_waiters is None else max_waiters
        self.waiting = 0
        self.closing = False
        self._by_user: dict[str, int] = {}
        self._waiters: set[_Waiter] = set()

    def close(self) -> None:
        """Shutting down: waiting requests answer now with what they have."""
        self.closing = True
        for waiter in self._waiters:
            waiter.event.set()

    async def receive(self, user: str, room_key: str, limit: int, wait: float) -> list[Message]:
        messages = await self._chat.receive(user, room_key, limit)
        if messages or wait <= 0 or self.closing:
            return messages
        key = user.lower()
        mine = self._by_user.get(key, 0)
        if self.waiting >= self.max_waiters or mine >= MAX_WAITERS_PER_USER:
            raise RateLimited("too many waiting requests: try again shortly", retry_after=1)
        waiter = _Waiter()
        self.waiting += 1
        self._by_user[key] = mine + 1
        self._waiters.add(waiter)
        self._gauge.inc()
        try:
            if self._hub.enter(waiter, room_key):
                await self._log.watch(room_key)
            return await self._wait(waiter, user, room_key, limit, min(wait, MAX_WAIT_SECONDS))
        finally:
            self._waiters.discard(waiter)
            self.waiting -= 1
            left = self._by_user.pop(key) - 1
            if left:
                self._by_user[key] = left
            self._gauge.dec()
            if self._hub.exit(waiter, room_key):
                await self._log.unwatch(room_key)

    async def _wait(
        self, waiter: _Waiter, user: str, room_key: str, limit: int, wait: float
    ) -> list[Message]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while True:
            # Clear before reading: a message committed after the read sets it again.
            waiter.event.clear()
            messages = await self._chat.receive(user, room_key, limit)
            left = deadline - loop.time()
            if messages or left <= 0 or self.closing:
                return messages
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(left):
                    await waiter.event.wait()
