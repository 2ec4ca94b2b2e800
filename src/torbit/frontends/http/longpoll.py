"""Long polling for the classic `GET /receive`: wait until the room has something new.

A waiting request asks the core's subscriptions to wake it on the room's next message, so it
is woken by the same fan-out that feeds telnet and WebSocket clients, on whatever backend
carries the messages. Waiting requests are bounded in total, per user and per client
address (`limits.max_long_polls`, `long_polls_per_user`, `long_polls_per_ip`; 0 lifts one),
so that neither one account nor one address holding many free accounts can take every
slot: past a bound a request is told to retry (429) rather than piling up.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

from torbit.core.messaging import Messaging
from torbit.core.models import Message
from torbit.core.names import name_key
from torbit.core.subscriptions import Subscriptions, Wakeup
from torbit.errors import RateLimited
from torbit.metrics import Metrics

MAX_WAIT_SECONDS = 30.0
DOOR = "http-poll"


@dataclass(frozen=True, slots=True)
class WaitLimits:
    total: int = 1000
    per_user: int = 8
    per_ip: int = 50


def _take(counts: dict[str, int], key: str, limit: int) -> bool:
    n = counts.get(key, 0)
    if limit and n >= limit:
        return False
    counts[key] = n + 1
    return True


def _give_back(counts: dict[str, int], key: str) -> None:
    left = counts.pop(key) - 1
    if left:
        counts[key] = left


class Receiver:
    """`Messaging.receive`, optionally waiting up to `wait` seconds for the first new message."""

    def __init__(
        self,
        messaging: Messaging,
        subscriptions: Subscriptions,
        metrics: Metrics,
        limits: WaitLimits | None = None,
    ) -> None:
        self._messaging = messaging
        self._subs = subscriptions
        self._gauge = metrics.connected.labels(door=DOOR)
        self.limits = limits or WaitLimits()
        self.waiting = 0
        self.closing = False
        self._by_user: dict[str, int] = {}
        self._by_ip: dict[str, int] = {}
        self._wakeups: set[Wakeup] = set()

    def close(self) -> None:
        """Shutting down: waiting requests answer now with what they have."""
        self.closing = True
        for wakeup in self._wakeups:
            wakeup.event.set()

    def _admit(self, user_key: str, ip: str) -> None:
        """Take a waiting slot for this user and address, or raise RateLimited."""
        limits = self.limits
        if limits.total and self.waiting >= limits.total:
            raise RateLimited("too many waiting requests: try again shortly", retry_after=1)
        if not _take(self._by_user, user_key, limits.per_user):
            raise RateLimited(
                f"too many waiting requests of yours (limit {limits.per_user})", retry_after=1
            )
        if not _take(self._by_ip, ip, limits.per_ip):
            _give_back(self._by_user, user_key)
            raise RateLimited(
                f"too many waiting requests from your address (limit {limits.per_ip})",
                retry_after=1,
            )
        self.waiting += 1

    async def receive(
        self, user: str, room_key: str, limit: int, wait: float, ip: str = "?"
    ) -> list[Message]:
        messages, after = await self._messaging.receive_from(user, room_key, limit)
        if messages or wait <= 0 or self.closing:
            return messages
        key = name_key(user)
        self._admit(key, ip)
        self._gauge.inc()
        try:
            async with self._subs.wake_on(room_key) as wakeup:
                self._wakeups.add(wakeup)
                try:
                    return await self._wait(
                        wakeup, user, room_key, limit, after, min(wait, MAX_WAIT_SECONDS)
                    )
                finally:
                    self._wakeups.discard(wakeup)
        finally:
            self.waiting -= 1
            _give_back(self._by_user, key)
            _give_back(self._by_ip, ip)
            self._gauge.dec()

    async def _wait(
        self,
        wakeup: Wakeup,
        user: str,
        room_key: str,
        limit: int,
        after: int | None,
        wait: float,
    ) -> list[Message]:
        """Read once while listening, then answer each wake-up from the messages that woke
        it when they follow on from where the last read ended (no read of the log: the
        cursor's move is the one statement), else read again. Every read starts where this
        request's last one ended (`after`), not at the shared cursor: a user's parked polls
        woken together all answer with what woke them, none finds the cursor moved by
        another and nothing to say (core/messaging.py)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        woken: list[Message] | None = None  # None: read the log
        while True:
            answer: tuple[list[Message], int | None] | None = None
            if woken is not None:
                answer = await self._messaging.receive_woken(user, room_key, after, woken, limit)
            if answer is None:
                # Clear before reading: a message committed after the read sets it again.
                wakeup.clear()
                answer = await self._messaging.receive_after(user, room_key, after, limit)
            messages, after = answer
            left = deadline - loop.time()
            if messages or left <= 0 or self.closing:
                return messages
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(left):
                    await wakeup.event.wait()
            woken = wakeup.take()
