"""Rooms and membership: finding a room, becoming a member (a room is created on first join),
listening to a room with its recent history first, leaving, listing rooms and members. Who
may see and join a room (private rooms, bans) is asked of `access`; what owners and admins
do is in moderation.py.

A room created by a guest (core/guests.py) has no owner: its founder becomes its first room
admin, as a channel's creator is its operator on IRC. A room nobody owns and nobody belongs to
is deleted (the default room excepted), so guests' rooms go when their people do; a room
shows only the messages sent since it was created, so a new room never shows an old one's."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from torbit.core import access
from torbit.core.delivery import Delivery, Notice, NoticeKind, Session
from torbit.core.models import Message, Role, Room, RoomInfo, Standing
from torbit.core.names import check_name, name_key
from torbit.core.ports import MessageLog, Store
from torbit.core.sessions import Sessions
from torbit.core.subscriptions import Subscriptions
from torbit.errors import Conflict, Forbidden, NotFound


@dataclass(frozen=True, slots=True)
class RoomRules:
    default_room: str = "lobby"
    history_on_join: int = 20
    rooms_per_user: int = 0  # 0: no limit


class Membership:
    def __init__(
        self,
        store: Store,
        log: MessageLog,
        subscriptions: Subscriptions,
        sessions: Sessions,
        rules: RoomRules,
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._log = log
        self._subs = subscriptions
        self._sessions = sessions
        self.rules = rules
        self._now = now

    # rooms

    async def room(self, name: str) -> Room:
        room = await self._store.get_room(check_name(name, "room name"))
        if room is None:
            raise NotFound(f"no such room #{name}")
        return room

    async def visible_room(self, user: str, room_name: str) -> Room:
        """The room, unless it is private and the user may not know it exists."""
        room = await self.room(room_name)
        await access.check_visible(self._store, user, room, room_name)
        return room

    async def member_room(self, user: str, room_name: str) -> Room:
        """The room, if the user is a member; a non-member of a private room learns nothing,
        not even that it exists."""
        room = await self.room(room_name)
        if not await self.is_member(user, room.key):
            await access.check_visible(self._store, user, room, room_name)
            raise Forbidden(f"you are not a member of #{room.name}: /join it first")
        return room

    async def check_room_limit(self, user: str, room_key: str) -> None:
        limit = self.rules.rooms_per_user
        if limit:
            mine = await self._store.rooms_of(name_key(user))
            if room_key not in mine and len(mine) >= limit:
                raise Forbidden(f"you are in too many rooms (limit {limit}): /leave one first")

    # membership

    async def become_member(self, user: str, room_name: str) -> Room:
        """Make the user a member, creating the room on first join (the creator owns it; the
        default room is the server's; a guest's room has no owner, the guest is its admin).
        A private room admits only its invitees, owner and server admins; no room admits the
        banned."""
        key = check_name(room_name, "room name")
        room = await self._store.get_room(key)
        standing = Standing()
        founded = False
        if room is None:
            await self.check_room_limit(user, key)
            user_record = await self._store.get_user(name_key(user))
            guest = user_record is not None and user_record.is_guest
            owner = None if key == name_key(self.rules.default_room) or guest else user
            new = Room(name=room_name, created_at=self._now(), owner=owner)
            if guest:
                try:
                    room = await self._store.create_room(new)
                    founded = True
                except Conflict:  # someone else created it first: join it as anyone would
                    room = await self.room(room_name)
            else:
                room = await self._store.ensure_room(new)
        if not founded:
            standing = await access.admission(self._store, user, room, room_name)
            if standing.member:
                return room
            await self.check_room_limit(user, room.key)
        await self._store.add_member(room.key, name_key(user))
        if founded:
            await self._store.set_room_admin(room.key, name_key(user), True)
        if standing.invited:
            await self._store.remove_invite(room.key, name_key(user))
        return room

    async def join(self, session: Session, room_name: str) -> Room:
        """Become a member and listen: recent history first, then live messages, no gaps."""
        room = await self.become_member(self._sessions.name_of(session), room_name)
        announce = self._sessions.last_here(session, room.key)
        await self._subs.listen(session, room.key, hold=True)
        history: list[Message] = []
        try:
            if self.rules.history_on_join:
                history = await self._log.read(
                    room.key, limit=self.rules.history_on_join, newest=True
                )
                history = [m for m in history if m.sent_at >= room.created_at]
        except BaseException:  # not left half-joined: the client is told, and may try again
            await self._subs.stop_listening(session, room.key)
            raise
        try:
            online = self._subs.online_count(room.key)
            where = {"room": room.key, "room_name": room.name}
            session.notify(
                Notice(f"you are in #{room.name} ({online} online)", NoticeKind.JOINED, **where),
                room.key,
            )
            if room.topic:
                topic = Notice(
                    f"topic: {room.topic}", NoticeKind.TOPIC_IS, detail=room.topic, **where
                )
                session.notify(topic, room.key)
            for m in history:
                if m.sender_key not in session.ignores:
                    session.deliver(Delivery(m, self._subs.tz))
        finally:
            self._subs.release(session, room.key, history[-1].id if history else None)
        if announce:
            name = self._sessions.name_of(session)
            joined = Notice(
                f"{name} joined #{room.name}",
                NoticeKind.JOIN,
                room=room.key,
                room_name=room.name,
                user=name,
            )
            self._sessions.announce(room.key, joined, session)
        return room

    async def stop_listening(self, session: Session, room_key: str, reason: str = "") -> None:
        """The session stops receiving the room; the user stays a member (see `leave`)."""
        if self._sessions.last_here(session, room_key):
            name = self._sessions.name_of(session)
            text = f"{name} left #{room_key}" + (f" ({reason})" if reason else "")
            notice = Notice(text, NoticeKind.PART, room=room_key, user=name, detail=reason)
            self._sessions.announce(room_key, notice, session)
        await self._subs.stop_listening(session, room_key)

    async def leave(self, user: str, room_name: str, reason: str = "") -> Room:
        """End a membership: every session of the user here stops listening to the room. A
        room left without owner and members is deleted (see the module docstring)."""
        room = await self.visible_room(user, room_name)
        if not await self._store.remove_member(room.key, name_key(user)):
            raise Conflict(f"you are not a member of #{room.name}")
        for s in self._subs.sessions_of(name_key(user)):
            if self._subs.is_listening(s, room.key):
                await self.stop_listening(s, room.key, reason)
        await self.delete_if_vacant(room.key)
        return room

    async def delete_if_vacant(self, room_key: str) -> bool:
        """Delete the room if nobody owns it, nobody belongs to it and nobody listens to it
        here (the default room stays); True if it was deleted."""
        if room_key == name_key(self.rules.default_room) or self._subs.listener_count(room_key):
            return False
        room = await self._store.get_room(room_key)
        if room is None or room.owner is not None or await self._store.list_members(room_key):
            return False
        return await self._store.delete_room(room_key)

    async def roles(self, room: Room) -> dict[str, Role]:
        """The room's owner and admins by key, for showing who is who (IRC's channel
        prefixes) with one query instead of one per user."""
        roles = {key: Role.ADMIN for key in await self._store.list_room_admins(room.key)}
        if room.owner is not None:
            roles[name_key(room.owner)] = Role.OWNER
        return roles

    async def is_member(self, user: str, room_key: str) -> bool:
        return room_key in await self._store.rooms_of(name_key(user))

    # listings

    async def rooms(self, viewer: str) -> list[RoomInfo]:
        """The rooms the viewer may see: every public one, and the private ones they belong or
        are invited to (server admins see all)."""
        listed = await access.visible_rooms(self._store, viewer, await self._store.list_rooms())
        return [
            RoomInfo(room=r, members=n, online=self._subs.online_count(r.key)) for r, n in listed
        ]

    async def my_rooms(self, user: str) -> list[RoomInfo]:
        mine = set(await self._store.rooms_of(name_key(user)))
        return [i for i in await self.rooms(user) if i.room.key in mine]

    async def members(self, room_name: str, *, viewer: str) -> list[str]:
        room = await self.visible_room(viewer, room_name)
        return await self._store.list_members(room.key)

    def online(self, room_key: str) -> list[str]:
        return self._subs.online(room_key)

    def online_count(self, room_key: str) -> int:
        return self._subs.online_count(room_key)
