"""This node's memory of who is a member of which room, so that a request naming a room
(HTTP `POST /send`, `/receive`, history) asks the store nothing when the answer is known.

Only memberships are remembered, never their absence, so a join needs no event: a miss asks
the store. Every way a membership ends is a node event, applied at once on the node that
made it and on every other one when it arrives through the log (core/events.py): a kick or
ban (`Expelled`), a leave or a guest's end (`MembershipEnded`), a deleted account or a
demoted server admin (`SessionsRevoked` of a login, not of one token). An end is committed
to the store before its event is published, and a lookup remembers its answer only if no
end was applied while it asked the store (the generation), so an answer read before an end
is never kept after it. A node that
has not yet received another node's event still answers from memory: that is the same window
in which its listening sessions still get the room's messages.

The rooms kept are for their key, name and creation time, which never change; their topic,
privacy and owner may be stale and are not to be read from here."""

from __future__ import annotations

from torbit.core.events import Expelled, MembershipEnded, NodeEvents, SessionsRevoked
from torbit.core.models import Room

MAX_ENTRIES = 100_000  # (user, room) pairs kept; past it the oldest users are forgotten


class MemberCache:
    def __init__(self, events: NodeEvents, max_entries: int = MAX_ENTRIES) -> None:
        self._events = events
        self._max = max_entries
        self._rooms: dict[str, dict[str, Room]] = {}  # user key -> room key -> room
        self._size = 0
        self.generation = 0  # moves on every end applied: see `remember`
        events.on(Expelled, lambda e: self.forget(e.user, e.room))
        events.on(MembershipEnded, self._on_ended)
        events.on(SessionsRevoked, self._on_revoked)

    def room(self, user_key: str, room_key: str) -> Room | None:
        """The room, if the user is known to be a member of it here."""
        mine = self._rooms.get(user_key)
        return mine.get(room_key) if mine is not None else None

    def remember(self, user_key: str, room: Room, generation: int) -> None:
        """Remember a membership the store confirmed, unless an end was applied since
        `generation` was read (before asking the store)."""
        if generation != self.generation or self._max <= 0:
            return
        mine = self._rooms.setdefault(user_key, {})
        if room.key not in mine:
            self._size += 1
        mine[room.key] = room
        while self._size > self._max:
            oldest = next(iter(self._rooms))
            self._size -= len(self._rooms.pop(oldest))

    async def ended(self, user_key: str, room_key: str = "") -> None:
        """A membership ended in the store (a leave), or without `room_key` all of the
        user's (a guest deleted): forget it here and on every node."""
        await self._events.publish(MembershipEnded(room_key, user_key, self._events.origin))

    def forget(self, user_key: str, room_key: str) -> None:
        self.generation += 1
        mine = self._rooms.get(user_key)
        if mine is not None and mine.pop(room_key, None) is not None:
            self._size -= 1
            if not mine:
                del self._rooms[user_key]

    def forget_room(self, room_key: str) -> None:
        """A deleted room: every user's membership of it (a walk of the users known here:
        a deletion is rare)."""
        self.generation += 1
        for user_key in [u for u, mine in self._rooms.items() if room_key in mine]:
            self.forget(user_key, room_key)

    def forget_user(self, user_key: str) -> None:
        self.generation += 1
        self._size -= len(self._rooms.pop(user_key, {}))

    def __len__(self) -> int:
        return self._size

    def _on_ended(self, event: MembershipEnded) -> None:
        if event.room:
            self.forget(event.user, event.room)
        else:
            self.forget_user(event.user)

    def _on_revoked(self, event: SessionsRevoked) -> None:
        """A deleted account, or a login revoked (not one token's logout): a server admin's
        demotion ends the memberships they held in rooms that ban them (core/accounts.py)."""
        if event.deleted or not event.token:
            self.forget_user(event.user)
