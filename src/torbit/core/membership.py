"""Rooms and membership: finding a room, becoming a member (a room is created on first join),
listening to a room with its recent history first, leaving, listing rooms and members. Who
may see and join a room (private rooms, bans) is asked of `access`; what owners and admins
do is in moderation.py."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from torbit.core import access
from torbit.core.delivery import Delivery, Session
from torbit.core.models import Message, Room, RoomInfo, Standing
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
        default room is the server's). A private room admits only its invitees, owner and
        server admins; no room admits the banned."""
        key = check_name(room_name, "room name")
        room = await self._store.get_room(key)
        standing = Standing()
        if room is None:
            await self.check_room_limit(user, key)
            owner = None if key == name_key(self.rules.default_room) else user
            room = await self._store.ensure_room(
                Room(name=room_name, created_at=self._now(), owner=owner)
            )
        else:
            standing = await access.admission(self._store, user, room, room_name)
            if standing.member:
                return room
            await self.check_room_limit(user, room.key)
        await self._store.add_member(room.key, name_key(user))
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
                # older than the room: a deleted namesake's, where the log keeps them (Kafka)
                history = [m for m in history if m.sent_at >= room.created_at]
        except BaseException:  # not left half-joined: the client is told, and may try again
            await self._subs.stop_listening(session, room.key)
            raise
        try:
            online = self._subs.online_count(room.key)
            session.notify(f"you are in #{room.name} ({online} online)", room.key)
            if room.topic:
                session.notify(f"topic: {room.topic}", room.key)
            for m in history:
                if m.sender_key not in session.ignores:
                    session.deliver(Delivery(m, self._subs.tz))
        finally:
            self._subs.release(session, room.key, history[-1].id if history else None)
        if announce:
            name = self._sessions.name_of(session)
            self._sessions.announce(room.key, f"{name} joined #{room.name}", session)
        return room

    async def stop_listening(self, session: Session, room_key: str) -> None:
        """The session stops receiving the room; the user stays a member (see `leave`)."""
        if self._sessions.last_here(session, room_key):
            name = self._sessions.name_of(session)
            self._sessions.announce(room_key, f"{name} left #{room_key}", session)
        await self._subs.stop_listening(session, room_key)

    async def leave(self, user: str, room_name: str) -> Room:
        """End a membership: every session of the user here stops listening to the room."""
        room = await self.visible_room(user, room_name)
        if not await self._store.remove_member(room.key, name_key(user)):
            raise Conflict(f"you are not a member of #{room.name}")
        for s in self._subs.sessions_of(name_key(user)):
            if self._subs.is_listening(s, room.key):
                await self.stop_listening(s, room.key)
        return room

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
