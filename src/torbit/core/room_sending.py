"""Sending to a room: the checked path of any door (membership or a public room's
visitors, ban masks, mutes, moderation, rates) and the fast path of a session already
listening to the room. A message is acknowledged only once the log made it durable, and a
send that raced its room's deletion is refused and its messages go with the room's."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta

from torbit.core.banmasks import Visitor
from torbit.core.messaging_base import Holds, MessagingBase
from torbit.core.models import Draft, Message, MessageKind, Room
from torbit.core.names import name_key
from torbit.core.roomdeletion import drop_messages
from torbit.errors import Forbidden, NotFound, Overloaded

SPEAK_TRIES = 3  # `_may_speak`


class RoomSending(MessagingBase):
    """Messages to a room, on either path; see the module docstring."""

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
        admins speak. `holds`: see `Holds`. A mute, kick or ban applied here while this
        waited (on the store, on `holds`) stops it too: checked again after the last wait."""
        known = self._membership.known
        generation = known.generation
        room = await self._room(user, room_name, visitor)
        text = self.prepare_text(text)
        self._mutes.check(room, name_key(user))
        await self._may_speak(user, room, holds)  # the last wait: nothing revoked since
        if known.generation != generation:  # a membership ended here meanwhile: hers?
            room = await self._room(user, room_name, visitor)  # known ones: no store read
        self._mutes.check(room, name_key(user))
        self._check_rate(user, room.key)
        draft = Draft(channel=room.key, sender=user, text=text, sent_at=self._now(), kind=kind)
        (message,) = await self._log.publish([draft])
        if self._membership.deletion(room.key) is not None:
            await self._unless_deleted(room, [message])
        return message

    async def _may_speak(self, user: str, room: Room, holds: Holds | None = None) -> None:
        """`check_may_speak`, then `holds`, again if a room's settings or roles changed on
        this node meanwhile: a room made moderated or a voice taken away, answered to the
        admin during those waits, stops the send as a mute does. A few tries, then the
        sender is told to send again (rights changing on every try: someone toggling them,
        anywhere on the node, as fast as the send's waits)."""
        for _ in range(SPEAK_TRIES):
            marks = self._membership.speaking_marks()
            await self._membership.check_may_speak(user, room)
            if holds is not None:
                await holds()
            if self._membership.speaking_marks() == marks:
                return
        raise Overloaded(f"not sent: rights in #{room.name} changed while sending; send again")

    async def _room(self, user: str, room_name: str, visitor: Visitor | None) -> Room:
        """The room the user may send to: as a member, else as an outsider (`send`)."""
        try:
            room = await self._membership.member_room(user, room_name)
        except Forbidden:
            return await self._membership.outside_room(user, room_name, visitor)
        if visitor is not None:  # a member's request: its ban masks too (maskgate.py)
            await self._membership.check_visitor(user, room, visitor)
        return room

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
        self._mutes.check(room, key)
        await self._may_speak(user, room)
        if listening is not None and not listening():
            raise Forbidden(f"not sent: you no longer listen to #{room.name}")
        self._mutes.check(room, key)  # a mute applied while the store read
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
