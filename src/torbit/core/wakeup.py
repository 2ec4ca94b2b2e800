"""Wakeup: the listener of a waiting request (an HTTP long poll), which subscribes to a
room through Subscriptions as a session does, but only to be woken, with what woke it."""

from __future__ import annotations

import asyncio
from collections.abc import Set

from torbit.core.banmasks import Visitor
from torbit.core.delivery import NO_IGNORES, Delivery, Names
from torbit.core.models import Message

MAX_WOKEN = 1000  # messages a waiting request keeps; past it, it reads the log instead


class Wakeup:
    """A listener that only wakes a waiting request (a long poll), keeping the committed
    messages it was woken by, in the order the log delivered them, so that the request can
    answer without reading them back. It belongs to no user, so it never counts as someone
    online, and it ignores no one (the request filters what it answers). `visitor`: the
    request's client, for a new ban mask that matches it to end the wait (banmask_actions.py:
    it is closed, reads again, and its read is refused, core/maskgate.py)."""

    __slots__ = ("event", "ignores", "messages", "overflowed", "user_key", "visitor")

    def __init__(self, visitor: Visitor | None = None) -> None:
        self.user_key = ""
        self.visitor = visitor
        self.ignores: Set[str] = NO_IGNORES
        self.event = asyncio.Event()
        self.messages: list[Message] = []
        self.overflowed = False

    def clear(self) -> None:
        """Forget what woke it so far: the request is about to read the log."""
        self.event.clear()
        self.messages = []
        self.overflowed = False

    def take(self) -> list[Message] | None:
        """What woke it since the last take or clear, in order; None when that is not all
        of it (too many, or it was closed): the request must read the log."""
        taken = None if self.overflowed else self.messages
        self.clear()
        return taken

    def deliver(self, delivery: Delivery) -> None:
        if len(self.messages) < MAX_WOKEN:
            self.messages.append(delivery.message)
        else:
            self.overflowed = True
        self.event.set()

    def notify(self, text: str, channel: str | None = None, about: Names = ()) -> None:
        pass

    def close(self, reason: str) -> None:
        self.overflowed = True  # nothing to answer from: read
        self.event.set()

    def revoke(self, reason: str) -> None:
        self.overflowed = True
        self.event.set()
