"""RoomRoles: this node's copy of each room's admins and voiced members, what IRC shows as
`@` and `+` in the NAMES every JOIN answers with (and WHO, WHOIS). Read from the store per
JOIN, a crowd of N joining one room cost 2 N queries, and the voiced one walks every
membership of the room (~2 ms at 10,000 members on SQLite): O(N²) for the crowd.

Kept exact the way the other room caches are (roomcache.py, roomsettings.py): each write
that changes a room's admins or voices is told by a node event, applied here at once and on
every other node when it arrives, and drops what it changed; an answer read while a drop
happened is not kept. The events: an op, deop, voice or devoice (`RoomNotice` of those
kinds); a kick or a ban (`Expelled`: the store's expel takes both) and a leave or a join
taken back (`MembershipEnded`: the admin right and the voice go with the membership; with
no room, a guest deleted); a deleted account or a revoked login (`SessionsRevoked`: an
admin's demotion ends memberships); and `RolesChanged` for the writes no other event tells
(a guest founding a room, a guest's rename, an op taken back, an older version's left-over
admin right). A membership that ends drops only the rooms whose copy names its user, so
people leaving a crowded room leave its copy in place. A node that has not yet received
another node's event shows the old prefixes: the same window in which its sessions have not
yet been told the MODE."""

from __future__ import annotations

from torbit.core.delivery import NoticeKind
from torbit.core.events import (
    Expelled,
    MembershipEnded,
    NodeEvents,
    RolesChanged,
    RoomNotice,
    SessionsRevoked,
)
from torbit.core.models import Room
from torbit.core.ports import Store
from torbit.core.roomcache import RoomCache

MAX_CACHED = 10_000  # rooms whose roles a node keeps; past it the oldest are read again
ROLE_NOTICES = frozenset(
    k.value for k in (NoticeKind.OP, NoticeKind.DEOP, NoticeKind.VOICE, NoticeKind.DEVOICE)
)

Roles = tuple[frozenset[str], frozenset[str]]  # keys of the admins, keys of the voiced


class RoomRoles:
    def __init__(self, store: Store, events: NodeEvents, max_entries: int = MAX_CACHED) -> None:
        self._store = store
        self._events = events
        self._rooms: RoomCache[Roles] = RoomCache(max_entries)
        self.reads = 0  # rooms read from the store (a miss), for the tests that count them
        # rights given or taken (op, deop, voice, devoice, RolesChanged), not memberships
        # ended: what a send's speaking check watches (room_lookup.speaking_marks)
        self.changes = 0
        events.on(RolesChanged, lambda e: self._drop(e.room))
        events.on(RoomNotice, self._on_notice)
        events.on(Expelled, lambda e: self._ended(e.user, e.room))
        events.on(MembershipEnded, lambda e: self._ended(e.user, e.room))
        events.on(SessionsRevoked, self._on_revoked)

    async def of(self, room: Room) -> Roles:
        """Keys of the room's admins (not its owner: `Room.owner` says who) and of its
        voiced members."""
        cached = self._rooms.get(room)
        if cached is not None:
            return cached
        generation = self._rooms.generation
        self.reads += 1
        admins = frozenset(await self._store.list_room_admins(room.key))
        voiced = frozenset(await self._store.list_voiced(room.key))
        self._rooms.keep(room, (admins, voiced), generation)
        return admins, voiced

    async def changed(self, room_key: str = "") -> None:
        """A write told by no other event changed the room's (every room's, with no key)
        admins or voices: every node reads them again."""
        await self._events.publish(RolesChanged(room_key))

    def _drop(self, room_key: str) -> None:
        self.changes += 1
        if room_key:
            self._rooms.drop(room_key)
        else:
            self._rooms.clear()

    def _on_notice(self, event: RoomNotice) -> None:
        if event.kind in ROLE_NOTICES:
            self.changes += 1
            self._rooms.drop(event.room)

    def _ended(self, user_key: str, room_key: str) -> None:
        """The user's membership of the room (of every room, with no key) ended, and with it
        their admin right and voice there."""
        self._rooms.drop_if(lambda roles: user_key in roles[0] or user_key in roles[1], room_key)

    def _on_revoked(self, event: SessionsRevoked) -> None:
        if event.deleted or not event.token:
            self._ended(event.user, "")
