"""The chat rules, shared by every front door: joining and leaving rooms, sending, private
messages, history, unread cursors and ignore lists. Who may see and join a room (private rooms,
bans) is decided here too; what owners and admins do is in rooms.py (Moderation)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from torbit.core import access
from torbit.core.hub import Delivery, Hub, Session
from torbit.core.limits import RateLimiter
from torbit.core.models import Draft, Message, MessageKind, Room, RoomInfo, Standing
from torbit.core.mutes import Mutes
from torbit.core.names import EVENTS_CHANNEL, check_name, inbox_channel, is_inbox
from torbit.core.ports import MessageLog, Store
from torbit.errors import Conflict, Forbidden, InvalidInput, NotFound, TooLarge

# C0/C1 control characters other than tab: they could drive a terminal (ANSI escapes, bells).
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")


@dataclass(frozen=True, slots=True)
class ChatRules:
    default_room: str = "lobby"
    history_on_join: int = 20
    retention: timedelta = timedelta(hours=24)
    max_message_bytes: int = 4096
    rooms_per_user: int = 0  # 0: no limit
    presence_notices_max: int = 100  # join/leave notices only in rooms with at most this many


def clean_text(text: str, max_bytes: int) -> str:
    """A message text fit to show: control characters replaced, trailing blanks dropped."""
    text = _CONTROL.sub("\ufffd", text).rstrip()
    if not text.strip():
        raise InvalidInput("empty message")
    if len(text.encode()) > max_bytes:
        raise TooLarge(f"message too long: at most {max_bytes} bytes")
    return text


class Chat:
    def __init__(
        self,
        store: Store,
        log: MessageLog,
        hub: Hub,
        rules: ChatRules,
        *,
        rate: RateLimiter | None = None,
        room_rate: RateLimiter | None = None,
        mutes: Mutes | None = None,
        text_filter: Callable[[str], str] | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._log = log
        self._hub = hub
        self.rules = rules
        self._rate = rate or RateLimiter(0, 0)
        self._room_rate = room_rate or RateLimiter(0, 0)
        self._now = now
        # the profanity filter, if configured: returns the text to store, or raises InvalidInput
        self.filter_text: Callable[[str], str] = text_filter or (lambda text: text)
        self.mutes = mutes or Mutes()  # kept current by Moderation's mute events
        # node events by type; other services (moderation) add their own handlers
        self.event_handlers: dict[str, Callable[[dict[str, Any]], None]] = {
            "ignore": self._on_ignore_event,
        }

    # node events: changes that sessions on every node must see

    async def start(self) -> None:
        """Listen to node events; call once the message log has started."""
        await self._log.watch(EVENTS_CHANNEL)

    async def broadcast(self, event: dict[str, Any]) -> None:
        """Publish an event that every node (this one included) applies in log order."""
        draft = Draft(channel=EVENTS_CHANNEL, sender="torbit", text=json.dumps(event),
                      sent_at=self._now(), kind=MessageKind.EVENT)
        await self._log.publish([draft])

    def apply_event(self, message: Message) -> None:
        """Listener for EVENTS_CHANNEL messages; unknown event types are ignored."""
        try:
            event = json.loads(message.text)
            handler = self.event_handlers.get(event.get("type"))
        except (ValueError, AttributeError):
            return
        if handler is not None:
            handler(event)

    def _on_ignore_event(self, event: dict[str, Any]) -> None:
        p = self._hub.presence(str(event["user"]))
        if p is not None:
            if event["on"]:
                p.ignores.add(str(event["target"]))
            else:
                p.ignores.discard(str(event["target"]))

    # sessions

    async def connect(self, session: Session, name: str) -> None:
        """A session has logged in: it will get the user's private messages from now on."""
        key = name.lower()
        p = self._hub.presence(key)
        ignores = p.ignores if p else set(await self._store.list_ignores(key))
        self._hub.attach(session, name, ignores)
        try:
            # Every login asks (watching is idempotent), so that a watch that failed during an
            # outage is retried by the next login rather than missing until everyone leaves.
            await self._log.watch(inbox_channel(key))
        except BaseException:
            for channel in self._hub.detach(session):
                await self._log.unwatch(channel)
            raise

    async def disconnect(self, session: Session) -> None:
        for channel in self._hub.channels_of(session):
            if not is_inbox(channel) and self._presence_left(session, channel):
                self._announce(channel, f"{self._name(session)} left #{channel}", session)
        for channel in self._hub.detach(session):
            await self._log.unwatch(channel)

    def _announce(self, channel: str, text: str, skip: Session) -> None:
        """A join or leave notice; in big rooms they would be most of the traffic (every join
        told to everyone is quadratic), so only rooms up to `presence_notices_max` get them."""
        if self._hub.listener_count(channel) <= self.rules.presence_notices_max:
            self._hub.notify(channel, text, skip=skip)

    def _name(self, session: Session) -> str:
        p = self._hub.presence(session.user_key)
        return p.name if p else session.user_key

    def _presence_left(self, session: Session, channel: str) -> bool:
        """True if no other session of the user listens to the channel here (O(1): this runs
        on every join and leave, in rooms of thousands)."""
        mine = self._hub.user_sessions_in(channel, session.user_key)
        return mine - self._hub.is_listening(session, channel) == 0

    # rooms

    async def room(self, name: str) -> Room:
        room = await self._store.get_room(check_name(name, "room name"))
        if room is None:
            raise NotFound(f"no such room #{name}")
        return room

    async def become_member(self, user: str, room_name: str) -> Room:
        """Make the user a member of the room, creating the room on first join. A private room
        admits only its invitees (and owner, and server admins); no room admits the banned."""
        key = check_name(room_name, "room name")
        room = await self._store.get_room(key)
        standing = Standing()
        if room is None:  # the creator owns it; the default room is the server's
            await self.check_room_limit(user, key)
            owner = None if key == self.rules.default_room.lower() else user
            room = await self._store.ensure_room(
                Room(name=room_name, created_at=self._now(), owner=owner)
            )
        else:
            standing = await access.admission(self._store, user, room, room_name)
            if standing.member:
                return room
            await self.check_room_limit(user, room.key)
        await self._store.add_member(room.key, user.lower())
        if standing.invited:
            await self._store.remove_invite(room.key, user.lower())
        return room

    async def check_room_limit(self, user: str, room_key: str) -> None:
        limit = self.rules.rooms_per_user
        if limit:
            mine = await self._store.rooms_of(user.lower())
            if room_key not in mine and len(mine) >= limit:
                raise Forbidden(f"you are in too many rooms (limit {limit}): /leave one first")

    async def visible_room(self, user: str, room_name: str) -> Room:
        """The room, unless it is private and the user may not know it exists."""
        room = await self.room(room_name)
        await access.check_visible(self._store, user, room, room_name)
        return room

    async def join(self, session: Session, room_name: str) -> Room:
        """Join a room and listen to it: recent history first, then live messages, no gaps."""
        room = await self.become_member(self._name(session), room_name)
        announce = self._presence_left(session, room.key)
        self._hub.enter(session, room.key, hold=True)
        history: list[Message] = []
        try:
            await self._log.watch(room.key)  # every join asks, as every login does (connect)
            if self.rules.history_on_join:
                history = await self._log.read(
                    room.key, limit=self.rules.history_on_join, newest=True
                )
        except BaseException:  # not left half-joined: the client is told, and may try again
            if self._hub.exit(session, room.key):
                await self._log.unwatch(room.key)
            raise
        try:
            online = self._hub.online_count(room.key)
            session.notify(f"you are in #{room.name} ({online} online)", room.key)
            if room.topic:
                session.notify(f"topic: {room.topic}", room.key)
            for m in history:
                if m.sender_key not in session.ignores:
                    session.deliver(Delivery(m, self._hub.tz))
        finally:
            self._hub.release(session, room.key, history[-1].id if history else None)
        if announce:
            self._announce(room.key, f"{self._name(session)} joined #{room.name}", session)
        return room

    async def part(self, session: Session, room_key: str) -> None:
        """Stop listening to a room (the user stays a member)."""
        if self._presence_left(session, room_key):
            self._announce(room_key, f"{self._name(session)} left #{room_key}", session)
        if self._hub.exit(session, room_key):
            await self._log.unwatch(room_key)

    async def leave(self, user: str, room_name: str) -> Room:
        """End a membership; every session of the user here stops listening to the room."""
        room = await self.visible_room(user, room_name)
        if not await self._store.remove_member(room.key, user.lower()):
            raise Conflict(f"you are not a member of #{room.name}")
        for s in self._hub.sessions_of(user.lower()):
            if s in self._hub.listeners(room.key):
                await self.part(s, room.key)
        return room

    async def rooms(self, viewer: str) -> list[RoomInfo]:
        """The rooms the viewer may see: every public one, and the private ones they belong or
        are invited to (server admins see all)."""
        listed = await access.visible_rooms(self._store, viewer, await self._store.list_rooms())
        return [RoomInfo(room=r, members=n, online=self._hub.online_count(r.key))
                for r, n in listed]

    async def my_rooms(self, user: str) -> list[RoomInfo]:
        """The rooms the user is a member of."""
        mine = set(await self._store.rooms_of(user.lower()))
        return [i for i in await self.rooms(user) if i.room.key in mine]

    async def members(self, room_name: str, *, viewer: str) -> list[str]:
        room = await self.visible_room(viewer, room_name)
        return await self._store.list_members(room.key)

    def online(self, room_key: str) -> list[str]:
        return self._hub.online(room_key)

    def online_count(self, room_key: str) -> int:
        return self._hub.online_count(room_key)

    async def is_member(self, user: str, room_key: str) -> bool:
        return room_key in await self._store.rooms_of(user.lower())

    async def _member_room(self, user: str, room_name: str) -> Room:
        room = await self.room(room_name)
        if not await self.is_member(user, room.key):
            # a non-member of a private room learns nothing, not even that it exists
            await access.check_visible(self._store, user, room, room_name)
            raise Forbidden(f"you are not a member of #{room.name}: /join it first")
        return room

    # messages

    async def send(
        self, user: str, room_name: str, text: str, kind: MessageKind = MessageKind.TEXT
    ) -> Message:
        """Publish to a room the user is a member of; returns once the message is durable."""
        room = await self._member_room(user, room_name)
        text = self.prepare_text(text)
        self.mutes.check(room.key, user.lower(), self._now())
        self._check_rate(user, room.key)
        draft = Draft(channel=room.key, sender=user, text=text, sent_at=self._now(), kind=kind)
        (message,) = await self._log.publish([draft])
        return message

    def prepare_text(self, text: str) -> str:
        """The text as it will be stored: control characters replaced, size checked, then the
        profanity filter (if configured). Raises InvalidInput / TooLarge saying why not."""
        return self.filter_text(clean_text(text, self.rules.max_message_bytes))

    def _check_rate(self, user: str, room_key: str | None) -> None:
        key = user.lower()
        self._rate.check(key)
        if room_key is not None:
            self._room_rate.check(f"{key} {room_key}")

    async def say(
        self, user: str, room: Room, texts: Sequence[str], kind: MessageKind = MessageKind.TEXT
    ) -> tuple[list[Message], int]:
        """The fast path for a session already listening to `room` (membership was checked when
        it joined; a kick or ban ends the listening): consecutive lines are published together,
        in order, as one batch. Lines over the rate limits are dropped; returns the messages and
        how many lines were dropped. A muted user gets Forbidden (an in-memory lookup)."""
        key = user.lower()
        self.mutes.check(room.key, key, self._now())
        allowed = self._rate.take(key, len(texts))
        if allowed:
            allowed = self._room_rate.take(f"{key} {room.key}", allowed)
        now = self._now()
        drafts = [
            Draft(channel=room.key, sender=user, text=self.prepare_text(t), sent_at=now, kind=kind)
            for t in texts[:allowed]
        ]
        messages = await self._log.publish(drafts) if drafts else []
        return messages, len(texts) - allowed

    async def send_private(self, sender: str, to: str, text: str) -> Message:
        """A private message lands in the recipient's inbox and, as a copy, in the sender's."""
        recipient = await self._store.get_user(check_name(to, "user name"))
        if recipient is None:
            raise NotFound(f"no such user {to!r}")
        text = self.prepare_text(text)
        self._check_rate(sender, None)
        now = self._now()
        drafts = [
            Draft(channel=inbox_channel(recipient.key), sender=sender, text=text, sent_at=now,
                  kind=MessageKind.PRIVATE, recipient=recipient.name)
        ]
        if recipient.key != sender.lower():
            drafts.append(
                Draft(channel=inbox_channel(sender.lower()), sender=sender, text=text,
                      sent_at=now, kind=MessageKind.PRIVATE, recipient=recipient.name)
            )
        return (await self._log.publish(drafts))[0]

    async def history(
        self,
        user: str,
        room_name: str,
        *,
        limit: int = 50,
        before: int | None = None,
        after: int | None = None,
    ) -> list[Message]:
        """Messages of a room the user belongs to, oldest first, ignored senders left out.
        Without `after` the newest `limit` (before `before`) are returned."""
        room = await self._member_room(user, room_name)
        return await self._visible(user, room.key, limit=limit, before=before, after=after)

    async def private_history(
        self, user: str, *, limit: int = 50, before: int | None = None, after: int | None = None
    ) -> list[Message]:
        return await self._visible(
            user, inbox_channel(user.lower()), limit=limit, before=before, after=after
        )

    async def _visible(
        self, user: str, channel: str, *, limit: int, before: int | None, after: int | None
    ) -> list[Message]:
        ignores = await self._ignores(user)
        out: list[Message] = []
        newest = after is None
        while len(out) < limit:
            batch = await self._log.read(
                channel, after=after, before=before, limit=limit, newest=newest
            )
            visible = [m for m in batch if m.sender_key not in ignores]
            if newest:
                out = visible[-(limit - len(out)):] + out if visible else out
                if len(batch) < limit:
                    break
                before = batch[0].id
            else:
                out.extend(visible[: limit - len(out)])
                if len(batch) < limit:
                    break
                after = batch[-1].id
        return out

    async def receive(self, user: str, room_name: str, limit: int = 100) -> list[Message]:
        """What the user has not yet received in this room through this call, oldest first;
        the read cursor moves over exactly what was examined."""
        room = await self._member_room(user, room_name)
        return await self._receive(user, room.key, limit)

    async def _receive(self, user: str, channel: str, limit: int) -> list[Message]:
        key = user.lower()
        ignores = await self._ignores(user)
        cursor = await self._store.get_cursor(key, channel)
        out: list[Message] = []
        last = cursor
        while len(out) < limit:
            batch = await self._log.read(channel, after=last, limit=limit)
            for m in batch:
                if m.sender_key not in ignores:
                    out.append(m)
                last = m.id
                if len(out) == limit:
                    break
            if len(batch) < limit:
                break
        if last is not None and last != cursor:
            await self._store.set_cursor(key, channel, last)
        return out

    async def unread_count(self, user: str, room_name: str, cap: int = 1000) -> int:
        room = await self._member_room(user, room_name)
        cursor = await self._store.get_cursor(user.lower(), room.key)
        ignores = await self._ignores(user)
        batch = await self._log.read(room.key, after=cursor, limit=cap)
        return sum(1 for m in batch if m.sender_key not in ignores)

    async def read_cursor(self, user: str, room_name: str) -> int | None:
        """Id of the last message the user received (or marked read) in the room, if any."""
        room = await self._member_room(user, room_name)
        return await self._store.get_cursor(user.lower(), room.key)

    async def mark_read(self, user: str, room_name: str, last_id: int) -> None:
        """Move the read cursor (the one `receive` uses) forward to last_id, which may not
        lie beyond the room's newest message. A cursor never moves backward."""
        room = await self._member_room(user, room_name)
        newest = await self._log.read(room.key, limit=1, newest=True)
        if not newest or last_id > newest[-1].id:
            raise InvalidInput(f"#{room.name} has no message {last_id}")
        await self._store.set_cursor(user.lower(), room.key, last_id)

    # ignore lists

    async def _ignores(self, user: str) -> set[str]:
        p = self._hub.presence(user.lower())
        if p is not None:
            return p.ignores
        return set(await self._store.list_ignores(user.lower()))

    async def ignore(self, user: str, other: str) -> str:
        target = await self._store.get_user(check_name(other, "user name"))
        if target is None:
            raise NotFound(f"no such user {other!r}")
        if target.key == user.lower():
            raise InvalidInput("you cannot ignore yourself")
        await self._store.add_ignore(user.lower(), target.key)
        event = {"type": "ignore", "user": user.lower(), "target": target.key, "on": True}
        self._on_ignore_event(event)  # at once here; other nodes through the log
        await self.broadcast(event)
        return target.name

    async def unignore(self, user: str, other: str) -> str:
        key = check_name(other, "user name")
        if not await self._store.remove_ignore(user.lower(), key):
            raise NotFound(f"you are not ignoring {other!r}")
        event = {"type": "ignore", "user": user.lower(), "target": key, "on": False}
        self._on_ignore_event(event)
        await self.broadcast(event)
        return other

    async def ignored(self, user: str) -> list[str]:
        return sorted(await self._store.list_ignores(user.lower()))

    # housekeeping

    async def purge_expired(self) -> int:
        """Retention: drop messages older than the retention, and expired login tokens."""
        await self._store.purge_tokens(self._now())
        return await self._log.purge(self._now() - self.rules.retention)

    def shutdown_notice(self, text: str) -> None:
        for p in self._hub.users():
            for s in list(p.sessions):
                s.notify(text)
