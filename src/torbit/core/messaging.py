"""Sending and reading messages: to rooms and privately, history, and the read cursors of
`/receive` and unread counts. A message is acknowledged only once the log made it durable;
ignored senders are left out of everything a user reads, and so is what a room or an inbox
held before it was created (a deleted room's or account's messages never reach the next one
of the same name). Guests (core/guests.py) may write privately to other guests, and to an
account only once that account wrote to them.

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

from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta

from torbit.core.banmasks import Visitor
from torbit.core.ignores import Ignores
from torbit.core.keylocks import KeyLocks
from torbit.core.limits import RateLimiter, ReadBudget, RoomRates
from torbit.core.membership import Membership
from torbit.core.models import Draft, Message, MessageKind, Room
from torbit.core.mutes import Mutes
from torbit.core.names import check_name, inbox_channel, name_key
from torbit.core.ports import MessageLog, Store
from torbit.core.roomdeletion import drop_messages
from torbit.core.text import clean_text
from torbit.errors import Forbidden, InvalidInput, NotFound

MAX_SCAN_BATCHES = 50  # how far back a history query filtered by time or sender reads

# A door whose caller is checked once per request (HTTP) passes a check that its login still
# holds (not revoked by a password change, logout or deletion applied on this node since),
# awaited as the last step before the message is drafted. Checked only at the request's
# start, a send whose own checks then waited on a busy node (up to 1.1 s was seen) was
# drafted, stored and delivered after the revocation (tests/scale/test_rights_race_cluster.py).
Holds = Callable[[], Awaitable[None]]


class Messaging:
    def __init__(
        self,
        store: Store,
        log: MessageLog,
        membership: Membership,
        ignores: Ignores,
        mutes: Mutes,
        *,
        max_message_bytes: int = 4096,
        rate: RateLimiter | None = None,
        room_rate: RoomRates | None = None,
        reads: ReadBudget | None = None,
        text_filter: Callable[[str], str] | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._log = log
        self._membership = membership
        self._ignores = ignores
        self._mutes = mutes
        self.max_message_bytes = max_message_bytes
        self._rate = rate or RateLimiter(0, 0)
        self._room_rate = room_rate or RoomRates()
        self._reads = reads or ReadBudget()
        # the profanity filter, if configured: returns the text to store, or raises InvalidInput
        self._filter: Callable[[str], str] = text_filter or (lambda text: text)
        self._now = now
        self._reading = KeyLocks()  # (user key, room key): reads from the cursor, one at a time

    def prepare_text(self, text: str) -> str:
        """The text as it will be stored: cleaned, size checked, then the profanity filter.
        Raises InvalidInput / TooLarge saying why not."""
        return self._filter(clean_text(text, self.max_message_bytes))

    # sending

    async def send(
        self,
        user: str,
        room_name: str,
        text: str,
        kind: MessageKind = MessageKind.TEXT,
        *,
        visitor: Visitor | None = None,
        holds: Holds | None = None,
    ) -> Message:
        """Publish to a room the user is a member of (or to a public room that lets
        non-members send, unless they are banned there or the `visitor` matches one of its
        ban masks); returns once the message is durable. In a moderated room only its
        admins speak. `holds`: see `Holds`."""
        try:
            room = await self._membership.member_room(user, room_name)
        except Forbidden:
            room = await self._membership.outside_room(user, room_name, visitor)
        else:
            if visitor is not None:  # a member's request: its ban masks too (maskgate.py)
                await self._membership.check_visitor(user, room, visitor)
        text = self.prepare_text(text)
        self._mutes.check(room.key, name_key(user), self._now())
        await self._membership.check_may_speak(user, room)
        if holds is not None:
            await holds()  # the last wait before the draft: nothing revoked since
        self._check_rate(user, room.key)
        draft = Draft(channel=room.key, sender=user, text=text, sent_at=self._now(), kind=kind)
        (message,) = await self._log.publish([draft])
        if self._membership.deletion(room.key) is not None:
            await self._unless_deleted(room, [message])
        return message

    async def send_while_listening(
        self,
        user: str,
        room: Room,
        texts: Sequence[str],
        kind: MessageKind = MessageKind.TEXT,
        listening: Callable[[], bool] | None = None,
    ) -> tuple[list[Message], int]:
        """The fast path of a session that listens to `room` (membership was checked when it
        joined; a kick or ban ends the listening): consecutive lines go out as one batch, in
        order. `texts` are already prepared (`prepare_text`). Lines over the rate limits are
        dropped; returns the messages and how many were dropped. Muted: Forbidden.
        `listening`: asked after the store (a moderated room's standing), as `Holds` is: a
        send held there while its session was closed (revoked) or stopped listening (ban)
        was stored after that (tests/scale/test_rights_race_sessions.py)."""
        key, channel = name_key(user), room.key
        self._mutes.check(channel, key, self._now())
        await self._membership.check_may_speak(user, room)
        if listening is not None and not listening():
            raise Forbidden(f"not sent: you no longer listen to #{room.name}")
        allowed = self._rate.take(key, len(texts))
        if allowed:
            allowed = self._room_rate.take(key, channel, allowed)
        now = self._now()
        # positional: keywords cost a Draft a third more, and this runs for every line
        drafts = [Draft(channel, user, t, now, kind) for t in texts[:allowed]]
        messages = await self._log.publish(drafts) if drafts else []
        if messages and self._membership.deletion(channel) is not None:
            await self._unless_deleted(room, messages)
        return messages, len(texts) - allowed

    async def _unless_deleted(self, room: Room, messages: Sequence[Message]) -> None:
        """A send checked before its room was deleted and committed after (it waited on the
        log meanwhile): refused, and its messages go as the room's did, up to the creation
        of a room made again under the name (core/roomdeletion.py)."""
        gone = self._membership.deletion(room.key)
        if gone is None or gone[0] != room.created_at:
            return  # the room it went to is not the one deleted
        at = max(gone[1], messages[-1].sent_at + timedelta(microseconds=1))
        await drop_messages(self._store, self._log, room.key, at)
        raise NotFound(f"#{room.name} was deleted")

    async def send_private(
        self, sender: str, to: str, text: str, *, holds: Holds | None = None
    ) -> Message:
        """A private message lands in the recipient's inbox and, as a copy, in the sender's.
        `holds`: see `Holds`."""
        recipient = await self._store.get_user(check_name(to, "user name"))
        if recipient is None or (recipient.is_guest and self._membership.gone(recipient.key)):
            # a guest lives as long as its connection: once its client has gone it is no
            # one, though its account is still being deleted (core/guests.py); every door
            raise NotFound(f"no such user {to!r}")
        text = self.prepare_text(text)
        if not recipient.is_guest:
            await self._check_guest_may_write(sender, recipient.key, recipient.name)
        if holds is not None:
            await holds()
        self._check_rate(sender, None)
        now = self._now()
        drafts = [
            Draft(
                channel=inbox_channel(recipient.key),
                sender=sender,
                text=text,
                sent_at=now,
                kind=MessageKind.PRIVATE,
                recipient=recipient.name,
            )
        ]
        if recipient.key != name_key(sender):
            drafts.append(
                Draft(
                    channel=inbox_channel(name_key(sender)),
                    sender=sender,
                    text=text,
                    sent_at=now,
                    kind=MessageKind.PRIVATE,
                    recipient=recipient.name,
                )
            )
        return (await self._log.publish(drafts))[0]

    async def _check_guest_may_write(self, sender: str, to_key: str, to_name: str) -> None:
        """A guest writes to an account only in answer: once it wrote to the guest."""
        user = await self._store.get_user(name_key(sender))
        if user is None or not user.is_guest or to_key == user.key:
            return
        batch = await self._log.read(inbox_channel(user.key), limit=200, newest=True)
        if not any(m.sender_key == to_key and m.sent_at >= user.created_at for m in batch):
            raise Forbidden(f"guests may write to {to_name} only once {to_name} wrote to them")

    def _check_rate(self, user: str, room_key: str | None) -> None:
        key = name_key(user)
        self._rate.check(key)
        if room_key is not None:
            self._room_rate.check(key, room_key)

    # reading

    async def history(
        self,
        user: str,
        room_name: str,
        *,
        limit: int = 50,
        before: int | None = None,
        after: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        newest: bool | None = None,
        visitor: Visitor | None = None,
    ) -> list[Message]:
        """Messages of a room the user belongs to, oldest first, ignored senders left out.
        Without `after` the newest `limit` (before `before`) are returned, with it the first
        `limit` after it (`newest` says otherwise); `since` and `until` bound the sending
        time (until excluded). `visitor`: an HTTP request's client, matched against the
        room's ban masks (core/maskgate.py), as every read below takes one."""
        room = await self._membership.member_room(user, room_name, visitor)
        since = max(since, room.created_at) if since else room.created_at
        return await self._visible(
            user,
            room.key,
            limit=limit,
            before=before,
            after=after,
            since=since,
            until=until,
            newest=newest,
        )

    async def private_history(
        self, user: str, *, limit: int = 50, before: int | None = None, after: int | None = None
    ) -> list[Message]:
        """The user's inbox. Messages older than the account are not theirs: they were a
        deleted account's of the same name, where the log could not delete them (Kafka)."""
        account = await self._store.get_user(name_key(user))
        if account is None:
            raise NotFound(f"no such user {user!r}")
        return await self._visible(
            user,
            inbox_channel(account.key),
            limit=limit,
            before=before,
            after=after,
            since=account.created_at,
        )

    async def conversation(
        self,
        user: str,
        other: str,
        *,
        limit: int = 50,
        before: int | None = None,
        after: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        newest: bool = True,
    ) -> list[Message]:
        """The private messages between the user and `other`, from the user's inbox, oldest
        first (the newest `limit` unless `newest` is False)."""
        me, them = name_key(user), name_key(other)
        created = await self._created(user)
        if since is None or (created is not None and created > since):
            since = created

        def between(m: Message) -> bool:
            return m.sender_key == them or (
                m.sender_key == me and name_key(m.recipient or "") == them
            )

        return await self._visible(
            user,
            inbox_channel(me),
            limit=limit,
            before=before,
            after=after,
            since=since,
            until=until,
            keep=between,
            newest=newest,
        )

    async def _created(self, user: str) -> datetime | None:
        record = await self._store.get_user(name_key(user))
        return record.created_at if record is not None else None

    async def _visible(
        self,
        user: str,
        channel: str,
        *,
        limit: int,
        before: int | None,
        after: int | None,
        since: datetime | None = None,
        until: datetime | None = None,
        keep: Callable[[Message], bool] | None = None,
        newest: bool | None = None,
    ) -> list[Message]:
        """Up to `limit` messages of the channel the user may see, within the user's read
        budget, which pays for every message the read examined: ignored senders, messages
        from before `since` (the room's or account's creation: a deleted namesake's) or not
        before `until`, and those `keep` refuses are left out, yet were read. A read that
        filters reads on, batch after batch (at most MAX_SCAN_BATCHES), while the budget
        lasts; one that found nothing to show paid for what it examined all the same."""
        key = name_key(user)
        ignores = await self._ignores.of(user)
        size = self._reads.grant(key, limit)  # the first batch; RateLimited if none is left
        out: list[Message] = []
        newest = after is None if newest is None else newest
        # filtering by time or by a predicate may need more than one batch; a plain read
        # stops at the first short batch as before
        scans = MAX_SCAN_BATCHES if (keep or until or since) else None

        def shown(m: Message) -> bool:
            return (
                m.sender_key not in ignores
                and (since is None or m.sent_at >= since)
                and (until is None or m.sent_at < until)
                and (keep is None or keep(m))
            )

        while len(out) < limit:
            batch: list[Message] = []
            try:
                batch = await self._log.read(
                    channel, after=after, before=before, limit=size, newest=newest
                )
            finally:
                self._reads.settle(key, size, len(batch))  # paid: what it examined
            visible = [m for m in batch if shown(m)]
            if newest:
                out = visible[-(limit - len(out)) :] + out if visible else out
                if len(batch) < size or (since is not None and batch[0].sent_at < since):
                    break
                before = batch[0].id
            else:
                out.extend(visible[: limit - len(out)])
                if len(batch) < size or (until is not None and batch[-1].sent_at >= until):
                    break
                after = batch[-1].id
            if scans is not None:
                scans -= 1
                if not scans:
                    break
            if len(out) < limit:
                size = self._reads.share(key, limit)  # the next batch, from what is left
                if not size:
                    break
        return out

    async def receive(self, user: str, room_name: str, limit: int = 100) -> list[Message]:
        """What the user has not yet received in this room through this call, oldest first;
        the read cursor moves over exactly what was examined."""
        return (await self.receive_from(user, room_name, limit))[0]

    async def receive_from(
        self, user: str, room_name: str, limit: int = 100
    ) -> tuple[list[Message], int | None]:
        """`receive`, and where the read cursor stands after it (the last message examined).
        When nothing is returned, the read reached the room's newest message. Within the
        user's read budget: refused before anything is read, never after the cursor moved.
        Reads of one user in one room on this node are taken one after the other (module
        docstring)."""
        key = name_key(user)
        granted = self._reads.grant(key, limit)
        read = [0]  # messages read from the log, by every attempt (a retry reads again)
        try:
            out, last = await self._receive_from(user, room_name, granted, read)
        finally:
            self._reads.settle(key, granted, read[0])  # paid: what it read, not just kept
        return out, last

    async def _receive_from(
        self, user: str, room_name: str, limit: int, read: list[int]
    ) -> tuple[list[Message], int | None]:
        room = await self._membership.member_room(user, room_name)
        key = name_key(user)
        async with self._reading.hold((key, room.key)):
            ignores = await self._ignores.of(user)
            cursor = await self._store.get_cursor(key, room.key)
            while True:
                out, last = await self._read_on(room, ignores, cursor, limit, read)
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
        """Up to `limit` readable messages after `after`, and the last id examined; adds to
        `read[0]` every message read from the log (ignored senders' too)."""
        out: list[Message] = []
        last = after
        while len(out) < limit:
            batch = await self._log.read(room.key, after=last, limit=limit)
            read[0] += len(batch)
            examined = _take_readable(batch, ignores, room.created_at, out, limit)
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
        examined = _take_readable(fresh, ignores, room.created_at, out, limit)
        last = after if examined is None else examined
        await self._store.set_cursor(name_key(user), room.key, last, at_once=True)
        self._reads.charge(name_key(user), len(out))  # answered: paid, never refused
        return out, last

    async def unread_count(
        self, user: str, room_name: str, cap: int = 1000, visitor: Visitor | None = None
    ) -> int:
        """Of the first `cap` messages after the user's read cursor, those the user would
        receive (no ignored sender, none older than the room). A log that counts without
        reading a message (SQL: one counting statement) asks nothing of the read budget."""
        room = await self._membership.member_room(user, room_name, visitor)
        return await self.unread_in(
            user, room, await self._store.get_cursor(name_key(user), room.key), cap
        )

    async def unread_in(self, user: str, room: Room, cursor: int | None, cap: int = 1000) -> int:
        """`unread_count` after `cursor`, in a room the caller knows the user is in (a
        returning login just back in it: core/comeback.py)."""
        key = name_key(user)
        ignores = await self._ignores.of(user)
        if not self._log.counts_by_reading:
            return await self._log.count(
                room.key, after=cursor, limit=cap, since=room.created_at, excluding=ignores
            )
        # a log that must read to count (Kafka) is read here, as a read of those messages:
        # paid from the budget (refused when it is spent; near its end, the count covers
        # what is left of it, a lower bound), what it passed over included
        granted = self._reads.grant(key, cap)
        batch: list[Message] = []
        try:
            batch = await self._log.read(room.key, after=cursor, limit=granted)
        finally:
            self._reads.settle(key, granted, len(batch))
        return sum(1 for m in batch if m.sender_key not in ignores and m.sent_at >= room.created_at)

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
    before the room was made), up to `limit` in all; the id of the last message examined."""
    last = None
    for m in batch:
        if m.sender_key not in ignores and m.sent_at >= since:
            out.append(m)
        last = m.id
        if len(out) == limit:
            break
    return last
