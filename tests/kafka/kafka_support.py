"""Helpers for the Kafka tests (imported by conftest and the test modules)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from torbit.backends.message_log.kafka import KafkaLog
from torbit.core.models import Draft, Message

# How long a condition may take to hold: a delivery takes milliseconds, but a consumer's first
# fetch after a (re)assignment, on two loaded cores shared with the broker's JVM, can take
# seconds. Only a failing test waits this long.
WITHIN_S = 20.0


async def eventually(condition: Callable[[], bool], within: float = WITHIN_S) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within}s")
        await asyncio.sleep(0.005)


def draft(channel: str, text: str, sender: str = "alice", **fields: Any) -> Draft:
    return Draft(channel=channel, sender=sender, text=text, sent_at=datetime.now(UTC), **fields)


class Node:
    """A KafkaLog with a listener that records what it was handed."""

    def __init__(self, log: KafkaLog) -> None:
        self.log = log
        self.received: list[Message] = []
        self.waits: list[int] = []  # the live fetch wait as each message was handed over

    def hear(self, message: Message) -> None:
        self.received.append(message)
        self.waits.append(self.log.fetch_wait_ms)

    def of(self, channel: str) -> list[Message]:
        return [m for m in self.received if m.channel == channel]

    async def wait_for(
        self, count: int, channel: str | None = None, within: float = WITHIN_S
    ) -> None:
        """Until at least `count` messages (of the channel) arrived; fail after `within` seconds."""
        await eventually(
            lambda: len(self.of(channel) if channel else self.received) >= count, within
        )


NodeFactory = Callable[..., Awaitable[Node]]
