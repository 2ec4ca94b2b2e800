"""Leave notices held for the presence grace (`chat.presence_grace_seconds`): a user back in
the room by then is announced neither leaving nor joining (a page reload, a reconnect).

One queue, in the order the leaves were held (one grace for all, so also the order they fall
due), one timer for its head, and the due ones told a slice a loop turn. A timer per leave
kept ~14 objects alive through the grace (the handle, libuv's timer, a context, a closure
and its cells): a crowd of 10,000 disconnecting at once left ~140,000 of them for the cyclic
collector to walk when it ran again after the storm, 20-30 ms with the loop stopped
(bench/JOURNAL.md, "ircleave"), and their 10,000 callbacks fell due together."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

from torbit.core.delivery import Notice

TOLD_PER_TURN = 256  # held leaves looked at per loop turn once due


class PendingLeaves:
    """Held leave notices, by (room, user); `tell(room, notice, user)` once one is due."""

    __slots__ = ("_grace", "_held", "_queue", "_tell", "_tickets", "_timer")

    def __init__(self, grace: float, tell: Callable[[str, Notice, str], None]) -> None:
        self._grace = grace
        self._tell = tell
        self._held: dict[tuple[str, str], int] = {}  # (room, user): the ticket of its leave
        # (due on the loop's clock, ticket, room, user, notice), in the order held
        self._queue: deque[tuple[float, int, str, str, Notice]] = deque()
        self._tickets = 0
        self._timer: asyncio.TimerHandle | None = None

    def __len__(self) -> int:
        return len(self._held)

    def hold(self, room: str, user: str, notice: Notice) -> None:
        """Tell `notice` after the grace, unless `drop`ped by then; an earlier leave of the
        user held for the room is replaced (its place in the queue is skipped)."""
        self._tickets += 1
        self._held[(room, user)] = self._tickets
        loop = asyncio.get_running_loop()
        due = loop.time() + self._grace
        self._queue.append((due, self._tickets, room, user, notice))
        if self._timer is None:
            self._timer = loop.call_at(due, self._due)

    def drop(self, room: str, user: str) -> bool:
        """The user is back in the room: their held leave, if any, is never told (True)."""
        return self._held.pop((room, user), None) is not None

    def clear(self) -> None:
        self._held.clear()
        self._queue.clear()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _due(self) -> None:
        self._timer = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        queue, held = self._queue, self._held
        for _ in range(min(TOLD_PER_TURN, len(queue))):
            if queue[0][0] > now:
                break
            _, ticket, room, user, notice = queue.popleft()
            key = (room, user)
            if held.get(key) != ticket:
                continue  # dropped, or held again since
            del held[key]
            self._tell(room, notice, user)
        if queue:  # the next due, or (more due now) the next turn, after the loop has polled
            self._timer = loop.call_at(queue[0][0], self._due)
