"""Reading back a room's or an inbox's messages (history), oldest first, with what the
reader may not see left out: ignored senders, what a room or an inbox held before it was
created (a deleted room's or account's messages never reach the next one of the same name)
and what is older than the retention, still in the log until it is purged or expired
(`Membership.floor`). Every message a read examines is paid from the reader's read budget."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from torbit.core.banmasks import Visitor
from torbit.core.messaging_base import MessagingBase
from torbit.core.models import Message
from torbit.core.names import name_key

MAX_SCAN_BATCHES = 50  # how far back a history query filtered by time or sender reads


class History(MessagingBase):
    """Reading a channel back within the read budget (`_visible`), for rooms and inboxes."""

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
        room's ban masks (core/maskgate.py), as every read below takes one. Checked again
        once read (`_still_readable`): the read may take a while (up to MAX_SCAN_BATCHES)."""
        room = await self._membership.member_room(user, room_name, visitor)
        ignores = await self._ignores.of(user)  # `_visible` leaves out these, or later ones
        floor = self._membership.floor(room.created_at)
        since = max(since, floor) if since else floor
        page = await self._visible(
            user,
            room.key,
            limit=limit,
            before=before,
            after=after,
            since=since,
            until=until,
            newest=newest,
        )
        # a kick, ban, mask or ignore applied while it read holds for this page too
        return await self._still_readable(user, room_name, visitor, ignores, page)

    async def still_shown(self, user: str, page: list[Message]) -> list[Message]:
        """A page read earlier, filtered by the reader's ignores as they are now: a door that
        answers one command with two reads (IRC's CHATHISTORY AROUND) asks it of the first
        once the second is read. Each read is filtered as it ends (`_still_readable`); an
        ignore answered during the second let the first's lines through (ignore63)."""
        ignores = await self._ignores.of(user)
        return [m for m in page if m.sender_key not in ignores]

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
        from before `since` (at the latest `Membership.floor`: a deleted namesake's, or
        expired) or not before `until`, and those `keep` refuses are left out, yet were
        read. A read that filters reads on, batch after batch (at most MAX_SCAN_BATCHES),
        while the budget lasts; one that found nothing to show paid for what it examined all
        the same."""
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
