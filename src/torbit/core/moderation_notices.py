"""What each node tells its sessions of a moderation event (core/events.py), whichever node
acted: a kick or ban ends the listening of the user's sessions here, a mute changes this
node's copy of the mutes, an invitation reaches the invited user; the room hears of each,
named so that whoever ignores those involved does not."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from torbit.core.delivery import Notice, NoticeKind
from torbit.core.demotion import OPERATOR
from torbit.core.events import (
    SETTLE_WAIT_S,
    Expelled,
    Invited,
    MuteChanged,
    MuteGone,
    RoomNotice,
)
from torbit.core.format import counted
from torbit.core.models import Mute
from torbit.core.mutes import set_at
from torbit.core.names import name_key
from torbit.core.room_authority import RoomAuthority

log = logging.getLogger("torbit.moderation")


class ModerationNotices(RoomAuthority):
    """The handlers Moderation registers for the node events."""

    def _on_expelled(self, event: Expelled) -> None:
        # told whoever did it, even if ignored: it is about the user's own standing
        kind = NoticeKind.KICK
        if event.verb == "banned":
            kind = NoticeKind.BAN if event.was_member else NoticeKind.BAN_ABSENT
        why = f" ({event.reason})" if event.reason else ""
        by = event.by or OPERATOR  # "": the server's operator (the CLI: core/demotion.py)
        where = {"room": event.room, "room_name": event.room_name}
        about = {"user": event.name, "by": event.by, "detail": event.reason, **where}
        for session in self._subs.sessions_of(event.user):
            if self._subs.is_listening(session, event.room):
                text = f"you were {event.verb} from #{event.room_name} by {by}{why}"
                session.notify(Notice(text, kind, **about), event.room)
                self._subs.drop(session, event.room)
        text = f"{event.name} was {event.verb} from #{event.room_name} by {by}{why}"
        self._subs.notify(
            event.room, Notice(text, kind, **about), about=(event.user, name_key(event.by))
        )

    def _on_mute(self, event: MuteChanged) -> None:
        until = datetime.fromisoformat(event.until) if event.until else None
        self._mutes.set(event.room, event.user, until, until and set_at(until, event.minutes))
        self._read_back(event.room, event.user)
        where = f"#{event.room_name}"
        minutes = counted(event.minutes, "minute")
        text = (
            f"{event.name} was muted in {where} for {minutes} by {event.by}"
            if until
            else f"{event.name} may speak in {where} again"
        )
        kind = NoticeKind.MUTE if until else NoticeKind.UNMUTE
        notice = Notice(
            text,
            kind,
            room=event.room,
            room_name=event.room_name,
            user=event.name,
            by=event.by,
            detail=str(event.minutes) if until else "",
        )
        self._subs.notify(event.room, notice, about=(event.user, name_key(event.by)))

    def _read_back(self, room_key: str, user_key: str) -> None:
        """Keep the mute the store kept (core/mutes.py): the events of two acts at once may
        come in the other order than their writes. A mute's publisher answers once it is read
        here (`settled`), and every other node says it applied it once read there."""
        ticket = self._mutes.reading(room_key, user_key)
        task = asyncio.get_running_loop().create_task(self._kept(ticket, room_key, user_key))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        self._events.defer(task)

    async def _kept(self, ticket: asyncio.Event, room_key: str, user_key: str) -> None:
        since = self._mutes.clock.now()
        kept: list[Mute] | None = None
        try:
            kept = await self._store.active_mutes(since, (room_key, user_key))
        except Exception:  # the store down, or closing: the event's mute stands here
            log.exception("reading back the mute of %s in %s", user_key, room_key)
        self._mutes.read(ticket, room_key, user_key, kept, since)

    async def _unbacked(self, room_key: str, user_key: str, at: datetime, made: datetime) -> bool:
        """An unmute found no mute in the store: whether this node holds one no read of the
        store found, once its read back here is done (core/mutes.py): a mute whose event came
        after the unmute that removed its row, its read failed (attack58), for the unmute to
        lift. One a read found was in the store, and an unmute that removed it since has its
        event on its way (two at once: unmute59), or none will come (its node died between
        its write and its event): read again here, the unmute is not done, and every node
        reads it again too (`MuteGone`, heal59) before the answer, else they held it. One
        held nowhere here (this node started since that death: its load found none) may be
        held by the others all the same: they are told too (heal60)."""
        if self._mutes.until(room_key, user_key, at, made) is None:
            await self._events.publish(MuteGone(room_key, user_key), settled=True)
            return False
        await self._mutes.settled(room_key, user_key, SETTLE_WAIT_S)
        if self._mutes.until(room_key, user_key, at, made) is None:
            return False
        if not self._mutes.backed(room_key, user_key):
            return True
        await self._kept(self._mutes.reading(room_key, user_key), room_key, user_key)
        if self._mutes.until(room_key, user_key) is None:  # the store has none: dropped here
            await self._events.publish(MuteGone(room_key, user_key), settled=True)
        return False

    def _on_mute_gone(self, event: MuteGone) -> None:
        """A node found a mute gone from the store, no unmute's event heard: this node reads
        it back too, if it holds it (a node holding none has nothing to heal, and no store
        read to spend: an unmute of nothing costs every such node a dict lookup, heal60).
        Nothing told: an unmute's own event tells the room once."""
        if self._mutes.holds(event.room, event.user):
            self._read_back(event.room, event.user)

    def _on_invite(self, event: Invited) -> None:
        text = f"{event.by} invited you to #{event.room_name}: /join {event.room_name}"
        notice = Notice(
            text, NoticeKind.INVITE, room=event.room, room_name=event.room_name, by=event.by
        )
        self._subs.notify_user(event.user, notice, about=(name_key(event.by),))
        name = self._subs.online_name(event.user) or event.user
        told = Notice(
            f"{event.by} invited {name} to #{event.room_name}",
            NoticeKind.INVITED,
            room=event.room,
            room_name=event.room_name,
            user=name,
            by=event.by,
        )  # the room's members hear of it (IRC: invite-notify)
        self._subs.notify(event.room, told, about=(event.user, name_key(event.by)))

    def _on_notice(self, event: RoomNotice) -> None:
        try:
            kind = NoticeKind(event.kind)
        except ValueError:  # a newer node's kind: its text is still right
            kind = NoticeKind.TEXT
        notice = Notice(
            event.text,
            kind,
            room=event.room,
            room_name=event.room_name,
            user=event.user,
            by=event.by,
            detail=event.detail,
        )
        self._subs.notify(event.room, notice, about=event.about)
