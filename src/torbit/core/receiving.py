"""Receiving through the read cursors: `/receive`, a long poll's answers, unread counts and
marking read. None of them shows or counts an ignored sender's message or one older than
`Membership.floor` (the room's creation, the retention: the log may still hold it); a read
moves the cursor past those all the same.

Several receives of one user in one room at once (tabs, devices, retries, nodes):
- Reads from the read cursor (`receive`, `receive_from`) move it by compare-and-set in the
  store (`advance_cursor`): a page is returned only if the cursor still stood where the read
  began, else the read starts again from where it now stands. So parallel receives get
  disjoint pages, none delivered twice, none skipped, on one node or several. On a node they
  are also taken one after the other for a (user, room), so they do not collide there: a
  retry takes a receive on another node (or a woken poll) moving the cursor meanwhile.
- A parked long poll, once woken, answers with what arrived after its own last read
  (`receive_woken`, else `receive_after`), not from the shared cursor: every waiting request
  of the user hears the message that woke them, and none answers empty because another was
  quicker to move the cursor. What a parked poll answers may so also reach a tab that read
  meanwhile.
- Other moves (a parked poll's, `mark_read`) only move the cursor forward, in one statement
  of the store (an upsert that keeps the highest; on Cassandra a lightweight transaction
  `IF last_id < ?`), so nothing moves it back.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from torbit.core.banmasks import Visitor
from torbit.core.messaging_base import MessagingBase
from torbit.core.models import Message, Room
from torbit.core.names import inbox_channel, name_key
from torbit.errors import InvalidInput


class Receiving(MessagingBase):
    """The read cursors' reads and moves; see the module docstring for parallel receives."""

    async def receive(self, user: str, room_name: str, limit: int = 100) -> list[Message]:
        """What the user has not yet received in this room through this call, oldest first;
        the read cursor moves over exactly what was examined."""
        return (await self.receive_from(user, room_name, limit))[0]

    async def receive_from(
        self, user: str, room_name: str, limit: int = 100, visitor: Visitor | None = None
    ) -> tuple[list[Message], int | None]:
        """`receive`, and where the read cursor stands after it (the last message examined).
        When nothing is returned, the read reached the room's newest message. Within the
        user's read budget: refused before anything is read, never after the cursor moved.
        Reads of one user in one room on this node are taken one after the other (module
        docstring). `visitor`: the request's client, matched against the room's ban masks
        again once the page is read (`_still_readable`), as its checks before did."""
        key = name_key(user)
        granted = self._reads.grant(key, limit)
        read = [0]  # messages read from the log, by every attempt (a retry reads again)
        try:
            out, last = await self._receive_from(user, room_name, granted, read, visitor)
        finally:
            self._reads.settle(key, granted, read[0])  # paid: what it read, not just kept
        return out, last

    async def _receive_from(
        self, user: str, room_name: str, limit: int, read: list[int], visitor: Visitor | None
    ) -> tuple[list[Message], int | None]:
        room = await self._membership.member_room(user, room_name)
        key = name_key(user)
        async with self._reading.hold((key, room.key)):
            ignores = await self._ignores.of(user)
            cursor = await self._store.get_cursor(key, room.key)
            while True:
                out, last = await self._read_on(room, ignores, cursor, limit, read)
                out = await self._still_readable(user, room_name, visitor, ignores, out)
                if last is None or last == cursor:
                    break
                if await self._store.advance_cursor(key, room.key, cursor, last):
                    break
                # another node's receive (or a woken poll) moved it first: this page may be
                # theirs, read on from where they left it (that read is paid for too)
                cursor = await self._store.get_cursor(key, room.key)
        return out, last

    async def receive_after(
        self,
        user: str,
        room_name: str,
        after: int | None,
        limit: int = 100,
        visitor: Visitor | None = None,
    ) -> tuple[list[Message], int | None]:
        """A parked long poll's read: what follows `after`, where its own last read ended
        (None: that read found the room empty), whoever moved the cursor since; the cursor
        moves forward only. Returns the page and where this read ended. Like `receive_woken`,
        it pays for its answer from the user's read budget and is never refused."""
        room = await self._membership.member_room(user, room_name, visitor)
        ignores = await self._ignores.of(user)
        read = [0]
        out, last = await self._read_on(room, ignores, after, limit, read)
        out = await self._still_readable(user, room_name, visitor, ignores, out)
        if last is not None and last != after:
            # at once, as a receive's compare-and-set: each cursor write of this node made
            # in the order its requests ran, none queued behind a later one
            await self._store.set_cursor(name_key(user), room.key, last, at_once=True)
        self._reads.charge(name_key(user), read[0])  # answered: paid, never refused
        return out, last

    async def _read_on(
        self,
        room: Room,
        ignores: frozenset[str],
        after: int | None,
        limit: int,
        read: list[int],
    ) -> tuple[list[Message], int | None]:
        """Up to `limit` readable messages after `after`, and the last id examined (expired
        ones passed over too: the cursor moves past them); adds to `read[0]` every message
        read from the log (ignored senders' and expired ones too)."""
        out: list[Message] = []
        last = after
        floor = self._membership.floor(room.created_at)
        while len(out) < limit:
            batch = await self._log.read(room.key, after=last, limit=limit)
            read[0] += len(batch)
            examined = _take_readable(batch, ignores, floor, out, limit)
            if examined is not None:
                last = examined
            if len(batch) < limit:
                break
        return out, last

    async def receive_woken(
        self,
        user: str,
        room_name: str,
        after: int | None,
        woken: Sequence[Message],
        limit: int = 100,
        visitor: Visitor | None = None,
    ) -> tuple[list[Message], int] | None:
        """A long poll's answer from the committed messages that woke it, without reading
        the log. `after` is where its last read ended (`receive_from`, made while it already
        listened) and `woken` what the log delivered since, in order: the answer is known
        only when they follow on from `after` with no id missing (ids are consecutive in a
        channel), else None and the caller reads (`receive_after`). Each parked poll of a user
        answers so, with what arrived while it was parked; the cursor moves forward only."""
        if after is None:
            return None
        fresh = [m for m in woken if m.id > after]
        expected = after + 1
        for m in fresh:
            if m.id != expected:
                return None
            expected += 1
        if not fresh:
            return None
        room = await self._membership.member_room(user, room_name, visitor)
        ignores = await self._ignores.of(user)
        out: list[Message] = []
        floor = self._membership.floor(room.created_at)
        examined = _take_readable(fresh, ignores, floor, out, limit)
        last = after if examined is None else examined
        await self._store.set_cursor(name_key(user), room.key, last, at_once=True)
        self._reads.charge(name_key(user), len(out))  # answered: paid, never refused
        return out, last

    async def unread_count(
        self, user: str, room_name: str, cap: int = 1000, visitor: Visitor | None = None
    ) -> int:
        """Of the first `cap` messages after the user's read cursor, those the user would
        receive (no ignored sender, none older than `Membership.floor`). A log that counts
        without reading a message (SQL: one counting statement) asks nothing of the read
        budget."""
        room = await self._membership.member_room(user, room_name, visitor)
        return await self.unread_in(
            user, room, await self._store.get_cursor(name_key(user), room.key), cap
        )

    async def unread_in(
        self, user: str, room: Room, cursor: int | None, cap: int = 1000, *, others: bool = False
    ) -> int:
        """`unread_count` after `cursor`, in a room the caller knows the user is in (a
        returning login just back in it: core/comeback.py); `others`: what the user said
        meanwhile (from another door) not counted, as they know of it."""
        return await self._unread_after(user, room.key, room.created_at, cursor, cap, others)

    async def private_unread(self, user: str, cursor: int | None, cap: int = 100) -> int | None:
        """Private messages others sent the user after `cursor` in their inbox, those of
        people they ignore not counted (core/comeback.py's `missed_private`). None on a log
        that counts by reading (Kafka): there inboxes share partitions, and a count at each
        login scanned them (a storm of returning logins was refused "busy reading")."""
        if self._log.counts_by_reading:
            return None
        account = await self._store.get_user(name_key(user))
        if account is None:
            return 0
        inbox = inbox_channel(account.key)
        return await self._unread_after(user, inbox, account.created_at, cursor, cap, True)

    async def _unread_after(
        self,
        user: str,
        channel: str,
        created_at: datetime,
        cursor: int | None,
        cap: int,
        others: bool,
    ) -> int:
        key = name_key(user)
        ignores = await self._ignores.of(user)
        if others:
            ignores = ignores | {key}
        floor = self._membership.floor(created_at)
        if not self._log.counts_by_reading:
            return await self._log.count(
                channel, after=cursor, limit=cap, since=floor, excluding=ignores
            )
        # a log that must read to count (Kafka) is read here, as a read of those messages:
        # paid from the budget (refused when it is spent; near its end, the count covers
        # what is left of it, a lower bound), what it passed over included
        granted = self._reads.grant(key, cap)
        batch: list[Message] = []
        try:
            batch = await self._log.read(channel, after=cursor, limit=granted)
        finally:
            self._reads.settle(key, granted, len(batch))
        return sum(1 for m in batch if m.sender_key not in ignores and m.sent_at >= floor)

    async def read_cursor(
        self, user: str, room_name: str, visitor: Visitor | None = None
    ) -> int | None:
        """Id of the last message the user received (or marked read) in the room, if any."""
        room = await self._membership.member_room(user, room_name, visitor)
        return await self._store.get_cursor(name_key(user), room.key)

    async def mark_read(
        self, user: str, room_name: str, last_id: int, visitor: Visitor | None = None
    ) -> None:
        """Move the read cursor forward to last_id, which may not lie beyond the room's newest
        message. A cursor never moves backward."""
        room = await self._membership.member_room(user, room_name, visitor)
        newest = await self._log.read(room.key, limit=1, newest=True)
        if not newest or last_id > newest[-1].id:
            raise InvalidInput(f"#{room.name} has no message {last_id}")
        await self._store.set_cursor(name_key(user), room.key, last_id)


def _take_readable(
    batch: Sequence[Message],
    ignores: frozenset[str],
    since: datetime,
    out: list[Message],
    limit: int,
) -> int | None:
    """Append to `out` what the reader may see of `batch` (no ignored sender, nothing from
    before `since`: `Membership.floor`), up to `limit` in all; the id of the last message
    examined."""
    last = None
    for m in batch:
        if m.sender_key not in ignores and m.sent_at >= since:
            out.append(m)
        last = m.id
        if len(out) == limit:
            break
    return last
