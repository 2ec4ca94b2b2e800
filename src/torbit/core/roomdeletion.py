"""Deleting a room: its owner or a server admin destroys it with everything that hangs off it
(memberships, invitations, bans, masks, mutes, admins, voices, read cursors) and its
messages. Room admins may not, even in a room nobody owns (core/policy.py's "delroom").

The store's deletion comes first, so that from then on no store read admits anyone to the
room; then a node event (`RoomDeleted`) puts every session listening to it, on every node,
out of it at once, tells it why (IRC shows a KICK) and ends the long polls waiting on it;
each node forgets what it knew of the room (memberships, mutes, settings, masks). The
messages go last (a SQL log deletes the rows; Kafka moves the partition's start past them
where the broker lets it, else retention removes them). A room made again under the name is
another room: every read filters by the room's creation time, so nothing of the old room
shows there, whatever the log still holds.

The room's identity is its key and creation time, and the deletion goes by it: a deletion
that checked the old room deletes nothing of a room made again under the name meanwhile;
its messages go up to the deletion's time or that room's creation, whichever is first, so
the new room's first messages stay; and a send checked before the deletion but committed
after it is refused, its message dropped with the room and delivered to no one (a node that
heard of the deletion remembers it: `Subscriptions.room_deleted`).

A process that is not a node (`torbit room del`) cannot publish on a node's in-process log:
it appends the event to the store's revocation feed, which every node polls
(core/revocation.py, `feed_event`)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from torbit.core import policy
from torbit.core.delivery import Notice, NoticeKind
from torbit.core.events import NodeEvent, NodeEvents, RoomDeleted, RoomDeletedAt
from torbit.core.membership import Membership
from torbit.core.models import AuditEntry, Room
from torbit.core.mutes import Mutes
from torbit.core.names import check_name, name_key
from torbit.core.ports import MessageLog, Store
from torbit.core.revocation import feed_event
from torbit.core.subscriptions import Subscriptions
from torbit.errors import Forbidden, NotFound

log = logging.getLogger("torbit.audit")

OPERATOR = "the server's operator"  # who deleted it, for a deletion by the CLI


def deleted_text(room_name: str, by: str) -> str:
    return f"#{room_name} was deleted by {by or OPERATOR}"


class RoomDeletion:
    """The deletion itself (`delete`) and what every node does when told (`_on_deleted`)."""

    def __init__(
        self,
        store: Store,
        log: MessageLog,
        membership: Membership,
        subscriptions: Subscriptions,
        events: NodeEvents,
        mutes: Mutes,
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._log = log
        self._membership = membership
        self._subs = subscriptions
        self._events = events
        self._mutes = mutes
        self._now = now
        events.on(RoomDeleted, self._on_deleted)
        events.on(RoomDeletedAt, self._on_deleted_at)

    async def delete(self, actor: str, room_name: str) -> Room:
        """Delete the room if `actor` owns it or is a server admin; NotFound for a private
        room the actor may not see, Forbidden for anyone else who may. The default room
        stays (every login lands in it)."""
        room = await self._membership.room(room_name)
        key = name_key(actor)
        standing = await self._store.standing(room.key, key)
        if not standing.may_see(room, key):
            raise NotFound(f"no such room #{room_name}")
        try:
            policy.check(standing.role(room, key), "delroom", room.name)
        except Forbidden:
            log.info("refused: %s tried /delroom in #%s", actor, room.key)
            raise
        if room.key == name_key(self._membership.rules.default_room):
            raise Forbidden(f"#{room.name} is the server's default room: it cannot be deleted")
        await delete_room(self._store, self._log, room, actor, self._now, self._events)
        return room

    def _on_deleted_at(self, event: RoomDeletedAt) -> None:
        """Remember the deletion: a late send to that room is refused and dropped here, and
        nothing sent to it before the deletion is delivered here any more."""
        created, at = datetime.fromisoformat(event.created_at), datetime.fromisoformat(event.at)
        self._subs.room_deleted(event.room, created, at)

    def _on_deleted(self, event: RoomDeleted) -> None:
        """On every node: the sessions listening to the room are told and put out of it (a
        waiting long poll is woken: its next read finds no room), and the node forgets the
        room's memberships and mutes, so that nothing of it is answered from memory."""
        self._membership.known.forget_room(event.room)
        self._mutes.forget_room(event.room)
        self._membership.settings.drop(event.room)
        self._membership.ban_masks.drop(event.room)
        notice = Notice(
            event.text,
            NoticeKind.ROOM_DELETED,
            room=event.room,
            room_name=event.room_name,
            by=event.by,
        )
        listeners = self._subs.listeners(event.room)
        self._subs.notify(event.room, notice)  # told whoever did it, even if ignored
        for session in listeners:
            if not session.user_key:
                session.close(event.text)  # a long poll's Wakeup: it reads again
            self._subs.drop(session, event.room)


async def delete_room(
    store: Store,
    message_log: MessageLog,
    room: Room,
    actor: str,
    now: Callable[[], datetime],
    events: NodeEvents | None = None,
    tell: Callable[[NodeEvent], Awaitable[int]] | None = None,
) -> None:
    """Delete `room` (checked by the caller), write the audit entry and the app log line, tell
    every node (through `events` on a node, else through the store's feed: `tell`, which
    then knows what to wait for, core/feedmarks.py) and delete the room's messages;
    NotFound if another deletion came first (nothing more is done then): the room `room`
    is, by its creation time, not one made again under the name since."""
    if not await store.delete_room(room.key, room.created_at):
        raise NotFound(f"no such room #{room.name} (it was deleted meanwhile)")
    at = now()
    await store.add_audit(
        AuditEntry(at=now(), actor=actor or OPERATOR, action="delroom", room=room.key)
    )
    log.info("audit: %s /delroom #%s", actor or OPERATOR, room.key)
    told: list[NodeEvent] = [
        RoomDeletedAt(room.key, room.created_at.isoformat(), at.isoformat()),
        RoomDeleted(room.key, room.name, actor, deleted_text(room.name, actor)),
    ]
    for event in told:
        if events is not None:  # RoomDeleted's answer (`settled`) comes after this one's: the
            # nodes apply events in the log's order, and a node of the previous release skips
            # RoomDeletedAt, which is no event a node answers for (waited for, it cost every
            # deletion the whole settle time and had the other nodes taken for silent: attack59)
            await events.publish(event, settled=isinstance(event, RoomDeleted))
        elif tell is not None:
            await tell(event)
        else:
            await feed_event(store, event, now(), room.key)
    await drop_messages(store, message_log, room.key, at)


async def drop_messages(store: Store, message_log: MessageLog, key: str, at: datetime) -> None:
    """A deleted room's messages: those sent before `at` or, if a room was made again under
    the key since, before its creation, whichever is first: that room keeps its own."""
    again = await store.get_room(key)
    await message_log.delete_channel(key, min(at, again.created_at) if again else at)


async def delete_by_operator(
    store: Store,
    message_log: MessageLog,
    room_name: str,
    default_room: str,
    now: Callable[[], datetime],
    tell: Callable[[NodeEvent], Awaitable[int]] | None = None,
) -> Room:
    """`torbit room del`: the server's operator may delete any room but the default one;
    the nodes are told through `tell` (a StoreFeed's, whose `confirmed` the CLI waits for:
    answered before the nodes had read the feed, a member of the old room on a node still
    wrote into a room made again under the name; roomdel56), else the store's feed."""
    room = await store.get_room(check_name(room_name, "room name"))
    if room is None:
        raise NotFound(f"no such room #{room_name}")
    if room.key == name_key(default_room):
        raise Forbidden(f"#{room.name} is the server's default room: it cannot be deleted")
    await delete_room(store, message_log, room, "", now, tell=tell)
    return room
