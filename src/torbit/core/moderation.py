"""Rooms with owners: creating rooms, invitations, kicks, bans, mutes, room admins, topics and
privacy. Which role each action needs comes from the one command table, whatever front door
asked; every action done is written to the audit log (and a line to the app log).

Changes that live sessions must feel at once (a kick ends the listening, a mute stops the
telnet fast path) are node events: applied here at once, and on every other node when they
arrive through the message log, so they work the same with one node or many."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from torbit.core.chat import Chat, clean_text
from torbit.core.hub import Hub
from torbit.core.models import AuditEntry, Role, Room, Standing, User
from torbit.core.names import check_name
from torbit.core.ports import MessageLog, Store
from torbit.errors import Conflict, Forbidden, InvalidInput, NotFound
from torbit.protocol.commands import COMMANDS

log = logging.getLogger("torbit.audit")

MAX_MUTE_MINUTES = 30 * 24 * 60
MAX_TOPIC_BYTES = 512
_NEEDS = {Role.MEMBER: "members", Role.ADMIN: "room admins", Role.OWNER: "the owner"}


Handler = Callable[[dict[str, Any]], None]


def clean_topic(text: str) -> str:
    """A topic fit to show on a line; empty clears it."""
    return clean_text(text, MAX_TOPIC_BYTES) if text.strip() else ""


class Moderation:
    """The room owners' and admins' actions, for every front door."""

    def __init__(
        self,
        store: Store,
        log: MessageLog,
        chat: Chat,
        hub: Hub,
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._log = log
        self._chat = chat
        self._hub = hub
        self._now = now
        self._origin = uuid.uuid4().hex  # tells this node's own events from other nodes'
        self._tasks: set[asyncio.Task[None]] = set()
        self._handlers: dict[str, Handler] = {
            "kick": self._on_kick, "mute": self._on_mute, "invite": self._on_invite,
            "notice": self._on_notice,
        }
        chat.event_handlers.update({t: self._from_elsewhere(h) for t, h in self._handlers.items()})

    async def start(self) -> None:
        """Load the mutes still running into this node's copy."""
        self._chat.mutes.load(await self._store.active_mutes(self._now()))

    # authorization: the one place where the command table's roles are enforced

    async def authorize(self, actor: str, room_name: str, *actions: str) -> tuple[Room, Role]:
        """The room and the actor's role in it, if that role may do every one of `actions`.
        A private room the actor may not see is "no such room", never "forbidden"."""
        room = await self._chat.room(room_name)
        key = actor.lower()
        standing = await self._store.standing(room.key, key)
        if not standing.may_see(room, key):
            raise NotFound(f"no such room #{room_name}")
        role = standing.role(room, key)
        for action in actions:
            needed = COMMANDS[action].role
            if role < needed:
                log.info("refused: %s (%s) tried /%s in #%s", actor, role.label, action,
                               room.key)
                raise Forbidden(f"only {_NEEDS.get(needed, needed.label)} of #{room.name} "
                                f"may /{action}: you are {role.label}")
        return room, role

    async def _target(
        self, room: Room, name: str, actor_role: Role, action: str, outrank: bool = True
    ) -> tuple[User, Standing]:
        """The user acted upon; one may only act on users of a lower rank than one's own."""
        user = await self._user(name)
        standing = await self._store.standing(room.key, user.key)
        if outrank and standing.role(room, user.key) >= actor_role:
            raise Forbidden(f"you cannot /{action} {user.name}: they rank as high as you "
                            f"in #{room.name} or higher")
        return user, standing

    async def _audit(
        self, actor: str, action: str, room: Room, target: str | None = None, detail: str = ""
    ) -> None:
        await self._store.add_audit(AuditEntry(
            at=self._now(), actor=actor, action=action, room=room.key, target=target,
            detail=detail,
        ))
        log.info("audit: %s /%s #%s%s%s", actor, action, room.key,
                       f" {target}" if target else "", f" ({detail})" if detail else "")

    # actions

    async def create(self, actor: str, room_name: str, private: bool = False) -> Room:
        """A new room owned by the actor, who becomes its first member."""
        key = check_name(room_name, "room name")
        await self._chat.check_room_limit(actor, key)
        room = await self._store.create_room(
            Room(name=room_name, created_at=self._now(), owner=actor, private=private)
        )
        await self._store.add_member(room.key, actor.lower())
        await self._audit(actor, "create", room, detail="private" if private else "public")
        return room

    async def invite(self, actor: str, room_name: str, name: str) -> str:
        """Let a user join; they are told if online. The invitation lasts until they join."""
        room, role = await self.authorize(actor, room_name, "invite")
        user, standing = await self._target(room, name, role, "invite", outrank=False)
        if standing.member:
            raise Conflict(f"{user.name} is already a member of #{room.name}")
        if standing.banned:
            raise Conflict(f"{user.name} is banned from #{room.name}: /unban first")
        await self._store.add_invite(room.key, user.key, self._now())
        await self._audit(actor, "invite", room, user.key)
        await self._publish({"type": "invite", "room": room.key, "room_name": room.name,
                             "user": user.key, "by": actor})
        return user.name

    async def kick(self, actor: str, room_name: str, name: str) -> str:
        """End a membership at once, on every node and front door; they may join again
        (a private room needs a new invitation)."""
        room, role = await self.authorize(actor, room_name, "kick")
        user, standing = await self._target(room, name, role, "kick")
        if not standing.member:
            raise NotFound(f"{user.name} is not a member of #{room.name}")
        await self._store.expel(room.key, user.key)
        await self._audit(actor, "kick", room, user.key)
        await self._expelled(room, user, actor, "kicked")
        return user.name

    async def ban(self, actor: str, room_name: str, name: str) -> str:
        """Like a kick, and they cannot join again until unbanned. Idempotent."""
        room, role = await self.authorize(actor, room_name, "ban")
        user, _ = await self._target(room, name, role, "ban")
        await self._store.expel(room.key, user.key, banned_at=self._now())
        await self._audit(actor, "ban", room, user.key)
        await self._expelled(room, user, actor, "banned")
        return user.name

    async def unban(self, actor: str, room_name: str, name: str) -> str:
        room, _ = await self.authorize(actor, room_name, "unban")
        user = await self._user(name)
        if not await self._store.unban(room.key, user.key):
            raise NotFound(f"{user.name} is not banned from #{room.name}")
        await self._audit(actor, "unban", room, user.key)
        return user.name

    async def mute(self, actor: str, room_name: str, name: str, minutes: int) -> datetime:
        """Stop the user sending to the room for `minutes`; when the mute ends."""
        if not 1 <= minutes <= MAX_MUTE_MINUTES:
            raise InvalidInput(f"mute for 1 to {MAX_MUTE_MINUTES} minutes")
        room, role = await self.authorize(actor, room_name, "mute")
        user, _ = await self._target(room, name, role, "mute")
        until = self._now() + timedelta(minutes=minutes)
        await self._store.set_mute(room.key, user.key, until)
        await self._audit(actor, "mute", room, user.key, f"{minutes} min")
        await self._publish({"type": "mute", "room": room.key, "room_name": room.name,
                             "user": user.key, "name": user.name, "by": actor,
                             "until": until.isoformat(), "minutes": minutes})
        return until

    async def unmute(self, actor: str, room_name: str, name: str) -> str:
        room, _ = await self.authorize(actor, room_name, "unmute")
        user = await self._user(name)
        if not await self._store.remove_mute(room.key, user.key, self._now()):
            raise NotFound(f"{user.name} is not muted in #{room.name}")
        await self._audit(actor, "unmute", room, user.key)
        await self._publish({"type": "mute", "room": room.key, "room_name": room.name,
                             "user": user.key, "name": user.name, "by": actor, "until": None})
        return user.name

    async def op(self, actor: str, room_name: str, name: str) -> str:
        """Make a member a room admin."""
        room, role = await self.authorize(actor, room_name, "op")
        user, standing = await self._target(room, name, role, "op")
        if not standing.member:
            raise NotFound(f"{user.name} is not a member of #{room.name}")
        if not await self._store.set_room_admin(room.key, user.key, True):
            raise Conflict(f"{user.name} is already an admin of #{room.name}")
        await self._audit(actor, "op", room, user.key)
        await self._notice(room, f"{actor} made {user.name} an admin of #{room.name}")
        return user.name

    async def deop(self, actor: str, room_name: str, name: str) -> str:
        room, role = await self.authorize(actor, room_name, "deop")
        user, _ = await self._target(room, name, role, "deop")
        if not await self._store.set_room_admin(room.key, user.key, False):
            raise NotFound(f"{user.name} is not an admin of #{room.name}")
        await self._audit(actor, "deop", room, user.key)
        await self._notice(room, f"{actor} took {user.name}'s admin rights in #{room.name}")
        return user.name

    async def update(
        self, actor: str, room_name: str, *, topic: str | None = None,
        private: bool | None = None,
    ) -> Room:
        """Change the topic (room admins) and/or privacy (the owner); all checks first."""
        actions = [a for a, v in (("topic", topic), ("private", private)) if v is not None]
        room, _ = await self.authorize(actor, room_name, *actions)
        if topic is not None:
            topic = clean_topic(topic)
        updated = await self._store.update_room(room.key, topic=topic, private=private)
        if updated is None:
            raise NotFound(f"no such room #{room_name}")
        if topic is not None:
            await self._audit(actor, "topic", room, detail=topic)
            await self._notice(room, f"{actor} set the topic of #{room.name}: {topic}" if topic
                               else f"{actor} cleared the topic of #{room.name}")
        if private is not None:
            await self._audit(actor, "private", room, detail="on" if private else "off")
            await self._notice(room, f"{actor} made #{room.name} "
                               + ("private (invite-only)" if private else "public"))
        return updated

    async def audit(self, actor: str, room_name: str, limit: int = 100) -> list[AuditEntry]:
        """The room's audit entries, newest first, for its admins."""
        room, _ = await self.authorize(actor, room_name, "audit")
        return await self._store.list_audit(room.key, limit)

    async def _user(self, name: str) -> User:
        user = await self._store.get_user(check_name(name, "user name"))
        if user is None:
            raise NotFound(f"no such user {name!r}")
        return user

    # node events

    async def _publish(self, event: dict[str, Any]) -> None:
        """Apply an event here at once, then on every other node through the log."""
        self._handlers[event["type"]](event)
        await self._chat.broadcast({**event, "origin": self._origin})

    def _from_elsewhere(self, handler: Handler) -> Handler:
        """The log brings this node's own events back too: `_publish` applied them already."""

        def apply(event: dict[str, Any]) -> None:
            if event.get("origin") != self._origin:
                handler(event)

        return apply

    async def _expelled(self, room: Room, user: User, actor: str, verb: str) -> None:
        await self._publish({"type": "kick", "room": room.key, "room_name": room.name,
                             "user": user.key, "name": user.name, "by": actor, "verb": verb})

    async def _notice(self, room: Room, text: str) -> None:
        await self._publish({"type": "notice", "room": room.key, "text": text})

    def _on_kick(self, event: dict[str, Any]) -> None:
        room, user = str(event["room"]), str(event["user"])
        verb, by, name = event["verb"], event["by"], event["name"]
        for session in self._hub.sessions_of(user):
            if self._hub.is_listening(session, room):
                session.notify(f"you were {verb} from #{event['room_name']} by {by}", room)
                if self._hub.exit(session, room):
                    self._unwatch_later(room)
        self._hub.notify(room, f"{name} was {verb} from #{event['room_name']} by {by}")

    def _on_mute(self, event: dict[str, Any]) -> None:
        room, user = str(event["room"]), str(event["user"])
        until = event["until"]
        self._chat.mutes.set(room, user, datetime.fromisoformat(until) if until else None)
        where = f"#{event['room_name']}"
        text = (f"{event['name']} was muted in {where} for {event['minutes']} minute(s) by "
                f"{event['by']}" if until else f"{event['name']} may speak in {where} again")
        self._hub.notify(room, text)

    def _on_invite(self, event: dict[str, Any]) -> None:
        for session in self._hub.sessions_of(str(event["user"])):
            session.notify(f"{event['by']} invited you to #{event['room_name']}: "
                           f"/join {event['room_name']}")

    def _on_notice(self, event: dict[str, Any]) -> None:
        self._hub.notify(str(event["room"]), str(event["text"]))

    def _unwatch_later(self, room_key: str) -> None:
        """Event handlers run synchronously; stop watching the room soon, if still unused."""

        async def unwatch() -> None:
            if not self._hub.listeners(room_key):
                await self._log.unwatch(room_key)

        task = asyncio.get_running_loop().create_task(unwatch())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
