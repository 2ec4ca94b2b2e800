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
from collections.abc import Callable, Container
from typing import cast

from torbit.core.delivery import Notice, Session

TOLD_PER_TURN = 256  # held leaves looked at per loop turn once due
ENTRIES_KEPT = 64  # a room's entries past which the ones no held leave needs are dropped


Tell = Callable[[str, Notice, str, Container[Session]], None]


class _Since(Container[Session]):
    """The sessions that entered a room after a leave was held: those whose last entry came
    after its ticket (a lookup per listener told, no set built per leave)."""

    __slots__ = ("_entries", "_ticket")

    def __init__(self, entries: dict[Session, int], ticket: int) -> None:
        self._entries = entries
        self._ticket = ticket

    def __contains__(self, session: object) -> bool:
        return self._entries.get(cast(Session, session), -1) >= self._ticket


_NONE: Container[Session] = frozenset()


class PendingLeaves:
    """Held leave notices, by (room, user); `tell(room, notice, user, late)` once one is due,
    `late` being the sessions that entered the room after it was held (not to be told)."""

    __slots__ = (
        "_entries",
        "_grace",
        "_held",
        "_prune_at",
        "_queue",
        "_rooms",
        "_tell",
        "_tickets",
        "_timer",
    )

    def __init__(self, grace: float, tell: Tell) -> None:
        self._grace = grace
        self._tell = tell
        self._held: dict[tuple[str, str], int] = {}  # (room, user): the ticket of its leave
        # (due on the loop's clock, ticket, room, user, notice), in the order held
        self._queue: deque[tuple[float, int, str, str, Notice]] = deque()
        self._tickets = 0
        self._timer: asyncio.TimerHandle | None = None
        self._rooms: dict[str, int] = {}  # room: how many leaves are held for it
        # room (with leaves held): the sessions that entered it since, each with the last
        # ticket given when it last entered; dropped with the room's last held leave
        self._entries: dict[str, dict[Session, int]] = {}
        self._prune_at: dict[str, int] = {}  # room: its entries' size that prunes them next

    def __len__(self) -> int:
        return len(self._held)

    def hold(self, room: str, user: str, notice: Notice) -> None:
        """Tell `notice` after the grace, unless `drop`ped by then; an earlier leave of the
        user held for the room is replaced (its place in the queue is skipped)."""
        self._tickets += 1
        if (room, user) not in self._held:  # (one held already is replaced: same count)
            self._rooms[room] = self._rooms.get(room, 0) + 1
        self._held[(room, user)] = self._tickets
        loop = asyncio.get_running_loop()
        due = loop.time() + self._grace
        self._queue.append((due, self._tickets, room, user, notice))
        if self._timer is None:
            self._timer = loop.call_at(due, self._due)

    def drop(self, room: str, user: str) -> bool:
        """The user is back in the room: their held leave, if any, is never told (True)."""
        if self._held.pop((room, user), None) is None:
            return False
        self._settled(room)
        return True

    def entered(self, session: Session, room: str) -> None:
        """`session` listens to `room` from now on: the leaves held for it so far are not
        told to it. Kept only while the room has leaves held."""
        if room in self._rooms:
            entries = self._entries.setdefault(room, {})
            entries[session] = self._tickets
            if len(entries) > self._prune_at.get(room, ENTRIES_KEPT):
                self._prune(room, entries)

    def _prune(self, room: str, entries: dict[Session, int]) -> None:
        """Drop the entries that came before every leave held for the room now: no held
        leave, nor any held later, is told to those sessions or kept from them by these.
        A busy room always has a leave held, so its entries were never dropped with its
        last one: every session that ever entered it stayed, closed ones too (stop 47's
        soak: a telnet login's session, its writer and its parser, 70 a minute). Amortized:
        the next prune waits until the entries have doubled."""
        oldest = min((t for (r, _), t in self._held.items() if r == room), default=None)
        if oldest is not None:
            for session in [s for s, t in entries.items() if t < oldest]:
                del entries[session]
        self._prune_at[room] = max(ENTRIES_KEPT, 2 * len(entries))

    def _settled(self, room: str) -> None:
        """One held leave of `room` fewer (told or dropped)."""
        left = self._rooms[room] - 1
        if left:
            self._rooms[room] = left
        else:
            del self._rooms[room]
            self._entries.pop(room, None)
            self._prune_at.pop(room, None)

    def _late(self, room: str, ticket: int) -> Container[Session]:
        """The sessions that entered `room` after the leave with `ticket` was held."""
        entries = self._entries.get(room)
        return _NONE if entries is None else _Since(entries, ticket)

    def clear(self) -> None:
        self._held.clear()
        self._rooms.clear()
        self._entries.clear()
        self._prune_at.clear()
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
            late = self._late(room, ticket)
            self._settled(room)  # (the room's entries outlive it: `late` holds them)
            self._tell(room, notice, user, late)
        if queue:  # the next due, or (more due now) the next turn, after the loop has polled
            self._timer = loop.call_at(queue[0][0], self._due)
